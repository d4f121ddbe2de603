//! Encryption at rest: the repository's subkeys, derived from its master
//! key, and the one AEAD framing every encrypted byte uses (FORMAT.md
//! section 15).
//!
//! - `enc` (AES-256-GCM) encrypts blobs, pack headers and sealed files;
//! - `ids` keys the blake3 of blob plaintexts, so equal content in two
//!   repositories has unrelated ids;
//! - `mac` authenticates `config.json`;
//! - `names` hides names in file names (the per-profile lock files).
//!
//! Each is `blake3::derive_key(CONTEXT, master)` with its own context
//! string. A sealed message is `nonce (12 random bytes) ‖ ciphertext ‖ tag
//! (16)`, with associated data binding it to where it belongs.

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;

use std::path::Path;

use crate::error::{Error, Result};
use crate::id::BlobId;

/// Bytes a sealed message adds to its plaintext: nonce and tag.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// Context strings of the subkeys (blake3 `derive_key`).
pub mod context {
    /// The AES-256-GCM key.
    pub const ENC: &str = "snap 2026-12 repository encryption: AES-256-GCM key";
    /// The blob id key (keyed blake3).
    pub const IDS: &str = "snap 2026-12 repository encryption: blob id key";
    /// The `config.json` MAC key (keyed blake3).
    pub const MAC: &str = "snap 2026-12 repository encryption: config MAC key";
    /// The key that hides names in lock file names (keyed blake3).
    pub const NAMES: &str = "snap 2026-12 repository encryption: name key";
}

/// Associated data of a pack header.
pub const PACK_HEADER_AAD: &[u8] = b"snap pack header v1";

/// Magic of a sealed file (snapshot manifests, profiles, exports, journals).
pub const SEALED_MAGIC: &[u8; 8] = b"SNAPSEAL";
/// Version byte after [`SEALED_MAGIC`].
pub const SEALED_VERSION: u8 = 1;
/// Bytes before the sealed message in a sealed file.
pub const SEALED_PREFIX_LEN: usize = 9;

/// The keys of an unlocked repository (cheap to clone: shared).
#[derive(Clone)]
pub struct Keys(std::sync::Arc<Inner>);

struct Inner {
    master: [u8; 32],
    cipher: Aes256Gcm,
    ids: [u8; 32],
    mac: [u8; 32],
    names: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// Why a sealed message did not open: damaged, tampered, or another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailed;

impl Keys {
    /// Derives every subkey from the 32-byte master key.
    pub fn from_master(master: [u8; 32]) -> Self {
        let enc = blake3::derive_key(context::ENC, &master);
        Self(std::sync::Arc::new(Inner {
            master,
            cipher: Aes256Gcm::new(&enc.into()),
            ids: blake3::derive_key(context::IDS, &master),
            mac: blake3::derive_key(context::MAC, &master),
            names: blake3::derive_key(context::NAMES, &master),
        }))
    }

    /// A new random master key.
    pub fn generate() -> Self {
        Self::from_master(rand::random())
    }

    /// The master key (wrapped into key slots).
    pub fn master(&self) -> &[u8; 32] {
        &self.0.master
    }

    /// A blob's id: keyed blake3 of its plaintext.
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        BlobId(*blake3::keyed_hash(&self.0.ids, plaintext).as_bytes())
    }

    /// The MAC of `bytes` (keyed blake3 under the MAC key).
    pub fn mac(&self, bytes: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.0.mac, bytes).as_bytes()
    }

    /// A name hidden behind the name key (hex of keyed blake3, 16 digits).
    pub fn hide_name(&self, name: &str) -> String {
        blake3::keyed_hash(&self.0.names, name.as_bytes()).to_hex()[..16].to_string()
    }

    /// Seals `plain` with a random nonce: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        seal_with(&self.0.cipher, rand::random(), aad, plain)
    }

    /// Opens what [`seal`](Self::seal) made with the same `aad`.
    ///
    /// # Errors
    /// [`AuthFailed`] when the message is too short or does not authenticate.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> std::result::Result<Vec<u8>, AuthFailed> {
        open_with(&self.0.cipher, aad, sealed)
    }
}

/// AES-256-GCM of `plain` under `cipher` and `nonce`, as `nonce ‖ ct ‖ tag`.
pub(crate) fn seal_with(
    cipher: &Aes256Gcm,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plain: &[u8],
) -> Vec<u8> {
    let ct = cipher
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload { msg: plain, aad },
        )
        .expect("AES-GCM encrypts any message under 64 GiB");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens `nonce ‖ ct ‖ tag` under `cipher`.
pub(crate) fn open_with(
    cipher: &Aes256Gcm,
    aad: &[u8],
    sealed: &[u8],
) -> std::result::Result<Vec<u8>, AuthFailed> {
    if sealed.len() < OVERHEAD {
        return Err(AuthFailed);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| AuthFailed)?;
    cipher
        .decrypt(&Nonce::<Aes256Gcm>::from(nonce), Payload { msg: ct, aad })
        .map_err(|_| AuthFailed)
}

