//! The space reserve: a file of [`RESERVE_LEN`] bytes in the repository
//! (`reserve`, FORMAT.md "Layout") that holds back room on a disk that fills
//! up, so that the commands that free space can still run there.
//!
//! On a 100% full disk SQLite cannot even open the index (it must create
//! its `-wal` and `-shm` files), so without a reserve `forget` and `gc`
//! would fail exactly when they are needed. A command opened with
//! [`OpenOptions::frees_space`](crate::OpenOptions) deletes the reserve
//! first when less than [`RESERVE_LEN`] is free; [`replenish`] puts it back
//! once there is room for it twice over (called by `init`, before each
//! `create` writes, and after `gc`).
//!
//! The reserve's content is meaningless and it may be deleted at any time;
//! its blocks are allocated with `fallocate` (zeros are written where the
//! filesystem cannot do that), so it holds real space even on filesystems
//! that compress.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil;

/// Size of the reserve file.
pub const RESERVE_LEN: u64 = 2 << 20;

/// (free, total) bytes of the filesystem holding `path`, free as an
/// unprivileged user sees it: snap's one `statvfs` (the engine's free-space
/// checks ask it too).
///
/// # Errors
/// The `statvfs` call's error.
pub fn filesystem_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let st = rustix::fs::statvfs(path)?;
    Ok((
        st.f_bavail.saturating_mul(st.f_frsize),
        st.f_blocks.saturating_mul(st.f_frsize),
    ))
}

/// Free bytes (for an unprivileged user) on the filesystem holding `path`;
/// `None` when the filesystem cannot say.
pub fn free_bytes(path: &Path) -> Option<u64> {
    filesystem_space(path).ok().map(|(free, _)| free)
}

/// Deletes the reserve in `root` when it exists and less than
/// [`RESERVE_LEN`] is free. Returns the free bytes seen when it did.
///
/// # Errors
/// [`Error::Io`] naming the reserve.
pub(crate) fn release_if_full(root: &Path, name: &str) -> Result<Option<u64>> {
    let path = root.join(name);
    let free = free_bytes(root).unwrap_or(u64::MAX);
    if free >= RESERVE_LEN || !path.exists() {
        return Ok(None);
    }
    fsutil::remove_durable(&path)?;
    Ok(Some(free))
}

/// Creates the reserve in `root` (through `tmp_dir`) when it is missing and
/// at least twice [`RESERVE_LEN`] is free. Returns whether it created it.
///
/// # Errors
/// [`Error::Io`] naming the reserve or its temporary file.
pub(crate) fn replenish(root: &Path, tmp_dir: &Path, name: &str) -> Result<bool> {
    let path = root.join(name);
    if path.exists() || free_bytes(root).is_some_and(|f| f < 2 * RESERVE_LEN) {
        return Ok(false);
    }
    fsutil::atomic_write_with(tmp_dir, &path, allocate)?;
    Ok(true)
}

fn allocate(f: &mut File) -> std::io::Result<()> {
    if rustix::fs::fallocate(&*f, rustix::fs::FallocateFlags::empty(), 0, RESERVE_LEN).is_ok() {
        return Ok(());
    }
    let block = vec![0u8; 64 << 10];
    for _ in 0..RESERVE_LEN / block.len() as u64 {
        f.write_all(&block)?;
    }
    Ok(())
}

/// An [`Error`] for the index that could not be opened because the disk is
/// full.
pub(crate) fn index_disk_full(index: &Path) -> Error {
    Error::Io {
        path: index.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            "disk full: cannot open the index; free some space on this disk",
        ),
    }
}
