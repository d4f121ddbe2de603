//! Repositories on a backend other than a local directory (an object
//! store, or memory in tests): [`Repository::init_in`] and
//! [`Repository::open_in`].
//!
//! Their files are the same objects under the same keys as in a local
//! repository (FORMAT.md, "Layout"); what is inherently local lives in a
//! *state directory* in the user's cache, `<cache>/<repository id>/`: the
//! SQLite index (a cache, rebuilt from the pack headers when missing), the
//! temporaries, restore journals and the per-name locks of the processes
//! on this machine. The repository lock is a lock object in the bucket
//! ([`crate::lock_object`]), so processes on other machines see it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{Backend, Precondition};
use crate::config::{Config, InitOptions};
use crate::error::{Error, Result};
use crate::layout::{self, Places};
use crate::lock::{LockGuard, LockMode};
use crate::lock_object::ObjectLock;
use crate::repo::{OpenOptions, Opened, Repository};
use crate::storage::Storage;
use crate::unlock;

/// The state directory of the repository `config` describes, under
/// `cache_dir` (default: the user's cache directory), with its `tmp/` and
/// `locks/` made.
fn state_dir(cache_dir: Option<&Path>, config: &Config) -> Result<(PathBuf, Places)> {
    let base = layout::state_base(cache_dir, config)?;
    for d in [layout::TMP, layout::LOCKS] {
        let p = base.join(d);
        fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
    }
    let places = Places {
        index: base.join(layout::INDEX),
        scratch: base.join(layout::TMP),
    };
    Ok((base, places))
}

impl Repository {
    /// Creates a new repository on `backend`, which must hold no object,
    /// and returns its configuration. `config.json` is written last, with
    /// a conditional create, so two processes initialising one bucket
    /// cannot both succeed.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the backend holds something already; remote
    /// and I/O errors.
    pub fn init_in(backend: Arc<dyn Backend>, opts: &InitOptions) -> Result<Config> {
        let storage = Storage::remote(backend);
        if !storage.backend().list("")?.is_empty() {
            return Err(Error::Invalid {
                what: "repository location",
                detail: format!("{} is not empty", storage.location()),
            });
        }
        let (config, keys) = unlock::new_config(opts)?;
        let (_, places) = state_dir(opts.cache_dir.as_deref(), &config)?;
        crate::index::rebuild::rebuild_into_place(&storage, &places, keys.as_ref())?;
        match storage
            .backend()
            .write(layout::CONFIG, &config.to_bytes(), Precondition::Absent)
        {
            Ok(_) => Ok(config),
            Err(Error::Conflict { .. }) => Err(Error::Invalid {
                what: "repository location",
                detail: format!("{} already holds a repository", storage.location()),
            }),
            Err(e) => Err(e),
        }
    }

