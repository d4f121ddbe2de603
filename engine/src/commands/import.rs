//! `import`: an archive (a ZIP made by snap, a `.stvault` vault, or any other
//! ZIP with files at its root) becomes a new snapshot of a profile, tagged
//! `import`, deduplicated against what the repository holds.
//!
//! Order, as for `create`: the archive is validated whole before anything is
//! read ([`crate::export::open_archive`]); each file streams through the
//! chunker into the pack writer while its CRC-32, size and (with a snap
//! manifest) blake3 are checked; any failure stops the import before the
//! snapshot file is written, so nothing becomes visible (chunks already
//! packed are orphans that `gc` reclaims). The snapshot file is the commit
//! point: [`prepare`] does everything before it and returns a
//! [`PendingImport`] whose [`PendingImport::commit`] writes it, so a caller
//! can do its own last step first (the CLI registers a new profile there,
//! so that a failure to register it commits nothing). The content digest follows [`DirBuilder`]'s rule, so importing a
//! snap ZIP of a snapshot (made without excludes or redaction) gives a
//! snapshot with the same digest as the original.
//!
//! Directories the archive implies but does not list (foreign ZIPs often
//! have no directory entries) get mode `0755` and the import time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use snap_store::{BlobId, BlobKind, BlobWriter, LockGuard, LockMode, SnapshotId};

use crate::chunker::ChunkError;
use crate::commands::commit::{self, Counts, NewSnapshot};
use crate::export::{self, Archive, ArchiveEntry, ExportKind};
use crate::model::snapshot::Manifest;
use crate::model::tree::{DirBuilder, Node, NodeKind, Tree};
use crate::repo::Repo;
use crate::{chunker, Error, Result};

/// The tag every imported snapshot carries.
pub const TAG_IMPORT: &str = "import";

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Limits of the archive validator, and `force` for newer manifests.
    pub archive: export::ArchiveOptions,
    /// Tags besides `import`.
    pub tags: Vec<String>,
    /// The snapshot time; `None` means now.
    pub now: Option<DateTime<Utc>>,
    /// The path recorded as the snapshot's source (the profile's directory).
    pub source_path: String,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    /// The new snapshot.
    pub id: SnapshotId,
    /// Its manifest.
    pub manifest: Manifest,
    /// The snapshot the archive was exported from (snap ZIPs only).
    pub original_id: Option<String>,
    /// Entries of a newer format not imported (with `force`).
    pub skipped: Vec<String>,
    /// The archive's warnings ([`Archive::warnings`]): dropped privilege
    /// bits, symlinks with absolute, escaping or dangling targets.
    pub warnings: Vec<String>,
    /// A ZIP, or a StakTrakr vault payload.
    pub payload: export::Payload,
    /// Chunks offered / newly stored.
    pub chunks: u64,
    /// Chunks that were new to the repository.
    pub chunks_new: u64,
    /// Problems after the commit point that change nothing about the
    /// outcome (the index row not written; the next open adds it).
    pub post_commit_warnings: Vec<String>,
}

/// Opens `path` as a vault when it starts with `STVAULT` (then `password`
/// is required), as a ZIP otherwise, and validates it whole.
///
/// # Errors
/// [`Error::Invalid`] for a vault without a password; those of
/// [`export::open_archive`] and [`export::open_vault_archive`].
pub fn open(
    path: &Path,
    password: Option<&str>,
    options: &export::ArchiveOptions,
) -> Result<Archive> {
    if export::is_vault_file(path)? {
        let password = password.ok_or_else(|| Error::Invalid {
            what: "password",
            value: path.display().to_string(),
            reason: "the file is a vault; a password is needed".into(),
        })?;
        export::open_vault_archive(path, password, options)
    } else {
        export::open_archive(path, options)
    }
}

/// Where the profile name of an import came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileSource {
    /// Given by the caller (`--profile`).
    Given,
    /// The `snapshot.profile` of the archive's snap manifest.
    Manifest,
    /// The archive's file name, without a trailing date/time stamp.
    FileName,
}

