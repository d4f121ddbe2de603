//! What the restore walk ([`super::materialize`]) and the chunk fetch
//! ([`super::restore_fetch`]) share about one restored file: the item to
//! put on disk, positional writes into it, its final mode and mtime, the
//! number of workers, and the error of a size that does not add up.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::tree::Node;

/// Calls in flight at once: restores wait on the filesystem, not the CPU.
pub const WORKERS: usize = 8;

/// One thing to put on disk.
pub(crate) struct Item {
    /// Where it goes.
    pub dest: PathBuf,
    /// The snapshot's node for it.
    pub node: Node,
    /// The same path in the live profile (in place), for reusing files.
    pub live: Option<PathBuf>,
}

/// Positional writes into a shared file (each worker at its own offset).
pub(crate) struct At<'f> {
    pub file: &'f File,
    pub offset: u64,
}

impl std::io::Write for At<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::write_at(self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sets a written file's mode and mtime through its descriptor.
pub(crate) fn finish_file(f: &File, p: &Path, node: &Node) -> Result<()> {
    f.set_permissions(fs::Permissions::from_mode(node.mode))
        .map_err(|e| Error::io(p, e))?;
    rustix::fs::futimens(f, &times(node.mtime_ns)).map_err(|e| Error::io(p, e.into()))
}

/// The timestamps that set the modification time to `mtime_ns` and leave
/// the access time.
pub(crate) fn times(mtime_ns: i64) -> rustix::fs::Timestamps {
    use rustix::fs::{Timespec, Timestamps, UTIME_OMIT};
    Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: mtime_ns.div_euclid(1_000_000_000),
            tv_nsec: mtime_ns.rem_euclid(1_000_000_000) as _,
        },
    }
}

/// The error of a file whose chunks do not add up to its listed size.
pub(crate) fn size_mismatch(p: &Path, listed: u64, held: u64) -> Error {
    Error::Format {
        path: p.to_path_buf(),
        detail: format!("snapshot lists {listed} bytes but its chunks hold {held}"),
    }
}
