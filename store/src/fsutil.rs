//! The one way snap puts a file into the repository: [`atomic_write`].
//!
//! A file is written under a temporary name in the same filesystem, flushed
//! with `fsync`, renamed over its final name, and the directory holding the
//! final name is flushed too, so after a crash the file is either wholly
//! there or not there at all.
//!
//! Files snap writes for the user outside the repository (exports) use
//! [`replace_file_with`], which also puts the destination back as it was
//! when the final directory flush fails.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::fault::{self, Op};

/// Writes `bytes` to `dest` atomically and durably.
///
/// The temporary file is created in `tmp_dir`, which must be on the same
/// filesystem as `dest` (the repository's `tmp/`, or the destination's own
/// directory). On any error the temporary file is removed and `dest` is left
/// as it was.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written, synced or renamed.
pub fn atomic_write(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(tmp_dir, dest, |f| f.write_all(bytes))
}

/// Like [`atomic_write`], but the content is produced by `fill`, which writes
/// into the temporary file (for content too large to hold in memory).
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written, synced or renamed.
pub fn atomic_write_with(
    tmp_dir: &Path,
    dest: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(tmp_dir)
        .map_err(|e| Error::io(tmp_dir, e))?;
    fill(tmp.as_file_mut()).map_err(|e| Error::io(tmp.path(), e))?;
    persist_durable(tmp, dest)
}

/// The second half of [`atomic_write`] for a temporary file (in the same
/// filesystem as `dest`) that the caller filled itself, e.g. a pack written
/// as its blobs arrived: flushes it, renames it to `dest` and flushes the
/// directory. The whole fill is counted as one write by the fault layer. On
/// error the temporary file is removed and `dest` is left as it was.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be synced or renamed.
pub fn persist_durable(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    fault::after_fill(tmp.as_file()).map_err(|e| Error::io(tmp.path(), e))?;
    // Negative control (tests/negative-controls.sh): no fsync before rename.
    #[cfg(not(snap_broken = "no_fsync_before_rename"))]
    fault::sync_all(tmp.as_file()).map_err(|e| Error::io(tmp.path(), e))?;
    let parent = parent_dir(dest);
    fault::check(Op::Rename).map_err(|e| Error::io(dest, e))?;
    tmp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
    sync_dir(parent)
}

/// Writes the file `dest` (outside the repository: an export) atomically
/// and durably, leaving `dest` exactly as it was on any error.
///
/// The content is produced by `fill` into a temporary file beside `dest`
/// (`.NAME.snap-partial-*` for `NAME`, see [`PARTIAL_INFIX`]), through a [`fault::Writer`] (each write counted), then flushed
/// with `fsync` and moved into place: exchanged with an existing file
/// (`renameat2(RENAME_EXCHANGE)`, so the previous file can be put back),
/// or renamed when there is none (or the filesystem cannot exchange). Then
/// the directory is flushed. When that flush fails the caller is told the
/// write failed, so the move is undone first: the previous file is
/// exchanged back, or the new one removed. (Only when a filesystem without
/// exchange replaced an existing file can it not be undone.) After
/// success the previous file is removed as post-commit cleanup
/// ([`fault::in_cleanup`]); a leftover is a partial file, not `dest`.
/// Partial files of `dest` that an interrupted write left (a kill, a power
/// cut, a failed cleanup) are removed first, best effort; so is that of a
/// concurrent write to the same `dest`, which then fails.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written, synced or
/// moved, or the directory.
pub fn replace_file_with(
    dest: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let dir = parent_dir(dest);
    let prefix = partial_prefix(dest);
    remove_partials(dir, &prefix);
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    fill(&mut fault::Writer(tmp.as_file_mut())).map_err(|e| Error::io(tmp.path(), e))?;
    fault::sync_all(tmp.as_file()).map_err(|e| Error::io(tmp.path(), e))?;
    // Closed; removed on drop (on success it then names the previous file).
    let tmp = tmp.into_temp_path();
    fault::check(Op::Rename).map_err(|e| Error::io(dest, e))?;
    // A directory at `dest` is not exchanged: the rename then fails.
    let existed = fs::symlink_metadata(dest).ok().map(|m| m.is_dir());
    let exchanged = existed == Some(false) && exchange(&tmp, dest).is_ok();
    if !exchanged {
        fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
    }
    if let Err(e) = sync_dir(dir) {
        // The move is not known to be durable and the caller is told it
        // failed: undo it (found by the fault-injection sweep).
        if exchanged {
            let _ = exchange(&tmp, dest);
        } else if existed.is_none() {
            let _ = fs::remove_file(dest);
        }
        let _ = sync_dir(dir);
        return Err(e);
    }
    if exchanged {
        let old = tmp.to_path_buf();
        // Disarm the drop: the durable removal below replaces it.
        let _ = tmp.keep();
        let _ = fault::in_cleanup(|| remove_durable(&old));
    } else {
        // Nothing is left under the temporary name.
        let _ = tmp.keep();
    }
    Ok(())
}

