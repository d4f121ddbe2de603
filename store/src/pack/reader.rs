//! Reading packs: the header with two ranged reads, one blob with one.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::format::{self, PackEntry, PREFIX_LEN, TRAILER_LEN};
use crate::codec;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};

/// Reads `len` bytes at `offset`, naming the file on failure.
pub(crate) fn read_at(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_at_into(file, path, offset, len, &mut buf)?;
    Ok(buf)
}

/// [`read_at`] into `buf` (resized to `len`, its capacity kept), so a
/// caller reading many runs reuses one buffer.
pub(crate) fn read_at_into(
    file: &File,
    path: &Path,
    offset: u64,
    len: usize,
    buf: &mut Vec<u8>,
) -> Result<()> {
    buf.resize(len, 0);
    crate::fault::check(crate::fault::Op::Read)
        .and_then(|()| file.read_exact_at(buf, offset))
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::corrupt(
                    path,
                    Some(offset),
                    format!("pack ends before {len} bytes could be read"),
                )
            } else {
                Error::io(path, e)
            }
        })?;
    Ok(())
}

/// Reads and validates a pack's prefix, trailer and header.
///
/// # Errors
/// [`Error::Io`], [`Error::Corrupt`] or [`Error::UnsupportedVersion`], naming the pack.
pub fn read_header(file: &File, path: &Path) -> Result<Vec<PackEntry>> {
    read_header_with(file, path, None)
}

/// [`read_header`] in a repository that is encrypted when `keys` is given:
/// an encrypted pack in a plain repository, or a plain pack in an
/// encrypted one, is refused.
///
/// # Errors
/// As [`read_header`].
pub fn read_header_with(file: &File, path: &Path, keys: Option<&Keys>) -> Result<Vec<PackEntry>> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    read_header_via(len, path, keys, &|offset, n| read_at(file, path, offset, n))
}

/// [`read_header_with`] for a pack of `len` bytes read through `read_at`
/// (`offset`, `len`): a file's positioned reads, or an object's ranged
/// reads on a backend (`crate::backend`).
///
/// # Errors
/// As [`read_header`].
pub fn read_header_via(
    len: u64,
    path: &Path,
    keys: Option<&Keys>,
    read_at: &dyn Fn(u64, usize) -> Result<Vec<u8>>,
) -> Result<Vec<PackEntry>> {
    if len < (PREFIX_LEN + 4 + TRAILER_LEN) as u64 {
        return Err(Error::corrupt(
            path,
            None,
            format!("pack is too short ({len} bytes)"),
        ));
    }
    let encrypted = format::prefix_encrypted(path, &read_at(0, PREFIX_LEN)?)?;
    if encrypted != keys.is_some() {
        return Err(Error::corrupt(
            path,
            Some(9),
            if encrypted {
                "encrypted pack in an unencrypted repository"
            } else {
                "unencrypted pack in an encrypted repository"
            },
        ));
    }
    let t = read_at(len - TRAILER_LEN as u64, TRAILER_LEN)?;
    let (header_len, sum) = format::parse_trailer_with(path, len, &t, encrypted)?;
    let header_start = len - TRAILER_LEN as u64 - header_len as u64;
    let h = read_at(header_start, header_len as usize)?;
    format::parse_header_with(path, header_start, &h, &sum, keys)
}

/// Reads one blob with one ranged read, decodes it and verifies its id.
///
/// # Errors
/// [`Error::BlobDamaged`] when it does not decode or hash to `entry.id`.
pub fn read_blob(file: &File, path: &Path, pack: &PackId, entry: &PackEntry) -> Result<Vec<u8>> {
    read_blob_with(file, path, pack, entry, None)
}

/// [`read_blob`] with the repository's keys (encrypted repositories).
///
/// # Errors
/// As [`read_blob`].
pub fn read_blob_with(
    file: &File,
    path: &Path,
    pack: &PackId,
    entry: &PackEntry,
    keys: Option<&Keys>,
) -> Result<Vec<u8>> {
    let stored = read_at(file, path, entry.offset, entry.stored_len as usize)
        .map_err(|e| short_read_damages(e, pack, entry))?;
    decode_blob(&stored, pack, entry, keys)
}

/// A read of `entry`'s bytes that came back short ([`Error::Corrupt`]) as
/// [`Error::BlobDamaged`] naming the blob and `pack`; other errors as they are.
pub(crate) fn short_read_damages(err: Error, pack: &PackId, entry: &PackEntry) -> Error {
    match err {
        Error::Corrupt { detail, .. } => damaged(&entry.id, pack, detail),
        other => other,
    }
}

/// Decodes a blob's stored bytes: opens them (encrypted codec, the blob id
/// as associated data), decompresses, and verifies the id.
///
/// # Errors
/// [`Error::BlobDamaged`] naming the blob and pack.
pub fn decode_blob(
    stored: &[u8],
    pack: &PackId,
    entry: &PackEntry,
    keys: Option<&Keys>,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decode_blob_in(stored, pack, entry, keys, &mut out)?;
    // Only a raw blob of a plain repository is not decoded into `out`.
    Ok(if keys.is_none() && entry.codec == codec::RAW {
        stored.to_vec()
    } else {
        out
    })
}

/// [`decode_blob`] into `scratch` (cleared, its capacity kept; a raw blob
/// of a plain repository is `stored` itself and `scratch` is not touched),
/// so a restore decodes every blob of a thread into the same memory
/// instead of allocating and faulting in fresh pages for each.
///
/// # Errors
/// As [`decode_blob`].
pub fn decode_blob_in<'a>(
    stored: &'a [u8],
    pack: &PackId,
    entry: &PackEntry,
    keys: Option<&Keys>,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8]> {
    let plain = match keys {
        Some(k) if entry.codec & codec::ENCRYPTED_FLAG != 0 => {
            let opened = k.open(&entry.id.0, stored).map_err(|_| {
                damaged(
                    &entry.id,
                    pack,
                    "does not authenticate (damaged or tampered with)".into(),
                )
            })?;
            let codec = entry.codec & !codec::ENCRYPTED_FLAG;
            codec::decode_into(codec, &opened, entry.raw_len as usize, scratch)
                .map_err(|d| damaged(&entry.id, pack, d))?;
            if codec == codec::RAW {
                *scratch = opened;
            }
            scratch.as_slice()
        }
        Some(_) => {
            return Err(damaged(
                &entry.id,
                pack,
                "unencrypted blob in an encrypted repository".into(),
            ))
        }
        None => codec::decode_into(entry.codec, stored, entry.raw_len as usize, scratch)
            .map_err(|d| damaged(&entry.id, pack, d))?,
    };
    let id = match keys {
        Some(k) => k.blob_id(plain),
        None => BlobId::of(plain),
    };
    if id != entry.id {
        return Err(damaged(
            &entry.id,
            pack,
            "content does not match its id".into(),
        ));
    }
    Ok(plain)
}

fn damaged(blob: &BlobId, pack: &PackId, detail: String) -> Error {
    Error::BlobDamaged {
        blob: blob.to_hex(),
        pack: pack.to_hex(),
        detail,
    }
}
