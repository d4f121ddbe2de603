//! The ZIP view of a snapshot: `manifest.json` first, then every entry under
//! `files/`, sorted by path bytes, deterministic and streaming.
//!
//! Layout choices (all deterministic, no clock is read):
//! - ZIP timestamps are the entries' mtimes in UTC as DOS times (2-second
//!   precision, clamped to 1980-01-01..2107-12-31); `manifest.json` gets the
//!   snapshot's time. The manifest carries exact nanosecond mtimes.
//! - Unix permission bits go into the external attributes (the zip crate
//!   keeps `mode & 0o777`; the manifest has the full mode).
//! - A file is deflated when deflating its first 64 KiB saves at least 10 %,
//!   stored otherwise. Symlinks and directories are stored.
//! - Files of 3.75 GiB or more are written with ZIP64 sizes.
//! - Every directory is written as a directory entry (`files/a/`), so empty
//!   directories and directory modes survive.
//! - Names and symlink targets that are not printable UTF-8 are escaped
//!   (`names.rs`); the manifest records their exact bytes.

use std::io::{self, Read, Seek, Write};

use globset::GlobSet;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::manifest::{
    format_time, ArchiveManifest, ManifestEntry, ManifestSnapshot, ManifestSummary, Redaction,
    FORMAT_VERSION, FORMAT_VERSION_PLAIN,
};
use super::names;
use super::redact::{redact_json, MAX_REDACT_BYTES};
use super::{build_globs, ContentSource, ExportEntry, ExportKind, ExportOptions, ExportedSnapshot};
use crate::{Error, Result};

/// Files at least this big are written with ZIP64 sizes.
const LARGE_FILE: u64 = 0xF000_0000;
/// How much of a file is trial-compressed to choose deflate or stored.
const TRIAL_LEN: usize = 64 << 10;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    /// Counts and bytes of what is in the ZIP.
    pub summary: ManifestSummary,
    /// Paths left out.
    pub excluded: Vec<String>,
    /// Keys removed from JSON files.
    pub redacted: Vec<Redaction>,
    /// Blake3 (hex) of the manifest's `files` list as compact JSON: equal
    /// digests mean the same paths, kinds, modes, mtimes and bytes were
    /// exported (used by `--if-changed`; independent of the vault bytes).
    pub files_digest: String,
}

