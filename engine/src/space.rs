//! Free space on the repository's filesystem: the engine's questions about
//! room, all answered by the store's one `statvfs`
//! ([`snap_store::reserve::filesystem_space`]).
//!
//! `create` refuses early when what it is about to read cannot fit
//! ([`check_space`]), archive extraction does the same for its target, and
//! `auto` and `create` collect garbage first when the disk is nearly full
//! ([`is_low`]).

use std::path::Path;

use snap_store::reserve::filesystem_space;

use crate::error::{Error, Result};

/// Below this fraction of free space on the repository's filesystem, `auto`
/// and `create` warn and collect garbage first.
pub const LOW_SPACE_FRACTION: f64 = 0.10;

/// (free, total) bytes of the filesystem holding `path`; `None` when the
/// filesystem cannot say.
pub fn free_space(path: &Path) -> Option<(u64, u64)> {
    filesystem_space(path).ok()
}

/// (free, total) when the filesystem holding `path` has less than
/// [`LOW_SPACE_FRACTION`] free; `None` when it has more or cannot say.
pub fn is_low(path: &Path) -> Option<(u64, u64)> {
    free_space(path).filter(|&(free, total)| (free as f64) < LOW_SPACE_FRACTION * total as f64)
}

/// Fails early when `needed_raw` bytes could not fit on the filesystem
/// holding `root` (with a margin for pack headers and the index), counting
/// at most `limit` as available when given.
///
/// # Errors
/// [`snap_store::Error::NoSpace`] naming `root`; [`Error::Io`] when the
/// filesystem cannot be asked.
pub(crate) fn check_space(root: &Path, needed_raw: u64, limit: Option<u64>) -> Result<()> {
    let (mut available, _) = filesystem_space(root).map_err(|e| Error::io(root, e))?;
    if let Some(l) = limit {
        available = available.min(l);
    }
    let needed = needed_raw + needed_raw / 64 + 1024 * 1024;
    if needed > available {
        return Err(Error::Store(snap_store::Error::NoSpace {
            path: root.to_path_buf(),
            needed,
            available,
        }));
    }
    Ok(())
}
