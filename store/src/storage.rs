//! The repository's files through the storage seam: which key each file
//! has (packs, snapshot records) and the few operations the store needs on
//! them, for a directory and for any other [`Backend`] alike.
//!
//! A [`Storage`] is a backend plus, for a repository in a local directory,
//! that directory: on it, packs are read through open file handles with
//! positioned reads and written and removed with the durability protocol
//! of [`crate::fsutil`] (temporary file, `fsync`, rename, directory
//! `fsync`), exactly as before the seam existed, so the crash and fault
//! suites see the same system calls. On any other backend the same
//! operations are object reads of byte ranges, conditional creates and
//! deletes.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::local::LocalBackend;
use crate::backend::{Backend, Created, ObjectInfo, Precondition};
use crate::crypto::{self, Keys};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::id::{PackId, SnapshotId};
use crate::layout;
use crate::pack::{reader, PackEntry};

/// Where a repository's files live.
#[derive(Debug, Clone)]
pub struct Storage {
    backend: Arc<dyn Backend>,
    dir: Option<PathBuf>,
}

/// How many packs' headers are read at once from an object store (the
/// requests wait on the network, not the CPU).
pub const HEADER_READERS: usize = 8;

/// The key of a pack: `packs/<first two hex digits>/<64 hex>`.
pub fn pack_key(id: &PackId) -> String {
    let hex = id.to_hex();
    format!("{}/{}/{hex}", layout::PACKS, &hex[..2])
}

/// The key of a snapshot record: `snapshots/<64 hex>`.
pub fn snapshot_key(id: &SnapshotId) -> String {
    format!("{}/{}", layout::SNAPSHOTS, id.to_hex())
}

impl Storage {
    /// The repository in the local directory `dir`.
    pub fn local(dir: &Path) -> Self {
        Self {
            backend: Arc::new(LocalBackend::new(dir)),
            dir: Some(dir.to_path_buf()),
        }
    }