/// The profile an archive imports into by default: the manifest's profile,
/// else the archive's file stem without a trailing date/time stamp
/// ([`strip_date_stamp`]: `mahpastes-backup-2026-02-04.zip` →
/// `mahpastes-backup`), made into a valid name; and where it came from.
pub fn default_profile(archive: &Archive) -> (String, ProfileSource) {
    if let Some(m) = archive.manifest() {
        if let Ok(n) = crate::model::profile::sanitize_name(&m.snapshot.profile) {
            return (n, ProfileSource::Manifest);
        }
    }
    let stem = archive
        .path()
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = crate::model::profile::default_name_for(Path::new(strip_date_stamp(&stem)));
    (name, ProfileSource::FileName)
}

/// [`default_profile`]'s name.
pub fn default_profile_name(archive: &Archive) -> String {
    default_profile(archive).0
}

/// `stem` without a trailing date or date-time stamp and the separators
/// before it, so daily backups of one app land in one profile. A stamp
/// follows a `-`, `_`, `.` or space and is a date `YYYY-MM-DD` (or
/// `YYYYMMDD`, `_` or `.` separators), optionally followed (after `T`,
/// `-`, `_` or a space) by a time `HH[:-_.]MM[[:-_.]SS[[.-_]fraction]]`
/// and a `Z`. A stem that is all stamp is kept.
pub fn strip_date_stamp(stem: &str) -> &str {
    let b = stem.as_bytes();
    for i in 1..b.len() {
        if b"-_. ".contains(&b[i - 1]) && b[i].is_ascii_digit() && is_stamp(&b[i..]) {
            let head = stem[..i].trim_end_matches(['-', '_', '.', ' ']);
            if !head.is_empty() {
                return head;
            }
        }
    }
    stem
}

fn is_stamp(s: &[u8]) -> bool {
    let mut p = 0;
    let num = |p: &mut usize, n: usize, max: u32| -> Option<u32> {
        let d = s.get(*p..*p + n)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = std::str::from_utf8(d).ok()?.parse().ok()?;
        *p += n;
        (v <= max).then_some(v)
    };
    let sep = |p: &mut usize, set: &[u8]| {
        if s.get(*p).is_some_and(|c| set.contains(c)) {
            *p += 1;
        }
    };
    let date = (|| {
        let y = num(&mut p, 4, 2199)?;
        sep(&mut p, b"-_.");
        let m = num(&mut p, 2, 12)?;
        sep(&mut p, b"-_.");
        let d = num(&mut p, 2, 31)?;
        (y >= 1970 && m >= 1 && d >= 1).then_some(())
    })();
    if date.is_none() {
        return false;
    }
    if p < s.len() {
        sep(&mut p, b"T-_ ");
        let time = (|| {
            num(&mut p, 2, 23)?;
            sep(&mut p, b":-_.");
            num(&mut p, 2, 59)?;
            if p < s.len() && s[p] != b'Z' {
                sep(&mut p, b":-_.");
                num(&mut p, 2, 60)?;
                if p < s.len() && s[p] != b'Z' {
                    sep(&mut p, b".-_");
                    let start = p;
                    while s.get(p).is_some_and(u8::is_ascii_digit) {
                        p += 1;
                    }
                    (p > start).then_some(())?;
                }
            }
            Some(())
        })();
        if time.is_none() {
            return false;
        }
        if s.get(p) == Some(&b'Z') {
            p += 1;
        }
    }
    p == s.len()
}

/// An item of the directory structure being assembled.
enum Item {
    Leaf(Node),
    Dir(Dir),
}

#[derive(Default)]
struct Dir {
    meta: Option<(u32, i64)>,
    children: BTreeMap<Vec<u8>, Item>,
}

impl Dir {
    /// The directory holding `path`, creating implicit ones; the entry's
    /// own name.
    fn parent_of<'a>(&mut self, path: &'a [u8]) -> Result<(&mut Dir, &'a [u8])> {
        let mut parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        let name = parts.pop().unwrap_or_default();
        let mut dir = self;
        for p in parts {
            let item = dir
                .children
                .entry(p.to_vec())
                .or_insert_with(|| Item::Dir(Dir::default()));
            dir = match item {
                Item::Dir(d) => d,
                Item::Leaf(_) => return Err(clash(path)),
            };
        }
        Ok((dir, name))
    }
}

fn clash(path: &[u8]) -> Error {
    Error::Invalid {
        what: "archive entry",
        value: String::from_utf8_lossy(path).into_owned(),
        reason: "its parent is not a directory".into(),
    }
}

