//! The one error type of `snap-store`.
//!
//! Rules for adding a variant:
//! - Add one only when a caller must tell the case apart (a lock held, a
//!   wrong password, a damaged blob each change what the engine or the
//!   CLI does); otherwise use the closest existing variant (`Io`,
//!   `Corrupt`, `Invalid`, `Remote`) with a precise message.
//! - It names what is involved (the file, pack, blob, object, lock or
//!   endpoint) in its fields and in its one-line message; guidance is the
//!   CLI's.
//! - A variant that changes the exit code is mapped in `cli/src/main.rs`
//!   (`store_exit_code`) and listed in README's exit-code table.

use std::io;
use std::path::{Path, PathBuf};

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store. Each variant names the file,
/// id or lock involved; user guidance is added by the CLI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// There is no repository at `path`.
    #[error("no repository at {}", path.display())]
    NoRepository {
        /// Where one was expected.
        path: PathBuf,
    },
    /// A file was written by a format version this build does not read.
    #[error("{}: {what} version {found} is not supported (this build reads version {supported})", path.display())]
    UnsupportedVersion {
        /// Which kind of file ("repository", "pack", "index").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The version this build supports.
        supported: u64,
    },
    /// A file's bytes do not parse or do not match their checksum.
    #[error("{}{}: {detail}", path.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where in the file, when known.
        offset: Option<u64>,
        /// What is wrong.
        detail: String,
    },
    /// A blob read back does not hash to its id.
    #[error("blob {blob} in pack {pack} is damaged: {detail}")]
    BlobDamaged {
        /// The blob's id (hex).
        blob: String,
        /// The pack it was read from (hex).
        pack: String,
        /// What is wrong (hash mismatch, decode failure).
        detail: String,
    },
    /// The text given is not a valid id.
    #[error("{text:?} is not a valid {what} id")]
    BadId {
        /// What kind of id was expected.
        what: &'static str,
        /// The text given.
        text: String,
    },
    /// No object has this id.
    #[error("no {what} {id}")]
    NotFound {
        /// What was looked up.
        what: &'static str,
        /// The id or prefix.
        id: String,
    },
    /// A short id matches more than one object.
    #[error("{what} id {prefix} is ambiguous: {}", candidates.join(", "))]
    Ambiguous {
        /// What was looked up.
        what: &'static str,
        /// The prefix given.
        prefix: String,
        /// Every matching full id.
        candidates: Vec<String>,
    },
    /// A lock could not be taken within the wait.
    #[error("lock {} is held by {holder} (waited {waited_ms} ms)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it: pid, command and since when, as recorded in the lock file.
        holder: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// A repository lock on an object store was lost while held: its lease
    /// ran out (the process was suspended, or cut off from the store, for
    /// longer than the lease) or another process removed its lock object
    /// as a dead one's. The step that needed it was not carried out.
    #[error("{location}: lost the repository lock {key}: {detail}")]
    LockLost {
        /// The repository.
        location: String,
        /// The lock object.
        key: String,
        /// What happened.
        detail: String,
    },
    /// The SQLite index failed.
    #[error("index {}: {source}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The filesystem does not have room for what is about to be written.
    #[error("not enough space on {}: need {needed} bytes, {available} available", path.display())]
    NoSpace {
        /// A path on the filesystem concerned.
        path: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A conditional write found the object in another state than expected
    /// (it exists already, or another writer changed it first); nothing
    /// was written.
    #[error("{location}: {key} was changed by another writer")]
    Conflict {
        /// The repository (directory or `s3://bucket/prefix`).
        location: String,
        /// The object.
        key: String,
    },
    /// The object store failed after the retries were spent (network,
    /// credentials, throttling), or its settings are not usable.
    #[error("{location}: {}{detail}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
    Remote {
        /// The repository and its endpoint.
        location: String,
        /// The object, when one was involved.
        key: String,
        /// What the store or the network said.
        detail: String,
    },
    /// No key slot of the encrypted repository opens with the password given.
    #[error("wrong password")]
    WrongPassword,
    /// The repository is encrypted and no password (or key) was given, or
    /// the password could not be obtained.
    #[error("{} is encrypted: {detail}", path.display())]
    PasswordNeeded {
        /// The repository.
        path: PathBuf,
        /// Why no password was at hand.
        detail: String,
    },
    /// An argument was out of range (an option, a blob too large).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        detail: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A damaged file.
    pub fn corrupt(path: impl AsRef<Path>, offset: Option<u64>, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.as_ref().to_path_buf(),
            offset,
            detail: detail.into(),
        }
    }

    /// True when the operating system reported the disk full (ENOSPC/EDQUOT)
    /// or the pre-write space check failed.
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::NoSpace { .. } => true,
            Error::Io { source, .. } => {
                source.kind() == io::ErrorKind::StorageFull
                    || source.kind() == io::ErrorKind::QuotaExceeded
            }
            _ => false,
        }
    }
}
