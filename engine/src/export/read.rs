//! Import of a ZIP view (ours, with `manifest.json`, or any other ZIP with
//! files at its root) and of a vault, hostile-input safe.
//!
//! [`open_archive`] validates the whole archive before returning (see
//! `cdir.rs` for the structural checks; here: duplicates, an entry under a
//! file or symlink entry, the manifest with its exact names, privilege bits
//! dropped and unusual symlinks noted as [`Archive::warnings`]). Reading
//! ([`Archive::read_file`]) counts the real decompressed bytes and checks
//! the CRC-32 and, with a manifest, the blake3; [`extract_to`] builds the
//! tree beside an empty or new directory and renames it into place, so the
//! target is as it was or complete, whatever happens.
//!
//! Times: with a manifest, entries get its exact nanosecond mtimes;
//! without, the ZIP's DOS time read as UTC (2-second precision).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use snap_store::fault;

use super::cdir::{link_note, read_directory, unsafe_err, Limits, RawEntry};
use super::manifest::{ArchiveManifest, FORMAT_VERSION};
use super::names;
use super::staktrakr;
use super::vault::decrypt_vault;
use super::{ExportEntry, ExportKind};
use crate::flush::Flusher;
use crate::{Error, Result};

/// Largest `manifest.json` or symlink target read into memory.
const MAX_MANIFEST: u64 = 64 << 20;
const MAX_LINK: u64 = 16 << 10;

/// Default of [`ArchiveOptions::max_total`]: 64 GiB.
pub const DEFAULT_MAX_TOTAL: u64 = 64 << 30;

/// Limits and switches of an import.
///
/// There is no compression-ratio limit: deflate packs a file of zeros
/// about 1030:1, so a ratio alone says nothing. A zip bomb is stopped by
/// the structural checks (no overlapping or duplicated entries, stored
/// sizes that agree), by `max_total` on the declared sizes, and while
/// streaming: no entry yields a byte past its declared size, so no more
/// than `max_total` bytes ever come out. Extraction also checks the free
/// space of the target first.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveOptions {
    /// Largest total uncompressed size of the archive's entries (default
    /// [`DEFAULT_MAX_TOTAL`], 64 GiB; `snap import --max-size`).
    pub max_total: u64,
    /// Import a manifest newer than this snap understands: take what is
    /// understood and list the rest in [`Archive::skipped`].
    pub force: bool,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            max_total: DEFAULT_MAX_TOTAL,
            force: false,
        }
    }
}

/// One entry of an opened archive: the same description an export writes
/// ([`ExportEntry`]: path bytes without `files/` for snap ZIPs, kind, mode,
/// mtime, size, link target; read through `Deref`), and where its bytes
/// are in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    entry: ExportEntry,
    index: usize,
    blake3: Option<[u8; 32]>,
}

impl std::ops::Deref for ArchiveEntry {
    type Target = ExportEntry;

    fn deref(&self) -> &ExportEntry {
        &self.entry
    }
}

/// A validated archive, ready to be read.
#[derive(Debug)]
pub struct Archive {
    file: File,
    path: PathBuf,
    raw: Vec<RawEntry>,
    entries: Vec<ArchiveEntry>,
    manifest: Option<ArchiveManifest>,
    skipped: Vec<String>,
    warnings: Vec<String>,
    payload: Payload,
}

/// What an archive file held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// A ZIP (a plain file, or a vault's payload).
    Zip,
    /// A vault whose payload is StakTrakr's JSON (`{"_meta", "data"}`).
    StakTrakr,
}

/// Opens and validates a ZIP file.
///
/// # Errors
/// [`Error::Format`] for a file that is not a well-formed ZIP or a manifest
/// that does not parse or is newer than format 1 (without `force`);
/// [`Error::Unsafe`] naming the entry for anything hostile.
pub fn open_archive(path: &Path, options: &ArchiveOptions) -> Result<Archive> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Archive::new(file, path.to_path_buf(), options)
}