/// Imports a validated archive as a new snapshot of `profile`:
/// [`prepare`], then [`PendingImport::commit`].
///
/// # Errors
/// Those of both.
pub fn import(
    repo: &Repo,
    archive: &Archive,
    profile: &str,
    options: &ImportOptions,
) -> Result<ImportOutcome> {
    prepare(repo, archive, profile, options)?.commit()
}

/// An import with all its data stored and its snapshot not yet written.
/// It holds the profile's lock; dropping it commits nothing (the chunks
/// and trees stored are orphans that `gc` reclaims).
pub struct PendingImport<'r> {
    repo: &'r Repo,
    _lock: LockGuard,
    manifest: Manifest,
    original_id: Option<String>,
    skipped: Vec<String>,
    warnings: Vec<String>,
    payload: export::Payload,
    chunks: u64,
    chunks_new: u64,
}

impl std::fmt::Debug for PendingImport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingImport")
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

impl PendingImport<'_> {
    /// The manifest the snapshot will have.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Registers the snapshot's profile when it is not known yet (under
    /// the `profiles` lock, waiting up to `wait`; `auto` off, the path the
    /// manifest's source path), then [`commit`](Self::commit)s. Returns the
    /// outcome and whether the profile was registered, with the warnings of
    /// loading `profiles.json`.
    ///
    /// # Errors
    /// Registration errors (then nothing was committed), then those of
    /// [`commit`](Self::commit) (the profile stays registered).
    pub fn commit_registering(self, wait: Duration) -> Result<(ImportOutcome, bool, Vec<String>)> {
        let name = self.manifest.profile.clone();
        let path = std::path::PathBuf::from(&self.manifest.source.path);
        let (registered, warnings) = crate::commands::registry::update(self.repo, wait, |ps| {
            if ps.get(&name).is_some() {
                return Ok::<_, Error>(false);
            }
            let mut p = crate::model::profile::Profile::new(&name, &path)?;
            p.auto = false;
            ps.add(p)?;
            Ok(true)
        })?;
        Ok((self.commit()?, registered, warnings))
    }

    /// Writes the snapshot file: the commit point.
    ///
    /// # Errors
    /// Repository errors; then nothing was committed.
    pub fn commit(self) -> Result<ImportOutcome> {
        let (id, post_commit_warnings) = commit::commit(self.repo, &self.manifest)?;
        Ok(ImportOutcome {
            id,
            post_commit_warnings,
            manifest: self.manifest,
            original_id: self.original_id,
            skipped: self.skipped,
            warnings: self.warnings,
            payload: self.payload,
            chunks: self.chunks,
            chunks_new: self.chunks_new,
        })
    }
}