    /// A repository on `backend` (memory, an object store).
    pub fn remote(backend: Arc<dyn Backend>) -> Self {
        Self { backend, dir: None }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The directory of a local repository.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where the repository is, for messages.
    pub fn location(&self) -> &str {
        self.backend.location()
    }

    /// The name of `key` in messages: its path in a directory, else
    /// `location/key`.
    pub fn display_path(&self, key: &str) -> PathBuf {
        match &self.dir {
            Some(d) => d.join(key),
            None => PathBuf::from(format!("{}/{key}", self.location())),
        }
    }

    /// The whole file `key`, or `None` when there is none.
    ///
    /// # Errors
    /// I/O or remote errors naming the file.
    pub fn read_opt(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.backend.read(key) {
            Ok(b) => Ok(Some(b)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces (or creates) the file `key` atomically and durably.
    ///
    /// # Errors
    /// I/O or remote errors naming the file.
    pub fn write(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.backend
            .write(key, bytes, Precondition::None)
            .map(|_| ())
    }

    /// Every pack, with its size.
    ///
    /// # Errors
    /// I/O or remote errors.
    pub fn list_packs(&self) -> Result<HashMap<PackId, u64>> {
        Ok(self
            .list_named(layout::PACKS)?
            .into_iter()
            .filter_map(|o| Some((PackId::from_hex(name_of(&o)).ok()?, o.size)))
            .collect())
    }

    /// Every snapshot record.
    ///
    /// # Errors
    /// I/O or remote errors.
    pub fn list_snapshots(&self) -> Result<HashSet<SnapshotId>> {
        Ok(self
            .list_named(layout::SNAPSHOTS)?
            .iter()
            .filter_map(|o| SnapshotId::from_hex(name_of(o)).ok())
            .collect())
    }

    fn list_named(&self, folder: &str) -> Result<Vec<ObjectInfo>> {
        self.backend.list(&format!("{folder}/"))
    }

    /// The path of a pack of a local repository.
    pub(crate) fn pack_path(&self, id: &PackId) -> PathBuf {
        self.display_path(&pack_key(id))
    }

    /// A pack's header entries (two or three ranged reads).
    ///
    /// # Errors
    /// As [`reader::read_header_with`], naming the pack.
    pub fn pack_header(
        &self,
        id: &PackId,
        size: u64,
        keys: Option<&Keys>,
    ) -> Result<Vec<PackEntry>> {
        let path = self.pack_path(id);
        if self.dir.is_some() {
            let f = fsutil::open_read(&path)?;
            return reader::read_header_with(&f, &path, keys);
        }
        let key = pack_key(id);
        reader::read_header_via(size, &path, keys, &|offset, len| {
            self.backend.read_range(&key, offset, len as u64)
        })
    }

    /// The header entries of each of `packs` (id, size): in a directory one
    /// after the other, on any other backend [`HEADER_READERS`] packs at a
    /// time (each two or three ranged reads), in the order given.
    pub fn pack_headers(
        &self,
        packs: &[(PackId, u64)],
        keys: Option<&Keys>,
    ) -> Vec<Result<Vec<PackEntry>>> {
        let one = |&(id, size): &(PackId, u64)| self.pack_header(&id, size, keys);
        if self.dir.is_some() || packs.len() < 2 {
            return packs.iter().map(one).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut out: Vec<Option<Result<Vec<PackEntry>>>> = Vec::new();
        out.resize_with(packs.len(), || None);
        let done = std::sync::Mutex::new(out);
        std::thread::scope(|s| {
            for _ in 0..HEADER_READERS.min(packs.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = packs.get(i) else { break };
                    let r = one(p);
                    done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                });
            }
        });
        done.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|r| r.expect("every pack was read"))
            .collect()
    }

    /// `len` bytes of a pack from `offset`; `file` is an open handle on a
    /// local pack (`None` on other backends).
    ///
    /// # Errors
    /// I/O or remote errors; [`Error::Corrupt`] when the pack is shorter.
    pub(crate) fn pack_range(
        &self,
        id: &PackId,
        file: Option<&File>,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.pack_range_into(id, file, offset, len, &mut buf)?;
        Ok(buf)
    }

    /// [`pack_range`](Self::pack_range) into `buf`, whose capacity a local
    /// read reuses.
    ///
    /// # Errors
    /// As [`pack_range`](Self::pack_range).
    pub(crate) fn pack_range_into(
        &self,
        id: &PackId,
        file: Option<&File>,
        offset: u64,
        len: usize,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match file {
            Some(f) => reader::read_at_into(f, &self.pack_path(id), offset, len, buf),
            None => {
                *buf = self.backend.read_range(&pack_key(id), offset, len as u64)?;
                Ok(())
            }
        }
    }

    /// Publishes a sealed pack whose bytes are `bytes`: with the local
    /// durability protocol, or as a conditional create of a write-once
    /// object.
    ///
    /// # Errors
    /// I/O or remote errors naming the pack.
    pub(crate) fn put_pack(&self, id: &PackId, bytes: &[u8]) -> Result<()> {
        self.put_once(&pack_key(id), bytes)
    }

    /// Writes a write-once, content-named object (a pack, a snapshot
    /// record): locally through a temporary file and rename (replacing a
    /// same-named file, whose bytes are the same), elsewhere with a
    /// conditional create, so nothing is modified in place.
    ///
    /// # Errors
    /// I/O or remote errors naming the object.
    pub fn put_once(&self, key: &str, bytes: &[u8]) -> Result<()> {
        if self.dir.is_some() {
            return self.write(key, bytes);
        }
        match self.backend.create(key, bytes)? {
            Created::New | Created::Existed => Ok(()),
        }
    }

    /// Removes an object: durably in a directory (the file, then its
    /// folder flushed), with a delete elsewhere.
    ///
    /// # Errors
    /// I/O or remote errors naming the object.
    pub fn remove(&self, key: &str) -> Result<()> {
        match &self.dir {
            Some(d) => fsutil::remove_durable(&d.join(key)),
            None => self.backend.delete(key),
        }
    }
}

/// The last `/`-separated part of an object's key.
fn name_of(o: &ObjectInfo) -> &str {
    o.key.rsplit('/').next().unwrap_or(&o.key)
}

impl crate::Repository {
    /// The key of the repository file at `path` (under [`root`](crate::Repository::root)).
    fn key_of(&self, path: &Path) -> Result<String> {
        path.strip_prefix(self.root())
            .ok()
            .and_then(|k| k.to_str())
            .map(|k| k.replace(std::path::MAIN_SEPARATOR, "/"))
            .ok_or_else(|| Error::Invalid {
                what: "repository file",
                detail: format!("{} is not inside the repository", path.display()),
            })
    }

    /// Reads the repository file at `path`, a path under
    /// [`root`](crate::Repository::root) (`root/profiles.json`,
    /// `root/tags/<id>`): from the directory of a local repository, else
    /// the object with the same key on the backend. The engine's own files
    /// go through this and the three functions below, so they live
    /// wherever the repository does.
    ///
    /// # Errors
    /// An error of kind `NotFound` when there is no such file; others
    /// naming it.
    pub fn read_repo_file(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if self.is_local() {
            return std::fs::read(path);
        }
        let key = self.key_of(path).map_err(std::io::Error::other)?;
        match self.storage().backend().read(&key) {
            Ok(b) => Ok(b),
            Err(Error::NotFound { .. }) => Err(std::io::ErrorKind::NotFound.into()),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Replaces the repository file at `path` atomically and durably
    /// (locally through `tmp/`, [`fsutil::atomic_write`]).
    ///
    /// # Errors
    /// I/O or remote errors naming the file.
    pub fn write_repo_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        if self.is_local() {
            return fsutil::atomic_write(&self.tmp_dir(), path, bytes);
        }
        self.storage().write(&self.key_of(path)?, bytes)
    }

    /// Removes the repository file at `path` durably; a missing one is no error.
    ///
    /// # Errors
    /// I/O or remote errors naming the file.
    pub fn remove_repo_file(&self, path: &Path) -> Result<()> {
        if self.is_local() {
            if std::fs::symlink_metadata(path).is_ok() {
                fsutil::remove_durable(path)?;
            }
            return Ok(());
        }
        self.storage().backend().delete(&self.key_of(path)?)
    }

    /// The names of the files in the repository folder `dir`.
    ///
    /// # Errors
    /// I/O or remote errors naming the folder; a missing folder is empty.
    pub fn list_repo_dir(&self, dir: &Path) -> Result<Vec<String>> {
        if self.is_local() {
            let rd = match std::fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(Error::io(dir, e)),
            };
            return Ok(rd
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect());
        }
        let prefix = format!("{}/", self.key_of(dir)?);
        Ok(self
            .storage()
            .backend()
            .list(&prefix)?
            .iter()
            .map(|o| name_of(o).to_string())
            .collect())
    }
}

/// The associated-data kind of snapshot files.
pub const SNAPSHOT_KIND: &str = "snapshot";

/// Checks a snapshot file's bytes against its name and opens them.
pub(crate) fn open_snapshot(
    keys: Option<&Keys>,
    path: &Path,
    id: &SnapshotId,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    if SnapshotId::of(bytes) != *id {
        return Err(Error::corrupt(
            path,
            None,
            "snapshot file does not match its name (damaged)",
        ));
    }
    crypto::open_file(keys, SNAPSHOT_KIND, path, bytes)
}