/// The associated data of a sealed file of `kind` ("snapshot", "profiles",
/// "exports", "journal").
pub fn sealed_aad(kind: &str) -> Vec<u8> {
    format!("snap sealed file v1: {kind}").into_bytes()
}

/// Whether `bytes` look like a sealed file (start with [`SEALED_MAGIC`]).
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(SEALED_MAGIC)
}

/// Encodes a file of `kind` for the repository: with `keys`, sealed as
/// `"SNAPSEAL" ‖ 0x01 ‖ nonce ‖ ciphertext ‖ tag` (associated data
/// [`sealed_aad`]`(kind)`); without, the plaintext unchanged.
pub fn seal_file(keys: Option<&Keys>, kind: &str, plain: &[u8]) -> Vec<u8> {
    match keys {
        None => plain.to_vec(),
        Some(k) => {
            let mut out = Vec::with_capacity(SEALED_PREFIX_LEN + OVERHEAD + plain.len());
            out.extend_from_slice(SEALED_MAGIC);
            out.push(SEALED_VERSION);
            out.extend_from_slice(&k.seal(&sealed_aad(kind), plain));
            out
        }
    }
}

/// Decodes what [`seal_file`] wrote at `path`.
///
/// # Errors
/// [`Error::Corrupt`] naming `path` when a sealed file does not
/// authenticate, an encrypted repository holds an unsealed file, or an
/// unencrypted one a sealed file.
pub fn open_file(keys: Option<&Keys>, kind: &str, path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    match keys {
        None if is_sealed(bytes) => Err(Error::corrupt(
            path,
            Some(0),
            "encrypted file, but no keys to open it (an unencrypted repository, or read without the password)",
        )),
        None => Ok(bytes.to_vec()),
        Some(k) => {
            if !is_sealed(bytes) || bytes.len() < SEALED_PREFIX_LEN {
                return Err(Error::corrupt(
                    path,
                    Some(0),
                    "not an encrypted file (damaged, or put there by someone else)",
                ));
            }
            if bytes[8] != SEALED_VERSION {
                return Err(Error::UnsupportedVersion {
                    what: "encrypted file",
                    path: path.to_path_buf(),
                    found: bytes[8] as u64,
                    supported: SEALED_VERSION as u64,
                });
            }
            k.open(&sealed_aad(kind), &bytes[SEALED_PREFIX_LEN..])
                .map_err(|_| {
                    Error::corrupt(
                        path,
                        None,
                        "does not authenticate (damaged, tampered with, or not this repository's)",
                    )
                })
        }
    }
}

/// Whether this CPU has the AES and carry-less multiply instructions the
/// `aes-gcm` crate uses when present (it detects them at run time).
pub fn hardware_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    //! Known answers, computed from FORMAT.md section 15 with Python's
    //! `blake3` and `cryptography` packages (see the comment on each).
    use super::*;

    fn master() -> [u8; 32] {
        let mut m = [0u8; 32];
        for (i, b) in m.iter_mut().enumerate() {
            *b = i as u8;
        }
        m
    }

    #[test]
    fn subkeys_and_ids_match_the_format_document() {
        let k = Keys::from_master(master());
        // blake3.blake3(b"", key=blake3.blake3(derive_key_context=CTX).update(master).digest())
        assert_eq!(
            hex::encode(blake3::derive_key(context::ENC, &master())),
            KAT_ENC_KEY
        );
        assert_eq!(k.blob_id(b"hello").to_hex(), KAT_ID_HELLO);
        assert_ne!(k.blob_id(b"hello"), BlobId::of(b"hello"));
        assert_eq!(k.hide_name("profile-app"), KAT_NAME);
    }

    #[test]
    fn blob_encryption_matches_the_format_document() {
        let k = Keys::from_master(master());
        let id = k.blob_id(b"hello");
        let enc = blake3::derive_key(context::ENC, &master());
        let sealed = seal_with(&Aes256Gcm::new(&enc.into()), [7u8; 12], &id.0, b"hello");
        assert_eq!(hex::encode(&sealed), KAT_SEALED_HELLO);
        assert_eq!(k.open(&id.0, &sealed).unwrap(), b"hello");
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert_eq!(k.open(&id.0, &bad), Err(AuthFailed));
        assert_eq!(k.open(&[0u8; 32], &sealed), Err(AuthFailed));
        assert_eq!(k.open(&id.0, &sealed[..10]), Err(AuthFailed));
    }

    pub(crate) const KAT_ENC_KEY: &str =
        "5ec6b78be2bb547522547155f8ea6170e891d2c42f540c95d13d42a0270ab74c";
    pub(crate) const KAT_ID_HELLO: &str =
        "5cb23774f66af9e9574fcc79e398b2dfbfd757f9da2169083aca1d5c0387010d";
    pub(crate) const KAT_NAME: &str = "74b9724a63776c90";
    pub(crate) const KAT_SEALED_HELLO: &str =
        "070707070707070707070707de587637699794354a01e83c339ca321e099ca0d50";
}
