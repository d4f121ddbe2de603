//! Our own reader of a ZIP's central directory, for import: it parses the
//! end records (with ZIP64), every central header and the local header each
//! points at, and rejects instead of normalising (DESIGN.md section 6).
//!
//! Checks made here, before any entry is read: a well-formed and complete
//! directory (else [`Error::Format`]); per entry ([`Error::Unsafe`]): the
//! name rules of [`check_name`], no encryption, a supported method (stored
//! or deflate), a local header that agrees with the central one, data
//! ranges that lie before the central directory and overlap no other
//! entry's, stored sizes that agree, and the size limits.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{Error, Result};

/// One central-directory entry, checked.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    /// Name bytes as stored (a directory's trailing `/` removed).
    pub name: Vec<u8>,
    /// The name ended with `/`.
    pub is_dir: bool,
    /// Unix mode from the external attributes (including type bits), when
    /// the entry was made on Unix.
    pub unix_mode: Option<u32>,
    /// 0 (stored) or 8 (deflate).
    pub method: u16,
    /// Declared CRC-32.
    pub crc: u32,
    /// Declared compressed size.
    pub csize: u64,
    /// Declared uncompressed size.
    pub usize: u64,
    /// MS-DOS (date, time).
    pub dos: (u16, u16),
    /// Offset of the compressed data.
    pub data_start: u64,
}

/// Limits on declared sizes (no compression-ratio limit: see
/// [`super::ArchiveOptions`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_total: u64,
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

struct Ctx<'a> {
    file: &'a File,
    path: &'a Path,
    len: u64,
}

impl Ctx<'_> {
    fn format(&self, detail: impl Into<String>) -> Error {
        Error::Format {
            path: self.path.to_path_buf(),
            detail: detail.into(),
        }
    }
    fn read(&self, off: u64, len: usize) -> Result<Vec<u8>> {
        if off.checked_add(len as u64).is_none_or(|end| end > self.len) {
            return Err(self.format(format!(
                "truncated: {len} bytes at offset {off} are past the end"
            )));
        }
        let mut buf = vec![0u8; len];
        snap_store::fault::check(snap_store::fault::Op::Read)
            .and_then(|()| self.file.read_exact_at(&mut buf, off))
            .map_err(|e| Error::io(self.path, e))?;
        Ok(buf)
    }
}

/// An [`Error::Unsafe`] for `entry` of `archive`.
pub(crate) fn unsafe_err(archive: &Path, entry: &[u8], reason: impl Into<String>) -> Error {
    Error::Unsafe {
        archive: archive.to_path_buf(),
        entry: String::from_utf8_lossy(entry).into_owned(),
        reason: reason.into(),
    }
}

