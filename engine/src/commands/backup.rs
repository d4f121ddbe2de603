//! `create`: a snapshot of a profile directory.
//!
//! `create` is a short sequence of named steps: resolve the source, take the
//! profile's lock, load the stat cache ([`crate::source::stat_cache`]), scan
//! (whole, or hinted: [`crate::source::scan::ScanMode`]), mark which files
//! changed, read those into chunks, build the tree, then either stop (nothing
//! changed since the parent) or commit through the one commit path every
//! snapshot takes (`commands/commit.rs`), and save the stat cache.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use snap_store::{BlobId, BlobKind, BlobWriter, LockMode, SnapshotId};

use crate::chunker::ChunkError;
use crate::commands::commit::{Counts, NewSnapshot};
use crate::error::{Error, Result};
use crate::model::snapshot::{Manifest, SnapshotInfo};
use crate::model::tree::{DirBuilder, NodeKind};
use crate::repo::Repo;
use crate::source::filter::Filter;
use crate::source::scan::{scan, ScanEntry, ScanMode, ScanNotes, Stat};
use crate::source::stat_cache::{self, is_racy, now_ns, wal_stat, Cached, StatCache};
pub use crate::source::stat_cache::{racy_window_ns, RACY_COARSE_NS, RACY_FINE_NS};
use crate::{chunker, source::hint, source::sqlite};

/// With `changed_paths` hints, one create in this many still walks everything.
pub const FULL_WALK_EVERY: u32 = 10;
/// How often a file that changes while read is read before it is stored as read.
const READ_ATTEMPTS: usize = 3;

/// Progress of a running `create`, reported to the caller's callback.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Progress {
    /// Files read so far.
    pub files_done: u64,
    /// Files that must be read.
    pub files_total: u64,
    /// Bytes read so far.
    pub bytes_done: u64,
    /// Bytes that must be read.
    pub bytes_total: u64,
}

/// What to snapshot and how.
pub struct CreateOptions<'a> {
    /// The profile's name.
    pub profile: String,
    /// The directory to snapshot.
    pub source: PathBuf,
    /// Exclude patterns (see [`Filter`]).
    pub excludes: Vec<String>,
    /// Tags for the new snapshot.
    pub tags: Vec<String>,
    /// Write a snapshot even when nothing changed.
    pub force: bool,
    /// `backup` or `pre-restore`: the name's prefix.
    pub name_prefix: String,
    /// The snapshot time; `None` means now.
    pub now: Option<DateTime<Utc>>,
    /// Pretend the repository's filesystem has only this many free bytes
    /// (for tests and for a quota an application imposes).
    pub free_space_limit: Option<u64>,
    /// Called as files are read.
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// Set to stop between files; the snapshot is then abandoned cleanly.
    pub cancel: Option<&'a AtomicBool>,
    /// Paths (relative to `source`, or absolute inside it) the caller knows
    /// changed. When set, only those paths are looked at: every other entry
    /// is kept as the parent snapshot has it, and directories holding none
    /// of them are not walked. Every [`FULL_WALK_EVERY`]-th create (and the
    /// first, and whenever a hint cannot be placed inside the source) walks
    /// everything anyway. `None`: a full walk.
    pub changed_paths: Option<Vec<PathBuf>>,
}

impl<'a> CreateOptions<'a> {
    /// Options for a plain snapshot of `source` as `profile`.
    pub fn new(profile: &str, source: &Path) -> Self {
        Self {
            profile: profile.into(),
            source: source.into(),
            excludes: Vec::new(),
            tags: Vec::new(),
            force: false,
            name_prefix: "backup".into(),
            now: None,
            free_space_limit: None,
            progress: None,
            cancel: None,
            changed_paths: None,
        }
    }
}

/// Counts from one `create`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateStats {
    /// Files read because they are new.
    pub files_new: u64,
    /// Files read because they changed (or might have).
    pub files_changed: u64,
    /// Files reused from the stat cache without being opened.
    pub files_unchanged: u64,
    /// Bytes of file content read.
    pub bytes_read: u64,
    /// Bytes added to packs.
    pub bytes_stored: u64,
    /// Wall time.
    pub duration_ms: u64,
    /// SQLite transactions on the index during the create: a fixed number
    /// whatever the profile's size (one read transaction for everything
    /// read; one write each for new packs, the snapshot and a changed stat
    /// cache).
    pub index_transactions: u64,
}

