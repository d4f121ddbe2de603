//! [`Repository`]: opening, the layout on disk, and the operations on blobs,
//! packs and snapshot records.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::{Config, InitOptions};
use crate::crypto::{self, Keys};
use crate::error::{Error, Result};
use crate::fsutil::{self, atomic_write};
use crate::id::{BlobId, PackId, SnapshotId};
use crate::index::{BlobLocation, Index};
use crate::layout::{self, Places};
use crate::lock::{LockGuard, LockMode};
use crate::lock_object::ObjectLock;
use crate::pack::{reader, BlobWriter, PackEntry};
use crate::reserve;
use crate::storage::{open_snapshot, snapshot_key, Storage, SNAPSHOT_KIND};
use crate::unlock::{self, Unlock};

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
    /// How to unlock an encrypted repository: a password callback or the
    /// keys. Not used for an unencrypted one.
    pub unlock: Option<Unlock>,
    /// Where an encrypted repository's index lives; `None`: the user's
    /// cache directory ([`layout::cache_dir`]), under the repository's id.
    pub cache_dir: Option<PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            lock: LockMode::Shared,
            command: "snap".into(),
            wait: Duration::from_secs(30),
            frees_space: false,
            unlock: None,
            cache_dir: None,
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

    /// The same options with a password callback for encrypted repositories.
    #[must_use]
    pub fn unlocking(self, unlock: Unlock) -> Self {
        Self {
            unlock: Some(unlock),
            ..self
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
    /// The repository's directory; for a repository on another backend,
    /// its local state directory in the cache ([`crate::remote`]).
    pub(crate) root: PathBuf,
    pub(crate) storage: Storage,
    pub(crate) config: Config,
    pub(crate) keys: Option<Keys>,
    pub(crate) unlocked_slot: Option<String>,
    pub(crate) places: Places,
    pub(crate) wait: Duration,
    pub(crate) index: Mutex<Index>,
    pub(crate) files: Mutex<HashMap<PackId, Arc<File>>>,
    pub(crate) warnings: Vec<String>,
    pub(crate) lock: LockGuard,
    /// For a repository on an object store, its lock object, held as long
    /// as the file lock.
    pub(crate) lock_object: Option<ObjectLock>,
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
        let (config, keys) = unlock::new_config(opts)?;
        let bytes = config.to_bytes();
        // An empty index, so that the first open has nothing to repair.
        let places = Places::of(path, &config, opts.cache_dir.as_deref())?;
        crate::index::rebuild::rebuild_into_place(&Storage::local(path), &places, keys.as_ref())?;
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
        let (keys, unlocked_slot, mut warnings) =
            unlock::unlock_if_encrypted(path, &cfg_path, &config, opts.unlock.as_ref())?;
        let places = Places::of(path, &config, opts.cache_dir.as_deref())?;
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
            if places.scratch != path.join(layout::TMP) {
                sweep_tmp(&places.scratch)?;
            }
        }
        if opts.frees_space {
            if let Some(free) = reserve::release_if_full(path, layout::RESERVE)? {
                warnings.push(format!(
                    "the disk is full ({free} bytes free): released the {} MiB space reserve so `{}` can run",
                    reserve::RESERVE_LEN >> 20,
                    opts.command
                ));
            }
        }
        Self::assemble(Opened {
            root: path.to_path_buf(),
            storage: Storage::local(path),
            config,
            keys,
            unlocked_slot,
            places,
            wait: opts.wait,
            warnings,
            lock,
            lock_object: None,
        })
    }

    /// Opens the index of an opened repository (rebuilding it when it is
    /// missing or unusable) and makes it agree with the files.
    pub(crate) fn assemble(o: Opened) -> Result<Self> {
        let (root, places, keys) = (o.root, o.places, o.keys);
        let mut warnings = o.warnings;
        let index_path = places.index.clone();
        let index = match Index::open(&index_path) {
            Ok(i) => i,
            // Rebuilding cannot help on a full disk, and the file is fine.
            Err(_) if reserve::free_bytes(&root).is_some_and(|f| f < reserve::RESERVE_LEN / 4) => {
                return Err(reserve::index_disk_full(&index_path));
            }
            Err(e) => {
                warnings.push(if index_path.exists() {
                    format!("index was unusable ({e}); rebuilt it from packs and snapshots")
                } else {
                    "index was missing; rebuilt it from packs and snapshots".to_string()
                });
                let report =
                    crate::index::rebuild::rebuild_into_place(&o.storage, &places, keys.as_ref())?;
                warnings.extend(report.skipped.iter().cloned());
                Index::open(&index_path)?
            }
        };
        let repo = Self {
            root,
            storage: o.storage,
            config: o.config,
            keys,
            unlocked_slot: o.unlocked_slot,
            places,
            wait: o.wait,
            index: Mutex::new(index),
            files: Mutex::new(HashMap::new()),
            warnings,
            lock: o.lock,
            lock_object: o.lock_object,
        };
        let mut repo = repo;
        repo.index()?.begin_session();
        let reconciled = repo.reconcile();
        // A damaged index fails here too; the rebuild below replaces it.
        let _ = repo.index()?.end_session();
        match reconciled {
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
        let on_disk = self.storage.list_packs()?;
        let indexed: HashMap<PackId, u64> = self.index()?.packs()?.into_iter().collect();
        let missing: Vec<PackId> = indexed
            .keys()
            .filter(|id| !on_disk.contains_key(*id))
            .copied()
            .collect();
        if !missing.is_empty() {
            // Locally: damage or an interrupted gc. On an object store also
            // another machine's gc. Dropping just those rows is not enough:
            // a blob indexed in a deleted pack may have another copy that
            // only a full read of the headers finds (FORMAT.md 17.4).
            self.warnings.push(format!(
                "index lists {} pack(s) that are gone (first: {}); rebuilt it from packs and snapshots",
                missing.len(),
                missing[0]
            ));
            self.rebuild_index()?;
            return Ok(());
        }
        let mut new: Vec<(PackId, u64)> = on_disk
            .iter()
            .filter(|(id, _)| !indexed.contains_key(*id))
            .map(|(id, size)| (*id, *size))
            .collect();
        new.sort();
        let mut added = Vec::new();
        for ((id, size), header) in new
            .iter()
            .zip(self.storage.pack_headers(&new, self.keys.as_ref()))
        {
            match header {
                Ok(entries) => added.push((*id, *size, entries)),
                Err(e @ (Error::Io { .. } | Error::Remote { .. })) => return Err(e),
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
        let snap_files = self.storage.list_snapshots()?;
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

    /// The repository's root directory; for a repository on another
    /// backend, its local state directory (index, temporaries, journals)
    /// in the cache.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the repository's files live.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Whether the repository is a local directory (its files are under
    /// [`root`](Self::root)).
    pub fn is_local(&self) -> bool {
        self.storage.dir().is_some()
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn set_config(&mut self, c: Config) {
        self.config = c;
    }

    /// The keys of an encrypted repository (`None`: unencrypted).
    pub fn keys(&self) -> Option<&Keys> {
        self.keys.as_ref()
    }

    /// Whether the repository is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// The key slot whose password opened the repository.
    pub fn unlocked_slot(&self) -> Option<&str> {
        self.unlocked_slot.as_deref()
    }

    pub(crate) fn set_unlocked_slot(&mut self, s: Option<String>) {
        self.unlocked_slot = s;
    }

    pub(crate) fn lock_wait(&self) -> Duration {
        self.wait
    }

    /// A blob's id: blake3 of `data`, keyed in an encrypted repository.
    pub fn blob_id(&self, data: &[u8]) -> BlobId {
        match &self.keys {
            Some(k) => k.blob_id(data),
            None => BlobId::of(data),
        }
    }

    /// Encodes a file of `kind` ("profiles", "exports", "journal") before it
    /// is written into the repository: sealed when encrypted, unchanged
    /// otherwise ([`crypto::seal_file`]).
    pub fn seal_file(&self, kind: &str, plain: &[u8]) -> Vec<u8> {
        crypto::seal_file(self.keys.as_ref(), kind, plain)
    }

    /// Decodes the bytes of a file of `kind` read from `path`
    /// ([`crypto::open_file`]).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming `path` when it does not authenticate.
    pub fn open_file(&self, kind: &str, path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
        crypto::open_file(self.keys.as_ref(), kind, path, bytes)
    }

    /// Where the index is (in the cache directory for an encrypted repository).
    pub fn index_path(&self) -> &Path {
        &self.places.index
    }

    /// Where plaintext temporaries go (copies of live SQLite databases,
    /// export staging): the repository's `tmp/`, or for an encrypted
    /// repository the cache directory's, so no plaintext lands in the
    /// repository. Not for [`fsutil::atomic_write`] into the repository:
    /// that takes [`tmp_dir`](Self::tmp_dir).
    pub fn scratch_dir(&self) -> PathBuf {
        self.places.scratch.clone()
    }

    /// Puts the space reserve back when it is missing and there is room for
    /// it twice over; returns whether it did ([`crate::reserve`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the reserve.
    pub fn replenish_reserve(&self) -> Result<bool> {
        if !self.is_local() {
            return Ok(false); // an object store has no disk to fill
        }
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

    /// Before a step that relies on the repository lock (a snapshot
    /// commit, a pack deletion): on an object store, makes sure the lock
    /// object is still held with [`crate::lock_object::STEP_MARGIN`] of its lease
    /// left (renewing it when less is left). A local lock is the kernel's
    /// and cannot be lost: nothing to do.
    ///
    /// # Errors
    /// [`Error::LockLost`]; remote errors from a renewal.
    pub fn ensure_lock(&self) -> Result<()> {
        match &self.lock_object {
            Some(o) => o.ensure(crate::lock_object::STEP_MARGIN),
            None => Ok(()),
        }
    }

    /// After such a step: whether the lease outlasted it.
    ///
    /// # Errors
    /// [`Error::LockLost`].
    pub fn lock_still_held(&self) -> Result<()> {
        self.lock_object.as_ref().map_or(Ok(()), |o| o.still_held())
    }

    /// The lock object this handle holds (a repository on an object store).
    pub fn lock_object(&self) -> Option<&ObjectLock> {
        self.lock_object.as_ref()
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
        // An encrypted repository's lock names reveal nothing of the name.
        let file = match &self.keys {
            Some(k) => format!("n-{}", k.hide_name(name)),
            None => format!("{safe}-{}", &blake3::hash(name.as_bytes()).to_hex()[..8]),
        };
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

    /// Starts a read session on the index: until the guard is dropped,
    /// reads share one SQLite read transaction instead of one each (writes
    /// still commit at once). A command wraps its work in one, so its index
    /// work is a fixed number of transactions whatever the number of files.
    /// The session reads the index as of its first read (plus this
    /// handle's own writes): a command, not a long-running process, should
    /// hold it.
    pub fn read_session(&self) -> ReadSession<'_> {
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .begin_session();
        ReadSession { repo: self }
    }

    /// SQLite transactions begun on the index since it was opened
    /// (explicit ones and autocommit statements alike).
    pub fn index_transactions(&self) -> u64 {
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .transactions()
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
        if self.storage.dir().is_none() {
            let e = &loc.entry;
            let stored = self
                .storage
                .pack_range(&loc.pack, None, e.offset, e.stored_len as usize)
                .map_err(|err| reader::short_read_damages(err, &loc.pack, e))?;
            return reader::decode_blob(&stored, &loc.pack, e, self.keys.as_ref());
        }
        let path = self.pack_path(&loc.pack);
        let file = self.pack_file(&loc.pack, &path)?;
        reader::read_blob_with(&file, &path, &loc.pack, &loc.entry, self.keys.as_ref())
    }

    pub(crate) fn pack_file(&self, id: &PackId, path: &Path) -> Result<Arc<File>> {
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

    /// The path of a pack file (for a repository on another backend,
    /// `location/key`, for messages).
    pub fn pack_path(&self, id: &PackId) -> PathBuf {
        self.storage.pack_path(id)
    }

    /// Writes a sealed pack durably and returns its id (blake3 of its bytes).
    pub(crate) fn write_pack(&self, bytes: &[u8]) -> Result<PackId> {
        let id = PackId::of(bytes);
        self.storage.put_pack(&id, bytes)?;
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
        let sealed = crypto::seal_file(self.keys.as_ref(), SNAPSHOT_KIND, record);
        self.write_snapshot_file(&sealed, record)
    }

    /// Stores a snapshot file's bytes as they are (sealed in an encrypted
    /// repository), so its id, the blake3 of those bytes, is kept: how
    /// `copy` moves a snapshot between repositories that share their keys.
    /// The bytes must open with this repository's keys. Then as
    /// [`commit_snapshot`](Self::commit_snapshot).
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the bytes do not open with this
    /// repository's keys; as [`commit_snapshot`](Self::commit_snapshot).
    pub fn commit_snapshot_file(&self, file: &[u8]) -> Result<(SnapshotId, Option<String>)> {
        let id = SnapshotId::of(file);
        let record = crypto::open_file(
            self.keys.as_ref(),
            SNAPSHOT_KIND,
            &self.snapshot_path(&id),
            file,
        )?;
        self.write_snapshot_file(file, &record)
    }

    /// The bytes of snapshot `id`'s file as stored (sealed in an encrypted
    /// repository), checked against its name.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Corrupt`] when the bytes do not match the name.
    pub fn read_snapshot_file(&self, id: &SnapshotId) -> Result<Vec<u8>> {
        let bytes = self
            .storage
            .read_opt(&snapshot_key(id))?
            .ok_or_else(|| Error::NotFound {
                what: "snapshot",
                id: id.to_hex(),
            })?;
        if SnapshotId::of(&bytes) != *id {
            return Err(Error::corrupt(
                self.snapshot_path(id),
                None,
                "snapshot file does not match its name (damaged)",
            ));
        }
        Ok(bytes)
    }

    /// Writes the snapshot file `sealed` (whose plaintext is `record`):
    /// the commit point of [`commit_snapshot`](Self::commit_snapshot).
    fn write_snapshot_file(
        &self,
        sealed: &[u8],
        record: &[u8],
    ) -> Result<(SnapshotId, Option<String>)> {
        let id = SnapshotId::of(sealed);
        if self.storage.dir().is_none() {
            // The lock must hold from before the upload to after it: a
            // create whose lease ran out (suspended) may have lost blobs it
            // reuses to a gc that took it for dead (FORMAT.md 17.3).
            self.ensure_lock()?;
            let key = snapshot_key(&id);
            // A conditional create: the object appears whole or not at all.
            let created = self.storage.backend().create(&key, sealed)?;
            if let Err(e) = self.lock_still_held() {
                // The lease ran out during the upload: take the snapshot
                // back (unacknowledged, so nobody relies on it).
                if created == crate::backend::Created::New {
                    let _ = self.storage.remove(&key);
                }
                return Err(e);
            }
            return Ok(self.index_new_snapshot(id, record));
        }
        let path = self.snapshot_path(&id);
        let existed = path.exists();
        if let Err(e) = atomic_write(&self.tmp_dir(), &path, sealed) {
            if !existed && path.exists() {
                let _ = fs::remove_file(&path);
                let _ = fsutil::sync_dir(path.parent().unwrap_or(&self.root));
            }
            return Err(e);
        }
        Ok(self.index_new_snapshot(id, record))
    }

    /// Records a committed snapshot in the index; a failure is a warning.
    fn index_new_snapshot(&self, id: SnapshotId, record: &[u8]) -> (SnapshotId, Option<String>) {
        let indexed = crate::fault::in_cleanup(|| self.index()?.add_snapshot(&id, record));
        (
            id,
            indexed.err().map(|e| {
                format!("snapshot {} is committed but the index could not record it ({e}); the next command adds it", id.short())
            }),
        )
    }

    /// The path of a snapshot file (for a repository on another backend,
    /// `location/key`, for messages).
    pub fn snapshot_path(&self, id: &SnapshotId) -> PathBuf {
        self.storage.display_path(&snapshot_key(id))
    }

    /// Reads a snapshot record from its file, verifying it against its id.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Corrupt`] when the bytes do not match the name.
    pub fn read_snapshot(&self, id: &SnapshotId) -> Result<Vec<u8>> {
        let bytes = self.read_snapshot_file(id)?;
        open_snapshot(self.keys.as_ref(), &self.snapshot_path(id), id, &bytes)
    }

    /// Every snapshot with its record, from the index, leaving out rows
    /// whose file is gone (a deletion whose row removal failed).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn snapshots(&self) -> Result<Vec<(SnapshotId, Vec<u8>)>> {
        let mut all = self.index()?.snapshots()?;
        if self.storage.dir().is_some() {
            all.retain(|(id, _)| self.snapshot_path(id).exists());
        } else {
            let listed = self.storage.list_snapshots()?;
            all.retain(|(id, _)| listed.contains(id));
        }
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
        self.storage.remove(&snapshot_key(id))?;
        let _ = crate::fault::in_cleanup(|| self.index()?.remove_snapshot(id));
        Ok(())
    }

    /// Deletes snapshot files (each durably, in order, stopping at the first
    /// failure), then their index rows in one transaction. The ids of the
    /// files deleted are pushed onto `gone`, so after an error the caller
    /// knows which snapshots are already gone. As in
    /// [`delete_snapshot`](Self::delete_snapshot), a failure to remove the
    /// rows is no failure of the deletion.
    ///
    /// # Errors
    /// I/O errors removing a file.
    pub fn delete_snapshots(&self, ids: &[SnapshotId], gone: &mut Vec<SnapshotId>) -> Result<()> {
        let first = gone.len();
        let mut failed = None;
        for id in ids {
            match self.storage.remove(&snapshot_key(id)) {
                Ok(()) => gone.push(*id),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let removed = &gone[first..];
        let _ = crate::fault::in_cleanup(|| self.index()?.remove_snapshots(removed));
        failed.map_or(Ok(()), Err)
    }

    /// The index's blob epoch: unchanged since a stat cache was written
    /// means no blob has left the index since, so its chunk ids need no
    /// check ([`crate::index::Index::blob_epoch`]).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn blob_epoch(&self) -> Result<u64> {
        self.index()?.blob_epoch()
    }

    /// The stat-cache entries of a profile.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_load(&self, profile: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.index()?.stat_cache_load(profile)
    }

    /// Calls `each` with every stat-cache entry of a profile as it is read
    /// (path bytes, entry bytes).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_each(
        &self,
        profile: &str,
        each: &mut dyn FnMut(Vec<u8>, &[u8]),
    ) -> Result<()> {
        self.index()?.stat_cache_each(profile, each)
    }

    /// Replaces a profile's stat cache with `entries` (path bytes, entry
    /// bytes), written as they come.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_replace(
        &self,
        profile: &str,
        entries: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
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
        let depth = guard.session_depth();
        let report = crate::index::rebuild::rebuild_into_place(
            &self.storage,
            &self.places,
            self.keys.as_ref(),
        )?;
        *guard = Index::open(&self.places.index)?;
        guard.set_session_depth(depth);
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

/// A read session on the index ([`Repository::read_session`]); ends it
/// when dropped.
#[must_use = "the session ends when the guard is dropped"]
pub struct ReadSession<'r> {
    repo: &'r Repository,
}

impl Drop for ReadSession<'_> {
    fn drop(&mut self) {
        // Ending a read transaction cannot lose data; an error here would
        // surface on the connection's next statement.
        let _ = self
            .repo
            .index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .end_session();
    }
}

/// The parts of a repository found while opening it, before its index
/// is opened ([`Repository::assemble`]).
pub(crate) struct Opened {
    pub root: PathBuf,
    pub storage: Storage,
    pub config: Config,
    pub keys: Option<Keys>,
    pub unlocked_slot: Option<String>,
    pub places: Places,
    pub wait: Duration,
    pub warnings: Vec<String>,
    pub lock: LockGuard,
    pub lock_object: Option<ObjectLock>,
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

pub(crate) fn sweep_tmp(dir: &Path) -> Result<()> {
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
