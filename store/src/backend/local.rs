//! A repository in a local directory: keys are relative paths under it.
//!
//! Writes follow the repository's durability protocol (FORMAT.md section
//! 2): a temporary file in `tmp/`, `fsync`, rename into place, `fsync` of
//! the directory. A write-once object is published with a rename that
//! refuses to replace (`renameat2(RENAME_NOREPLACE)`, through
//! `tempfile`'s `persist_noclobber`). A compare-and-swap runs under an
//! exclusive OS lock on `cas.lock`, so two processes sharing the folder
//! (a shared disk) cannot both win.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{check_key, content_version, short_object, Backend, ObjectInfo, Precondition, Version};
use crate::error::{Error, Result};
use crate::fsutil;

/// The file whose exclusive lock serialises compare-and-swap writes.
pub const CAS_LOCK: &str = "cas.lock";

/// A repository directory.
#[derive(Debug)]
pub struct LocalBackend {
    root: PathBuf,
    location: String,
}

impl LocalBackend {
    /// The backend for the directory `root` (which must exist, with `tmp/`).
    pub fn new(root: &Path) -> Self {
        LocalBackend {
            root: root.to_path_buf(),
            location: root.display().to_string(),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(&self.location, key)?;
        Ok(self.root.join(key))
    }

    fn not_found(key: &str) -> Error {
        Error::NotFound {
            what: "object",
            id: key.to_string(),
        }
    }

    fn open(&self, key: &str) -> Result<(PathBuf, File)> {
        let path = self.path(key)?;
        match File::open(&path) {
            Ok(f) => Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Self::not_found(key)),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Writes `bytes` to a flushed temporary file in `tmp/` and moves it to
    /// `dest`, refusing to replace an existing file when `noclobber`.
    fn publish(&self, key: &str, dest: &Path, bytes: &[u8], noclobber: bool) -> Result<()> {
        let dir = fsutil::parent_dir(dest);
        fsutil::create_dir_durable(dir)?;
        if !noclobber {
            return fsutil::atomic_write(&self.root.join("tmp"), dest, bytes);
        }
        let tmp_dir = self.root.join("tmp");
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| Error::io(&tmp_dir, e))?;
        tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(tmp.path(), e))?;
        match tmp.persist_noclobber(dest) {
            Ok(_) => fsutil::sync_dir(dir),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Err(Error::Conflict {
                location: self.location.clone(),
                key: key.to_string(),
            }),
            Err(e) => Err(Error::io(dest, e.error)),
        }
    }
}

impl Backend for LocalBackend {
    fn location(&self) -> &str {
        &self.location
    }

    fn read(&self, key: &str) -> Result<Vec<u8>> {
        let (path, mut f) = self.open(key)?;
        let mut out = Vec::new();
        f.read_to_end(&mut out).map_err(|e| Error::io(&path, e))?;
        Ok(out)
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let (path, mut f) = self.open(key)?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&path, e))?;
        let mut out = Vec::new();
        f.take(len)
            .read_to_end(&mut out)
            .map_err(|e| Error::io(&path, e))?;
        if (out.len() as u64) < len {
            return Err(short_object(key, offset, len, offset + out.len() as u64));
        }
        Ok(out)
    }

    fn version(&self, key: &str) -> Result<Option<Version>> {
        match self.read(key) {
            Ok(bytes) => Ok(Some(content_version(&bytes))),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write(&self, key: &str, bytes: &[u8], when: Precondition) -> Result<Version> {
        let dest = self.path(key)?;
        match when {
            Precondition::None => self.publish(key, &dest, bytes, false)?,
            Precondition::Absent => self.publish(key, &dest, bytes, true)?,
            Precondition::Matches(expected) => {
                let lock_path = self.root.join(CAS_LOCK);
                let lock = File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| Error::io(&lock_path, e))?;
                lock.lock().map_err(|e| Error::io(&lock_path, e))?;
                if self.version(key)? != Some(expected) {
                    return Err(Error::Conflict {
                        location: self.location.clone(),
                        key: key.to_string(),
                    });
                }
                self.publish(key, &dest, bytes, false)?;
                // The lock is released when `lock` is dropped, after the
                // new content is durable.
            }
        }
        Ok(content_version(bytes))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, prefix, &mut out)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        fsutil::remove_durable(&self.path(key)?)
    }
}

/// Collects the regular files under `dir` whose key starts with `prefix`,
/// skipping `tmp/` (unpublished writes) and [`CAS_LOCK`], and descending only into
/// directories that can hold such keys.
fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<ObjectInfo>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let Some(key) = path
            .strip_prefix(root)
            .ok()
            .and_then(|k| k.to_str())
            .map(str::to_string)
        else {
            continue; // not a name any backend key can have
        };
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ty.is_dir() {
            let as_dir = format!("{key}/");
            if key != "tmp" && (as_dir.starts_with(prefix) || prefix.starts_with(&as_dir)) {
                walk(root, &path, prefix, out)?;
            }
        } else if ty.is_file() && key.starts_with(prefix) && key != CAS_LOCK {
            let size = entry.metadata().map_err(|e| Error::io(&path, e))?.len();
            out.push(ObjectInfo { key, size });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> (tempfile::TempDir, LocalBackend) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("tmp")).unwrap();
        let b = LocalBackend::new(dir.path());
        (dir, b)
    }

    #[test]
    fn meets_the_backend_contract() {
        let (dir, b) = backend();
        // The contract starts from an empty repository; `tmp/` is not listed.
        super::super::contract::run(&b);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn compare_and_swap_has_one_winner_across_threads() {
        let (_dir, b) = backend();
        let v0 = b.write("heads/p", b"start", Precondition::Absent).unwrap();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (b, v0) = (&b, v0.clone());
                    s.spawn(move || {
                        b.write(
                            "heads/p",
                            format!("w{i}").as_bytes(),
                            Precondition::Matches(v0),
                        )
                        .is_ok() as usize
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
    }
}
