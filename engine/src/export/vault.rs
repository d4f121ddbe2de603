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
    out: impl Write,
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
    let cipher = derive(password, &header);
    let payload = io::Cursor::new(prefix).chain(payload);
    write_vault(&header, &cipher, SEGMENT_LEN, payload, out)?;
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
    read_vault(&mut input, &mut out, |h| derive(password, h), SEGMENT_LEN)
}

/// Writes `header`, then the payload encrypted under `cipher` as the
/// header's version says (v2: segments of `segment_len` plaintext bytes,
/// [`SEGMENT_LEN`] for every real vault), then flushes.
fn write_vault(
    header: &VaultHeader,
    cipher: &Aes256Gcm,
    segment_len: usize,
    mut payload: impl Read,
    mut out: impl Write,
) -> Result<()> {
    let hb = header.to_bytes();
    out.write_all(&hb).map_err(|e| Error::io("<vault>", e))?;
    if header.version == 1 {
        let mut buf = Vec::new();
        payload
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("<payload>", e))?;
        let ct = cipher
            .encrypt(&Nonce::<Aes256Gcm>::from(header.nonce), buf.as_slice())
            .map_err(|_| format_err("payload too large for one AES-GCM message"))?;
        out.write_all(&ct).map_err(|e| Error::io("<vault>", e))?;
    } else {
        encrypt_segments(cipher, &hb, segment_len, &mut payload, &mut out)?;
    }
    out.flush().map_err(|e| Error::io("<vault>", e))
}

/// The v2 payload: `payload` cut into segments of `segment_len` plaintext
/// bytes, each encrypted with its segment nonce and the header `hb` as
/// associated data, written ciphertext then tag.
fn encrypt_segments(
    cipher: &Aes256Gcm,
    hb: &[u8; HEADER_LEN],
    segment_len: usize,
    payload: &mut impl Read,
    out: &mut impl Write,
) -> Result<()> {
    // A zero length would make `next_segment` index an empty buffer.
    assert!(segment_len > 0, "vault segment length must be positive");
    let nonce = header_nonce(hb);
    let mut buf = vec![0u8; segment_len];
    let mut carry: Option<u8> = None;
    let mut index: u32 = 0;
    loop {
        let (n, last) =
            next_segment(payload, &mut buf, &mut carry).map_err(|e| Error::io("<payload>", e))?;
        let tag = cipher
            .encrypt_inout_detached(
                &segment_nonce(&nonce, index, last),
                hb,
                (&mut buf[..n]).into(),
            )
            .map_err(|_| format_err("segment encryption failed"))?;
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("<vault>", e))?;
        out.write_all(&tag).map_err(|e| Error::io("<vault>", e))?;
        if last {
            return Ok(());
        }
        index = index
            .checked_add(1)
            .ok_or_else(|| format_err("payload too large for a vault"))?;
    }
}

/// Reads and checks the header, gets the cipher from `key` (the KDF for
/// real vaults, called only once the header is accepted), and decrypts the
/// rest into `out` (v2: segments of `segment_len` plaintext bytes), then
/// flushes. Errors as [`decrypt_vault`].
fn read_vault(
    input: &mut impl Read,
    out: &mut impl Write,
    key: impl FnOnce(&VaultHeader) -> Aes256Gcm,
    segment_len: usize,
) -> Result<VaultHeader> {
    let mut hb = [0u8; HEADER_LEN];
    let n = fill(input, &mut hb).map_err(|e| Error::io("<vault>", e))?;
    if n < HEADER_LEN {
        return Err(format_err("file too short for a vault header"));
    }
    let header = VaultHeader::parse(&hb)?;
    if header.version == 1 {
        let mut buf = Vec::new();
        input
            .take(V1_MAX_READ + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("<vault>", e))?;
        if buf.len() as u64 > V1_MAX_READ {
            return Err(format_err("version 1 vault larger than 1 GiB"));
        }
        let cipher = key(&header);
        let plain = cipher
            .decrypt(&Nonce::<Aes256Gcm>::from(header.nonce), buf.as_slice())
            .map_err(|_| damaged())?;
        out.write_all(&plain)
            .map_err(|e| Error::io("<output>", e))?;
    } else {
        let cipher = key(&header);
        decrypt_segments(&cipher, &hb, segment_len, input, out)?;
    }
    out.flush().map_err(|e| Error::io("<output>", e))?;
    Ok(header)
}