/// Stores a validated archive's data and trees for a new snapshot of
/// `profile`, everything but the snapshot file (see [`PendingImport`]).
///
/// Holds the profile's lock, like `create`, until the [`PendingImport`] is
/// committed or dropped. Nothing can be committed unless every file was
/// read and verified.
///
/// # Errors
/// [`Error::Unsafe`] for a file whose bytes do not match its CRC-32, size
/// or blake3; [`snap_store::Error::Locked`]; I/O and repository errors.
pub fn prepare<'r>(
    repo: &'r Repo,
    archive: &Archive,
    profile: &str,
    options: &ImportOptions,
) -> Result<PendingImport<'r>> {
    let store = repo.store();
    let lock = store.lock_named(
        &format!("profile-{profile}"),
        LockMode::Exclusive,
        "import",
        Duration::from_secs(30),
    )?;
    let time = options.now.unwrap_or_else(Utc::now);
    let time_ns = time.timestamp_nanos_opt().unwrap_or(0);
    let params = store.config().chunker;
    let writer = store.writer();
    let mut root = Dir::default();
    for e in archive.entries() {
        let (dir, name) = root.parent_of(&e.path)?;
        let node = |kind| Node {
            name: name.to_vec(),
            kind,
            mode: e.mode & 0o7777,
            mtime_ns: e.mtime_ns,
            size: 0,
            content: Vec::new(),
            subtree: None,
            link_target: Vec::new(),
        };
        match e.kind {
            ExportKind::Dir => match dir
                .children
                .entry(name.to_vec())
                .or_insert_with(|| Item::Dir(Dir::default()))
            {
                Item::Dir(d) => d.meta = Some((e.mode & 0o7777, e.mtime_ns)),
                Item::Leaf(_) => return Err(clash(&e.path)),
            },
            ExportKind::Symlink => {
                let mut n = node(NodeKind::Symlink);
                n.link_target = e.link_target.clone().unwrap_or_default();
                dir.children.insert(name.to_vec(), Item::Leaf(n));
            }
            ExportKind::File => {
                let mut n = node(NodeKind::File);
                let (ids, size) = chunk_file(archive, e, &writer, &params)?;
                n.content = ids;
                n.size = size;
                dir.children.insert(name.to_vec(), Item::Leaf(n));
            }
        }
    }
    let mut built = Built {
        keys: store.keys().cloned(),
        ..Built::default()
    };
    let (tree, digest) = build(root, time_ns, &mut built);
    for (id, bytes) in &built.trees {
        writer.put_with_id(*id, BlobKind::Tree, bytes)?;
    }
    let wstats = writer.finish()?;

    let parent = repo.latest(profile)?;
    let trees: HashMap<BlobId, Vec<u8>> = built.trees.into_iter().collect();
    let mut tags = vec![TAG_IMPORT.to_string()];
    tags.extend(options.tags.iter().filter(|t| *t != TAG_IMPORT).cloned());
    let manifest = NewSnapshot {
        profile: profile.to_string(),
        name_prefix: "import".into(),
        time,
        tree,
        digest,
        parent: parent.as_ref(),
        tags,
        source_path: options.source_path.clone(),
        counts: built.counts,
        new_bytes: wstats.raw_bytes,
        warnings: archive
            .skipped()
            .iter()
            .map(|s| format!("not imported: {s}"))
            .chain(archive.warnings().iter().cloned())
            .collect(),
    }
    .manifest(&|id: &BlobId| match trees.get(id) {
        Some(b) => Tree::decode(id, b),
        None => repo.tree(id),
    })?;
    Ok(PendingImport {
        repo,
        _lock: lock,
        manifest,
        original_id: archive
            .manifest()
            .filter(|_| archive.payload() == export::Payload::Zip)
            .map(|m| m.snapshot.id.clone()),
        skipped: archive.skipped().to_vec(),
        warnings: archive.warnings().to_vec(),
        payload: archive.payload(),
        chunks: wstats.blobs_offered,
        chunks_new: wstats.blobs_stored,
    })
}

/// Streams one file through the chunker into the writer; its reader checks
/// the bytes at the end (the chunks are only referenced after that).
fn chunk_file(
    archive: &Archive,
    entry: &ArchiveEntry,
    writer: &BlobWriter<'_>,
    params: &snap_store::ChunkerParams,
) -> Result<(Vec<BlobId>, u64)> {
    let mut ids = Vec::new();
    let r = chunker::for_each_chunk(archive.read_file(entry), params, |data| {
        let (id, _) = writer
            .put(BlobKind::Data, data)
            .map_err(|e| ChunkError::Repo(e.into()))?;
        ids.push(id);
        Ok::<(), ChunkError>(())
    });
    match r {
        Ok(size) => Ok((ids, size)),
        Err(ChunkError::Read(e)) => Err(archive.map_read_error(entry, e)),
        Err(ChunkError::Repo(e)) => Err(e),
    }
}

#[derive(Default)]
struct Built {
    keys: Option<snap_store::Keys>,
    trees: Vec<(BlobId, Vec<u8>)>,
    counts: Counts,
}

fn build(dir: Dir, time_ns: i64, built: &mut Built) -> (BlobId, [u8; 32]) {
    let mut out = match &built.keys {
        Some(k) => DirBuilder::keyed(k.clone()),
        None => DirBuilder::new(),
    };
    for (name, item) in dir.children {
        match item {
            Item::Leaf(node) => {
                built.counts.add(&node);
                out.push(node, None);
            }
            Item::Dir(d) => {
                let (mode, mtime_ns) = d.meta.unwrap_or((0o755, time_ns));
                let (sub, digest) = build(d, time_ns, built);
                let node = Node {
                    name,
                    kind: NodeKind::Dir,
                    mode,
                    mtime_ns,
                    size: 0,
                    content: Vec::new(),
                    subtree: Some(sub),
                    link_target: Vec::new(),
                };
                built.counts.add(&node);
                out.push(node, Some(&digest));
            }
        }
    }
    let (id, bytes, digest) = out.finish();
    built.trees.push((id, bytes));
    (id, digest)
}
