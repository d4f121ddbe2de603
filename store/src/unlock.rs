//! Opening an encrypted repository: how the application supplies the
//! password or the keys ([`Unlock`]), unlocking a config with them, and the
//! config and keys of a new repository. The key-slot operations behind
//! `snap key` are in [`crate::key_change`].

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::key_cache::KeyCache;
use crate::keyslot::{KdfParams, KeySlot};

/// A password callback: called once, only when the repository is encrypted.
pub type PasswordFn = dyn Fn() -> std::result::Result<String, String> + Send + Sync;

/// How to unlock an encrypted repository (ignored for an unencrypted one).
#[derive(Clone)]
pub enum Unlock {
    /// Ask for the password (a prompt, a file, a keyring); an `Err` is the
    /// reason none could be had.
    Password(Arc<PasswordFn>),
    /// The keys themselves, e.g. from an earlier [`Repository::keys`].
    Keys(Keys),
    /// The keys of an unexpired entry of `cache` for this repository when
    /// they authenticate its config, else `otherwise` (`snap key cache`).
    Cached {
        /// Where to look for the keys.
        cache: KeyCache,
        /// How to unlock when the cache has no usable entry.
        otherwise: Box<Unlock>,
    },
}

impl Unlock {
    /// A fixed password.
    pub fn with_password(password: impl Into<String>) -> Self {
        let p = password.into();
        Unlock::Password(Arc::new(move || Ok(p.clone())))
    }
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unlock::Password(_) => f.write_str("Unlock::Password(..)"),
            Unlock::Keys(_) => f.write_str("Unlock::Keys(..)"),
            Unlock::Cached { otherwise, .. } => write!(f, "Unlock::Cached(.., {otherwise:?})"),
        }
    }
}

/// Result of unlocking: the keys, the slot that opened, and warnings.
pub(crate) struct Unlocked {
    pub keys: Keys,
    pub slot: Option<String>,
    pub warnings: Vec<String>,
}

/// The keys and key slot of `config` (`None` for an unencrypted
/// repository), with the warnings of unlocking it ([`unlock`]).
pub(crate) fn unlock_if_encrypted(
    repo: &Path,
    cfg_path: &Path,
    config: &Config,
    how: Option<&Unlock>,
) -> Result<(Option<Keys>, Option<String>, Vec<String>)> {
    if config.encryption.is_none() {
        return Ok((None, None, Vec::new()));
    }
    let u = unlock(repo, cfg_path, config, how)?;
    Ok((Some(u.keys), u.slot, u.warnings))
}

/// Unlocks `config` (already parsed from `cfg_path`) and verifies its MAC.
pub(crate) fn unlock(
    repo: &Path,
    cfg_path: &Path,
    config: &Config,
    how: Option<&Unlock>,
) -> Result<Unlocked> {
    let enc = config
        .encryption
        .as_ref()
        .expect("called for encrypted repositories");
    let mut warnings = Vec::new();
    let damaged: Vec<&KeySlot> = enc.slots.iter().filter(|s| !s.intact()).collect();
    for s in &damaged {
        warnings.push(format!(
            "{}: key slot {} is damaged (its checksum does not match); it cannot open the repository",
            cfg_path.display(),
            s.id
        ));
    }
    let (keys, slot) = match how {
        None => {
            return Err(Error::PasswordNeeded {
                path: repo.to_path_buf(),
                detail: "no password given".into(),
            })
        }
        Some(Unlock::Keys(k)) => (k.clone(), None),
        Some(Unlock::Cached { cache, otherwise }) => {
            let authentic = |k: &Keys| hex::encode(k.mac(&config.mac_input())) == enc.mac;
            match cache.recall(&config.id).filter(authentic) {
                Some(k) => (k, None),
                None => return unlock(repo, cfg_path, config, Some(otherwise)),
            }
        }
        Some(Unlock::Password(f)) => {
            if damaged.len() == enc.slots.len() {
                return Err(Error::corrupt(
                    cfg_path,
                    None,
                    "every key slot is damaged; restore config.json from config.json.bak or a copy",
                ));
            }
            let password = f().map_err(|detail| Error::PasswordNeeded {
                path: repo.to_path_buf(),
                detail,
            })?;
            let opened = enc
                .slots
                .iter()
                .filter(|s| s.intact())
                .find_map(|s| s.unwrap_key(&password).map(|k| (k, Some(s.id.clone()))));
            match (opened, damaged.first()) {
                (Some(found), _) => found,
                (None, None) => return Err(Error::WrongPassword),
                // The password may be the damaged slot's: say so.
                (None, Some(d)) => {
                    return Err(Error::corrupt(
                        cfg_path,
                        None,
                        format!(
                        "key slot {} is damaged, and no other key slot opens with this password",
                        d.id
                    ),
                    ))
                }
            }
        }
    };
    let mac = hex::encode(keys.mac(&config.mac_input()));
    if mac != enc.mac {
        return Err(match how {
            Some(Unlock::Keys(_)) => Error::WrongPassword,
            _ => Error::corrupt(
                cfg_path,
                None,
                "config does not authenticate (its settings were changed or damaged)",
            ),
        });
    }
    Ok(Unlocked {
        keys,
        slot,
        warnings,
    })
}