/// Writes the ZIP view of a snapshot to `writer`.
///
/// `entries` may come in any order; they are sorted by path bytes. Each
/// file is read twice from `source` (once to hash it for the manifest, once
/// to write it), through bounded buffers: memory does not grow with file
/// size, except for `.json` files being redacted (at most 64 MiB each).
///
/// # Errors
/// [`Error::Invalid`] for a bad glob, a path that is not a clean relative
/// path (empty, NUL, `.` or `..` components), a symlink without a target, or a file whose content does not
/// have its declared size; errors of `source`; [`Error::Io`] (with path
/// `<zip>`) when writing fails.
pub fn export_zip<W: Write + Seek>(
    info: &ExportedSnapshot,
    entries: &[ExportEntry],
    source: &dyn ContentSource,
    options: &ExportOptions,
    writer: W,
) -> Result<ExportSummary> {
    let exclude = build_globs(&options.exclude)?;
    let redact = build_globs(&options.redact_keys)?;

    let mut sorted: Vec<&ExportEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));

    // Pass 1: choose, hash, build the manifest.
    let mut kept: Vec<(&ExportEntry, String)> = Vec::new();
    let mut excluded = Vec::new();
    let mut excluded_dirs: Vec<String> = Vec::new();
    let mut redacted = Vec::new();
    let mut files = Vec::new();
    let mut summary = ManifestSummary::default();
    for entry in sorted {
        let (path, path_hex) = check_path(&entry.path)?;
        if let Some(prev) = kept.last() {
            if prev.1 == path {
                return Err(invalid(&path, "duplicate path"));
            }
        }
        let under_excluded = excluded_dirs
            .iter()
            .any(|d| path.starts_with(d.as_str()) && path.as_bytes().get(d.len()) == Some(&b'/'));
        if under_excluded || exclude.is_match(&path) {
            if entry.kind == ExportKind::Dir {
                excluded_dirs.push(path.clone());
            }
            excluded.push(path);
            continue;
        }
        let mut m = ManifestEntry {
            path: path.clone(),
            kind: entry.kind,
            mode: entry.mode & 0o7777,
            mtime_ns: entry.mtime_ns,
            size: None,
            blake3: None,
            target: None,
            path_hex,
            target_hex: None,
        };
        match entry.kind {
            ExportKind::File => {
                let (size, hash, keys) = hash_file(entry, &path, source, &redact)?;
                for key in keys {
                    redacted.push(Redaction {
                        path: path.clone(),
                        key,
                    });
                }
                m.size = Some(size);
                m.blake3 = Some(hash);
                summary.files += 1;
                summary.bytes += size;
            }
            ExportKind::Dir => summary.dirs += 1,
            ExportKind::Symlink => {
                let target = entry
                    .link_target
                    .as_deref()
                    .ok_or_else(|| invalid(&path, "symlink without a target"))?;
                if target.is_empty() || target.contains(&0) {
                    return Err(invalid(&path, "symlink target is empty or holds a NUL"));
                }
                m.target = Some(names::escape(target));
                m.target_hex = (!names::is_clean(target)).then(|| hex::encode(target));
                summary.symlinks += 1;
            }
        }
        files.push(m);
        kept.push((entry, path));
    }
    let files_digest = blake3::hash(&serde_json::to_vec(&files).map_err(|e| Error::Format {
        path: "manifest.json".into(),
        detail: e.to_string(),
    })?)
    .to_hex()
    .to_string();
    let escaped = files
        .iter()
        .any(|f| f.path_hex.is_some() || f.target_hex.is_some());
    let manifest = ArchiveManifest {
        format_version: if escaped {
            FORMAT_VERSION
        } else {
            FORMAT_VERSION_PLAIN
        },
        tool: "snap".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        platform: std::env::consts::OS.into(),
        snapshot: ManifestSnapshot {
            id: info.id.clone(),
            name: info.name.clone(),
            profile: info.profile.clone(),
            time: format_time(info.time_ms),
            time_ms: info.time_ms,
        },
        summary,
        excluded: excluded.clone(),
        redacted: redacted.clone(),
        files,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Format {
        path: "manifest.json".into(),
        detail: e.to_string(),
    })?;
    json.push(b'\n');

    // Pass 2: write. A `ZipWriter` dropped unfinished finishes the archive
    // into its writer, and after a failed write the zip crate's state is
    // inconsistent (a debug assertion fires: found by the fault-injection
    // sweep). So on an error it is forgotten, not dropped, and its writer
    // is fused: after one error every later call fails at once, so a drop
    // inside a failing `finish` stops at its first write.
    let mut zip = ZipWriter::new(Fused {
        inner: writer,
        failed: false,
    });
    let written = (|| {
        let base = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(dos_time(info.time_ms.saturating_mul(1_000_000)))
            .unix_permissions(0o644);
        zip.start_file("manifest.json", base).map_err(zerr)?;
        zip.write_all(&json).map_err(werr)?;
        for (entry, path) in &kept {
            let opts = SimpleFileOptions::default()
                .last_modified_time(dos_time(entry.mtime_ns))
                .unix_permissions(entry.mode);
            let name = format!("files/{path}");
            match entry.kind {
                ExportKind::Dir => zip.add_directory(name, opts).map_err(zerr)?,
                ExportKind::Symlink => {
                    let target = names::escape(entry.link_target.as_deref().unwrap_or(b""));
                    zip.add_symlink(name, target, opts).map_err(zerr)?;
                }
                ExportKind::File => {
                    write_file(&mut zip, entry, path, &name, opts, source, &redact)?
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = written {
        std::mem::forget(zip);
        return Err(e);
    }
    zip.finish().map_err(zerr)?;
    Ok(ExportSummary {
        summary,
        excluded,
        redacted,
        files_digest,
    })
}

/// A writer that fails every call after its first error (see pass 2 of
/// [`export_zip`]).
struct Fused<W> {
    inner: W,
    failed: bool,
}

impl<W> Fused<W> {
    fn run<T>(&mut self, f: impl FnOnce(&mut W) -> io::Result<T>) -> io::Result<T> {
        if self.failed {
            return Err(io::Error::other("the ZIP could not be written"));
        }
        let r = f(&mut self.inner);
        self.failed = r
            .as_ref()
            .is_err_and(|e| e.kind() != io::ErrorKind::Interrupted);
        r
    }
}

impl<W: Write> Write for Fused<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.run(|w| w.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.run(|w| w.flush())
    }
}

impl<W: Seek> Seek for Fused<W> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.run(|w| w.seek(pos))
    }
}

/// The bytes that go into the ZIP for a file: redacted JSON, or the source.
fn content<'a>(
    entry: &ExportEntry,
    path: &str,
    source: &'a dyn ContentSource,
    redact: &GlobSet,
) -> Result<(Box<dyn Read + 'a>, Vec<String>)> {
    let mut reader = source.open(entry)?;
    if !redact.is_empty() && path.ends_with(".json") && entry.size <= MAX_REDACT_BYTES {
        let mut bytes = Vec::new();
        (&mut reader)
            .take(MAX_REDACT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        if bytes.len() as u64 != entry.size {
            return Err(invalid(path, "content does not have the declared size"));
        }
        return Ok(match redact_json(&bytes, redact) {
            Some((out, keys)) => (Box::new(io::Cursor::new(out)), keys),
            None => (Box::new(io::Cursor::new(bytes)), Vec::new()),
        });
    }
    Ok((Box::new(reader.take(entry.size + 1)), Vec::new()))
}

fn hash_file(
    entry: &ExportEntry,
    path: &str,
    source: &dyn ContentSource,
    redact: &GlobSet,
) -> Result<(u64, String, Vec<String>)> {
    let (mut reader, keys) = content(entry, path, source, redact)?;
    let mut hasher = blake3::Hasher::new();
    let n = io::copy(&mut reader, &mut hasher).map_err(|e| Error::io(path, e))?;
    if keys.is_empty() && n != entry.size {
        return Err(invalid(path, "content does not have the declared size"));
    }
    Ok((n, hasher.finalize().to_hex().to_string(), keys))
}

fn write_file<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    entry: &ExportEntry,
    path: &str,
    name: &str,
    opts: SimpleFileOptions,
    source: &dyn ContentSource,
    redact: &GlobSet,
) -> Result<()> {
    let (mut reader, _) = content(entry, path, source, redact)?;
    let mut head = Vec::with_capacity(TRIAL_LEN);
    (&mut reader)
        .take(TRIAL_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let method = if compressible(&head) {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    let opts = opts
        .compression_method(method)
        .large_file(entry.size >= LARGE_FILE);
    zip.start_file(name, opts).map_err(zerr)?;
    zip.write_all(&head).map_err(werr)?;
    io::copy(&mut reader, zip).map_err(werr)?;
    Ok(())
}

/// Whether deflating `head` saves at least 10 %.
fn compressible(head: &[u8]) -> bool {
    if head.len() < 64 {
        return !head.is_empty();
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    if enc.write_all(head).is_err() {
        return false;
    }
    match enc.finish() {
        Ok(out) => out.len() * 10 < head.len() * 9,
        Err(_) => false,
    }
}

/// A path as the ZIP will name it ([`names::escape`]) and, when that
/// differs from the bytes, the bytes in hex. The bytes must be a clean
/// relative path: not empty, no NUL, no empty, `.` or `..` component.
fn check_path(path: &[u8]) -> Result<(String, Option<String>)> {
    let name = names::escape(path);
    if path.is_empty()
        || path.contains(&0)
        || path
            .split(|&b| b == b'/')
            .any(|c| c.is_empty() || c == b"." || c == b"..")
    {
        return Err(invalid(&name, "not a clean relative path"));
    }
    let hex = (!names::is_clean(path)).then(|| hex::encode(path));
    Ok((name, hex))
}

/// DOS date and time (UTC) of `mtime_ns`, clamped to the DOS range.
pub(crate) fn dos_time(mtime_ns: i64) -> DateTime {
    use chrono::{Datelike, Timelike};
    let secs = mtime_ns.div_euclid(1_000_000_000);
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    let (min, max) = (
        DateTime::from_date_and_time(1980, 1, 1, 0, 0, 0),
        DateTime::from_date_and_time(2107, 12, 31, 23, 59, 58),
    );
    if t.year() < 1980 {
        return min.unwrap_or_default();
    }
    if t.year() > 2107 {
        return max.unwrap_or_default();
    }
    DateTime::from_date_and_time(
        t.year() as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .unwrap_or_default()
}

fn invalid(path: &str, reason: &str) -> Error {
    Error::Invalid {
        what: "export entry",
        value: path.to_string(),
        reason: reason.to_string(),
    }
}

fn zerr(e: zip::result::ZipError) -> Error {
    Error::io("<zip>", io::Error::other(e))
}

fn werr(e: io::Error) -> Error {
    Error::io("<zip>", e)
}

#[cfg(test)]
mod tests {
    /// DOS times clamp to the DOS range.
    #[test]
    fn dos_time_clamps() {
        let dos = |ns: i64| -> (u16, u16) { super::dos_time(ns).into() };
        assert_eq!(dos(-5), dos(0));
        assert_eq!(dos(0), dos(315_532_800 * 1_000_000_000));
        assert_eq!(dos(i64::MAX), dos(4_354_819_198 * 1_000_000_000));
    }
}
