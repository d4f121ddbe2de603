//! [`Repository`]: opening, the layout on disk, and the operations on blobs,
//! packs and snapshot records.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::{Config, InitOptions};
use crate::error::{Error, Result};
use crate::fsutil::{self, atomic_write};
use crate::id::{BlobId, PackId, SnapshotId};
use crate::index::{BlobLocation, Index};
use crate::lock::{LockGuard, LockMode};
use crate::pack::{reader, BlobWriter, PackEntry};
use crate::reserve;

/// File and folder names inside a repository (FORMAT.md, "Layout").
pub mod layout {
    /// Format version, id and parameters.
    pub const CONFIG: &str = "config.json";
    /// Immutable pack files, under a two-hex-digit fan-out folder.
    pub const PACKS: &str = "packs";
    /// Immutable snapshot records.
    pub const SNAPSHOTS: &str = "snapshots";
    /// The SQLite index (a cache).
    pub const INDEX: &str = "index.sqlite";
    /// The repository lock file.
    pub const LOCK: &str = "lock";
    /// Per-name locks (the engine's per-profile locks).
    pub const LOCKS: &str = "locks";
    /// Temporary files; garbage after a crash.
    pub const TMP: &str = "tmp";
    /// The space reserve ([`crate::reserve`]).
    pub const RESERVE: &str = "reserve";
}

/// How to open a repository.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The lock to hold for the repository's lifetime.
    pub lock: LockMode,
    /// What the holder is doing, recorded in the lock file ("create", "gc").
    pub command: String,
    /// How long to wait for the lock.
    pub wait: Duration,
    /// The command frees space (`forget`, `gc`): on a full disk the space
    /// reserve is released so that the index can open.
    pub frees_space: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            lock: LockMode::Shared,
            command: "snap".into(),
            wait: Duration::from_secs(30),
            frees_space: false,
        }
    }
}

impl OpenOptions {
    /// Shared lock for `command`.
    pub fn shared(command: &str) -> Self {
        Self {
            command: command.into(),
            ..Self::default()
        }
    }

    /// Exclusive lock for `command`.
    pub fn exclusive(command: &str) -> Self {
        Self {
            lock: LockMode::Exclusive,
            command: command.into(),
            ..Self::default()
        }
    }

    /// The same options for a command that frees space
    /// ([`frees_space`](Self::frees_space)).
    #[must_use]
    pub fn freeing_space(self) -> Self {
        Self {
            frees_space: true,
            ..self
        }
    }
}

/// An open repository, holding its lock until dropped.
pub struct Repository {
    root: PathBuf,
    config: Config,
    index: Mutex<Index>,
    files: Mutex<HashMap<PackId, Arc<File>>>,
    warnings: Vec<String>,
    lock: LockGuard,
}

const MAX_OPEN_PACKS: usize = 64;

impl Repository {
    /// Creates a new repository at `path` (a missing or empty directory),
    /// with an empty index, and returns its configuration.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `path` holds something already; I/O errors.
    pub fn init(path: &Path, opts: &InitOptions) -> Result<Config> {
        if path.join(layout::CONFIG).exists() {
            return Err(Error::Invalid {
                what: "repository path",
                detail: format!("{} already holds a repository", path.display()),
            });
        }
        if path.is_dir()
            && fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .next()
                .is_some()
        {
            return Err(Error::Invalid {
                what: "repository path",
                detail: format!("{} is not empty", path.display()),
            });
        }
        fsutil::create_dir_durable(path)?;
        for d in [layout::PACKS, layout::SNAPSHOTS, layout::TMP, layout::LOCKS] {
            fsutil::create_dir_durable(&path.join(d))?;
        }
        let config = Config::new(opts)?;
        let bytes = serde_json::to_vec_pretty(&config).expect("config serialises");
        // An empty index, so that the first open has nothing to repair.
        crate::index::rebuild::rebuild_into_place(path)?;
        reserve::replenish(path, &path.join(layout::TMP), layout::RESERVE)?;
        // config.json last: its presence is what makes this a repository.
        atomic_write(&path.join(layout::TMP), &path.join(layout::CONFIG), &bytes)?;
        Ok(config)
    }

