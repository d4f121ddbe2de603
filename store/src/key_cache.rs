//! The key cache behind `snap key cache`: an unlocked repository's master
//! key, kept for a limited time in the user's runtime directory
//! (`$XDG_RUNTIME_DIR/snap/keys/<repository id>`), so that a session of
//! commands runs Argon2id once instead of once per command.
//!
//! The runtime directory is a per-user tmpfs (RAM) that the OS empties at
//! logout and reboot; the cache never falls back to a directory on
//! persistent disk. An entry is used only while unexpired and only when
//! its key authenticates the repository's `config.json` (the check every
//! [`Unlock::Keys`](crate::Unlock::Keys) open makes); anything else is
//! ignored, an expired entry deleted. FORMAT.md section 16.5 gives the
//! file's format and the threat model.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::fsutil::atomic_write_with;
use crate::layout;
use crate::storage::Storage;

/// The `format` field of a cache file.
pub const FORMAT: &str = "snap key cache";
/// The version this build writes and reads.
pub const VERSION: u64 = 1;

/// The key cache in one runtime directory.
#[derive(Debug, Clone)]
pub struct KeyCache {
    /// `<runtime dir>/snap/keys`.
    dir: PathBuf,
}

/// One cached key, as `snap key cache` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The repository's id.
    pub repository: String,
    /// The cache file.
    pub path: PathBuf,
    /// When it expires (RFC 3339, UTC).
    pub expires: String,
}

/// The cache file (FORMAT.md 16.5).
#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u64,
    repository: String,
    created: u64,
    expires: u64,
    master_key: String,
    checksum: String,
}

impl File {
    fn checksum(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n",
            self.format, self.version, self.repository, self.created, self.expires, self.master_key
        );
        blake3::hash(text.as_bytes()).to_hex().to_string()
    }
}

