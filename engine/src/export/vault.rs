//! The `.stvault` container (DESIGN.md section 6), byte-compatible with
//! StakTrakr's vault.
//!
//! ```text
//! offset  len  field
//!  0       7   magic "STVAULT" (ASCII)
//!  7       1   version: 1 or 2
//!  8       4   PBKDF2-HMAC-SHA256 iterations, u32 big-endian (600 000 written;
//!              a reader refuses < 100 000 or > 10 000 000 before the KDF)
//! 12      32   salt (random)
//! 44      12   nonce N (random)
//! 56       …   payload (below)
//! key = PBKDF2-HMAC-SHA256(password as UTF-8 bytes, salt, iterations, 32 bytes)
//! ```
//!
//! **Version 1**: the rest of the file is `AES-256-GCM(key, N, payload)`
//! with **no associated data**: ciphertext then 16-byte tag (StakTrakr's
//! Web Crypto `encrypt({name: "AES-GCM", iv})` output). The reader holds
//! the whole message in memory and writes nothing before the tag verifies.
//!
//! **Version 2** (STREAM, after age): the payload is cut into segments of
//! exactly 1 MiB (1 048 576 bytes) of plaintext, the last one holding the
//! remaining 0..=1 MiB; a non-empty payload whose length is a multiple of
//! 1 MiB ends with a full segment, and an empty payload is one empty final
//! segment. Segment `i` (0-based) is stored as
//! `AES-256-GCM(key, nonce_i, plaintext_i, aad = header[0..56])`, i.e. its
//! ciphertext followed by its 16-byte tag, segments back to back, nothing
//! after the last. The segment nonce is the header nonce with its last five
//! bytes XORed with `u32_be(i) || flag`, where `flag` is `0x01` for the
//! final segment and `0x00` otherwise:
//! `nonce_i[0..7] = N[0..7]`, `nonce_i[7..11] = N[7..11] ^ u32_be(i)`,
//! `nonce_i[11] = N[11] ^ flag`. A reader knows a segment is final only
//! because the file ends after it; it then decrypts it with flag 1, so a
//! vault cut at a segment boundary fails authentication, as do reordered,
//! duplicated or appended segments. Each segment is written out only after
//! its tag verifies (an error may come after earlier segments were written:
//! callers decrypt into a temporary file).

use std::io::{self, Read, Write};

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Nonce, Tag};
use aes_gcm::Aes256Gcm;

use crate::{Error, Result};

/// Length of the vault header.
pub const HEADER_LEN: usize = 56;
/// Iterations written by default.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewest iterations a reader accepts.
pub const MIN_ITERATIONS: u32 = 100_000;
/// Most iterations a reader accepts.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Plaintext bytes per v2 segment.
pub const SEGMENT_LEN: usize = 1 << 20;
/// Largest payload [`VaultVersion::Auto`] writes as version 1.
pub const V1_MAX_PAYLOAD: u64 = 256 << 20;
/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Largest v1 vault a reader loads into memory (ciphertext bytes).
const V1_MAX_READ: u64 = 1 << 30;
const MAGIC: &[u8; 7] = b"STVAULT";
const TAG_LEN: usize = 16;

/// Which vault version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultVersion {
    /// Version 1 when the payload is at most [`V1_MAX_PAYLOAD`], else 2.
    /// Up to 256 MiB of payload are buffered to decide: a caller that knows
    /// the payload's length should pass [`VaultVersion::for_len`] instead.
    Auto,
    /// One AEAD message (the payload is held in memory).
    V1,
    /// 1 MiB segments, bounded memory.
    V2,
}

impl VaultVersion {
    /// The version [`VaultVersion::Auto`] picks for a payload of `len` bytes.
    pub fn for_len(len: u64) -> Self {
        if len <= V1_MAX_PAYLOAD {
            VaultVersion::V1
        } else {
            VaultVersion::V2
        }
    }
}

/// A parsed vault header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultHeader {
    /// 1 or 2.
    pub version: u8,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// KDF salt.
    pub salt: [u8; 32],
    /// Header nonce.
    pub nonce: [u8; 12],
}