/// The v2 payload read back: segments of `segment_len` plaintext bytes plus
/// their tag, the last one known by the end of `input`; each is written to
/// `out` once its tag verifies.
fn decrypt_segments(
    cipher: &Aes256Gcm,
    hb: &[u8; HEADER_LEN],
    segment_len: usize,
    input: &mut impl Read,
    out: &mut impl Write,
) -> Result<()> {
    let nonce = header_nonce(hb);
    let mut buf = vec![0u8; segment_len + TAG_LEN];
    let mut carry: Option<u8> = None;
    let mut index: u32 = 0;
    loop {
        let (n, last) =
            next_segment(input, &mut buf, &mut carry).map_err(|e| Error::io("<vault>", e))?;
        // A final segment is empty only when it is the only one.
        if n < TAG_LEN || (n == TAG_LEN && index > 0) {
            return Err(damaged());
        }
        let (data, tag) = buf[..n].split_at_mut(n - TAG_LEN);
        let tag = Tag::<Aes256Gcm>::try_from(&*tag).map_err(|_| damaged())?;
        cipher
            .decrypt_inout_detached(&segment_nonce(&nonce, index, last), hb, data.into(), &tag)
            .map_err(|_| damaged())?;
        out.write_all(data).map_err(|e| Error::io("<output>", e))?;
        if last {
            return Ok(());
        }
        index = index.checked_add(1).ok_or_else(damaged)?;
    }
}

/// The header nonce `N` (bytes 44..56 of the header).
fn header_nonce(hb: &[u8; HEADER_LEN]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n.copy_from_slice(&hb[44..56]);
    n
}

fn damaged() -> Error {
    Error::WrongPasswordOrDamaged {
        path: "<vault>".into(),
    }
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

/// The vault framing without the KDF, for the `vault_segments` fuzz target
/// (`fuzz/`) and its corpus replay (`tests/reliability/corpus.rs`) only:
/// built with the `fuzzing` feature, hidden from the docs, not part of the
/// API. The password KDF (PBKDF2, at least 100 000 iterations) makes every
/// input far too slow to fuzz, so these functions take the key from a
/// caller-supplied function of the header instead, and a v2 segment length
/// of the caller's choosing (a few bytes, so that a small input spans many
/// segments). Everything after the key is the code [`encrypt_vault`] and
/// [`decrypt_vault`] run: the same header parser, v1 message, segment
/// reader, nonces, tag checks and empty-final-segment rule; real vaults
/// always use [`SEGMENT_LEN`] and the password KDF.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use aes_gcm::aead::KeyInit;
    use aes_gcm::Aes256Gcm;

    use super::{read_vault, write_vault, VaultHeader};
    use crate::{Error, Result};

    fn check_len(segment_len: usize) -> Result<()> {
        if segment_len == 0 {
            return Err(Error::Invalid {
                what: "segment length",
                value: "0".into(),
                reason: "must be positive".into(),
            });
        }
        Ok(())
    }

    /// Writes `payload` as a vault with `header` (its version, 1 or 2,
    /// picks the format) under the AES-256 key `key(header)`, v2 segments
    /// holding `segment_len` plaintext bytes.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero `segment_len` or a version other than
    /// 1 or 2; otherwise as [`super::encrypt_vault`].
    pub fn encrypt(
        payload: &[u8],
        header: &VaultHeader,
        key: impl FnOnce(&VaultHeader) -> [u8; 32],
        segment_len: usize,
    ) -> Result<Vec<u8>> {
        check_len(segment_len)?;
        if header.version != 1 && header.version != 2 {
            return Err(Error::Invalid {
                what: "vault version",
                value: header.version.to_string(),
                reason: "must be 1 or 2".into(),
            });
        }
        let cipher = Aes256Gcm::new(&key(header).into());
        let mut out = Vec::new();
        write_vault(header, &cipher, segment_len, payload, &mut out)?;
        Ok(out)
    }

    /// Decrypts `vault` into `out` exactly as [`super::decrypt_vault`] does,
    /// but with the AES-256 key `key(header)` (called once the header is
    /// accepted) and v2 segments of `segment_len` plaintext bytes. On error
    /// `out` holds what was written before it (segments whose tags verified).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero `segment_len`; otherwise as
    /// [`super::decrypt_vault`].
    pub fn decrypt(
        vault: &[u8],
        out: &mut Vec<u8>,
        key: impl FnOnce(&VaultHeader) -> [u8; 32],
        segment_len: usize,
    ) -> Result<VaultHeader> {
        check_len(segment_len)?;
        let mut input = vault;
        read_vault(
            &mut input,
            out,
            |h| Aes256Gcm::new(&key(h).into()),
            segment_len,
        )
    }
}
