//! The stat cache: per profile, what `create` learnt of each file it
//! stored (its stat, the chunk ids of its content), kept in the index's
//! `stat_cache` table (FORMAT.md "Index"), so that a file whose stat did
//! not move is not read again.
//!
//! A file whose size, mtime, ctime, inode and device match its entry (and,
//! for a WAL-mode SQLite database, whose `-wal` file is unchanged too)
//! reuses its chunk ids without being opened, unless it was modified within
//! the timestamp granularity of the scan that cached it (the "racy" case,
//! [`racy_window_ns`]), in which case it is read again. gc, the only
//! operation that removes blobs, first drops every entry naming a blob it
//! will delete ([`cached_ids`]), so cached ids always name stored chunks.
//!
//! The entries' chunk ids are checked against the index only when a blob
//! has left the index since the cache was written: the cache keeps the
//! index's blob epoch ([`Repository::blob_epoch`]) under [`EPOCH_KEY`], so
//! the no-change path makes no index lookup per chunk (FORMAT.md "Index").

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use snap_store::{BlobId, Repository};

use crate::error::Result;
use crate::source::hint;
use crate::source::scan::{ScanEntry, Stat};

/// The racy window for filesystems with sub-second timestamps: Linux stamps
/// files from a clock that ticks every 4 to 10 ms, so a file modified
/// within this long before a scan may change again without its mtime moving.
pub const RACY_FINE_NS: i64 = 100_000_000;
/// The racy window for filesystems that keep whole seconds only (FAT keeps
/// 2 s; HFS+ and some network filesystems 1 s).
pub const RACY_COARSE_NS: i64 = 2_000_000_000;

/// The timestamp granularity to assume for a file: coarse when neither its
/// mtime nor its ctime has a sub-second part.
pub fn racy_window_ns(stat: &Stat) -> i64 {
    if stat.mtime_ns % 1_000_000_000 == 0 && stat.ctime_ns % 1_000_000_000 == 0 {
        RACY_COARSE_NS
    } else {
        RACY_FINE_NS
    }
}

/// The stat-cache key of the index's blob epoch when the cache was written
/// (a NUL byte never starts a path).
pub(crate) const EPOCH_KEY: &[u8] = b"\0blob-epoch";

/// A stat-cache entry (postcard-encoded in the index's `stat_cache` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cached {
    pub(crate) stat: Stat,
    /// A SQLite database: its `-wal` file is part of what must not change.
    pub(crate) sqlite: bool,
    pub(crate) wal: Option<Stat>,
    pub(crate) racy: bool,
    pub(crate) content: Vec<BlobId>,
    /// Bytes of content stored.
    pub(crate) size: u64,
}

impl Cached {
    pub(crate) fn reusable(&self, stat: &Stat, wal: Option<Stat>) -> bool {
        !self.racy
            && self.stat.size == stat.size
            && self.stat.mtime_ns == stat.mtime_ns
            && self.stat.ctime_ns == stat.ctime_ns
            && self.stat.ino == stat.ino
            && self.stat.dev == stat.dev
            && self.wal.map(|w| (w.size, w.mtime_ns, w.ino))
                == wal.map(|w| (w.size, w.mtime_ns, w.ino))
    }
}

/// The chunk ids a stat-cache entry names (`None` when it does not decode).
pub(crate) fn cached_ids(entry: &[u8]) -> Option<Vec<BlobId>> {
    postcard::from_bytes::<Cached>(entry)
        .ok()
        .map(|c| c.content)
}

pub(crate) fn wal_stat(path: &Path) -> Option<Stat> {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    fs::symlink_metadata(PathBuf::from(p))
        .ok()
        .map(|m| Stat::of(&m))
}

/// A stat-cache entry as loaded, and what this create made of it.
pub(crate) struct Loaded {
    pub(crate) c: Cached,
    pub(crate) seen: Seen,
}

/// Whether a file with a stat-cache entry was looked at, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not walked (gone, or not hinted).
    No,
    /// Unchanged: its cached chunk ids are reused.
    Reused,
    /// Read again.
    Read,
}

/// A profile's stat cache as loaded, and what this create made of it.
pub(crate) struct StatCache {
    pub(crate) entries: HashMap<Vec<u8>, Loaded>,
    /// Rows read (entries that did not decode are dropped).
    rows: usize,
    /// Hinted creates since the last full walk; `None` means walk now.
    pub(crate) hinted_since_full: Option<u32>,
    /// The index's blob epoch now, written with the cache.
    epoch: u64,
    /// Whether it must be written again (the no-change path writes nothing
    /// when every entry is as it was).
    pub(crate) changed: bool,
}

/// What [`StatCache::mark`] decided for the files of a scan.
#[derive(Debug, Default)]
pub(crate) struct Marked<'e> {
    /// Files to read: new, or changed since their entry.
    pub(crate) reads: Vec<&'e ScanEntry>,
    pub(crate) new: u64,
    pub(crate) unchanged: u64,
    pub(crate) changed: u64,
}