/// Parses and checks the whole central directory of `file`.
pub(crate) fn read_directory(file: &File, path: &Path, limits: Limits) -> Result<Vec<RawEntry>> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let cx = Ctx { file, path, len };
    if len < 22 {
        return Err(cx.format("not a ZIP file (too short)"));
    }
    // End of central directory: the last signature whose comment reaches
    // exactly the end of the file.
    let tail_len = len.min(22 + 65_535) as usize;
    let tail_off = len - tail_len as u64;
    let tail = cx.read(tail_off, tail_len)?;
    let mut eocd = None;
    for i in (0..=tail_len - 22).rev() {
        if le32(&tail, i) == 0x0605_4b50 && i + 22 + le16(&tail, i + 20) as usize == tail_len {
            eocd = Some(i);
            break;
        }
    }
    let e = eocd
        .ok_or_else(|| cx.format("no end of central directory record (not a ZIP, or truncated)"))?;
    let eocd_pos = tail_off + e as u64;
    let r = &tail[e..e + 22];
    if le16(r, 4) != 0 || le16(r, 6) != 0 || le16(r, 8) != le16(r, 10) {
        return Err(cx.format("multi-disk ZIP archives are not supported"));
    }
    let mut count = le16(r, 10) as u64;
    let mut cd_size = le32(r, 12) as u64;
    let mut cd_off = le32(r, 16) as u64;
    let mut cd_end_limit = eocd_pos;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF {
        if eocd_pos < 20 {
            return Err(cx.format("ZIP64 locator missing"));
        }
        let loc = cx.read(eocd_pos - 20, 20)?;
        if le32(&loc, 0) != 0x0706_4b50 {
            return Err(cx.format("ZIP64 locator missing"));
        }
        let z_off = le64(&loc, 8);
        let z = cx.read(z_off, 56)?;
        if le32(&z, 0) != 0x0606_4b50 {
            return Err(cx.format("ZIP64 end of central directory record missing"));
        }
        if le32(&z, 16) != 0 || le32(&z, 20) != 0 || le64(&z, 24) != le64(&z, 32) {
            return Err(cx.format("multi-disk ZIP archives are not supported"));
        }
        count = le64(&z, 32);
        cd_size = le64(&z, 40);
        cd_off = le64(&z, 48);
        cd_end_limit = z_off;
    }
    if cd_off
        .checked_add(cd_size)
        .is_none_or(|end| end > cd_end_limit)
    {
        return Err(
            cx.format("central directory extends past its end record (truncated or garbled)")
        );
    }
    if count > cd_size / 46 {
        return Err(cx.format(format!(
            "{count} entries cannot fit in a {cd_size}-byte central directory"
        )));
    }
    let cd = cx.read(cd_off, cd_size as usize)?;
    let mut entries = Vec::with_capacity(count as usize);
    let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
    let mut total: u64 = 0;
    let mut p = 0usize;
    for _ in 0..count {
        if p + 46 > cd.len() || le32(&cd, p) != 0x0201_4b50 {
            return Err(cx.format(format!(
                "central directory entry at offset {} is garbled",
                cd_off + p as u64
            )));
        }
        let h = &cd[p..p + 46];
        let (nlen, xlen, clen) = (
            le16(h, 28) as usize,
            le16(h, 30) as usize,
            le16(h, 32) as usize,
        );
        if p + 46 + nlen + xlen + clen > cd.len() {
            return Err(cx.format("central directory entry runs past the directory (truncated)"));
        }
        let raw_name = cd[p + 46..p + 46 + nlen].to_vec();
        let extra = &cd[p + 46 + nlen..p + 46 + nlen + xlen];
        p += 46 + nlen + xlen + clen;
        let flags = le16(h, 8);
        let method = le16(h, 10);
        let mut csize = le32(h, 20) as u64;
        let mut usize_ = le32(h, 24) as u64;
        let mut local = le32(h, 42) as u64;
        if le16(h, 34) != 0 && le16(h, 34) != 0xFFFF {
            return Err(cx.format("multi-disk ZIP archives are not supported"));
        }
        // ZIP64 extended information.
        let mut x = 0usize;
        while x + 4 <= extra.len() {
            let (id, size) = (le16(extra, x), le16(extra, x + 2) as usize);
            let body = extra.get(x + 4..x + 4 + size).unwrap_or(&[]);
            if id == 0x0001 {
                let mut q = 0;
                let mut next = |v: &mut u64| {
                    if *v == 0xFFFF_FFFF {
                        if q + 8 <= body.len() {
                            *v = le64(body, q);
                            q += 8;
                            Ok(())
                        } else {
                            Err(())
                        }
                    } else {
                        Ok(())
                    }
                };
                next(&mut usize_)
                    .and_then(|_| next(&mut csize))
                    .and_then(|_| next(&mut local))
                    .map_err(|_| unsafe_err(path, &raw_name, "ZIP64 extra field too short"))?;
            }
            x += 4 + size;
        }
        let (name, is_dir) = match raw_name.strip_suffix(b"/") {
            Some(n) => (n.to_vec(), true),
            None => (raw_name.clone(), false),
        };
        check_name(path, &raw_name, &name)?;
        if flags & 1 != 0 || method == 99 {
            return Err(unsafe_err(
                path,
                &raw_name,
                "encrypted entries are not supported",
            ));
        }
        if method != 0 && method != 8 {
            return Err(unsafe_err(
                path,
                &raw_name,
                format!("unsupported compression method {method}"),
            ));
        }
        if method == 0 && csize != usize_ {
            return Err(unsafe_err(
                path,
                &raw_name,
                "stored entry whose compressed and uncompressed sizes differ",
            ));
        }
        total = total.saturating_add(usize_);
        if total > limits.max_total {
            return Err(unsafe_err(
                path,
                &raw_name,
                format!(
                    "total uncompressed size exceeds the limit of {} bytes (raise it with --max-size)",
                    limits.max_total
                ),
            ));
        }
        // The local header must agree.
        let lh = cx
            .read(local, 30)
            .map_err(|_| unsafe_err(path, &raw_name, "local header past the end of the file"))?;
        if le32(&lh, 0) != 0x0403_4b50 {
            return Err(unsafe_err(
                path,
                &raw_name,
                "no local header where the central directory points",
            ));
        }
        let (lnlen, lxlen) = (le16(&lh, 26) as u64, le16(&lh, 28) as u64);
        let lname = cx.read(local + 30, lnlen as usize)?;
        if lname != raw_name || le16(&lh, 8) != method || le16(&lh, 6) & 1 != 0 {
            return Err(unsafe_err(
                path,
                &raw_name,
                "local header disagrees with the central directory",
            ));
        }
        if flags & 8 == 0 {
            let (lc, lcs, lus) = (le32(&lh, 14), le32(&lh, 18), le32(&lh, 22));
            let sizes_ok = (lcs == 0xFFFF_FFFF || lcs as u64 == csize)
                && (lus == 0xFFFF_FFFF || lus as u64 == usize_);
            if lc != le32(h, 16) || !sizes_ok {
                return Err(unsafe_err(
                    path,
                    &raw_name,
                    "local header sizes or CRC disagree with the central directory",
                ));
            }
        }
        let data_start = local + 30 + lnlen + lxlen;
        let mut end = data_start.saturating_add(csize);
        if end > cd_off {
            return Err(unsafe_err(
                path,
                &raw_name,
                "entry data runs into the central directory (declared size too big)",
            ));
        }
        if flags & 8 != 0 {
            end = (end + 12).min(cd_off);
        }
        ranges.push((local, end, entries.len()));
        let made_on_unix = h[5] == 3;
        entries.push(RawEntry {
            name,
            is_dir,
            unix_mode: made_on_unix.then(|| le32(h, 38) >> 16),
            method,
            crc: le32(h, 16),
            csize,
            usize: usize_,
            dos: (le16(h, 14), le16(h, 12)),
            data_start,
        });
    }
    if p != cd.len() {
        return Err(cx.format("central directory size disagrees with its entry count"));
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if w[1].0 < w[0].1 {
            let name = &entries[w[1].2].name;
            return Err(unsafe_err(
                path,
                name,
                "entry data overlaps another entry (overlapping-entry zip bomb)",
            ));
        }
    }
    Ok(entries)
}