    /// Opens the repository at `path`, takes its lock, and makes the index
    /// agree with the files: a missing, unreadable or outdated index is
    /// rebuilt, packs and snapshots the index lacks are added, rows whose
    /// files are gone are dropped. Each such repair adds a warning.
    ///
    /// With an exclusive lock, leftovers in `tmp/` are removed.
    ///
    /// # Errors
    /// [`Error::NoRepository`], [`Error::UnsupportedVersion`],
    /// [`Error::Locked`], I/O errors.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self> {
        let cfg_path = path.join(layout::CONFIG);
        let bytes = match fs::read(&cfg_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoRepository {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io(&cfg_path, e)),
        };
        let config = Config::parse(&cfg_path, &bytes)?;
        for d in [layout::PACKS, layout::SNAPSHOTS, layout::TMP, layout::LOCKS] {
            fsutil::create_dir_durable(&path.join(d))?;
        }
        let lock = LockGuard::acquire(
            &path.join(layout::LOCK),
            opts.lock,
            &opts.command,
            opts.wait,
        )?;
        if opts.lock == LockMode::Exclusive {
            sweep_tmp(&path.join(layout::TMP))?;
        }
        let mut warnings = Vec::new();
        if opts.frees_space {
            if let Some(free) = reserve::release_if_full(path, layout::RESERVE)? {
                warnings.push(format!(
                    "the disk is full ({free} bytes free): released the {} MiB space reserve so `{}` can run",
                    reserve::RESERVE_LEN >> 20,
                    opts.command
                ));
            }
        }
        let index_path = path.join(layout::INDEX);
        let index = match Index::open(&index_path) {
            Ok(i) => i,
            // Rebuilding cannot help on a full disk, and the file is fine.
            Err(_) if reserve::free_bytes(path).is_some_and(|f| f < reserve::RESERVE_LEN / 4) => {
                return Err(reserve::index_disk_full(&index_path));
            }
            Err(e) => {
                warnings.push(if index_path.exists() {
                    format!("index was unusable ({e}); rebuilt it from packs and snapshots")
                } else {
                    "index was missing; rebuilt it from packs and snapshots".to_string()
                });
                let report = crate::index::rebuild::rebuild_into_place(path)?;
                warnings.extend(report.skipped.iter().cloned());
                Index::open(&index_path)?
            }
        };
        let repo = Self {
            root: path.to_path_buf(),
            config,
            index: Mutex::new(index),
            files: Mutex::new(HashMap::new()),
            warnings,
            lock,
        };
        let mut repo = repo;
        match repo.reconcile() {
            // The index opened but answers with errors (a damaged page the
            // header check did not catch; found by the byte-flip test): it
            // is a cache, so rebuild it instead of refusing to open, which
            // would also block `index rebuild` and `repair`.
            Err(e @ Error::Index { .. }) => {
                repo.warnings.push(format!(
                    "index was unusable ({e}); rebuilt it from packs and snapshots"
                ));
                repo.rebuild_index()?;
                repo.reconcile()?;
            }
            r => r?,
        }
        Ok(repo)
    }

    /// Makes the index agree with `packs/` and `snapshots/` on disk.
    fn reconcile(&mut self) -> Result<()> {
        let on_disk = list_pack_files(&self.root)?;
        let indexed: HashMap<PackId, u64> = self.index()?.packs()?.into_iter().collect();
        let missing: Vec<PackId> = indexed
            .keys()
            .filter(|id| !on_disk.contains_key(*id))
            .copied()
            .collect();
        if !missing.is_empty() {
            self.warnings.push(format!(
                "index lists {} pack(s) that are gone (first: {}); rebuilt it from packs and snapshots",
                missing.len(),
                missing[0]
            ));
            self.rebuild_index()?;
            return Ok(());
        }
        let mut added = Vec::new();
        for (id, path) in &on_disk {
            if indexed.contains_key(id) {
                continue;
            }
            let f = fsutil::open_read(path)?;
            match reader::read_header(&f, path) {
                Ok(entries) => {
                    let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
                    added.push((*id, size, entries));
                }
                Err(e @ Error::Io { .. }) => return Err(e),
                Err(e) => self.warnings.push(format!("pack not indexed: {e}")),
            }
        }
        if !added.is_empty() {
            self.warnings.push(format!(
                "indexed {} pack(s) the index did not list (left by an interrupted write, or still being written by another process)",
                added.len()
            ));
            self.index()?.add_packs(&added)?;
        }
        let snap_files = list_snapshot_files(&self.root)?;
        let indexed_snaps: HashSet<SnapshotId> = self
            .index()?
            .snapshots()?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for id in indexed_snaps.iter().filter(|id| !snap_files.contains(*id)) {
            self.index()?.remove_snapshot(id)?;
        }
        for id in snap_files.iter().filter(|id| !indexed_snaps.contains(*id)) {
            match self.read_snapshot(id) {
                Ok(bytes) => self.index()?.add_snapshot(id, &bytes)?,
                Err(e) => self.warnings.push(format!("snapshot not indexed: {e}")),
            }
        }
        Ok(())
    }

    /// The repository's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Puts the space reserve back when it is missing and there is room for
    /// it twice over; returns whether it did ([`crate::reserve`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the reserve.
    pub fn replenish_reserve(&self) -> Result<bool> {
        reserve::replenish(&self.root, &self.root.join(layout::TMP), layout::RESERVE)
    }

    /// Repairs made while opening (index rebuilt, packs added), one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The mode of the lock this handle holds.
    pub fn lock_mode(&self) -> LockMode {
        self.lock.mode()
    }

    /// The repository's temporary directory (same filesystem as everything in it).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(layout::TMP)
    }

    /// Takes a named lock (e.g. the engine's per-profile lock) under `locks/`.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder, I/O errors.
    pub fn lock_named(
        &self,
        name: &str,
        mode: LockMode,
        command: &str,
        wait: Duration,
    ) -> Result<LockGuard> {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let file = format!("{safe}-{}", &blake3::hash(name.as_bytes()).to_hex()[..8]);
        LockGuard::acquire(
            &self.root.join(layout::LOCKS).join(file),
            mode,
            command,
            wait,
        )
    }

    pub(crate) fn index(&self) -> Result<MutexGuard<'_, Index>> {
        Ok(self.index.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Starts a write session.
    pub fn writer(&self) -> BlobWriter<'_> {
        BlobWriter::new(self)
    }

    /// Whether a blob is stored.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn has_blob(&self, id: &BlobId) -> Result<bool> {
        self.index()?.contains(id)
    }

    /// Where a blob is stored.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn locate(&self, id: &BlobId) -> Result<Option<BlobLocation>> {
        self.index()?.locate(id)
    }

    /// Reads a blob, verifying it against its id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when not stored, [`Error::BlobDamaged`] when its
    /// bytes are damaged, I/O errors naming the pack.
    pub fn read_blob(&self, id: &BlobId) -> Result<Vec<u8>> {
        let loc = self.locate(id)?.ok_or_else(|| Error::NotFound {
            what: "blob",
            id: id.to_hex(),
        })?;
        let path = self.pack_path(&loc.pack);
        let file = self.pack_file(&loc.pack, &path)?;
        reader::read_blob(&file, &path, &loc.pack, &loc.entry)
    }

    fn pack_file(&self, id: &PackId, path: &Path) -> Result<Arc<File>> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = files.get(id) {
            return Ok(f.clone());
        }
        let f = Arc::new(fsutil::open_read(path)?);
        if files.len() >= MAX_OPEN_PACKS {
            files.clear();
        }
        files.insert(*id, f.clone());
        Ok(f)
    }

    /// The path of a pack file.
    pub fn pack_path(&self, id: &PackId) -> PathBuf {
        let hex = id.to_hex();
        self.root.join(layout::PACKS).join(&hex[..2]).join(hex)
    }

    /// Writes a sealed pack durably and returns its id (blake3 of its bytes).
    pub(crate) fn write_pack(&self, bytes: &[u8]) -> Result<PackId> {
        let id = PackId::of(bytes);
        let path = self.pack_path(&id);
        fsutil::create_dir_durable(path.parent().expect("pack path has a parent"))?;
        atomic_write(&self.tmp_dir(), &path, bytes)?;
        Ok(id)
    }

    pub(crate) fn index_packs(&self, packs: &[(PackId, u64, Vec<PackEntry>)]) -> Result<()> {
        if packs.is_empty() {
            return Ok(());
        }
        self.index()?.add_packs(packs)
    }

    /// Stores a snapshot record: written durably to `snapshots/<blake3>` (the
    /// commit point), then recorded in the index. See
    /// [`commit_snapshot`](Self::commit_snapshot), whose warning this drops.
    ///
    /// # Errors
    /// As [`commit_snapshot`](Self::commit_snapshot).
    pub fn put_snapshot(&self, record: &[u8]) -> Result<SnapshotId> {
        self.commit_snapshot(record).map(|(id, _)| id)
    }

    /// Stores a snapshot record: written durably to `snapshots/<blake3>` (the
    /// commit point), then recorded in the index. Returns the id and, when
    /// the index could not record it, a warning: the snapshot is committed
    /// all the same (the next open adds the row from the file), so that is
    /// no failure.
    ///
    /// # Errors
    /// I/O errors writing the file. When writing the file fails no new
    /// snapshot is left, even when only the directory flush after the
    /// rename failed: the file is then removed again, so a caller told
    /// "failed" never finds the snapshot listed (found by the
    /// fault-injection sweep of `import`).
    pub fn commit_snapshot(&self, record: &[u8]) -> Result<(SnapshotId, Option<String>)> {
        let id = SnapshotId::of(record);
        let path = self.snapshot_path(&id);
        let existed = path.exists();
        if let Err(e) = atomic_write(&self.tmp_dir(), &path, record) {
            if !existed && path.exists() {
                let _ = fs::remove_file(&path);
                let _ = fsutil::sync_dir(path.parent().unwrap_or(&self.root));
            }
            return Err(e);
        }
        let indexed = crate::fault::in_cleanup(|| self.index()?.add_snapshot(&id, record));
        Ok((
            id,
            indexed.err().map(|e| {
                format!("snapshot {} is committed but the index could not record it ({e}); the next command adds it", id.short())
            }),
        ))
    }

    /// The path of a snapshot file.
    pub fn snapshot_path(&self, id: &SnapshotId) -> PathBuf {
        self.root.join(layout::SNAPSHOTS).join(id.to_hex())
    }

    /// Reads a snapshot record from its file, verifying it against its id.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Corrupt`] when the bytes do not match the name.
    pub fn read_snapshot(&self, id: &SnapshotId) -> Result<Vec<u8>> {
        let path = self.snapshot_path(id);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound {
                    what: "snapshot",
                    id: id.to_hex(),
                }
            } else {
                Error::io(&path, e)
            }
        })?;
        if SnapshotId::of(&bytes) != *id {
            return Err(Error::corrupt(
                &path,
                None,
                "snapshot file does not match its name (damaged)",
            ));
        }
        Ok(bytes)
    }

    /// Every snapshot with its record, from the index, leaving out rows
    /// whose file is gone (a deletion whose row removal failed).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn snapshots(&self) -> Result<Vec<(SnapshotId, Vec<u8>)>> {
        let mut all = self.index()?.snapshots()?;
        all.retain(|(id, _)| self.snapshot_path(id).exists());
        Ok(all)
    }

    /// Deletes a snapshot file (the commit point), then its index row. A
    /// failure to remove the row is no failure of the deletion: the next
    /// open drops rows whose files are gone, and until then this handle's
    /// listing reads the files ([`Self::snapshots`] filters on them).
    ///
    /// # Errors
    /// I/O errors removing the file.
    pub fn delete_snapshot(&self, id: &SnapshotId) -> Result<()> {
        fsutil::remove_durable(&self.snapshot_path(id))?;
        let _ = crate::fault::in_cleanup(|| self.index()?.remove_snapshot(id));
        Ok(())
    }

    /// The stat-cache entries of a profile.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_load(&self, profile: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.index()?.stat_cache_load(profile)
    }

    /// Replaces a profile's stat cache.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_replace(&self, profile: &str, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        self.index()?.stat_cache_replace(profile, entries)
    }

    /// Empties the stat cache of every profile (after gc: cached blob ids
    /// may name deleted blobs).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_clear(&self) -> Result<()> {
        self.index()?.stat_cache_clear()
    }

    /// Closes cached pack file handles (after packs were deleted).
    pub(crate) fn forget_open_packs(&self) {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Keeps only the stat-cache entries for which `keep` returns true
    /// (gc drops the entries naming blobs it is about to delete).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_retain(&self, keep: &dyn Fn(&[u8]) -> bool) -> Result<u64> {
        self.index()?.stat_cache_retain(keep)
    }

    /// Recreates the index from packs and snapshots alone (into a temporary
    /// file, renamed into place). Damaged packs and snapshots are skipped and
    /// listed in the report.
    ///
    /// # Errors
    /// I/O or index errors; the old index stays in place on failure.
    pub fn rebuild_index(&mut self) -> Result<crate::index::rebuild::RebuildReport> {
        let mut guard = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let report = crate::index::rebuild::rebuild_into_place(&self.root)?;
        *guard = Index::open(&self.root.join(layout::INDEX))?;
        Ok(report)
    }

    /// Totals for `snap stats`.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stats(&self) -> Result<Stats> {
        let idx = self.index()?;
        let (packs, pack_bytes, blobs, stored_bytes, raw_bytes) = idx.totals()?;
        let snapshots = idx.snapshots()?.len() as u64;
        Ok(Stats {
            packs,
            pack_bytes,
            blobs,
            stored_bytes,
            raw_bytes,
            snapshots,
        })
    }
}