/// Decrypts the vault at `path` into an anonymous temporary file and opens
/// its payload: a ZIP, or StakTrakr's JSON (detected by content, see
/// `staktrakr.rs`), which is turned into the snap ZIP of one file per
/// `data` key plus `.staktrakr-meta.json` and opened as that.
///
/// # Errors
/// Those of [`super::decrypt_vault`] (with `path` in them) and of
/// [`open_archive`]; [`Error::Format`] for a JSON payload that is not
/// StakTrakr's (no `data` object, a value that is not a string).
pub fn open_vault_archive(
    path: &Path,
    password: &str,
    options: &ArchiveOptions,
) -> Result<Archive> {
    let input = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut tmp = tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    decrypt_vault(
        io::BufReader::new(input),
        io::BufWriter::new(fault::Writer(&mut tmp)),
        password,
    )
    .map_err(|e| match e {
        Error::WrongPasswordOrDamaged { .. } => Error::WrongPasswordOrDamaged { path: path.into() },
        Error::Format { detail, .. } => Error::Format {
            path: path.into(),
            detail,
        },
        other => other,
    })?;
    let mut head = [0u8; 64];
    let n = tmp.read_at(&mut head, 0).map_err(|e| Error::io(path, e))?;
    if !staktrakr::is_json(&head[..n]) {
        return Archive::new(tmp, path.to_path_buf(), options);
    }
    tmp.seek(io::SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let decoded = staktrakr::decode(io::BufReader::new(&mut tmp), path)?;
    decoded.write_zip(&mut tmp)?;
    let mut archive = Archive::new(tmp, path.to_path_buf(), options)?;
    archive.payload = Payload::StakTrakr;
    archive.warnings.extend(decoded.warnings);
    Ok(archive)
}

impl Archive {
    fn new(file: File, path: PathBuf, options: &ArchiveOptions) -> Result<Archive> {
        let limits = Limits {
            max_total: options.max_total,
        };
        let raw = read_directory(&file, &path, limits)?;
        let mut archive = Archive {
            file,
            path,
            raw,
            entries: Vec::new(),
            manifest: None,
            skipped: Vec::new(),
            warnings: Vec::new(),
            payload: Payload::Zip,
        };
        archive.check_tree()?;
        archive.build(options)?;
        Ok(archive)
    }

    /// Duplicates, and entries under a file or symlink entry (a write
    /// through a symlink). Symlink targets are data (see [`link_note`]).
    fn check_tree(&self) -> Result<()> {
        let mut kinds: HashMap<&[u8], ExportKind> = HashMap::new();
        for r in &self.raw {
            if kinds.insert(&r.name, raw_kind(r)).is_some() {
                return Err(unsafe_err(&self.path, &r.name, "duplicate entry name"));
            }
        }
        for r in &self.raw {
            for (i, _) in r.name.iter().enumerate().filter(|(_, &b)| b == b'/') {
                if kinds
                    .get(&r.name[..i])
                    .is_some_and(|k| *k != ExportKind::Dir)
                {
                    return Err(unsafe_err(
                        &self.path,
                        &r.name,
                        "a parent of this entry is a file or symlink in the archive",
                    ));
                }
            }
        }
        Ok(())
    }

    fn build(&mut self, options: &ArchiveOptions) -> Result<()> {
        let mi = self
            .raw
            .iter()
            .position(|r| r.name == b"manifest.json" && !r.is_dir);
        let manifest = match mi {
            Some(i) => self.parse_manifest(i, options)?,
            None => None,
        };
        let by_path: HashMap<&[u8], &super::ManifestEntry> = manifest
            .iter()
            .flat_map(|m| m.files.iter().map(|f| (f.path.as_bytes(), f)))
            .collect();
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        let mut warnings = Vec::new();
        for (i, r) in self.raw.iter().enumerate() {
            let rel: &[u8] = if manifest.is_some() {
                if Some(i) == mi {
                    continue;
                }
                match r.name.strip_prefix(b"files/") {
                    Some(rel) => rel,
                    None => {
                        if r.name != b"files" {
                            skipped.push(String::from_utf8_lossy(&r.name).into_owned());
                        }
                        continue;
                    }
                }
            } else {
                &r.name
            };
            let kind = raw_kind(r);
            let default_mode = if kind == ExportKind::Dir {
                0o755
            } else {
                0o644
            };
            let mut e = ArchiveEntry {
                entry: ExportEntry {
                    path: rel.to_vec(),
                    kind,
                    mode: r.unix_mode.map_or(default_mode, |m| m & 0o7777),
                    mtime_ns: dos_to_ns(r.dos),
                    size: if kind == ExportKind::File { r.usize } else { 0 },
                    link_target: None,
                },
                index: i,
                blake3: None,
            };
            if kind == ExportKind::Symlink {
                e.entry.link_target = Some(self.read_small(i, MAX_LINK)?);
            }
            if let Some(m) = manifest.as_ref() {
                let me = by_path.get(rel).ok_or_else(|| {
                    unsafe_err(&self.path, &r.name, "entry is not listed in manifest.json")
                })?;
                self.apply_manifest(&mut e, me, m.format_version)?;
            }
            if e.kind == ExportKind::Symlink {
                let t = e.link_target.as_deref().unwrap_or_default();
                if t.is_empty() || t.contains(&0) {
                    return Err(unsafe_err(
                        &self.path,
                        &r.name,
                        "symlink target is empty or holds a NUL",
                    ));
                }
            }
            if e.mode & 0o7000 != 0 {
                warnings.push(format!(
                    "{}: dropped the setuid/setgid/sticky bits of mode {:04o} (archives never create them)",
                    names::escape(&e.path),
                    e.mode
                ));
            }
            e.entry.mode &= 0o777;
            entries.push(e);
        }
        if let Some(m) = manifest.as_ref() {
            let present: std::collections::HashSet<&[u8]> = self
                .raw
                .iter()
                .filter_map(|r| r.name.strip_prefix(b"files/"))
                .collect();
            if let Some(missing) = m
                .files
                .iter()
                .find(|f| !present.contains(f.path.as_bytes()))
            {
                return Err(Error::Format {
                    path: self.path.clone(),
                    detail: format!(
                        "manifest.json lists {:?}, which is not in the archive",
                        missing.path
                    ),
                });
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        for w in entries.windows(2) {
            if w[0].path == w[1].path {
                return Err(unsafe_err(
                    &self.path,
                    &self.raw[w[1].index].name,
                    "two entries of manifest.json have the same path bytes",
                ));
            }
        }
        let kinds: HashMap<&[u8], ExportKind> = entries
            .iter()
            .map(|e| (e.path.as_slice(), e.kind))
            .collect();
        for e in entries.iter().filter(|e| e.kind == ExportKind::Symlink) {
            let target = e.link_target.as_deref().unwrap_or_default();
            if let Some(note) = link_note(&e.path, target, &|p| kinds.contains_key(p)) {
                warnings.push(format!(
                    "{}: symlink to {} {note}; restored as a symlink, never followed",
                    names::escape(&e.path),
                    names::escape(target)
                ));
            }
        }
        self.entries = entries;
        self.manifest = manifest;
        self.skipped = skipped;
        self.warnings = warnings;
        Ok(())
    }

    /// Takes a snap ZIP entry's exact path, target, mode, time and hash
    /// from its `manifest.json` entry, checking that they agree with the
    /// ZIP entry.
    fn apply_manifest(
        &self,
        e: &mut ArchiveEntry,
        me: &super::ManifestEntry,
        version: u32,
    ) -> Result<()> {
        let name = &self.raw[e.index].name;
        let refuse = |why: &str| unsafe_err(&self.path, name, why);
        if me.kind != e.kind {
            return Err(refuse("kind disagrees with manifest.json"));
        }
        if let Some(h) = &me.path_hex {
            let bytes = hex::decode(h)
                .ok()
                .filter(|b| names::escape(b).as_bytes() == e.path.as_slice())
                .ok_or_else(|| refuse("path_hex disagrees with the entry's name"))?;
            if bytes.contains(&0)
                || bytes
                    .split(|&b| b == b'/')
                    .any(|c| c.is_empty() || c == b"." || c == b"..")
            {
                return Err(refuse("path_hex is not a clean relative path"));
            }
            e.entry.path = bytes;
        }
        if let (Some(data), Some(h)) = (e.link_target.as_ref(), &me.target_hex) {
            let bytes = hex::decode(h)
                .ok()
                .filter(|b| names::escape(b).as_bytes() == data.as_slice())
                .ok_or_else(|| refuse("target_hex disagrees with the symlink's data"))?;
            e.entry.link_target = Some(bytes);
        }
        e.entry.mode = me.mode & 0o7777;
        e.entry.mtime_ns = me.mtime_ns;
        if e.kind == ExportKind::File {
            if me.size != Some(e.size) {
                return Err(refuse("size disagrees with manifest.json"));
            }
            let hash = me
                .blake3
                .as_deref()
                .and_then(|h| hex::decode(h).ok())
                .and_then(|h| <[u8; 32]>::try_from(h).ok());
            if hash.is_none() && version <= FORMAT_VERSION {
                return Err(refuse("no valid blake3 in manifest.json"));
            }
            e.blake3 = hash;
        }
        Ok(())
    }

    /// Parses a root `manifest.json` written by snap (`"tool": "snap"`).
    /// Any other `manifest.json` (e.g. another app's backup, seed 003) is
    /// not ours: `None`, and the ZIP is imported as a foreign one.
    fn parse_manifest(
        &self,
        i: usize,
        options: &ArchiveOptions,
    ) -> Result<Option<ArchiveManifest>> {
        if self.raw[i].usize > MAX_MANIFEST {
            return Ok(None);
        }
        let bytes = self.read_small(i, MAX_MANIFEST)?;
        let bad = |detail: String| Error::Format {
            path: self.path.clone(),
            detail,
        };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
        if value.get("tool").and_then(|t| t.as_str()) != Some("snap") {
            return Ok(None);
        }
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| bad("manifest.json has no format_version".into()))?;
        if version > u64::from(FORMAT_VERSION) && !options.force {
            return Err(bad(format!(
                "manifest format_version {version} is newer than this snap supports ({FORMAT_VERSION}); upgrade snap, or force the import to take what it understands"
            )));
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| bad(format!("manifest.json: {e}")))
    }

    /// Reads a whole small entry (manifest, symlink target), verified.
    fn read_small(&self, i: usize, max: u64) -> Result<Vec<u8>> {
        let r = &self.raw[i];
        if r.usize > max {
            return Err(unsafe_err(
                &self.path,
                &r.name,
                format!("larger than {max} bytes"),
            ));
        }
        let mut out = Vec::new();
        self.reader(i, None)
            .read_to_end(&mut out)
            .map_err(|e| self.read_error(i, e))?;
        Ok(out)
    }

    fn reader(&self, i: usize, blake3: Option<[u8; 32]>) -> FileReader<'_> {
        let r = &self.raw[i];
        let range = RangeReader {
            file: &self.file,
            pos: r.data_start,
            end: r.data_start + r.csize,
        };
        let inner: Box<dyn Read + '_> = if r.method == 8 {
            Box::new(flate2::read::DeflateDecoder::new(io::BufReader::new(range)))
        } else {
            Box::new(range)
        };
        FileReader {
            inner,
            archive: self,
            index: i,
            count: 0,
            crc: crc32fast::Hasher::new(),
            blake3: blake3.map(|h| (blake3::Hasher::new(), h)),
        }
    }

    fn read_error(&self, i: usize, e: io::Error) -> Error {
        match e.get_ref().and_then(|x| x.downcast_ref::<Refused>()) {
            Some(Refused(reason)) => unsafe_err(&self.path, &self.raw[i].name, reason.clone()),
            None => Error::io(&self.path, e),
        }
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed `manifest.json`, if the archive has one.
    pub fn manifest(&self) -> Option<&ArchiveManifest> {
        self.manifest.as_ref()
    }

    /// Entries outside `files/` in a snap ZIP, not imported.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// What the import changes or should be told about, one line each:
    /// dropped setuid/setgid/sticky bits, symlinks whose targets are
    /// absolute, leave the tree or point at nothing.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether the file held a ZIP or a StakTrakr JSON payload.
    pub fn payload(&self) -> Payload {
        self.payload
    }

    /// The entries to import, sorted by path bytes.
    pub fn entries(&self) -> &[ArchiveEntry] {
        &self.entries
    }

    /// Streams a file's bytes. The reader fails (an [`io::Error`] wrapping
    /// the reason; [`Archive::map_read_error`] turns it into
    /// [`Error::Unsafe`]) when the data produces more or fewer bytes than
    /// declared, or its CRC-32 or manifest blake3 does not match; the
    /// mismatch is found at the end, so callers must not trust the bytes
    /// before the reader reached EOF without error.
    pub fn read_file(&self, entry: &ArchiveEntry) -> FileReader<'_> {
        self.reader(entry.index, entry.blake3)
    }

    /// The [`Error`] for a failure of a [`FileReader`] of `entry`.
    pub fn map_read_error(&self, entry: &ArchiveEntry, e: io::Error) -> Error {
        self.read_error(entry.index, e)
    }
}