impl VaultHeader {
    /// The 56 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..7].copy_from_slice(MAGIC);
        b[7] = self.version;
        b[8..12].copy_from_slice(&self.iterations.to_be_bytes());
        b[12..44].copy_from_slice(&self.salt);
        b[44..56].copy_from_slice(&self.nonce);
        b
    }

    /// Parses and checks a header: magic, a known version and an iteration
    /// count in range (all before any key derivation).
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Self> {
        if &b[..7] != MAGIC {
            return Err(format_err("not a vault (no STVAULT magic)"));
        }
        let version = b[7];
        if version != 1 && version != 2 {
            return Err(format_err(&format!(
                "unsupported vault version {version} (this snap reads versions 1 and 2)"
            )));
        }
        let iterations = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format_err(&format!(
                "vault iteration count {iterations} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            )));
        }
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&b[12..44]);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&b[44..56]);
        Ok(VaultHeader {
            version,
            iterations,
            salt,
            nonce,
        })
    }
}

/// Encrypts `payload` into a vault written to `out`.
///
/// `iterations` is written into the header (use [`DEFAULT_ITERATIONS`]);
/// values outside the range a reader accepts are refused.
///
/// # Errors
/// [`Error::Invalid`] for a password shorter than 8 characters or a bad
/// iteration count; [`Error::Io`] when reading or writing fails.
pub fn encrypt_vault(
    mut payload: impl Read,
    mut out: impl Write,
    password: &str,
    version: VaultVersion,
    iterations: u32,
) -> Result<VaultHeader> {
    check_password(password)?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(Error::Invalid {
            what: "iteration count",
            value: iterations.to_string(),
            reason: format!("must be within {MIN_ITERATIONS}..={MAX_ITERATIONS}"),
        });
    }
    let mut prefix = Vec::new();
    let version = match version {
        VaultVersion::Auto => {
            (&mut payload)
                .take(V1_MAX_PAYLOAD + 1)
                .read_to_end(&mut prefix)
                .map_err(|e| Error::io("<payload>", e))?;
            VaultVersion::for_len(prefix.len() as u64)
        }
        v => v,
    };
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 12];
    rand::fill(&mut salt[..]);
    rand::fill(&mut nonce[..]);
    let header = VaultHeader {
        version: if version == VaultVersion::V1 { 1 } else { 2 },
        iterations,
        salt,
        nonce,
    };
    let hb = header.to_bytes();
    let cipher = derive(password, &header);
    let mut payload = io::Cursor::new(prefix).chain(payload);
    out.write_all(&hb).map_err(|e| Error::io("<vault>", e))?;
    if header.version == 1 {
        let mut buf = Vec::new();
        payload
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("<payload>", e))?;
        let ct = cipher
            .encrypt(&Nonce::<Aes256Gcm>::from(nonce), buf.as_slice())
            .map_err(|_| format_err("payload too large for one AES-GCM message"))?;
        out.write_all(&ct).map_err(|e| Error::io("<vault>", e))?;
    } else {
        let mut buf = vec![0u8; SEGMENT_LEN];
        let mut carry: Option<u8> = None;
        let mut index: u32 = 0;
        loop {
            let (n, last) = next_segment(&mut payload, &mut buf, &mut carry)
                .map_err(|e| Error::io("<payload>", e))?;
            let tag = cipher
                .encrypt_inout_detached(
                    &segment_nonce(&nonce, index, last),
                    &hb,
                    (&mut buf[..n]).into(),
                )
                .map_err(|_| format_err("segment encryption failed"))?;
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("<vault>", e))?;
            out.write_all(&tag).map_err(|e| Error::io("<vault>", e))?;
            if last {
                break;
            }
            index = index
                .checked_add(1)
                .ok_or_else(|| format_err("payload too large for a vault"))?;
        }
    }
    out.flush().map_err(|e| Error::io("<vault>", e))?;
    Ok(header)
}