/// Refuses names that are not clean relative paths: empty, absolute, with a
/// drive letter, backslash, NUL or other control character, or an empty,
/// `.` or `..` component. `raw` is the name as stored (for the error).
pub(crate) fn check_name(archive: &Path, raw: &[u8], name: &[u8]) -> Result<()> {
    // Negative control (tests/negative-controls.sh): the validator is off.
    #[cfg(snap_broken = "zip_validator_off")]
    if !name.is_empty() {
        return Ok(());
    }
    let reason = if name.is_empty() {
        Some("empty name")
    } else if name[0] == b'/' {
        Some("absolute path")
    } else if name.len() >= 2 && name[1] == b':' && name[0].is_ascii_alphabetic() {
        Some("drive letter")
    } else if name.contains(&b'\\') {
        Some("backslash in name")
    } else if name.contains(&0) {
        Some("NUL in name")
    } else if name.iter().any(|&b| b < 0x20 || b == 0x7f) {
        Some("control character in name")
    } else if name.split(|&b| b == b'/').any(|c| c == b"..") {
        Some("`..` component (path traversal)")
    } else if name
        .split(|&b| b == b'/')
        .any(|c| c.is_empty() || c == b".")
    {
        Some("empty or `.` component")
    } else {
        None
    };
    match reason {
        Some(r) => Err(unsafe_err(archive, raw, r)),
        None => Ok(()),
    }
}

/// Why a symlink at `link` (relative path) with `target` deserves a
/// warning, resolving `..` lexically from the link's directory: an
/// absolute target, one that leaves the tree, or one that names no entry
/// of the archive (`exists`). `None` for a link to an entry of the tree.
pub(crate) fn link_note(
    link: &[u8],
    target: &[u8],
    exists: &dyn Fn(&[u8]) -> bool,
) -> Option<&'static str> {
    if target.first() == Some(&b'/') {
        return Some("is absolute");
    }
    let mut stack: Vec<&[u8]> = link.split(|&b| b == b'/').collect();
    stack.pop();
    for comp in target.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if stack.pop().is_none() {
                    return Some("leaves the tree");
                }
            }
            c => stack.push(c),
        }
    }
    if stack.is_empty() || exists(&stack.join(&b'/')) {
        None
    } else {
        Some("points at nothing in the archive")
    }
}