/// The result of `create`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateOutcome {
    /// `created` or `unchanged`.
    pub status: CreateStatus,
    /// The new snapshot, or the parent when unchanged.
    pub id: SnapshotId,
    /// The new snapshot's manifest, or the parent's.
    pub manifest: Manifest,
    /// Counts.
    pub stats: CreateStats,
    /// Files that could not be read or changed while read (exit code 3).
    pub warnings: Vec<String>,
    /// Entries skipped on purpose (special files).
    pub skipped: Vec<String>,
    /// Problems after the commit point that change nothing about the
    /// outcome: the index row or the stat cache could not be written (the
    /// next open adds the row from the snapshot file; the stat cache is a
    /// disposable cache). Not exit code 3.
    pub post_commit_warnings: Vec<String>,
}

/// Whether `create` wrote a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CreateStatus {
    /// A new snapshot was committed.
    Created,
    /// Nothing changed since the parent; no snapshot was written.
    Unchanged,
}

/// The content of one file as stored.
struct FileContent {
    /// The chunk ids, when there is no cache entry (which holds them).
    content: Vec<BlobId>,
    size: u64,
    stat: Stat,
    cache: Option<Box<Cached>>,
}

impl FileContent {
    /// Keeps the chunk ids once: in the cache entry when there is one.
    fn new(ids: Vec<BlobId>, size: u64, stat: Stat, cache: Option<Cached>) -> Self {
        let content = if cache.is_some() { Vec::new() } else { ids };
        Self {
            content,
            size,
            stat,
            cache: cache.map(Box::new),
        }
    }

    fn content(&self) -> &[BlobId] {
        self.cache.as_ref().map_or(&self.content, |c| &c.content)
    }
}

/// Takes a snapshot of `opts.source` as profile `opts.profile`.
///
/// Holds the profile's lock for the duration, so two operations on the same
/// profile run one after the other. The snapshot is committed when its
/// manifest file is renamed into `snapshots/`; every blob it references was
/// made durable before that.
///
/// # Errors
/// A missing or unreadable source, [`snap_store::Error::NoSpace`] when the
/// changed files cannot fit, [`snap_store::Error::Locked`], I/O errors
/// writing the repository. Unreadable files inside the source are warnings.
pub fn create(repo: &Repo, opts: &CreateOptions) -> Result<CreateOutcome> {
    let started = Instant::now();
    let src = source_dir(&opts.source)?;
    let store = repo.store();
    let _profile_lock = store.lock_named(
        &format!("profile-{}", opts.profile),
        LockMode::Exclusive,
        "create",
        Duration::from_secs(30),
    )?;
    // Everything read from the index below is read in one transaction,
    // taken under the profile's lock so it sees the last create's writes.
    let transactions_before = store.index_transactions();
    let session = store.read_session();
    let filter = Filter::new(&opts.excludes)?;
    let scan_started_ns = now_ns();
    let mut notes = ScanNotes::default();
    let parent = repo.latest(&opts.profile)?;
    let mut cache = StatCache::load(store, &opts.profile)?;

    let scanned = scan_source(
        repo,
        &src,
        opts,
        parent.as_ref(),
        &cache,
        &filter,
        &mut notes,
    )?;
    cache.changed |= cache.hinted_since_full != Some(scanned.counter);
    let mut stats = CreateStats::default();
    let to_read = mark_files(
        &mut cache,
        &scanned.entries,
        &src,
        scan_started_ns,
        &mut stats,
    );
    let bytes_total = make_room(store, &to_read, opts)?;
    let writer = store.writer();
    let read = read_all(repo, &writer, &src, &to_read, bytes_total, opts)?;
    stats.bytes_read = read.bytes_read;
    let mut warnings = notes.warnings;
    warnings.extend(read.warnings);
    let contents = read.contents;
    let stored: HashMap<&[u8], Option<&Cached>> = contents
        .iter()
        .map(|(rel, fc)| (*rel, fc.cache.as_deref()))
        .collect();
    cache.note_read(&stored, scanned.hinted);

    // Trees are offered as they are built, even when nothing changed: the
    // writer skips those already stored, and one lost with a pack is
    // stored again (repair).
    let mut built = Built::new(&writer);
    let (root_tree, digest) = build_tree(repo, &scanned.entries, &contents, &cache, &mut built)?;
    let unchanged = !opts.force
        && parent
            .as_ref()
            .is_some_and(|p| p.manifest.content_digest == hex::encode(digest));
    let Built {
        counts,
        #[cfg(snap_broken = "snapshot_before_packs")]
        late,
        ..
    } = built;
    let wstats = writer.finish()?;
    stats.bytes_stored = wstats.stored_bytes;

    let (status, id, manifest, mut post_commit_warnings) = match parent.as_ref() {
        Some(p) if unchanged => (
            CreateStatus::Unchanged,
            p.id,
            p.manifest.clone(),
            Vec::new(),
        ),
        _ => {
            // The new trees are stored and indexed now; the diff reads
            // only those it descends into (subtrees that changed).
            #[cfg(not(snap_broken = "snapshot_before_packs"))]
            let load = |id: &BlobId| repo.tree(id);
            #[cfg(snap_broken = "snapshot_before_packs")]
            let load = |id: &BlobId| match late.iter().find(|(t, _)| t == id) {
                Some((_, b)) => crate::model::tree::Tree::decode(id, b),
                None => repo.tree(id),
            };
            let time = opts.now.unwrap_or_else(Utc::now);
            let mut all_warnings = warnings.clone();
            all_warnings.extend(notes.skipped.iter().cloned());
            let (id, manifest, post_commit) = NewSnapshot {
                profile: opts.profile.clone(),
                name_prefix: opts.name_prefix.clone(),
                time,
                tree: root_tree,
                digest,
                parent: parent.as_ref(),
                tags: opts.tags.clone(),
                source_path: src.to_string_lossy().into_owned(),
                counts,
                new_bytes: wstats.raw_bytes,
                warnings: all_warnings,
            }
            .commit(repo, &load)?;
            // The snapshot is committed: nothing below may turn that into
            // a failure.
            #[cfg(snap_broken = "snapshot_before_packs")]
            {
                let late_writer = store.writer();
                for (tid, bytes) in &late {
                    late_writer.put_with_id(*tid, BlobKind::Tree, bytes)?;
                }
                late_writer.finish()?;
            }
            (CreateStatus::Created, id, manifest, post_commit)
        }
    };
    if cache.changed {
        let mut rows = cache.rows(&stored, scanned.hinted, scanned.counter);
        post_commit_warnings.extend(stat_cache::save(store, &opts.profile, &mut rows));
    }
    drop(session);
    stats.index_transactions = store.index_transactions() - transactions_before;
    stats.duration_ms = started.elapsed().as_millis() as u64;
    Ok(CreateOutcome {
        status,
        id,
        manifest,
        stats,
        warnings,
        skipped: notes.skipped,
        post_commit_warnings,
    })
}