/// Decrypts a vault from `input` into `out`, returning its header.
///
/// Header problems (no magic, unknown version, iteration count out of
/// range) are reported as [`Error::Format`] before the KDF runs; every
/// failure after key derivation (wrong password, flipped bit, truncation,
/// reordered or extra segments) is [`Error::WrongPasswordOrDamaged`].
/// Version 1 writes nothing before its tag verifies; version 2 writes each
/// segment after its own tag verifies.
///
/// # Errors
/// As above; [`Error::Invalid`] for a password shorter than 8 characters;
/// [`Error::Io`] when reading or writing fails.
pub fn decrypt_vault(
    mut input: impl Read,
    mut out: impl Write,
    password: &str,
) -> Result<VaultHeader> {
    check_password(password)?;
    let mut hb = [0u8; HEADER_LEN];
    let n = fill(&mut input, &mut hb).map_err(|e| Error::io("<vault>", e))?;
    if n < HEADER_LEN {
        return Err(format_err("file too short for a vault header"));
    }
    let header = VaultHeader::parse(&hb)?;
    let damaged = || Error::WrongPasswordOrDamaged {
        path: "<vault>".into(),
    };
    if header.version == 1 {
        let mut buf = Vec::new();
        (&mut input)
            .take(V1_MAX_READ + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("<vault>", e))?;
        if buf.len() as u64 > V1_MAX_READ {
            return Err(format_err("version 1 vault larger than 1 GiB"));
        }
        let cipher = derive(password, &header);
        let plain = cipher
            .decrypt(&Nonce::<Aes256Gcm>::from(header.nonce), buf.as_slice())
            .map_err(|_| damaged())?;
        out.write_all(&plain)
            .map_err(|e| Error::io("<output>", e))?;
    } else {
        let cipher = derive(password, &header);
        let full = SEGMENT_LEN + TAG_LEN;
        let mut buf = vec![0u8; full];
        let mut carry: Option<u8> = None;
        let mut index: u32 = 0;
        loop {
            let (n, last) = next_segment(&mut input, &mut buf, &mut carry)
                .map_err(|e| Error::io("<vault>", e))?;
            // A final segment is empty only when it is the only one.
            if n < TAG_LEN || (n == TAG_LEN && index > 0) {
                return Err(damaged());
            }
            let (data, tag) = buf[..n].split_at_mut(n - TAG_LEN);
            let tag = Tag::<Aes256Gcm>::try_from(&*tag).map_err(|_| damaged())?;
            cipher
                .decrypt_inout_detached(
                    &segment_nonce(&header.nonce, index, last),
                    &hb,
                    data.into(),
                    &tag,
                )
                .map_err(|_| damaged())?;
            out.write_all(data).map_err(|e| Error::io("<output>", e))?;
            if last {
                break;
            }
            index = index.checked_add(1).ok_or_else(damaged)?;
        }
    }
    out.flush().map_err(|e| Error::io("<output>", e))?;
    Ok(header)
}

/// The nonce of v2 segment `index`.
fn segment_nonce(nonce: &[u8; 12], index: u32, last: bool) -> Nonce<Aes256Gcm> {
    let mut n = *nonce;
    for (i, b) in index.to_be_bytes().iter().enumerate() {
        n[7 + i] ^= b;
    }
    n[11] ^= u8::from(last);
    Nonce::<Aes256Gcm>::from(n)
}

fn derive(password: &str, header: &VaultHeader) -> Aes256Gcm {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        &header.salt,
        header.iterations,
        &mut key,
    );
    Aes256Gcm::new(&key.into())
}

pub(crate) fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid {
            what: "password",
            value: "(hidden)".into(),
            reason: format!("shorter than {MIN_PASSWORD_CHARS} characters"),
        });
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the next segment into `buf` (starting with the byte carried over
/// from the previous call) and peeks one byte further to learn whether it
/// is the last: returns its length and that answer. A segment is last when
/// it is short, or full with nothing after it.
fn next_segment(
    r: &mut impl Read,
    buf: &mut [u8],
    carry: &mut Option<u8>,
) -> io::Result<(usize, bool)> {
    let mut n = 0;
    if let Some(b) = carry.take() {
        buf[0] = b;
        n = 1;
    }
    n += fill(r, &mut buf[n..])?;
    if n < buf.len() {
        return Ok((n, true));
    }
    let mut one = [0u8; 1];
    if fill(r, &mut one)? == 0 {
        return Ok((n, true));
    }
    *carry = Some(one[0]);
    Ok((n, false))
}

fn format_err(detail: &str) -> Error {
    Error::Format {
        path: "<vault>".into(),
        detail: detail.to_string(),
    }
}