/// What names [`replace_file_with`]'s temporary file, after `.` and the
/// destination's name: `.out.zip.snap-partial-Xy12Ab` for `out.zip`.
pub const PARTIAL_INFIX: &str = ".snap-partial-";

/// `.NAME.snap-partial-` for the destination `dest` named `NAME`.
fn partial_prefix(dest: &Path) -> std::ffi::OsString {
    sibling_prefix(dest.file_name().unwrap_or_default(), PARTIAL_INFIX)
}

/// `.NAME<infix>`: how the name of a temporary sibling of `NAME` starts (a
/// partial export, an extraction's staging folder). `NAME` is cut to its
/// first 200 bytes, so the whole name, with its unique tail, stays within
/// the usual 255-byte limit.
pub fn sibling_prefix(name: &std::ffi::OsStr, infix: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let name = name.as_bytes();
    let name = &name[..name.len().min(200)];
    std::ffi::OsString::from_vec([b".", name, infix.as_bytes()].concat())
}

/// Removes the files in `dir` whose names start with `prefix`. Best
/// effort: one that cannot be removed stays, and does not stop the write.
fn remove_partials(dir: &Path, prefix: &std::ffi::OsStr) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().as_bytes().starts_with(prefix.as_bytes()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Atomically exchanges two existing paths (`renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// The directory holding `path`: `.` for a bare relative name (whose
/// `parent()` is the empty path), `/` for `/`.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        Some(_) => Path::new("."),
        None if path.as_os_str().is_empty() => Path::new("."),
        None => path,
    }
}

/// Flushes a directory so that renames and creations inside it are durable.
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub fn sync_dir(dir: &Path) -> Result<()> {
    // Negative control (tests/negative-controls.sh): no directory fsync.
    #[cfg(snap_broken = "no_dir_fsync")]
    if dir.exists() {
        return Ok(());
    }
    fault::check(Op::DirSync).map_err(|e| Error::io(dir, e))?;
    let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
    d.sync_all().map_err(|e| Error::io(dir, e))
}

/// Creates `dir` (and its parents) and flushes its parent so the new entry is
/// durable. Does nothing when it already exists.
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    sync_dir(parent_dir(dir))
}

/// Opens a file for reading, naming it in the error.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn open_read(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Removes a file and flushes its directory; a file already gone is fine.
///
/// # Errors
/// [`Error::Io`] naming the file or directory.
pub fn remove_durable(path: &Path) -> Result<()> {
    fault::check(Op::Unlink).map_err(|e| Error::io(path, e))?;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    }
    sync_dir(parent_dir(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let dest = dir.path().join("f");
        atomic_write(&tmp, &dest, b"one").unwrap();
        atomic_write(&tmp, &dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }

    #[test]
    fn replace_file_replaces_and_leaves_nothing_beside() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.zip");
        replace_file_with(&dest, |w| w.write_all(b"one")).unwrap();
        replace_file_with(&dest, |w| w.write_all(b"two")).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let r = replace_file_with(&dest, |w| {
            w.write_all(b"three")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_destination_with_a_255_byte_name_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("n".repeat(251) + ".zip");
        replace_file_with(&dest, |w| w.write_all(b"one")).unwrap();
        replace_file_with(&dest, |w| w.write_all(b"two")).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_write_removes_partial_files_of_its_destination_only() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.zip");
        let names = [
            ".out.zip.snap-partial-Ab12Cd",
            ".out.zip.snap-partial-",
            ".other.zip.snap-partial-Ab12Cd",
            ".tmp-Ab12Cd",
            "out.zip.snap-partial-Ab12Cd",
        ];
        for n in names {
            fs::write(dir.path().join(n), b"left by a kill").unwrap();
        }
        replace_file_with(&dest, |w| w.write_all(b"one")).unwrap();
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".other.zip.snap-partial-Ab12Cd",
                ".tmp-Ab12Cd",
                "out.zip",
                "out.zip.snap-partial-Ab12Cd"
            ]
        );
    }

    #[test]
    fn failed_fill_leaves_destination_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        fs::write(&dest, b"old").unwrap();
        let r = atomic_write_with(dir.path(), &dest, |_| Err(io::Error::other("boom")));
        assert!(r.is_err());
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
