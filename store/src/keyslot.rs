//! Key slots: the repository's master key wrapped under keys derived from
//! passwords with Argon2id, kept in `config.json` (FORMAT.md section 15).
//!
//! A slot opens with its password only; any slot gives the same master key.
//! Each slot carries a checksum of its own fields, so a damaged slot is
//! told apart from a wrong password before the KDF runs.

use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, Keys};
use crate::error::{Error, Result};

/// Argon2id cost parameters, stored in each slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The defaults: 64 MiB, 6 passes, 1 lane (about 0.5 s of CPU on the
    /// development machine, a 2-core x86-64 VM; README "Encryption").
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 6,
        parallelism: 1,
    };
    /// The cheapest parameters a reader accepts (8 MiB, 1 pass).
    pub const MIN: KdfParams = KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    };

    /// Whether a reader may run the KDF with these parameters: 8 MiB ..= 4
    /// GiB of memory, 1 ..= 64 passes, 1 ..= 16 lanes. Checked before the
    /// KDF runs, so a tampered slot cannot make `open` take forever.
    pub fn acceptable(&self) -> bool {
        (Self::MIN.memory_kib..=4 * 1024 * 1024).contains(&self.memory_kib)
            && (1..=64).contains(&self.iterations)
            && (1..=16).contains(&self.parallelism)
    }

    /// Parses `MEMORY_KIB,ITERATIONS,PARALLELISM` (the `SNAP_ARGON2`
    /// variable's form).
    ///
    /// # Errors
    /// [`Error::Invalid`] when it does not parse or is out of range.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Invalid {
            what: "Argon2 parameters",
            detail: format!(
                "{text:?} is not MEMORY_KIB,ITERATIONS,PARALLELISM within 8192..=4194304, 1..=64, 1..=16"
            ),
        }
        };
        let v: Vec<u32> = text
            .split(',')
            .map(|s| s.trim().parse::<u32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?;
        let [memory_kib, iterations, parallelism] = v[..] else {
            return Err(bad());
        };
        let p = Self {
            memory_kib,
            iterations,
            parallelism,
        };
        if p.acceptable() {
            Ok(p)
        } else {
            Err(bad())
        }
    }

    /// Argon2id (version 0x13) of `password` with `salt`: 32 bytes.
    fn derive(&self, password: &str, salt: &[u8]) -> [u8; 32] {
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .expect("acceptable parameters are valid Argon2 parameters");
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = [0u8; 32];
        a.hash_password_into(password.as_bytes(), salt, &mut out)
            .expect("a 16-byte salt and 32-byte output are valid");
        out
    }
}

/// The KDF of a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    /// Always `"argon2id"`.
    pub algorithm: String,
    /// Cost parameters.
    #[serde(flatten)]
    pub params: KdfParams,
    /// 16 random bytes, hex.
    pub salt: String,
}

/// One key slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySlot {
    /// 16 hex digits, random; what `snap key remove` takes.
    pub id: String,
    /// When the slot was made (RFC 3339 UTC).
    pub created: String,
    /// How the password becomes the wrapping key.
    pub kdf: Kdf,
    /// The master key under AES-256-GCM with the wrapping key: nonce ‖
    /// ciphertext ‖ tag (60 bytes), hex.
    pub wrapped_key: String,
    /// First 16 hex digits of blake3 over the slot's other fields (damage
    /// detection, not authentication).
    pub check: String,
}

/// The `encryption` object of `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// Version of this object, 1.
    pub version: u32,
    /// Always `"aes-256-gcm"`.
    pub cipher: String,
    /// Always `"blake3-keyed"`.
    pub blob_ids: String,
    /// The key slots, at least one.
    pub slots: Vec<KeySlot>,
    /// Keyed blake3 (MAC key) over `config.json` with `slots` emptied and
    /// `mac` empty, hex (see FORMAT.md section 15).
    pub mac: String,
}