impl KeyCache {
    /// The cache under `$XDG_RUNTIME_DIR`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `XDG_RUNTIME_DIR` is unset, or the directory
    /// is not owned by this user with mode 0700 ([`in_runtime_dir`](Self::in_runtime_dir)).
    pub fn runtime() -> Result<Self> {
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
            Some(d) => Self::in_runtime_dir(Path::new(&d)),
            None => Err(refuse(
                "XDG_RUNTIME_DIR is not set: the key cache lives only in the per-user runtime directory (RAM), never on disk".into(),
            )),
        }
    }

    /// The cache under the runtime directory `runtime` (a per-user tmpfs),
    /// which must exist, belong to this user and have mode 0700.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the directory otherwise.
    pub fn in_runtime_dir(runtime: &Path) -> Result<Self> {
        private_dir(runtime)?;
        Ok(Self {
            dir: runtime.join("snap").join("keys"),
        })
    }

    /// The file holding `repo_id`'s key.
    pub fn path(&self, repo_id: &str) -> PathBuf {
        self.dir.join(repo_id)
    }

    /// Keeps `keys` for the repository `repo_id` until `ttl` from now,
    /// replacing an earlier entry: mode 0600, written atomically, in
    /// directories of mode 0700 that are created when missing.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an id that is not 64 hex digits or a cache
    /// directory that is not private; I/O errors naming the file.
    pub fn remember(&self, repo_id: &str, keys: &Keys, ttl: Duration) -> Result<Entry> {
        check_id(repo_id)?;
        for d in [self.dir.parent().expect("snap/keys"), &self.dir] {
            match fs::DirBuilder::new().mode(0o700).create(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(d, e)),
            }
            private_dir(d)?;
        }
        sweep_temporaries(&self.dir);
        let created = unix_now();
        let expires = created.saturating_add(ttl.as_secs().max(1));
        let mut file = File {
            format: FORMAT.into(),
            version: VERSION,
            repository: repo_id.into(),
            created,
            expires,
            master_key: hex::encode(keys.master()),
            checksum: String::new(),
        };
        file.checksum = file.checksum();
        let bytes = serde_json::to_vec_pretty(&file).expect("serialisable");
        let path = self.path(repo_id);
        atomic_write_with(&self.dir, &path, |f| {
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            std::io::Write::write_all(f, &bytes)
        })?;
        Ok(Entry {
            repository: repo_id.into(),
            path,
            expires: rfc3339(expires),
        })
    }

    /// The keys cached for `repo_id`, if an entry exists, is intact (its
    /// checksum, this user's, mode 0600) and has not expired. An expired
    /// entry is deleted. The caller still authenticates the keys against
    /// the repository's config ([`Unlock::Cached`](crate::Unlock::Cached) does).
    pub fn recall(&self, repo_id: &str) -> Option<Keys> {
        check_id(repo_id).ok()?;
        let path = self.path(repo_id);
        let meta = fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.uid() != euid() || meta.mode() & 0o777 != 0o600 {
            return None;
        }
        let file: File = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
        if file.format != FORMAT
            || file.version != VERSION
            || file.repository != repo_id
            || file.checksum != file.checksum()
        {
            return None;
        }
        if unix_now() >= file.expires {
            let _ = fs::remove_file(&path);
            return None;
        }
        let master: [u8; 32] = hex::decode(&file.master_key).ok()?.try_into().ok()?;
        Some(Keys::from_master(master))
    }

    /// Removes `repo_id`'s entry; returns whether there was one.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn forget(&self, repo_id: &str) -> Result<bool> {
        check_id(repo_id)?;
        sweep_temporaries(&self.dir);
        let path = self.path(repo_id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

/// Removes the temporary files (`.tmp-*`, each a copy of a key) that a
/// `remember` killed before its rename left in `dir`. One running
/// concurrently loses its temporary and fails; the entry stays as it was.
fn sweep_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The id of the repository in `storage`, read from its `config.json`
/// without unlocking it (for `snap key cache --clear`).
///
/// # Errors
/// [`Error::NoRepository`], or the errors of parsing `config.json`.
pub fn repository_id(storage: &Storage) -> Result<String> {
    let bytes = storage
        .read_opt(layout::CONFIG)?
        .ok_or_else(|| Error::NoRepository {
            path: PathBuf::from(storage.location()),
        })?;
    Ok(crate::Config::parse(&storage.display_path(layout::CONFIG), &bytes)?.id)
}

fn refuse(detail: String) -> Error {
    Error::Invalid {
        what: "key cache",
        detail,
    }
}

/// Refuses a directory that is not a directory owned by this user with mode 0700.
fn private_dir(d: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(d).map_err(|e| Error::io(d, e))?;
    if !meta.is_dir() {
        return Err(refuse(format!("{} is not a directory", d.display())));
    }
    if meta.uid() != euid() {
        return Err(refuse(format!(
            "{} belongs to user {}, not to this user ({})",
            d.display(),
            meta.uid(),
            euid()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        return Err(refuse(format!(
            "{} has mode {:o}; it must be 0700 (private to this user)",
            d.display(),
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<()> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(refuse(format!("{id:?} is not a repository id")))
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> (tempfile::TempDir, KeyCache) {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let cache = KeyCache::in_runtime_dir(dir.path()).unwrap();
        (dir, cache)
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn remember_recall_forget() {
        let (_d, cache) = runtime();
        let keys = Keys::from_master([7; 32]);
        assert!(cache.recall(ID).is_none());
        let e = cache.remember(ID, &keys, Duration::from_secs(600)).unwrap();
        assert_eq!(fs::metadata(&e.path).unwrap().mode() & 0o777, 0o600);
        let dir_mode = fs::metadata(e.path.parent().unwrap()).unwrap().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(cache.recall(ID).unwrap().master(), &[7; 32]);
        assert!(cache.recall(&ID.replace('0', "f")).is_none());
        assert!(cache.forget(ID).unwrap());
        assert!(!cache.forget(ID).unwrap());
        assert!(cache.recall(ID).is_none());
    }

    #[test]
    fn damaged_expired_and_loose_entries_are_not_used() {
        let (_d, cache) = runtime();
        let keys = Keys::from_master([9; 32]);
        let e = cache.remember(ID, &keys, Duration::from_secs(600)).unwrap();
        // A changed expiry no longer matches the checksum.
        let text = fs::read_to_string(&e.path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let later = v["expires"].as_u64().unwrap() + 1;
        let changed = text.replace(&format!("{}", later - 1), &later.to_string());
        fs::write(&e.path, changed).unwrap();
        assert!(cache.recall(ID).is_none());
        // Readable by others: ignored.
        cache.remember(ID, &keys, Duration::from_secs(600)).unwrap();
        fs::set_permissions(&e.path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cache.recall(ID).is_none());
        // Expired: ignored and deleted.
        let mut f: File = serde_json::from_str(&text).unwrap();
        f.expires = unix_now() - 1;
        f.checksum = f.checksum();
        fs::write(&e.path, serde_json::to_vec(&f).unwrap()).unwrap();
        fs::set_permissions(&e.path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(cache.recall(ID).is_none());
        assert!(!e.path.exists());
    }

    #[test]
    fn runtime_dir_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let err = KeyCache::in_runtime_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("0700"), "{err}");
        assert!(KeyCache::in_runtime_dir(&dir.path().join("missing")).is_err());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let cache = KeyCache::in_runtime_dir(dir.path()).unwrap();
        assert!(cache
            .remember("../x", &Keys::generate(), Duration::from_secs(1))
            .is_err());
    }
}