/// Reads one entry's data through `read_at`, so readers of one archive do
/// not share a file offset.
struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min((self.end - self.pos).min(usize::MAX as u64) as usize);
        if n == 0 {
            return Ok(0);
        }
        fault::check(fault::Op::Read)?;
        let k = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += k as u64;
        Ok(k)
    }
}

/// Why a [`FileReader`] refused an entry.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// A verifying reader of one entry (see [`Archive::read_file`]).
pub struct FileReader<'a> {
    inner: Box<dyn Read + 'a>,
    archive: &'a Archive,
    index: usize,
    count: u64,
    crc: crc32fast::Hasher,
    blake3: Option<(blake3::Hasher, [u8; 32])>,
}

impl std::fmt::Debug for FileReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("index", &self.index)
            .field("count", &self.count)
            .finish()
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let raw = &self.archive.raw[self.index];
        let refuse =
            |why: &str| io::Error::new(io::ErrorKind::InvalidData, Refused(why.to_string()));
        if buf.is_empty() {
            return Ok(0);
        }
        // Never read more than one byte past the declared size.
        let room = (raw.usize - self.count)
            .saturating_add(1)
            .min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room]).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData {
                refuse(&format!("compressed data is damaged: {e}"))
            } else {
                e
            }
        })?;
        self.count += n as u64;
        if self.count > raw.usize {
            return Err(refuse("data is larger than its declared size"));
        }
        self.crc.update(&buf[..n]);
        if let Some((h, _)) = self.blake3.as_mut() {
            h.update(&buf[..n]);
        }
        if n == 0 {
            if self.count != raw.usize {
                return Err(refuse("data is smaller than its declared size"));
            }
            if self.crc.clone().finalize() != raw.crc {
                return Err(refuse("CRC-32 mismatch"));
            }
            if let Some((h, want)) = self.blake3.as_ref() {
                if h.finalize().as_bytes() != want {
                    return Err(refuse("blake3 differs from manifest.json"));
                }
            }
        }
        Ok(n)
    }
}

