//! Repositories on a backend other than a local directory (an object
//! store such as S3, or memory): the engine's side of
//! [`Repository::init_in`] and [`Repository::open_in`]. Everything else
//! the engine does is the same for every backend: its own files
//! (profiles, exports, tags) go through [`Repository::read_repo_file`] and
//! [`Repository::write_repo_file`].

use std::sync::Arc;

use snap_store::backend::Backend;
use snap_store::{InitEncryption, InitOptions, OpenOptions, Repository};

use crate::error::Result;
use crate::repo::Repo;

impl Repo {
    /// Creates a repository on `backend` with the engine's chunker
    /// parameters, encrypted when `encryption` is given.
    ///
    /// # Errors
    /// As [`Repository::init_in`].
    pub fn init_in(
        backend: Arc<dyn Backend>,
        encryption: Option<InitEncryption>,
        cache_dir: Option<std::path::PathBuf>,
    ) -> Result<snap_store::Config> {
        let opts = InitOptions {
            chunker: crate::chunker::DEFAULT_PARAMS,
            encryption,
            cache_dir,
            ..InitOptions::default()
        };
        Ok(Repository::init_in(backend, &opts)?)
    }

    /// Opens the repository on `backend`.
    ///
    /// # Errors
    /// As [`Repository::open_in`].
    pub fn open_in(backend: Arc<dyn Backend>, opts: &OpenOptions) -> Result<Self> {
        Ok(Self::with_store(Repository::open_in(backend, opts)?))
    }

    /// Opens the repository on `backend`, creating it first when the
    /// backend holds no `config.json` (`create` into a new bucket prefix).
    /// Two processes doing this at once: `config.json` is written with a
    /// conditional create, so one creates it and the other opens it.
    ///
    /// # Errors
    /// As [`Repo::init_in`] and [`Repo::open_in`].
    pub fn open_or_init_in(
        backend: Arc<dyn Backend>,
        opts: &OpenOptions,
        encryption: Option<InitEncryption>,
    ) -> Result<Self> {
        if backend.version(snap_store::layout::CONFIG)?.is_none() {
            if let Err(e) = Self::init_in(backend.clone(), encryption, opts.cache_dir.clone()) {
                if backend.version(snap_store::layout::CONFIG)?.is_none() {
                    return Err(e);
                }
            }
        }
        Self::open_in(backend, opts)
    }
}