impl StatCache {
    /// Loads `profile`'s stat cache, decoding each entry as it is read.
    /// Unless it was written at the index's current blob epoch, every
    /// entry's chunk ids are looked up and an entry naming a blob no longer
    /// stored is dropped: a lost pack must not make new snapshots reference
    /// missing chunks.
    ///
    /// # Errors
    /// Index errors.
    pub(crate) fn load(store: &Repository, profile: &str) -> Result<Self> {
        let epoch = store.blob_epoch()?;
        let mut cache = Self {
            entries: HashMap::new(),
            rows: 0,
            hinted_since_full: None,
            epoch,
            changed: false,
        };
        let mut verified = false;
        store.stat_cache_each(profile, &mut |k, v| {
            if k == hint::COUNTER_KEY {
                cache.hinted_since_full = hint::counter_value(v);
            } else if k == EPOCH_KEY {
                verified = v == epoch.to_le_bytes();
            } else {
                cache.rows += 1;
                if let Ok(c) = postcard::from_bytes(v) {
                    cache.entries.insert(k, Loaded { c, seen: Seen::No });
                }
            }
        })?;
        if !verified {
            // Written at another epoch (or never): an entry naming a blob
            // no longer stored is dropped (its file is read again), and the
            // cache is rewritten at this epoch.
            cache.entries.retain(|_, l| {
                l.c.content
                    .iter()
                    .all(|b| store.has_blob(b).unwrap_or(false))
            });
            cache.changed = true;
        }
        cache.changed |= cache.entries.len() != cache.rows;
        Ok(cache)
    }

    /// Decides for each file of a scan whether its cached chunk ids are
    /// reused (every entry loaded names stored chunks only: see
    /// [`StatCache::load`]) or it is read.
    pub(crate) fn mark<'e>(
        &mut self,
        files: Vec<&'e ScanEntry>,
        root: &Path,
        scan_started_ns: i64,
    ) -> Marked<'e> {
        let mut out = Marked::default();
        for f in files {
            let Some(l) = self.entries.get_mut(f.rel.as_slice()) else {
                out.new += 1;
                out.reads.push(f);
                continue;
            };
            let wal = if l.c.sqlite {
                wal_stat(&f.path_in(root))
            } else {
                None
            };
            if l.c.reusable(&f.stat, wal) {
                out.unchanged += 1;
                let racy = is_racy(&l.c.stat, scan_started_ns);
                self.changed |= racy != l.c.racy;
                l.c.racy = racy;
                l.seen = Seen::Reused;
            } else {
                out.changed += 1;
                l.seen = Seen::Read;
                out.reads.push(f);
            }
        }
        out
    }

    /// The entry of the file at `rel`, when it has one.
    pub(crate) fn get(&self, rel: &[u8]) -> Option<&Cached> {
        self.entries.get(rel).map(|l| &l.c)
    }

    /// The entry of the file at `rel` when its chunk ids are reused.
    pub(crate) fn reused(&self, rel: &[u8]) -> Option<&Cached> {
        self.entries
            .get(rel)
            .filter(|l| l.seen == Seen::Reused)
            .map(|l| &l.c)
    }

    /// Notes what reading produced: `read` gives, for each file stored, its
    /// new entry. Entries not looked at are files gone since (a full walk,
    /// they go) or files not looked at (`keep_unseen`, hints: they stay).
    pub(crate) fn note_read(&mut self, read: &HashMap<&[u8], Option<&Cached>>, keep_unseen: bool) {
        self.changed |= read
            .iter()
            .any(|(rel, c)| *c != self.entries.get(*rel).map(|l| &l.c));
        self.changed |= self.entries.iter().any(|(k, l)| match l.seen {
            Seen::No => !keep_unseen,
            // Read again but not stored (a warning): its entry goes.
            Seen::Read => !read.contains_key(k.as_slice()),
            Seen::Reused => false,
        });
    }

    /// The rows to store, serialised as they are written: the entries of
    /// the files read, the reused ones (and with `keep_unseen` the ones not
    /// looked at), and the hint counter.
    pub(crate) fn rows<'a>(
        &'a self,
        read: &'a HashMap<&[u8], Option<&'a Cached>>,
        keep_unseen: bool,
        counter: u32,
    ) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + 'a {
        read.iter()
            .filter_map(|(rel, c)| c.map(|c| (rel.to_vec(), c)))
            .chain(
                self.entries
                    .iter()
                    .filter(move |(_, l)| {
                        l.seen == Seen::Reused || (keep_unseen && l.seen == Seen::No)
                    })
                    .map(|(k, l)| (k.clone(), &l.c)),
            )
            .map(|(k, c)| (k, postcard::to_stdvec(c).expect("cache entries serialise")))
            .chain([
                hint::counter_row(counter),
                (EPOCH_KEY.to_vec(), self.epoch.to_le_bytes().to_vec()),
            ])
    }
}

pub(crate) fn now_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

pub(crate) fn is_racy(stat: &Stat, scan_started_ns: i64) -> bool {
    let since = scan_started_ns - racy_window_ns(stat);
    stat.mtime_ns >= since || stat.ctime_ns >= since
}

/// Replaces the profile's stat cache; a failure is a warning (the cache is
/// disposable: the next create reads the files instead).
pub(crate) fn save(
    store: &Repository,
    profile: &str,
    rows: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>,
) -> Vec<String> {
    match snap_store::fault::in_cleanup(|| store.stat_cache_replace(profile, rows)) {
        Ok(()) => Vec::new(),
        Err(e) => vec![format!(
            "the stat cache could not be saved ({e}); the next create reads every file again"
        )],
    }
}