fn raw_kind(r: &RawEntry) -> ExportKind {
    if r.is_dir || r.unix_mode.is_some_and(|m| m & 0o170000 == 0o040000) {
        ExportKind::Dir
    } else if r.unix_mode.is_some_and(|m| m & 0o170000 == 0o120000) {
        ExportKind::Symlink
    } else {
        ExportKind::File
    }
}

/// MS-DOS date and time, read as UTC, in ns since the epoch.
fn dos_to_ns((date, time): (u16, u16)) -> i64 {
    let d = chrono::NaiveDate::from_ymd_opt(
        1980 + i32::from(date >> 9),
        u32::from((date >> 5) & 15),
        u32::from(date & 31),
    );
    let t = chrono::NaiveTime::from_hms_opt(
        u32::from(time >> 11),
        u32::from((time >> 5) & 63),
        u32::from(time & 31) * 2,
    );
    match (d, t) {
        (Some(d), Some(t)) => d.and_time(t).and_utc().timestamp() * 1_000_000_000,
        _ => 315_532_800 * 1_000_000_000,
    }
}

/// Extracts `archive` into `dir`, which must be absent or empty.
///
/// The tree is built in a staging directory beside `dir`
/// (`.NAME.snap-extract-…`, see [`STAGING_INFIX`]), made durable
/// ([`crate::flush`]: writeback while it is written, one `syncfs` at the
/// end) and renamed onto `dir` (replacing it when it is an empty
/// directory, whose mode the tree's root takes; by its real path, so `.`
/// and a symlink to a directory work), so `dir` is at every
/// moment as it was or complete. A crash leaves only the staging
/// directory, which the next extraction to `dir` removes.
///
/// First the free space of `dir`'s filesystem is checked against the
/// files' sizes. Every file is created with `O_CREAT | O_EXCL |
/// O_NOFOLLOW` under directories this function created, symlinks are
/// created last whatever their targets (so no write ever goes through
/// one), then modes (never setuid, setgid or sticky: see
/// [`Archive::warnings`]) and mtimes are set (directories last, deepest
/// first). On any error the staging directory is removed and `dir` is as
/// it was.
///
/// # Errors
/// [`Error::Invalid`] when `dir` is not empty (or has no name);
/// [`snap_store::Error::NoSpace`] when the files cannot fit; those of
/// reading (see [`Archive::read_file`]); [`Error::Io`].
pub fn extract_to(archive: &Archive, dir: &Path) -> Result<()> {
    let invalid = |reason: &str| Error::Invalid {
        what: "target directory",
        value: dir.display().to_string(),
        reason: reason.into(),
    };
    let existing = match fs::read_dir(dir) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(invalid("not empty"));
            }
            Some(
                fs::metadata(dir)
                    .map_err(|e| Error::io(dir, e))?
                    .permissions(),
            )
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(dir, e)),
    };
    // An existing target is renamed onto by its real path: `.` has a name
    // then, and a symlink to an empty directory stays a symlink.
    let real;
    let dir = match existing {
        Some(_) => {
            real = fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
            real.as_path()
        }
        None => dir,
    };
    let name = dir.file_name().ok_or_else(|| invalid("has no name"))?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let prefix = snap_store::fsutil::sibling_prefix(name, STAGING_INFIX).into_encoded_bytes();
    remove_stale_staging(parent, &prefix);
    let staging = parent.join(std::ffi::OsStr::from_bytes(
        &[
            &prefix[..],
            format!(
                "{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
            )
            .as_bytes(),
        ]
        .concat(),
    ));
    fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    let result = (|| -> Result<()> {
        let flusher = Flusher::start(&staging)?;
        extract_inner(archive, &staging)?;
        if let Some(perm) = &existing {
            fs::set_permissions(&staging, perm.clone()).map_err(|e| Error::io(&staging, e))?;
        }
        flusher.finish()?;
        fault::rename(&staging, dir).map_err(|e| Error::io(dir, e))?;
        if let Err(e) = snap_store::fsutil::sync_dir(parent) {
            // Not known to be durable, and the caller is told it failed:
            // put `dir` back as it was.
            let _ = fs::rename(dir, &staging);
            if let Some(perm) = &existing {
                let _ = fs::create_dir(dir).and_then(|()| fs::set_permissions(dir, perm.clone()));
            }
            return Err(e.into());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// What names an extraction's staging directory, after `.` and the
/// target's name: `.restored.snap-extract-4711-1733…` for `restored`.
pub const STAGING_INFIX: &str = ".snap-extract-";

/// Removes the staging directories an interrupted extraction to the same
/// target left in `parent` (names starting with `prefix`). Best effort: one
/// that cannot be removed stays, and does not stop this extraction.
fn remove_stale_staging(parent: &Path, prefix: &[u8]) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().as_bytes().starts_with(prefix) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Refuses an extraction whose files cannot fit on the target's
/// filesystem (their sizes in whole blocks, plus a block per entry).
fn check_space(archive: &Archive, dir: &Path) -> Result<()> {
    let needed = archive.entries().iter().fold(0u64, |n, e| {
        n.saturating_add(e.size.div_ceil(4096) * 4096 + 4096)
    });
    crate::space::check_space(dir, needed, None)
}

fn extract_inner(archive: &Archive, dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    check_space(archive, dir)?;
    let target = |p: &[u8]| dir.join(std::ffi::OsStr::from_bytes(p));
    let ensure_parents = |p: &[u8]| -> Result<()> {
        for (i, _) in p.iter().enumerate().filter(|(_, &b)| b == b'/') {
            let d = target(&p[..i]);
            match fs::create_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta = fs::symlink_metadata(&d).map_err(|e| Error::io(&d, e))?;
                    if !meta.is_dir() {
                        return Err(Error::io(&d, io::Error::other("not a directory")));
                    }
                }
                Err(e) => return Err(Error::io(&d, e)),
            }
        }
        Ok(())
    };
    for e in archive.entries() {
        let path = target(&e.path);
        match e.kind {
            ExportKind::Dir => {
                ensure_parents(&e.path)?;
                fs::create_dir(&path).map_err(|err| Error::io(&path, err))?;
            }
            ExportKind::File => {
                ensure_parents(&e.path)?;
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc_o_nofollow())
                    .mode(0o600)
                    .open(&path)
                    .map_err(|err| Error::io(&path, err))?;
                let mut reader = archive.read_file(e);
                io::copy(&mut reader, &mut fault::Writer(&mut out)).map_err(|err| {
                    match err.get_ref().is_some_and(|x| x.is::<Refused>()) {
                        true => archive.map_read_error(e, err),
                        false => Error::io(&path, err),
                    }
                })?;
            }
            ExportKind::Symlink => {}
        }
    }
    for e in archive
        .entries()
        .iter()
        .filter(|e| e.kind == ExportKind::Symlink)
    {
        ensure_parents(&e.path)?;
        let path = target(&e.path);
        let t = std::ffi::OsStr::from_bytes(e.link_target.as_deref().unwrap_or(b""));
        std::os::unix::fs::symlink(t, &path).map_err(|err| Error::io(&path, err))?;
    }
    // Modes and times: files and links first, then directories deepest first.
    let mut order: Vec<&ArchiveEntry> = archive.entries().iter().collect();
    order.sort_by_key(|e| {
        (
            e.kind == ExportKind::Dir,
            std::cmp::Reverse(e.path.iter().filter(|&&b| b == b'/').count()),
        )
    });
    for e in order {
        let path = target(&e.path);
        if e.kind != ExportKind::Symlink {
            fs::set_permissions(&path, fs::Permissions::from_mode(e.mode))
                .map_err(|err| Error::io(&path, err))?;
        }
        set_mtime(&path, e.mtime_ns)?;
    }
    Ok(())
}

fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

fn set_mtime(path: &Path, ns: i64) -> Result<()> {
    use rustix::fs::{utimensat, AtFlags, Timestamps, CWD};
    let ts = rustix::fs::Timespec {
        tv_sec: ns.div_euclid(1_000_000_000),
        tv_nsec: ns.rem_euclid(1_000_000_000) as _,
    };
    let times = Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::io(path, e.into()))
}
