//! Where a repository's files are: the names inside a repository
//! (FORMAT.md, "Layout"), and where the local state of a repository (its
//! SQLite index and plaintext temporaries) lives: inside an unencrypted
//! local repository, else in the user's cache directory under the
//! repository's id ([`cache_dir`]).

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};

/// Format version, id and parameters.
pub const CONFIG: &str = "config.json";
/// The previous `config.json`, kept by key changes.
pub const CONFIG_BAK: &str = "config.json.bak";
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

/// The default root of encrypted repositories' indexes:
/// `$XDG_CACHE_HOME/snap`, else `$HOME/.cache/snap`.
///
/// # Errors
/// [`Error::Invalid`] when neither variable is set.
pub fn cache_dir() -> Result<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(x) = var("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(x).join("snap"));
    }
    var("HOME")
        .map(|h| PathBuf::from(h).join(".cache").join("snap"))
        .ok_or_else(|| Error::Invalid {
            what: "cache directory",
            detail: "neither XDG_CACHE_HOME nor HOME is set".into(),
        })
}

/// The state folder of the repository `config` describes, under `under`
/// (default: [`cache_dir()`]).
pub(crate) fn state_base(under: Option<&Path>, config: &Config) -> Result<PathBuf> {
    Ok(match under {
        Some(d) => d.to_path_buf(),
        None => cache_dir()?,
    }
    .join(&config.id))
}

/// Where the index and plaintext temporaries of a repository go: in the
/// repository for an unencrypted one, in the cache directory (under the
/// repository's id) for an encrypted one.
#[derive(Debug, Clone)]
pub(crate) struct Places {
    pub index: PathBuf,
    pub scratch: PathBuf,
}

impl Places {
    pub(crate) fn of(root: &Path, config: &Config, cache_dir: Option<&Path>) -> Result<Self> {
        if config.encryption.is_none() {
            return Ok(Self {
                index: root.join(INDEX),
                scratch: root.join(TMP),
            });
        }
        let base = state_base(cache_dir, config)?;
        let scratch = base.join(TMP);
        fs::create_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
        Ok(Self {
            index: base.join(INDEX),
            scratch,
        })
    }
}