/// Passwords shorter than this many characters are refused.
pub const MIN_PASSWORD_CHARS: usize = 8;

pub(crate) fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid {
            what: "password",
            detail: format!("shorter than {MIN_PASSWORD_CHARS} characters"),
        });
    }
    Ok(())
}

/// A new repository's config from `opts`, with its keys when it is
/// encrypted (both `init` paths: a directory and another backend).
pub(crate) fn new_config(opts: &crate::config::InitOptions) -> Result<(Config, Option<Keys>)> {
    let mut config = Config::new(opts)?;
    let keys = match &opts.encryption {
        Some(e) => Some(encrypt_new(
            &mut config,
            &e.password,
            e.kdf,
            opts.master_key.as_ref(),
        )?),
        None => None,
    };
    Ok((config, keys))
}

/// Builds the `encryption` object of a new repository's config.
/// `shared`: the master key to wrap (`init --from`), else a new random one.
pub(crate) fn encrypt_new(
    config: &mut Config,
    password: &str,
    kdf: KdfParams,
    shared: Option<&Keys>,
) -> Result<Keys> {
    check_password(password)?;
    let keys = shared.cloned().unwrap_or_else(Keys::generate);
    let slot = KeySlot::new(&keys, password, kdf);
    config.encryption = Some(crate::keyslot::Encryption {
        version: 1,
        cipher: "aes-256-gcm".into(),
        blob_ids: "blake3-keyed".into(),
        slots: vec![slot],
        mac: String::new(),
    });
    let mac = hex::encode(keys.mac(&config.mac_input()));
    config.encryption.as_mut().expect("just set").mac = mac;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::config::{InitEncryption, InitOptions};
    use crate::layout;
    use crate::repo::{OpenOptions, Repository};
    use crate::BlobKind;

    fn init(dir: &Path) -> (PathBuf, OpenOptions) {
        let repo = dir.join("repo");
        let cache = dir.join("cache");
        let opts = InitOptions {
            encryption: Some(InitEncryption {
                password: "password one".into(),
                kdf: KdfParams::MIN,
            }),
            cache_dir: Some(cache.clone()),
            ..InitOptions::default()
        };
        Repository::init(&repo, &opts).unwrap();
        let open = OpenOptions {
            cache_dir: Some(cache),
            ..OpenOptions::shared("test")
        };
        (repo, open)
    }

    #[test]
    fn encrypted_round_trip_keyed_ids_and_wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let (path, open) = init(dir.path());
        assert!(!path.join(layout::INDEX).exists());
        let repo = Repository::open(
            &path,
            &open
                .clone()
                .unlocking(Unlock::with_password("password one")),
        )
        .unwrap();
        let w = repo.writer();
        let (id, _) = w.put(BlobKind::Data, b"hello hello hello").unwrap();
        w.finish().unwrap();
        assert_ne!(id, crate::BlobId::of(b"hello hello hello"));
        assert_eq!(id, repo.keys().unwrap().blob_id(b"hello hello hello"));
        let sid = repo.put_snapshot(b"{\"secret\": 1}").unwrap();
        let keys = repo.keys().unwrap().clone();
        drop(repo);
        // Nothing readable on disk.
        for f in walk(&path) {
            let b = fs::read(&f).unwrap();
            assert!(
                !b.windows(11).any(|w| w == b"hello hello"),
                "{}",
                f.display()
            );
            assert!(!b.windows(6).any(|w| w == b"secret"), "{}", f.display());
        }
        let repo = Repository::open(&path, &open.clone().unlocking(Unlock::Keys(keys))).unwrap();
        assert_eq!(repo.read_blob(&id).unwrap(), b"hello hello hello");
        assert_eq!(repo.read_snapshot(&sid).unwrap(), b"{\"secret\": 1}");
        drop(repo);
        let wrong = Repository::open(
            &path,
            &open
                .clone()
                .unlocking(Unlock::with_password("password two")),
        );
        assert!(matches!(wrong, Err(Error::WrongPassword)));
        assert!(matches!(
            Repository::open(&path, &open),
            Err(Error::PasswordNeeded { .. })
        ));
    }

    #[test]
    fn key_slots_add_remove_change() {
        let dir = tempfile::tempdir().unwrap();
        let (path, open) = init(dir.path());
        let with =
            |pw: &str| Repository::open(&path, &open.clone().unlocking(Unlock::with_password(pw)));
        let mut repo = with("password one").unwrap();
        let first = repo.unlocked_slot().unwrap().to_string();
        let second = repo.add_key("password two", KdfParams::MIN).unwrap();
        assert!(matches!(
            repo.add_key("short", KdfParams::MIN),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(repo.key_slots().len(), 2);
        drop(repo);
        let mut repo = with("password two").unwrap();
        assert_eq!(repo.unlocked_slot(), Some(second.as_str()));
        repo.remove_key(&first[..5]).unwrap();
        assert!(matches!(
            repo.remove_key(&second),
            Err(Error::Invalid { .. })
        ));
        repo.change_password(None, "password three", KdfParams::MIN)
            .unwrap();
        drop(repo);
        assert!(matches!(with("password one"), Err(Error::WrongPassword)));
        assert!(matches!(with("password two"), Err(Error::WrongPassword)));
        assert!(with("password three").is_ok());
        assert!(path.join(layout::CONFIG_BAK).exists());
    }

    #[test]
    fn cached_keys_open_only_when_they_authenticate() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, open) = init(dir.path());
        let runtime = dir.path().join("run");
        fs::create_dir(&runtime).unwrap();
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
        let cache = KeyCache::in_runtime_dir(&runtime).unwrap();
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let cached = Unlock::Cached {
            cache: cache.clone(),
            otherwise: Box::new(Unlock::Password(Arc::new(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok("password one".to_string())
            }))),
        };
        let with_cache = open.clone().unlocking(cached);
        let ask_count = || asked.load(std::sync::atomic::Ordering::SeqCst);
        // No entry: the password.
        let repo = Repository::open(&path, &with_cache).unwrap();
        assert_eq!(ask_count(), 1);
        let id = repo.config().id.clone();
        cache
            .remember(
                &id,
                repo.keys().unwrap(),
                std::time::Duration::from_secs(60),
            )
            .unwrap();
        drop(repo);
        // A valid entry: no password.
        let repo = Repository::open(&path, &with_cache).unwrap();
        assert_eq!(ask_count(), 1);
        assert_eq!(repo.unlocked_slot(), None);
        drop(repo);
        // Another key under this id does not authenticate: the password.
        cache
            .remember(&id, &Keys::generate(), std::time::Duration::from_secs(60))
            .unwrap();
        Repository::open(&path, &with_cache).unwrap();
        assert_eq!(ask_count(), 2);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