    /// Opens the repository on `backend`: reads and unlocks its config,
    /// takes the repository lock (a lock object, [`crate::lock_object`]),
    /// and opens its index in the state directory, rebuilding it from the
    /// pack headers when it is missing and adding what it lacks.
    ///
    /// # Errors
    /// [`Error::NoRepository`] when there is no `config.json`; as
    /// [`Repository::open`].
    pub fn open_in(backend: Arc<dyn Backend>, opts: &OpenOptions) -> Result<Self> {
        let storage = Storage::remote(backend);
        let cfg_path = storage.display_path(layout::CONFIG);
        let bytes = storage
            .read_opt(layout::CONFIG)?
            .ok_or_else(|| Error::NoRepository {
                path: PathBuf::from(storage.location()),
            })?;
        let config = Config::parse(&cfg_path, &bytes)?;
        let (keys, unlocked_slot, warnings) = unlock::unlock_if_encrypted(
            Path::new(storage.location()),
            &cfg_path,
            &config,
            opts.unlock.as_ref(),
        )?;
        let (root, places) = state_dir(opts.cache_dir.as_deref(), &config)?;
        // Processes on this machine meet at the state directory's lock
        // file; processes anywhere meet at the lock objects.
        let lock = LockGuard::acquire(
            &root.join(layout::LOCK),
            opts.lock,
            &opts.command,
            opts.wait,
        )?;
        let lock_object = ObjectLock::acquire(
            storage.backend().clone(),
            opts.lock,
            &opts.command,
            opts.wait,
        )?;
        if opts.lock == LockMode::Exclusive {
            crate::repo::sweep_tmp(&places.scratch)?;
        }
        Self::assemble(Opened {
            root,
            storage,
            config,
            keys,
            unlocked_slot,
            places,
            wait: opts.wait,
            warnings,
            lock,
            lock_object: Some(lock_object),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::MemoryBackend;
    use crate::{BlobKind, CheckOptions};

    fn opts(cache: &Path, lock: LockMode) -> OpenOptions {
        OpenOptions {
            lock,
            cache_dir: Some(cache.to_path_buf()),
            wait: std::time::Duration::from_millis(200),
            ..OpenOptions::shared("test")
        }
    }

    /// A new plain repository in memory, its cache folder and the options
    /// that made it.
    fn initialised() -> (tempfile::TempDir, Arc<dyn Backend>, InitOptions) {
        let cache = tempfile::tempdir().unwrap();
        let mem: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let init = InitOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            ..InitOptions::default()
        };
        Repository::init_in(mem.clone(), &init).unwrap();
        (cache, mem, init)
    }

    #[test]
    fn a_repository_in_memory_stores_reads_rebuilds_and_collects() {
        let (cache, mem, init) = initialised();
        assert!(Repository::init_in(mem.clone(), &init).is_err());
        let data: Vec<Vec<u8>> = (0..50u32)
            .map(|i| (0..3000u32).map(|j| (j * 31 + i * 7) as u8).collect())
            .collect();
        let (ids, snap) = {
            let repo =
                Repository::open_in(mem.clone(), &opts(cache.path(), LockMode::Shared)).unwrap();
            let w = repo.writer();
            let ids: Vec<_> = data
                .iter()
                .map(|d| w.put(BlobKind::Data, d).unwrap().0)
                .collect();
            w.finish().unwrap();
            let snap = repo.put_snapshot(b"record").unwrap();
            (ids, snap)
        };
        assert!(!mem.list("packs/").unwrap().is_empty());
        assert_eq!(mem.list("snapshots/").unwrap().len(), 1);
        // A fresh cache: the index is rebuilt from the pack headers.
        let cache2 = tempfile::tempdir().unwrap();
        let mut repo =
            Repository::open_in(mem.clone(), &opts(cache2.path(), LockMode::Exclusive)).unwrap();
        assert!(repo.warnings().iter().any(|w| w.contains("rebuilt")));
        for (id, d) in ids.iter().zip(&data) {
            assert_eq!(&repo.read_blob(id).unwrap(), d);
        }
        assert_eq!(repo.read_snapshot(&snap).unwrap(), b"record");
        let report = crate::check(&repo, CheckOptions { read_data: true }).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let live = ids[..5].iter().copied().collect();
        let plan = crate::gc::plan(&repo, &live, crate::gc::DEFAULT_REPACK_THRESHOLD).unwrap();
        crate::gc::execute(&repo, &plan).unwrap();
        for id in &ids[..5] {
            repo.read_blob(id).unwrap();
        }
        assert!(!repo.has_blob(&ids[40]).unwrap());
        repo.delete_snapshot(&snap).unwrap();
        assert!(mem.list("snapshots/").unwrap().is_empty());
        let r = repo.rebuild_index().unwrap();
        assert_eq!(r.blobs, 5);
        // While the exclusive lock is held, another process cannot open.
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            Repository::open_in(mem.clone(), &opts(other.path(), LockMode::Shared)),
            Err(Error::Locked { .. })
        ));
        drop(repo);
        Repository::open_in(mem, &opts(other.path(), LockMode::Shared)).unwrap();
    }

    #[test]
    fn an_empty_backend_is_no_repository() {
        let cache = tempfile::tempdir().unwrap();
        let mem: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        assert!(matches!(
            Repository::open_in(mem, &opts(cache.path(), LockMode::Shared)),
            Err(Error::NoRepository { .. })
        ));
    }

    #[test]
    fn a_create_or_gc_whose_lease_ran_out_changes_nothing() {
        let (cache, mem, _) = initialised();
        let lease = crate::lock_object::LEASE.as_secs() as i64;
        {
            let repo =
                Repository::open_in(mem.clone(), &opts(cache.path(), LockMode::Shared)).unwrap();
            let w = repo.writer();
            w.put(BlobKind::Data, b"chunk of a create").unwrap();
            w.finish().unwrap();
            repo.commit_snapshot(b"first").unwrap();
            // Suspended for longer than the lease before the commit.
            repo.lock_object().unwrap().age_for_test(lease);
            let err = repo.commit_snapshot(b"second").unwrap_err();
            assert!(matches!(err, Error::LockLost { .. }), "{err}");
            assert_eq!(mem.list("snapshots/").unwrap().len(), 1);
        }
        let repo =
            Repository::open_in(mem.clone(), &opts(cache.path(), LockMode::Exclusive)).unwrap();
        let plan = crate::gc::plan(&repo, &Default::default(), 0.5).unwrap();
        assert!(!plan.delete.is_empty());
        repo.lock_object().unwrap().age_for_test(lease);
        let err = crate::gc::execute(&repo, &plan).unwrap_err();
        assert!(matches!(err, Error::LockLost { .. }), "{err}");
        assert_eq!(
            mem.list("packs/").unwrap().len(),
            plan.delete.len(),
            "a gc without its lease deleted a pack"
        );
    }
}
