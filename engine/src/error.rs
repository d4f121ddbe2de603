//! The one error type of `snap-engine`.
//!
//! Rules for adding a variant:
//! - Add one only when a caller must tell the case apart (the CLI gives it
//!   its own exit code, the web UI its own status, an application its own
//!   dialog); otherwise use the closest existing variant (`Io`, `Invalid`,
//!   `Format`) with a precise message.
//! - It names what is involved (the file, snapshot, profile, archive entry
//!   or lock) in its fields and in its one-line message, which reads as a
//!   complete sentence after `snap: ` and holds no guidance: the CLI adds
//!   that (`cli/src/main.rs`, `message`).
//! - Store errors stay wrapped in [`Error::Store`], never re-described.
//! - A new exit code goes into `cli/src/main.rs` (`engine_exit_code`) and
//!   README's exit-code table in the same change.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use snap_store::SnapshotId;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine. Each variant names the file,
/// snapshot, profile or archive entry involved; the CLI adds guidance and
/// maps variants to exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository layer failed.
    #[error(transparent)]
    Store(#[from] snap_store::Error),
    /// An I/O operation on `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A value given by the user is not acceptable (a profile name, a
    /// duration, a glob, a password that is too short).
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What was given ("profile name", "duration", "glob").
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A vault could not be opened: the password is wrong or the file was
    /// altered. Deliberately one message for both.
    #[error("{}: wrong password or damaged vault", path.display())]
    WrongPasswordOrDamaged {
        /// The vault file.
        path: PathBuf,
    },
    /// An archive was refused as unsafe (an entry escaping the tree, a zip
    /// bomb, an encrypted entry); nothing was written.
    #[error("{}: entry {entry:?} refused: {reason}", archive.display())]
    Unsafe {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as stored in the archive (lossy UTF-8).
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// An in-place restore was refused because another process has a file
    /// of the profile open (it would keep writing into the replaced copy).
    #[error("{} is open in pid {pid} ({command})", path.display())]
    InUse {
        /// The open file, relative to the profile's directory.
        path: PathBuf,
        /// The process holding it.
        pid: u32,
        /// The process's command name.
        command: String,
    },
    /// The operation was cancelled (SIGINT/SIGTERM); nothing was committed.
    #[error("cancelled; nothing was committed")]
    Cancelled,
    /// A sync found that the shared head moved since this device's last
    /// sync while the local profile changed too (or a push lost the
    /// compare-and-swap on the head): nothing was overwritten. Carries both
    /// sides ([`Conflict`]).
    #[error("{0}")]
    SyncConflict(Box<Conflict>),
    /// A file's content is not what the format says (a malformed archive,
    /// a manifest that does not parse, a vault header that is not one).
    #[error("{}: {detail}", path.display())]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
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
}

// The detail of `Error::SyncConflict`, here so that this module depends on
// no other (`snap_engine::sync` re-exports them).

/// A head as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeadInfo {
    /// The snapshot in the shared repository.
    pub snapshot: SnapshotId,
    /// Its short id.
    pub short_id: String,
    /// The device that pushed it.
    pub device: String,
    /// Its host name.
    pub host: String,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// The scope it was pushed with.
    pub scope: Option<String>,
}

/// What changed on one side since the last sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SideChanges {
    /// Entries added.
    pub added: u64,
    /// Entries changed.
    pub changed: u64,
    /// Entries removed.
    pub removed: u64,
    /// The first few paths, with `+`, `~` or `-`.
    pub paths: Vec<String>,
}

impl SideChanges {
    pub(crate) fn line(&self) -> String {
        format!("+{} ~{} -{}", self.added, self.changed, self.removed)
    }
}

/// Both sides of a sync conflict, for the CLI's message and an
/// application's conflict dialog.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    /// The profile.
    pub profile: String,
    /// The shared repository.
    pub repo: String,
    /// The head now (another device's push).
    pub head: HeadInfo,
    /// What changed locally since the last sync (`None`: never synced).
    pub local: Option<SideChanges>,
    /// What changed in the shared repository since the last sync (`None`:
    /// never synced, or the old head is gone).
    pub remote: Option<SideChanges>,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sync conflict on profile {:?} in {}: device {} ({}) pushed snapshot {} at {}",
            self.profile,
            self.repo,
            self.head.device,
            self.head.host,
            self.head.short_id,
            self.head.time
        )?;
        if let Some(l) = &self.local {
            write!(f, "; local changes {}", l.line())?;
        }
        if let Some(r) = &self.remote {
            write!(f, "; their changes {}", r.line())?;
        }
        Ok(())
    }
}