/// Repository totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Pack files.
    pub packs: u64,
    /// Bytes of all pack files.
    pub pack_bytes: u64,
    /// Distinct blobs.
    pub blobs: u64,
    /// Bytes the blobs take in packs.
    pub stored_bytes: u64,
    /// Plaintext bytes of the blobs.
    pub raw_bytes: u64,
    /// Snapshots.
    pub snapshots: u64,
}

fn sweep_tmp(dir: &Path) -> Result<()> {
    for f in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = f.map_err(|e| Error::io(dir, e))?.path();
        let r = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        r.map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// Every pack file on disk, by id.
pub(crate) fn list_pack_files(root: &Path) -> Result<HashMap<PackId, PathBuf>> {
    let dir = root.join(layout::PACKS);
    let mut out = HashMap::new();
    for fan in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let fan = fan.map_err(|e| Error::io(&dir, e))?.path();
        if !fan.is_dir() {
            continue;
        }
        for f in fs::read_dir(&fan).map_err(|e| Error::io(&fan, e))? {
            let p = f.map_err(|e| Error::io(&fan, e))?.path();
            if let Some(id) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| PackId::from_hex(n).ok())
            {
                out.insert(id, p);
            }
        }
    }
    Ok(out)
}

/// Every snapshot file on disk.
pub(crate) fn list_snapshot_files(root: &Path) -> Result<HashSet<SnapshotId>> {
    let dir = root.join(layout::SNAPSHOTS);
    let mut out = HashSet::new();
    for f in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let p = f.map_err(|e| Error::io(&dir, e))?.path();
        if let Some(id) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| SnapshotId::from_hex(n).ok())
        {
            out.insert(id);
        }
    }
    Ok(out)
}
