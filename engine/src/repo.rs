//! [`Repo`]: the engine's handle on a repository: the store plus snapshot
//! manifests and trees.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use snap_store::{BlobId, InitOptions, OpenOptions, Repository, SnapshotId};

use crate::error::Result;
use crate::model::snapshot::{self, Manifest, SnapshotInfo};
use crate::model::tree::Tree;

/// An open repository.
pub struct Repo {
    store: Repository,
    trees: Mutex<HashMap<BlobId, Tree>>,
}

/// Trees kept in memory per handle; enough for a profile's directories.
const TREE_CACHE: usize = 4096;

impl Repo {
    /// Creates a repository at `path` with the engine's chunker parameters.
    ///
    /// # Errors
    /// As [`Repository::init`].
    pub fn init(path: &Path) -> Result<snap_store::Config> {
        Self::init_with(path, None)
    }

    /// Creates a repository at `path`, encrypted under a first password
    /// when `encryption` is given (its index then lives in the user's cache
    /// directory; FORMAT.md section 15).
    ///
    /// # Errors
    /// As [`Repository::init`]; [`snap_store::Error::Invalid`] for a
    /// password shorter than 8 characters.
    pub fn init_with(
        path: &Path,
        encryption: Option<snap_store::InitEncryption>,
    ) -> Result<snap_store::Config> {
        let opts = InitOptions {
            chunker: crate::chunker::DEFAULT_PARAMS,
            encryption,
            ..InitOptions::default()
        };
        Ok(Repository::init(path, &opts)?)
    }

    /// Opens the repository at `path`.
    ///
    /// # Errors
    /// As [`Repository::open`].
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self> {
        Ok(Self::with_store(Repository::open(path, opts)?))
    }

    /// The engine's handle on an opened store (interrupted restores finished).
    pub(crate) fn with_store(store: Repository) -> Self {
        crate::recovery::journal::finish_interrupted(&store);
        Self {
            store,
            trees: Mutex::new(HashMap::new()),
        }
    }

    /// Opens the repository at `path`, creating it first when `path` does not exist.
    ///
    /// # Errors
    /// As [`Repo::init`] and [`Repo::open`].
    ///
    /// Concurrent first runs (four `snap create` at once on a fresh machine)
    /// are serialised by an OS lock on the parent directory held while the
    /// repository is made, so exactly one of them creates it and the others
    /// open it.
    pub fn open_or_init(path: &Path, opts: &OpenOptions) -> Result<Self> {
        Self::open_or_init_with(path, opts, None)
    }

    /// [`open_or_init`](Self::open_or_init) that creates an encrypted
    /// repository when `encryption` is given (`create --encrypt`); an
    /// existing repository is opened as it is.
    ///
    /// # Errors
    /// As [`Repo::init_with`] and [`Repo::open`].
    pub fn open_or_init_with(
        path: &Path,
        opts: &OpenOptions,
        encryption: Option<snap_store::InitEncryption>,
    ) -> Result<Self> {
        let config = path.join(snap_store::layout::CONFIG);
        if !config.exists() {
            let parent = snap_store::fsutil::parent_dir(path);
            std::fs::create_dir_all(parent).map_err(|e| crate::Error::io(parent, e))?;
            let guard = std::fs::File::open(parent).map_err(|e| crate::Error::io(parent, e))?;
            guard.lock().map_err(|e| crate::Error::io(parent, e))?;
            if !config.exists() && (!path.exists() || is_empty_dir(path)) {
                Self::init_with(path, encryption)?;
            }
            drop(guard);
        }
        Self::open(path, opts)
    }

    /// The underlying store.
    pub fn store(&self) -> &Repository {
        &self.store
    }

    /// The underlying store, mutably (index rebuild).
    pub fn store_mut(&mut self) -> &mut Repository {
        &mut self.store
    }

    /// Every snapshot, newest first, with its tag record ([`crate::tags`])
    /// applied to the manifest's tags (tags added, pins removed). Records that do not parse
    /// are skipped (`check` reports them).
    ///
    /// # Errors
    /// Index errors.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let mut extra = crate::model::tags::load_all(&self.store);
        let mut out: Vec<SnapshotInfo> = self
            .store
            .snapshots()?
            .into_iter()
            .filter_map(|(id, bytes)| {
                Manifest::from_bytes(&id, &bytes)
                    .ok()
                    .map(|mut manifest| {
                        if let Some(rec) = extra.remove(&id) {
                            manifest.tags = rec.apply(&manifest.tags);
                        }
                        manifest
                    })
                    .map(|manifest| SnapshotInfo {
                        id,
                        short_id: id.short(),
                        manifest,
                    })
            })
            .collect();
        out.sort_by(|a, b| {
            b.manifest
                .time_ms
                .cmp(&a.manifest.time_ms)
                .then(b.id.cmp(&a.id))
        });
        Ok(out)
    }

    /// The tags written in snapshot `id`'s own file, without its tag record.
    ///
    /// # Errors
    /// A missing or damaged snapshot file.
    pub fn manifest_tags(&self, id: &SnapshotId) -> Result<Vec<String>> {
        let bytes = self.store.read_snapshot(id)?;
        Ok(Manifest::from_bytes(id, &bytes)?.tags)
    }

    /// Resolves a user-typed id (see [`snapshot::resolve`]).
    ///
    /// # Errors
    /// Not found, ambiguous, or index errors.
    pub fn resolve(&self, text: &str, profile: Option<&str>) -> Result<SnapshotInfo> {
        let all = self.snapshots()?;
        Ok(snapshot::resolve(&all, text, profile)?.clone())
    }

    /// The newest snapshot of `profile`.
    ///
    /// # Errors
    /// Index errors.
    pub fn latest(&self, profile: &str) -> Result<Option<SnapshotInfo>> {
        Ok(self
            .snapshots()?
            .into_iter()
            .find(|s| s.manifest.profile == profile))
    }

    /// Reads and decodes a tree, verifying it.
    ///
    /// # Errors
    /// Missing or damaged blob, or a tree that does not decode.
    pub fn tree(&self, id: &BlobId) -> Result<Tree> {
        if let Some(t) = self.trees.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(t.clone());
        }
        let bytes = self.store.read_blob(id)?;
        let t = Tree::decode(id, &bytes)?;
        let mut cache = self.trees.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= TREE_CACHE {
            cache.clear();
        }
        cache.insert(*id, t.clone());
        Ok(t)
    }

    /// Removes snapshots' files (in order, stopping at the first failure)
    /// and their index rows in one transaction, then their tag records
    /// (their data stays until gc). The ids of the snapshots removed are
    /// pushed onto `gone`, also when an error follows.
    ///
    /// # Errors
    /// I/O or index errors.
    pub fn delete_snapshots(&self, ids: &[SnapshotId], gone: &mut Vec<SnapshotId>) -> Result<()> {
        let first = gone.len();
        let deleted = self.store.delete_snapshots(ids, gone);
        for id in &gone[first..] {
            crate::model::tags::remove(&self.store, id)?;
        }
        Ok(deleted?)
    }

    /// Removes a snapshot's file and index row, then its tag record (its
    /// data stays until gc).
    ///
    /// # Errors
    /// I/O or index errors.
    pub fn delete_snapshot(&self, id: &SnapshotId) -> Result<()> {
        self.store.delete_snapshot(id)?;
        crate::model::tags::remove(&self.store, id)
    }
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}
