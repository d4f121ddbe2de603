//! `check`: does every file say what the index says, and (with `read_data`)
//! does every blob decode and hash to its id? Returns problems, never repairs.

use std::collections::{HashMap, HashSet};
use std::fs;

use serde::Serialize;

use crate::error::Result;
use crate::id::PackId;
use crate::pack::{reader, PackEntry};
use crate::repo::Repository;
use crate::storage::pack_key;

/// What to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Also read every pack in full: its hash must match its name and every
    /// blob must decode to its id.
    pub read_data: bool,
}

/// One problem found, naming the pack, blob or snapshot involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A short machine-readable kind: `key-slot-damaged`, `pack-damaged`, `pack-missing`,
    /// `blob-damaged`, `index-mismatch`, `snapshot-damaged`, `snapshot-missing`,
    /// or an engine kind such as `tree-missing`.
    pub kind: String,
    /// The pack involved (hex), if any.
    pub pack: Option<String>,
    /// The blob involved (hex), if any.
    pub blob: Option<String>,
    /// The snapshot involved (hex), if any.
    pub snapshot: Option<String>,
    /// A one-line description.
    pub detail: String,
}

impl Problem {
    /// A problem of `kind` with a description and nothing named yet.
    pub fn new(kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            pack: None,
            blob: None,
            snapshot: None,
            detail: detail.into(),
        }
    }
}

/// What `check` looked at and what it found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Packs examined.
    pub packs: u64,
    /// Blobs whose data was read and verified (only with `read_data`).
    pub blobs_read: u64,
    /// Snapshot files examined.
    pub snapshots: u64,
    /// Everything wrong; empty means the repository is sound.
    pub problems: Vec<Problem>,
}

/// Checks the repository. Does not modify it.
///
/// # Errors
/// Only when the check itself cannot run (the index cannot be queried);
/// damage is reported as [`Problem`]s.
pub fn check(repo: &Repository, opts: CheckOptions) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    for slot in repo.key_slots().iter().filter(|s| !s.intact) {
        report.problems.push(Problem::new(
            "key-slot-damaged",
            format!(
                "{}: key slot {} is damaged (its checksum does not match)",
                repo.storage().display_path(crate::layout::CONFIG).display(),
                slot.id
            ),
        ));
    }
    let on_disk = repo.storage().list_packs()?;
    let indexed: Vec<(PackId, u64)> = repo.index()?.packs()?;
    let indexed_ids: HashSet<PackId> = indexed.iter().map(|(p, _)| *p).collect();
    for (id, _) in &indexed {
        if !on_disk.contains_key(id) {
            let mut p = Problem::new(
                "pack-missing",
                format!("pack {id} is in the index but its file is gone"),
            );
            p.pack = Some(id.to_hex());
            report.problems.push(p);
        }
    }
    let mut packs: Vec<_> = on_disk.into_iter().collect();
    packs.sort();
    for (id, size) in packs {
        report.packs += 1;
        let path = repo.pack_path(&id);
        let named = |kind: &str, detail: String| {
            let mut p = Problem::new(kind, detail);
            p.pack = Some(id.to_hex());
            p
        };
        let file = if repo.is_local() {
            match fs::File::open(&path) {
                Ok(f) => Some(f),
                Err(e) => {
                    report
                        .problems
                        .push(named("pack-damaged", format!("{}: {e}", path.display())));
                    continue;
                }
            }
        } else {
            None
        };
        let header = match repo.storage().pack_header(&id, size, repo.keys()) {
            Ok(h) => h,
            Err(e) => {
                report.problems.push(named("pack-damaged", e.to_string()));
                continue;
            }
        };
        if !indexed_ids.contains(&id) {
            report.problems.push(named(
                "index-mismatch",
                format!("pack {id} is not in the index"),
            ));
        }
        let by_id: HashMap<_, &PackEntry> = header.iter().map(|e| (e.id, e)).collect();
        for e in repo.index()?.pack_entries(&id)? {
            if by_id.get(&e.id).is_none_or(|h| **h != e) {
                let mut p = named(
                    "index-mismatch",
                    format!(
                        "index entry for blob {} does not match pack {id}'s header",
                        e.id
                    ),
                );
                p.blob = Some(e.id.to_hex());
                report.problems.push(p);
            }
        }
        // The other direction: every blob the pack holds must be findable.
        for e in &header {
            if repo.index()?.locate(&e.id)?.is_none() {
                let mut p = named(
                    "index-mismatch",
                    format!("blob {} in pack {id} is not in the index", e.id),
                );
                p.blob = Some(e.id.to_hex());
                report.problems.push(p);
            }
        }
        if opts.read_data {
            let whole = match &file {
                Some(_) => fs::read(&path).map_err(|e| e.to_string()),
                None => repo
                    .storage()
                    .backend()
                    .read(&pack_key(&id))
                    .map_err(|e| e.to_string()),
            };
            match whole {
                Ok(bytes) if PackId::of(&bytes) != id => {
                    report.problems.push(named(
                        "pack-damaged",
                        format!("pack {id}: content does not match its name"),
                    ));
                }
                Ok(_) => {}
                Err(e) => report
                    .problems
                    .push(named("pack-damaged", format!("{}: {e}", path.display()))),
            }
            for e in &header {
                report.blobs_read += 1;
                let read = repo
                    .storage()
                    .pack_range(&id, file.as_ref(), e.offset, e.stored_len as usize)
                    .and_then(|stored| reader::decode_blob(&stored, &id, e, repo.keys()));
                if let Err(err) = read {
                    let mut p = named("blob-damaged", err.to_string());
                    p.blob = Some(e.id.to_hex());
                    report.problems.push(p);
                }
            }
        }
    }
    let files = repo.storage().list_snapshots()?;
    let indexed_snaps: HashSet<_> = repo.snapshots()?.into_iter().map(|(id, _)| id).collect();
    let mut snaps: Vec<_> = files.iter().copied().collect();
    snaps.sort();
    for id in snaps {
        report.snapshots += 1;
        if let Err(e) = repo.read_snapshot(&id) {
            let mut p = Problem::new("snapshot-damaged", e.to_string());
            p.snapshot = Some(id.to_hex());
            report.problems.push(p);
        } else if !indexed_snaps.contains(&id) {
            let mut p = Problem::new(
                "index-mismatch",
                format!("snapshot {id} is not in the index"),
            );
            p.snapshot = Some(id.to_hex());
            report.problems.push(p);
        }
    }
    for id in indexed_snaps.iter().filter(|id| !files.contains(id)) {
        let mut p = Problem::new(
            "snapshot-missing",
            format!("snapshot {id} is in the index but its file is gone"),
        );
        p.snapshot = Some(id.to_hex());
        report.problems.push(p);
    }
    Ok(report)
}
