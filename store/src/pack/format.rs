//! The pack byte layout: prefix, blobs, header, trailer (all little-endian).
//!
//! ```text
//! 0      8  "SNAPPACK"
//! 8      1  version (1)
//! 9      1  flags (0; bit 0: encrypted, FORMAT.md section 15)
//! 10     6  zero
//! 16     …  blobs, back to back (stored bytes)
//! H      4  entry count n (u32)
//! H+4    n × 50-byte entries:
//!           32 blob id | 1 kind | 1 codec | 8 offset (u64) | 4 stored_len (u32) | 4 raw_len (u32)
//! end-44 4  header length (4 + 50 n) (u32)
//! end-40 32 blake3 of the header bytes
//! end-8  8  "SNAPTAIL"
//! ```

use crate::crypto::{self, Keys};
use crate::error::{Error, Result};
use crate::id::BlobId;
use std::path::Path;

/// Pack magic at offset 0.
pub const MAGIC: &[u8; 8] = b"SNAPPACK";
/// Trailer magic, the pack's last 8 bytes.
pub const TAIL_MAGIC: &[u8; 8] = b"SNAPTAIL";
/// The pack version this build writes and reads.
pub const VERSION: u8 = 1;
/// Bytes before the first blob.
pub const PREFIX_LEN: usize = 16;
/// Bytes of one header entry.
pub const ENTRY_LEN: usize = 50;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 44;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum BlobKind {
    /// A chunk of file content.
    Data,
    /// An encoded tree (a directory listing).
    Tree,
}

impl BlobKind {
    /// The byte stored in pack headers and the index.
    pub fn to_byte(self) -> u8 {
        match self {
            BlobKind::Data => 0,
            BlobKind::Tree => 1,
        }
    }

    /// Parses the stored byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}

/// One blob's entry in a pack header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    /// The blob's id (blake3 of its plaintext).
    pub id: BlobId,
    /// What it holds.
    pub kind: BlobKind,
    /// Codec byte (see [`crate::codec`]).
    pub codec: u8,
    /// Offset of the stored bytes from the start of the pack.
    pub offset: u64,
    /// Length of the stored bytes.
    pub stored_len: u32,
    /// Length of the plaintext.
    pub raw_len: u32,
}

/// Flag bit: the pack's blobs and header are encrypted.
pub const FLAG_ENCRYPTED: u8 = 1;

/// The fixed 16-byte prefix.
pub fn prefix() -> [u8; PREFIX_LEN] {
    prefix_with(false)
}

/// The prefix of a pack, encrypted or not.
pub fn prefix_with(encrypted: bool) -> [u8; PREFIX_LEN] {
    let mut p = [0u8; PREFIX_LEN];
    p[..8].copy_from_slice(MAGIC);
    p[8] = VERSION;
    if encrypted {
        p[9] = FLAG_ENCRYPTED;
    }
    p
}

/// Encodes the header and trailer for `entries` (unencrypted).
pub fn encode_header_and_trailer(entries: &[PackEntry]) -> Vec<u8> {
    encode_header_and_trailer_with(entries, None)
}

/// Encodes the header and trailer for `entries`; with `keys` the header is
/// sealed (`nonce ‖ AES-256-GCM ciphertext ‖ tag`, associated data
/// [`crypto::PACK_HEADER_AAD`]), and the trailer's length and checksum are
/// those of the sealed bytes.
pub fn encode_header_and_trailer_with(entries: &[PackEntry], keys: Option<&Keys>) -> Vec<u8> {
    let mut h = Vec::with_capacity(4 + entries.len() * ENTRY_LEN + TRAILER_LEN);
    h.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        h.extend_from_slice(&e.id.0);
        h.push(e.kind.to_byte());
        h.push(e.codec);
        h.extend_from_slice(&e.offset.to_le_bytes());
        h.extend_from_slice(&e.stored_len.to_le_bytes());
        h.extend_from_slice(&e.raw_len.to_le_bytes());
    }
    if let Some(k) = keys {
        h = k.seal(crypto::PACK_HEADER_AAD, &h);
        h.reserve(TRAILER_LEN);
    }
    let header_len = h.len() as u32;
    let sum = blake3::hash(&h);
    h.extend_from_slice(&header_len.to_le_bytes());
    h.extend_from_slice(sum.as_bytes());
    h.extend_from_slice(TAIL_MAGIC);
    h
}

