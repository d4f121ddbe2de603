//! The key-slot operations behind `snap key` on an open repository: list,
//! add, remove, change a password. Each writes a new `config.json` by
//! atomic write under the `keys` lock and keeps the previous one as
//! `config.json.bak`.

use std::fs;

use crate::backend::Precondition;
use crate::config::Config;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use crate::keyslot::{KdfParams, KeySlot};
use crate::layout;
use crate::lock::LockMode;
use crate::repo::Repository;
use crate::unlock::check_password;

/// A key slot as `snap key list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// The slot id.
    pub id: String,
    /// When it was made.
    pub created: String,
    /// Argon2id parameters.
    pub kdf: KdfParams,
    /// Whether this slot opened the repository now.
    pub current: bool,
    /// Whether its checksum matches.
    pub intact: bool,
}

impl Repository {
    /// The key slots (empty for an unencrypted repository).
    pub fn key_slots(&self) -> Vec<KeyInfo> {
        let current = self.unlocked_slot();
        self.config()
            .encryption
            .iter()
            .flat_map(|e| e.slots.iter())
            .map(|s| KeyInfo {
                id: s.id.clone(),
                created: s.created.clone(),
                kdf: s.kdf.params,
                current: current == Some(s.id.as_str()),
                intact: s.intact(),
            })
            .collect()
    }

    /// Adds a key slot for `password`; returns its id.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unencrypted repository or a password under
    /// 8 characters; lock and I/O errors naming `config.json`.
    pub fn add_key(&mut self, password: &str, kdf: KdfParams) -> Result<String> {
        check_password(password)?;
        let keys = self.require_keys()?.clone();
        let slot = KeySlot::new(&keys, password, kdf);
        let new_id = slot.id.clone();
        self.change_slots(|slots| {
            slots.push(slot);
            Ok(())
        })?;
        Ok(new_id)
    }

    /// Removes the key slot `slot_id` (a unique prefix of at least 4 hex
    /// digits will do); refuses to remove the last one.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Ambiguous`], [`Error::Invalid`] for the
    /// last slot; lock and I/O errors.
    pub fn remove_key(&mut self, slot_id: &str) -> Result<String> {
        self.require_keys()?;
        let mut removed = String::new();
        self.change_slots(|slots| {
            let ids: Vec<String> = slots.iter().map(|s| s.id.clone()).collect();
            let found =
                crate::id::resolve_prefix("key slot", slot_id, ids.iter().map(String::as_str))?
                    .to_string();
            if slots.len() == 1 {
                return Err(Error::Invalid {
                    what: "key remove",
                    detail: format!(
                        "{found} is the only key slot; add another first (`snap key add`)"
                    ),
                });
            }
            slots.retain(|s| s.id != found);
            removed = found;
            Ok(())
        })?;
        Ok(removed)
    }

    /// Replaces the slot that opened the repository (or `slot_id`) by one
    /// for `new_password`; returns the new slot's id. One atomic write.
    ///
    /// # Errors
    /// As [`add_key`](Self::add_key); [`Error::Invalid`] when the repository
    /// was opened with keys and no slot is named.
    pub fn change_password(
        &mut self,
        slot_id: Option<&str>,
        new_password: &str,
        kdf: KdfParams,
    ) -> Result<String> {
        check_password(new_password)?;
        let keys = self.require_keys()?.clone();
        let old = match slot_id.or(self.unlocked_slot()) {
            Some(s) => s.to_string(),
            None => {
                return Err(Error::Invalid {
                    what: "key passwd",
                    detail: "opened with keys, not a password: name the slot to replace".into(),
                })
            }
        };
        let slot = KeySlot::new(&keys, new_password, kdf);
        let new_id = slot.id.clone();
        self.change_slots(|slots| {
            let ids: Vec<String> = slots.iter().map(|s| s.id.clone()).collect();
            let found =
                crate::id::resolve_prefix("key slot", &old, ids.iter().map(String::as_str))?
                    .to_string();
            let at = slots.iter().position(|s| s.id == found).expect("resolved");
            slots[at] = slot;
            Ok(())
        })?;
        self.set_unlocked_slot(Some(new_id.clone()));
        Ok(new_id)
    }

    fn require_keys(&self) -> Result<&Keys> {
        self.keys().ok_or_else(|| Error::Invalid {
            what: "repository",
            detail: format!(
                "{} is not encrypted: it has no keys (create an encrypted one with `snap init --encrypt`)",
                self.root().display()
            ),
        })
    }

    /// Re-reads `config.json` under the `keys` lock, checks it is the one
    /// this handle opened, applies `change` to its slots, keeps the current
    /// file as `config.json.bak`, and writes the new one atomically.
    fn change_slots(&mut self, change: impl FnOnce(&mut Vec<KeySlot>) -> Result<()>) -> Result<()> {
        let _lock = self.lock_named("keys", LockMode::Exclusive, "key", self.lock_wait())?;
        let cfg_path = self.storage().display_path(layout::CONFIG);
        let backend = self.storage().backend().clone();
        let version = match self.is_local() {
            true => None,
            false => backend.version(layout::CONFIG)?,
        };
        let bytes = match self.is_local() {
            true => fs::read(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?,
            false => backend.read(layout::CONFIG)?,
        };
        let mut config = Config::parse(&cfg_path, &bytes)?;
        let keys = self.require_keys()?;
        let mac = hex::encode(keys.mac(&config.mac_input()));
        let enc = config.encryption.as_mut().ok_or_else(|| {
            Error::corrupt(
                &cfg_path,
                None,
                "config.json no longer describes an encrypted repository",
            )
        })?;
        if mac != enc.mac {
            return Err(Error::corrupt(
                &cfg_path,
                None,
                "config does not authenticate (changed or damaged since this repository was opened)",
            ));
        }
        change(&mut enc.slots)?;
        if self.is_local() {
            let tmp = self.tmp_dir();
            atomic_write(&tmp, &self.root().join(layout::CONFIG_BAK), &bytes)?;
            atomic_write(&tmp, &cfg_path, &config.to_bytes())?;
        } else {
            // No lock spans machines: the new config replaces only the one
            // read above (a conditional write), else the change fails.
            backend.write(layout::CONFIG_BAK, &bytes, Precondition::None)?;
            let when = version.map_or(Precondition::Absent, Precondition::Matches);
            backend.write(layout::CONFIG, &config.to_bytes(), when)?;
        }
        self.set_config(config);
        Ok(())
    }
}