/// The source directory, resolved; it must be a directory.
fn source_dir(source: &Path) -> Result<PathBuf> {
    let src = fs::canonicalize(source).map_err(|e| Error::io(source, e))?;
    if !src.is_dir() {
        return Err(Error::io(
            &src,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    Ok(src)
}

/// What the scan of the source found.
struct Scanned {
    entries: Vec<ScanEntry>,
    /// Whether it was a hinted scan (entries not hinted are the parent's).
    hinted: bool,
    /// Hinted creates since the last full walk, this one included.
    counter: u32,
}

/// Scans the source: with hints, only the changed paths (entries not
/// hinted are kept from the parent), except every [`FULL_WALK_EVERY`]-th
/// time; else the whole directory.
fn scan_source(
    repo: &Repo,
    src: &Path,
    opts: &CreateOptions,
    parent: Option<&SnapshotInfo>,
    cache: &StatCache,
    filter: &Filter,
    notes: &mut ScanNotes,
) -> Result<Scanned> {
    let hints = match (&opts.changed_paths, parent, cache.hinted_since_full) {
        (Some(paths), Some(p), Some(n)) if n + 1 < FULL_WALK_EVERY => {
            hint::relative(paths, src, &opts.source).map(|h| (h, p, n + 1))
        }
        _ => None,
    };
    let mode = match &hints {
        Some((paths, p, _)) => ScanMode::Hinted {
            repo,
            parent_tree: &p.manifest.tree,
            paths,
        },
        None => ScanMode::Full,
    };
    Ok(Scanned {
        entries: scan(src, mode, filter, notes)?,
        hinted: hints.is_some(),
        counter: hints.map_or(0, |(_, _, n)| n),
    })
}

/// Decides which files are read (new or changed) and which reuse their
/// cached chunk ids, counting them in `stats`. Files of [`READ_FIRST`] or
/// more are read first, largest first, so a large file (a profile's
/// database) starts at once instead of being left running on one core at
/// the end; the others keep the walk's order, which is the order their
/// chunks land in packs and so what lets a restore read them in long runs.
fn mark_files<'e, 'c>(
    cache: &'c mut StatCache,
    entries: &'e [ScanEntry],
    root: &Path,
    scan_started_ns: i64,
    stats: &mut CreateStats,
) -> Vec<(&'e ScanEntry, Option<&'c Cached>)> {
    let mut files = Vec::new();
    collect_files(entries, &mut files);
    let marked = cache.mark(files, root, scan_started_ns);
    stats.files_new = marked.new;
    stats.files_unchanged = marked.unchanged;
    stats.files_changed = marked.changed;
    let cache: &'c StatCache = cache;
    let mut reads: Vec<_> = marked
        .reads
        .into_iter()
        .map(|f| (f, cache.get(f.rel.as_slice())))
        .collect();
    // A stable sort: the files under READ_FIRST all have key 0.
    reads.sort_by_key(|(f, _)| {
        std::cmp::Reverse(if f.stat.size >= READ_FIRST {
            f.stat.size
        } else {
            0
        })
    });
    reads
}

/// Files at least this large are read before the others (see [`mark_files`]).
const READ_FIRST: u64 = 4 << 20;

/// Makes sure the files to read can fit (putting back a space reserve that
/// `forget` or `gc` used, when it fits); returns their total size.
fn make_room(
    store: &snap_store::Repository,
    to_read: &[(&ScanEntry, Option<&Cached>)],
    opts: &CreateOptions,
) -> Result<u64> {
    let bytes_total: u64 = to_read.iter().map(|(f, _)| f.stat.size).sum();
    store.replenish_reserve()?;
    crate::space::check_space(store.root(), bytes_total, opts.free_space_limit)?;
    Ok(bytes_total)
}

fn collect_files<'e>(entries: &'e [ScanEntry], out: &mut Vec<&'e ScanEntry>) {
    for e in entries {
        match e.kind {
            _ if e.reused.is_some() => {}
            NodeKind::File => out.push(e),
            NodeKind::Dir => collect_files(&e.children, out),
            NodeKind::Symlink => {}
        }
    }
}

struct ReadResult<'e> {
    contents: HashMap<&'e [u8], FileContent>,
    warnings: Vec<String>,
    bytes_read: u64,
}

/// Reads every file in `to_read` on all cores; the first repository error
/// stops everything and is returned, file errors become warnings.
fn read_all<'e>(
    repo: &Repo,
    writer: &BlobWriter<'_>,
    root: &Path,
    to_read: &[(&'e ScanEntry, Option<&Cached>)],
    bytes_total: u64,
    opts: &CreateOptions,
) -> Result<ReadResult<'e>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let files_done = AtomicU64::new(0);
    let bytes_done = AtomicU64::new(0);
    let out = Mutex::new(ReadResult {
        contents: HashMap::new(),
        warnings: Vec::new(),
        bytes_read: 0,
    });
    let fatal: Mutex<Option<Error>> = Mutex::new(None);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed)
                    || opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
                {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((entry, cached)) = to_read.get(i) else {
                    return;
                };
                match read_file(repo, writer, &entry.path_in(root), *cached) {
                    Ok((fc, read, warning)) => {
                        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
                        o.bytes_read += read;
                        o.warnings.extend(warning);
                        if let Some(fc) = fc {
                            o.contents.insert(&entry.rel, fc);
                        }
                        drop(o);
                        let done = files_done.fetch_add(1, Ordering::Relaxed) + 1;
                        let bytes = bytes_done.fetch_add(read, Ordering::Relaxed) + read;
                        if let Some(p) = opts.progress {
                            p(Progress {
                                files_done: done,
                                files_total: to_read.len() as u64,
                                bytes_done: bytes,
                                bytes_total,
                            });
                        }
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        fatal
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = fatal.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err(Error::Cancelled);
    }
    Ok(out.into_inner().unwrap_or_else(|p| p.into_inner()))
}

fn chunk_into(
    writer: &BlobWriter<'_>,
    reader: impl std::io::Read,
    params: &snap_store::ChunkerParams,
) -> Result<(Vec<BlobId>, u64), ChunkError> {
    let mut ids = Vec::new();
    let read = chunker::for_each_chunk(reader, params, |data| {
        let (id, _) = writer
            .put(BlobKind::Data, data)
            .map_err(|e| ChunkError::Repo(e.into()))?;
        ids.push(id);
        Ok::<(), ChunkError>(())
    })?;
    Ok((ids, read))
}

/// One read of a file.
struct Attempt {
    ids: Vec<BlobId>,
    /// Bytes read from disk (0 when the previous copy was kept).
    read: u64,
    /// Bytes of content stored (a database copy may differ from the live size).
    size: u64,
    before: Stat,
    /// For a SQLite database: its `-wal` file's stat at capture time.
    sqlite_wal: Option<Option<Stat>>,
    /// Set when the previous copy was kept instead (busy database).
    note: Option<String>,
}

/// Reads one file into chunks. Returns its content (None when it could not
/// be read at all), bytes read, and a warning.
fn read_file(
    repo: &Repo,
    writer: &BlobWriter<'_>,
    path: &Path,
    cached: Option<&Cached>,
) -> Result<(Option<FileContent>, u64, Option<String>)> {
    let mut total = 0u64;
    let mut last = None;
    for _ in 0..READ_ATTEMPTS {
        match read_once(repo, writer, path, cached) {
            Ok(a) => {
                total += a.read;
                let content =
                    |a: &Attempt, cache| FileContent::new(a.ids.clone(), a.size, a.before, cache);
                if a.note.is_some() {
                    return Ok((Some(content(&a, None)), total, a.note));
                }
                let after = fs::symlink_metadata(path).map(|m| Stat::of(&m)).ok();
                let steady = after.is_some_and(|s| {
                    s.size == a.before.size
                        && s.mtime_ns == a.before.mtime_ns
                        && s.ino == a.before.ino
                });
                if steady || a.sqlite_wal.is_some() {
                    let cache = Cached {
                        stat: a.before,
                        sqlite: a.sqlite_wal.is_some(),
                        wal: a.sqlite_wal.flatten(),
                        racy: is_racy(&a.before, now_ns()),
                        content: a.ids.clone(),
                        size: a.size,
                    };
                    return Ok((Some(content(&a, Some(cache))), total, None));
                }
                last = Some(content(&a, None));
            }
            Err(ChunkError::Repo(e)) => return Err(e),
            Err(ChunkError::Read(e)) => {
                return Ok((
                    None,
                    total,
                    Some(format!("cannot read {}: {e}", path.display())),
                ))
            }
        }
    }
    let warning = format!(
        "{} changed while being read {READ_ATTEMPTS} times; stored as last read",
        path.display()
    );
    Ok((last, total, Some(warning)))
}

fn read_once(
    repo: &Repo,
    writer: &BlobWriter<'_>,
    path: &Path,
    cached: Option<&Cached>,
) -> Result<Attempt, ChunkError> {
    let params = repo.store().config().chunker;
    let mut f = File::open(path)?;
    let before = Stat::of(&f.metadata()?);
    let header = sqlite::read_header(&mut f)?;
    f.seek(SeekFrom::Start(0))?;
    if !sqlite::is_sqlite(&header) {
        let (ids, n) = chunk_into(writer, &mut f, &params)?;
        return Ok(Attempt {
            ids,
            read: n,
            size: n,
            before,
            sqlite_wal: None,
            note: None,
        });
    }
    drop(f);
    let wal = wal_stat(path);
    let captured = if sqlite::is_wal(&header) {
        capture_wal(repo, writer, path, &params)
    } else {
        let mut inner = Err(ChunkError::Read(std::io::Error::other("not read")));
        match sqlite::with_shared_lock(path, |file| {
            inner = chunk_into(writer, &mut *file, &params);
            Ok(())
        }) {
            Ok(()) => inner,
            Err(msg) => match inner {
                Err(ChunkError::Repo(e)) => Err(ChunkError::Repo(e)),
                _ => Err(ChunkError::Read(std::io::Error::other(msg))),
            },
        }
    };
    match captured {
        Ok((ids, n)) => Ok(Attempt {
            ids,
            read: n,
            size: n,
            before,
            sqlite_wal: Some(wal),
            note: None,
        }),
        Err(ChunkError::Read(e)) => match cached {
            Some(c) => Ok(Attempt {
                ids: c.content.clone(),
                read: 0,
                size: c.size,
                before: c.stat,
                sqlite_wal: Some(c.wal),
                note: Some(format!(
                    "database {} is busy ({e}); kept the previous snapshot's copy",
                    path.display()
                )),
            }),
            None => Err(ChunkError::Read(std::io::Error::other(format!(
                "database is busy or locked: {e}"
            )))),
        },
        Err(other) => Err(other),
    }
}

fn capture_wal(
    repo: &Repo,
    writer: &BlobWriter<'_>,
    path: &Path,
    params: &snap_store::ChunkerParams,
) -> Result<(Vec<BlobId>, u64), ChunkError> {
    let tmp = tempfile::Builder::new()
        .prefix("sqlite-copy-")
        .tempfile_in(repo.store().scratch_dir())
        .map_err(|e| ChunkError::Repo(Error::io(repo.store().scratch_dir(), e)))?;
    sqlite::backup_to(path, tmp.path()).map_err(|m| ChunkError::Read(std::io::Error::other(m)))?;
    let f = File::open(tmp.path()).map_err(|e| ChunkError::Repo(Error::io(tmp.path(), e)))?;
    chunk_into(writer, f, params)
}

/// The tree being built: where its blobs go, and counts.
struct Built<'w, 'r> {
    writer: &'w BlobWriter<'r>,
    /// Negative control (tests/negative-controls.sh): trees kept back and
    /// written after the snapshot that references them.
    #[cfg(snap_broken = "snapshot_before_packs")]
    late: Vec<(BlobId, Vec<u8>)>,
    counts: Counts,
}

impl<'w, 'r> Built<'w, 'r> {
    fn new(writer: &'w BlobWriter<'r>) -> Self {
        Self {
            writer,
            #[cfg(snap_broken = "snapshot_before_packs")]
            late: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Stores a finished tree (never held in memory).
    fn put(&mut self, id: BlobId, bytes: Vec<u8>) -> Result<()> {
        #[cfg(snap_broken = "snapshot_before_packs")]
        self.late.push((id, bytes));
        #[cfg(not(snap_broken = "snapshot_before_packs"))]
        self.writer.put_with_id(id, BlobKind::Tree, &bytes)?;
        Ok(())
    }
}

/// Builds the tree of `entries` bottom-up; returns its id and content digest
/// (the rule is [`DirBuilder`]'s, shared with import). Entries kept from the
/// parent by a hinted create are taken as they are.
fn build_tree(
    repo: &Repo,
    entries: &[ScanEntry],
    contents: &HashMap<&[u8], FileContent>,
    cache: &StatCache,
    built: &mut Built,
) -> Result<(BlobId, [u8; 32])> {
    let mut dir = DirBuilder::for_store(repo.store());
    for e in entries {
        if let Some(node) = &e.reused {
            let sub = match &node.subtree {
                Some(id) => Some(reused_digest(repo, id, built)?),
                None => None,
            };
            built.counts.add(node);
            dir.push((**node).clone(), sub.as_ref());
            continue;
        }
        let mut node = e.bare_node();
        let mut sub_digest = None;
        match e.kind {
            NodeKind::File => {
                if let Some(fc) = contents.get(e.rel.as_slice()) {
                    node.size = fc.size;
                    node.mode = fc.stat.mode;
                    node.mtime_ns = fc.stat.mtime_ns;
                    node.content = fc.content().to_vec();
                } else if let Some(c) = cache.reused(e.rel.as_slice()) {
                    node.size = c.size;
                    node.content = c.content.clone();
                } else {
                    continue;
                }
            }
            NodeKind::Dir => {
                let (sub, digest) = build_tree(repo, &e.children, contents, cache, built)?;
                node.subtree = Some(sub);
                sub_digest = Some(digest);
            }
            NodeKind::Symlink => node.link_target = e.link_target.clone(),
        }
        built.counts.add(&node);
        dir.push(node, sub_digest.as_ref());
    }
    let (id, bytes, digest) = dir.finish();
    built.put(id, bytes)?;
    Ok((id, digest))
}

/// The content digest and counts of a subtree kept from the parent.
fn reused_digest(repo: &Repo, id: &BlobId, built: &mut Built) -> Result<[u8; 32]> {
    let mut dir = DirBuilder::for_store(repo.store());
    for node in repo.tree(id)?.nodes {
        let sub = match &node.subtree {
            Some(s) => Some(reused_digest(repo, s, built)?),
            None => None,
        };
        built.counts.add(&node);
        dir.push(node, sub.as_ref());
    }
    Ok(dir.finish().2)
}