/// Checks the prefix (first 16 bytes of a pack).
///
/// # Errors
/// [`Error::Corrupt`] for a bad magic, [`Error::UnsupportedVersion`] for an
/// unknown version or flags.
pub fn check_prefix(path: &Path, p: &[u8]) -> Result<()> {
    prefix_encrypted(path, p).map(|_| ())
}

/// Checks the prefix and returns whether the pack is encrypted.
///
/// # Errors
/// As [`check_prefix`].
pub fn prefix_encrypted(path: &Path, p: &[u8]) -> Result<bool> {
    if p.len() < PREFIX_LEN || &p[..8] != MAGIC {
        return Err(Error::corrupt(path, Some(0), "not a pack (bad magic)"));
    }
    if p[8] != VERSION {
        return Err(Error::UnsupportedVersion {
            what: "pack",
            path: path.to_path_buf(),
            found: p[8] as u64,
            supported: VERSION as u64,
        });
    }
    if p[9] & !FLAG_ENCRYPTED != 0 || p[10..PREFIX_LEN].iter().any(|b| *b != 0) {
        return Err(Error::corrupt(
            path,
            Some(9),
            format!("unsupported pack flags {:#x}", p[9]),
        ));
    }
    Ok(p[9] & FLAG_ENCRYPTED != 0)
}

/// Parses the trailer (the last 44 bytes) and returns (header length, header checksum).
///
/// # Errors
/// [`Error::Corrupt`] when the trailer is not one or the length is impossible.
pub fn parse_trailer(path: &Path, file_len: u64, t: &[u8]) -> Result<(u32, [u8; 32])> {
    parse_trailer_with(path, file_len, t, false)
}

/// [`parse_trailer`] for a pack whose header is sealed when `encrypted`
/// (its length is then that of the entries plus [`crypto::OVERHEAD`]).
///
/// # Errors
/// As [`parse_trailer`].
pub fn parse_trailer_with(
    path: &Path,
    file_len: u64,
    t: &[u8],
    encrypted: bool,
) -> Result<(u32, [u8; 32])> {
    let overhead = if encrypted { crypto::OVERHEAD } else { 0 };
    if file_len < (PREFIX_LEN + 4 + TRAILER_LEN) as u64 || t.len() != TRAILER_LEN {
        return Err(Error::corrupt(
            path,
            None,
            format!("pack is too short ({file_len} bytes)"),
        ));
    }
    let at = Some(file_len - TRAILER_LEN as u64);
    if &t[36..44] != TAIL_MAGIC {
        return Err(Error::corrupt(
            path,
            at,
            "bad pack trailer (truncated or damaged)",
        ));
    }
    let header_len = u32::from_le_bytes(t[0..4].try_into().expect("4 bytes"));
    let max = file_len - (PREFIX_LEN + TRAILER_LEN) as u64;
    if (header_len as u64) < (4 + overhead) as u64
        || header_len as u64 > max
        || !(header_len as usize - 4 - overhead).is_multiple_of(ENTRY_LEN)
    {
        return Err(Error::corrupt(
            path,
            at,
            format!("impossible header length {header_len}"),
        ));
    }
    let mut sum = [0u8; 32];
    sum.copy_from_slice(&t[4..36]);
    Ok((header_len, sum))
}

