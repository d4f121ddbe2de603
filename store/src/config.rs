//! `config.json`: the repository's format version, id and parameters.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keyslot::{Encryption, KdfParams};

/// The repository format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Content-defined chunking parameters, chosen by the engine and recorded
/// here so every snapshot of a repository chunks the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// Smallest chunk, in bytes.
    pub min_size: u32,
    /// Target average chunk, in bytes.
    pub avg_size: u32,
    /// Largest chunk, in bytes.
    pub max_size: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        Self {
            min_size: 16 * 1024,
            avg_size: 64 * 1024,
            max_size: 256 * 1024,
        }
    }
}

/// Compression settings for new blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    /// zstd level (1..=19); 3 by default.
    pub zstd_level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Self { zstd_level: 3 }
    }
}

/// The content of `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Always [`FORMAT_VERSION`] for repositories this build writes.
    pub format_version: u64,
    /// 64 hex digits, random, chosen at `init`.
    pub id: String,
    /// Chunker parameters for the engine.
    pub chunker: ChunkerParams,
    /// Compression for new blobs.
    pub compression: Compression,
    /// A pack is sealed once it holds at least this many bytes.
    pub pack_target_size: u64,
    /// Encryption: key slots and the config's MAC; `null` for an
    /// unencrypted repository (FORMAT.md section 15).
    pub encryption: Option<Encryption>,
}

/// How to encrypt a new repository.
#[derive(Debug, Clone)]
pub struct InitEncryption {
    /// The first key slot's password (at least 8 characters).
    pub password: String,
    /// Argon2id parameters for the slot.
    pub kdf: KdfParams,
}

/// What `init` may choose; everything else is generated.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Chunker parameters (the engine passes its measured defaults).
    pub chunker: ChunkerParams,
    /// Compression settings.
    pub compression: Compression,
    /// Pack target size; `None` means 16 MiB.
    pub pack_target_size: Option<u64>,
    /// Encrypt the repository under a first password; `None`: unencrypted.
    pub encryption: Option<InitEncryption>,
    /// Where an encrypted repository's index goes; `None`: the user's cache
    /// directory ([`crate::layout::cache_dir`]).
    pub cache_dir: Option<std::path::PathBuf>,
    /// The master key of an encrypted repository to share (`init --from`:
    /// the new repository's first key slot wraps this key instead of a new
    /// random one, so blob ids and snapshot files are the same in both);
    /// `None`: a new random key. Ignored without [`encryption`](Self::encryption).
    pub master_key: Option<crate::crypto::Keys>,
}

impl Config {
    /// A new configuration with a random id.
    pub fn new(opts: &InitOptions) -> Result<Self> {
        let c = Self {
            format_version: FORMAT_VERSION,
            id: hex::encode(rand::random::<[u8; 32]>()),
            chunker: opts.chunker,
            compression: opts.compression,
            pack_target_size: opts.pack_target_size.unwrap_or(16 * 1024 * 1024),
            encryption: None,
        };
        c.validate(Path::new("config.json"))?;
        Ok(c)
    }

    /// Parses `config.json`, refusing versions and settings this build does
    /// not understand.
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`], or [`Error::Corrupt`] when it does not parse.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(path, None, format!("config does not parse: {e}")))?;
        let found = v
            .get("format_version")
            .and_then(|x| x.as_u64())
            .ok_or_else(|| Error::corrupt(path, None, "config has no numeric format_version"))?;
        if found != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "repository",
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        let c: Config = serde_json::from_value(v)
            .map_err(|e| Error::corrupt(path, None, format!("config does not parse: {e}")))?;
        c.validate(path)?;
        if let Some(enc) = &c.encryption {
            if enc.version != 1 {
                return Err(Error::UnsupportedVersion {
                    what: "encryption",
                    path: path.to_path_buf(),
                    found: enc.version as u64,
                    supported: 1,
                });
            }
            if enc.cipher != "aes-256-gcm" || enc.blob_ids != "blake3-keyed" {
                return Err(Error::corrupt(
                    path,
                    None,
                    format!(
                        "unknown encryption {:?} / blob ids {:?} (this build knows aes-256-gcm / blake3-keyed)",
                        enc.cipher, enc.blob_ids
                    ),
                ));
            }
            if enc.slots.is_empty() {
                return Err(Error::corrupt(
                    path,
                    None,
                    "encrypted repository without a key slot",
                ));
            }
        }
        Ok(c)
    }

    /// The bytes the config's MAC covers: the config as compact JSON with
    /// `encryption.slots` empty and `encryption.mac` the empty string.
    pub fn mac_input(&self) -> Vec<u8> {
        let mut c = self.clone();
        if let Some(e) = &mut c.encryption {
            e.slots.clear();
            e.mac.clear();
        }
        serde_json::to_vec(&c).expect("config serialises")
    }

    /// The bytes of `config.json` (pretty JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("config serialises")
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let k = &self.chunker;
        let ok = k.min_size >= 64
            && k.min_size <= k.avg_size
            && k.avg_size <= k.max_size
            && k.max_size <= 64 * 1024 * 1024
            && (1..=22).contains(&self.compression.zstd_level)
            && self.pack_target_size >= 1024
            && self.pack_target_size <= 1 << 30;
        if ok {
            Ok(())
        } else {
            Err(Error::corrupt(path, None, "config parameters out of range"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_refusal() {
        let c = Config::new(&InitOptions::default()).unwrap();
        let bytes = serde_json::to_vec(&c).unwrap();
        assert_eq!(Config::parse(Path::new("c"), &bytes).unwrap(), c);
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["format_version"] = 7.into();
        let err = Config::parse(Path::new("c"), &serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("version 7 is not supported"),
            "{err}"
        );
    }
}