/// The associated data that binds a wrapped key to its slot's id and KDF
/// parameters. (Not to the repository id: a damaged id must be reported as
/// a damaged config, not as a wrong password.)
fn slot_aad(slot_id: &str, kdf: &Kdf) -> Vec<u8> {
    format!(
        "snap key slot v1: slot {slot_id} argon2id m={} t={} p={} salt {}",
        kdf.params.memory_kib, kdf.params.iterations, kdf.params.parallelism, kdf.salt
    )
    .into_bytes()
}

impl KeySlot {
    /// Wraps `keys`' master key under `password` with `params`.
    pub fn new(keys: &Keys, password: &str, params: KdfParams) -> Self {
        let id = hex::encode(rand::random::<[u8; 8]>());
        let kdf = Kdf {
            algorithm: "argon2id".into(),
            params,
            salt: hex::encode(rand::random::<[u8; 16]>()),
        };
        let salt = hex::decode(&kdf.salt).expect("hex just written");
        let kek = params.derive(password, &salt);
        let wrapped = crypto::seal_with(
            &Aes256Gcm::new(&kek.into()),
            rand::random(),
            &slot_aad(&id, &kdf),
            keys.master(),
        );
        let mut slot = Self {
            id,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            kdf,
            wrapped_key: hex::encode(wrapped),
            check: String::new(),
        };
        slot.check = slot.checksum();
        slot
    }

    /// blake3 over the slot's fields but `check`, 16 hex digits.
    pub fn checksum(&self) -> String {
        let mut s = self.clone();
        s.check = String::new();
        let bytes = serde_json::to_vec(&s).expect("slot serialises");
        blake3::hash(&bytes).to_hex()[..16].to_string()
    }

    /// Whether the slot is intact: checksum, algorithm, parameters, and
    /// field lengths (so the KDF never runs on a damaged slot).
    pub fn intact(&self) -> bool {
        self.check == self.checksum()
            && self.kdf.algorithm == "argon2id"
            && self.kdf.params.acceptable()
            && self.kdf.salt.len() == 32
            && self.wrapped_key.len() == 2 * (32 + crypto::OVERHEAD)
    }

    /// Unwraps the master key with `password`; `None` when the password is
    /// not this slot's (or the slot was tampered with).
    pub fn unwrap_key(&self, password: &str) -> Option<Keys> {
        let salt = hex::decode(&self.kdf.salt).ok()?;
        let wrapped = hex::decode(&self.wrapped_key).ok()?;
        let kek = self.kdf.params.derive(password, &salt);
        let master = crypto::open_with(
            &Aes256Gcm::new(&kek.into()),
            &slot_aad(&self.id, &self.kdf),
            &wrapped,
        )
        .ok()?;
        Some(Keys::from_master(master.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_round_trip_wrong_password_and_damage() {
        let keys = Keys::generate();
        let slot = KeySlot::new(&keys, "correct horse", KdfParams::MIN);
        assert!(slot.intact());
        let back = slot.unwrap_key("correct horse").unwrap();
        assert_eq!(back.master(), keys.master());
        assert!(slot.unwrap_key("wrong horse!").is_none());
        let mut bad = slot.clone();
        bad.kdf.params.iterations = 2;
        assert!(!bad.intact());
        assert!(bad.unwrap_key("correct horse").is_none());
    }

    #[test]
    fn kdf_matches_the_format_document() {
        // argon2.low_level.hash_secret_raw(b"password1", bytes(range(16)),
        //   time_cost=1, memory_cost=8192, parallelism=1, hash_len=32, type=Type.ID)
        let salt: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            hex::encode(KdfParams::MIN.derive("password1", &salt)),
            KAT_ARGON2
        );
        assert!(KdfParams::parse("8192,1,1").is_ok());
        assert!(KdfParams::parse("1024,1,1").is_err());
        assert!(KdfParams::parse("8192,1").is_err());
    }

    const KAT_ARGON2: &str = "754f14aa634366ab2bf157804a8851d96edb6b9ac1a1013d3a52e5f65c983fed";
}
