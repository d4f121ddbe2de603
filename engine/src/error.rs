//! The one error type of `snap-engine`.

use std::io;
use std::path::{Path, PathBuf};

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
    /// sides ([`crate::sync::Conflict`]).
    #[error("{0}")]
    SyncConflict(Box<crate::sync::Conflict>),
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