/// Parses and validates the header bytes: checksum, entry count, kinds,
/// codecs, and that every blob lies between the prefix and the header.
///
/// # Errors
/// [`Error::Corrupt`] naming the offset of the first bad entry.
pub fn parse_header(
    path: &Path,
    header_start: u64,
    h: &[u8],
    sum: &[u8; 32],
) -> Result<Vec<PackEntry>> {
    parse_header_with(path, header_start, h, sum, None)
}

/// [`parse_header`] for a pack whose header is sealed under `keys`: the
/// checksum is verified, then the header is opened (authenticated) and
/// parsed.
///
/// # Errors
/// As [`parse_header`]; a header that does not authenticate is
/// [`Error::Corrupt`] too.
pub fn parse_header_with(
    path: &Path,
    header_start: u64,
    h: &[u8],
    sum: &[u8; 32],
    keys: Option<&Keys>,
) -> Result<Vec<PackEntry>> {
    if blake3::hash(h).as_bytes() != sum {
        return Err(Error::corrupt(
            path,
            Some(header_start),
            "pack header checksum mismatch",
        ));
    }
    let opened;
    let h = match keys {
        Some(k) => {
            opened = k.open(crypto::PACK_HEADER_AAD, h).map_err(|_| {
                Error::corrupt(
                    path,
                    Some(header_start),
                    "pack header does not authenticate (damaged, tampered with, or another repository's)",
                )
            })?;
            opened.as_slice()
        }
        None => h,
    };
    // Found by the `pack_format` fuzz target: a header shorter than its
    // count field whose checksum matches (the empty header) panicked.
    if h.len() < 4 {
        return Err(Error::corrupt(
            path,
            Some(header_start),
            format!("pack header is {} bytes, shorter than its count", h.len()),
        ));
    }
    let n = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes")) as usize;
    if 4 + n * ENTRY_LEN != h.len() {
        return Err(Error::corrupt(
            path,
            Some(header_start),
            format!(
                "header claims {n} entries but has room for {}",
                (h.len() - 4) / ENTRY_LEN
            ),
        ));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let e = &h[4 + i * ENTRY_LEN..4 + (i + 1) * ENTRY_LEN];
        let at = Some(header_start + 4 + (i * ENTRY_LEN) as u64);
        let kind = BlobKind::from_byte(e[32])
            .ok_or_else(|| Error::corrupt(path, at, format!("unknown blob kind {}", e[32])))?;
        let entry = PackEntry {
            id: BlobId::from_slice(&e[..32])?,
            kind,
            codec: e[33],
            offset: u64::from_le_bytes(e[34..42].try_into().expect("8 bytes")),
            stored_len: u32::from_le_bytes(e[42..46].try_into().expect("4 bytes")),
            raw_len: u32::from_le_bytes(e[46..50].try_into().expect("4 bytes")),
        };
        let end = entry.offset.checked_add(entry.stored_len as u64);
        if entry.offset < PREFIX_LEN as u64 || end.is_none_or(|end| end > header_start) {
            return Err(Error::corrupt(
                path,
                at,
                format!("blob {} lies outside the pack's data", entry.id),
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let entries = vec![PackEntry {
            id: BlobId::of(b"x"),
            kind: BlobKind::Tree,
            codec: 1,
            offset: 16,
            stored_len: 10,
            raw_len: 20,
        }];
        let ht = encode_header_and_trailer(&entries);
        let file_len = 16 + 10 + ht.len() as u64;
        let (hl, sum) =
            parse_trailer(Path::new("p"), file_len, &ht[ht.len() - TRAILER_LEN..]).unwrap();
        let h = &ht[..hl as usize];
        assert_eq!(parse_header(Path::new("p"), 26, h, &sum).unwrap(), entries);
        let mut bad = h.to_vec();
        bad[10] ^= 1;
        assert!(parse_header(Path::new("p"), 26, &bad, &sum).is_err());
        // Fuzz regression: an empty header with a matching checksum.
        let empty = *blake3::hash(b"").as_bytes();
        assert!(parse_header(Path::new("p"), 26, b"", &empty).is_err());
    }
}
