//! The bookkeeping of `create` with hints (the walk itself is
//! [`crate::source::scan::ScanMode::Hinted`]): placing the hinted paths inside the
//! source, and counting hinted creates so that one in
//! [`FULL_WALK_EVERY`](crate::commands::backup::FULL_WALK_EVERY) walks everything.
//!
//! The number of hinted creates since the last full walk is kept in the
//! profile's stat cache under [`COUNTER_KEY`]; a missing counter (a new
//! profile, or a cache cleared by gc) means "walk everything now".

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The stat-cache key of the counter (a NUL byte never starts a path).
pub(crate) const COUNTER_KEY: &[u8] = b"\0hinted-creates-since-full-walk";

/// The counter's value from its row's bytes.
pub(crate) fn counter_value(v: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(v.get(..4)?.try_into().ok()?))
}

/// The counter row to store.
pub(crate) fn counter_row(n: u32) -> (Vec<u8>, Vec<u8>) {
    (COUNTER_KEY.to_vec(), n.to_le_bytes().to_vec())
}

/// The hints as `/`-separated byte paths relative to the source root, or
/// `None` (walk everything) when one of them cannot be placed inside it.
pub(crate) fn relative(paths: &[PathBuf], src: &Path, given: &Path) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for p in paths {
        let rel = if p.is_absolute() {
            p.strip_prefix(src)
                .or_else(|_| p.strip_prefix(given))
                .ok()?
        } else {
            p.as_path()
        };
        let mut parts: Vec<&[u8]> = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => parts.push(n.as_bytes()),
                Component::CurDir => {}
                _ => return None,
            }
        }
        out.push(parts.join(&b'/'));
    }
    Some(out)
}
