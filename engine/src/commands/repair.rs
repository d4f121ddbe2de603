//! `repair`: the safe repairs, each one reported.
//!
//! 1. The index is rebuilt from packs and snapshots alone (it is a cache;
//!    damaged packs are skipped and listed).
//! 2. Every snapshot is walked ([`crate::commands::check::check_snapshots`]); those
//!    whose trees or chunks are gone are *broken*.
//! 3. When data is missing, every profile's stat cache is cleared, so the
//!    next `create` of a profile re-reads its files and stores again the
//!    chunks that were lost (the cache would otherwise let it reuse chunk
//!    ids without reading, and the chunks would stay missing).
//! 4. Only with [`RepairOptions::drop_broken`]: broken snapshots are
//!    forgotten (their files deleted). Nothing else is ever deleted.
//!
//! With [`RepairOptions::dry_run`] nothing is changed and the report says
//! what would be done (the walk then uses the index as it is).

use serde::Serialize;
use snap_store::{Problem, RebuildReport, SnapshotId};

use crate::commands::check::check_snapshots;
use crate::error::Result;
use crate::repo::Repo;

/// What `repair` may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairOptions {
    /// Forget snapshots whose data is gone.
    pub drop_broken: bool,
    /// Change nothing; report what would be done.
    pub dry_run: bool,
}

/// What `repair` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The index rebuild's report (absent in a dry run).
    pub rebuild: Option<RebuildReport>,
    /// What is missing, per snapshot.
    pub problems: Vec<Problem>,
    /// Snapshots with missing data.
    pub broken: Vec<SnapshotId>,
    /// Snapshots forgotten (only with `drop_broken`).
    pub dropped: Vec<SnapshotId>,
    /// Profiles whose stat cache was cleared so the next `create` re-reads
    /// every file and stores missing chunks again.
    pub stat_cache_cleared: Vec<String>,
    /// One line per action, in order, for humans.
    pub actions: Vec<String>,
}

/// Repairs the repository; `repo` must hold the exclusive lock.
///
/// # Errors
/// I/O and index errors; the repository is left consistent (each step is
/// one of the store's atomic operations).
pub fn repair(repo: &mut Repo, opts: RepairOptions) -> Result<RepairReport> {
    let mut report = RepairReport {
        dry_run: opts.dry_run,
        ..RepairReport::default()
    };
    let would = if opts.dry_run { "would " } else { "" };
    if opts.dry_run {
        report
            .actions
            .push("would rebuild the index from packs and snapshots".into());
    } else {
        let r = repo.store_mut().rebuild_index()?;
        report.actions.push(format!(
            "rebuilt the index: {} packs, {} blobs, {} snapshots",
            r.packs, r.blobs, r.snapshots
        ));
        for s in &r.skipped {
            report
                .actions
                .push(format!("skipped while rebuilding: {s}"));
        }
        report.rebuild = Some(r);
    }
    let walk = check_snapshots(repo)?;
    report.problems = walk.problems;
    report.broken = walk.broken;
    if report.broken.is_empty() {
        report
            .actions
            .push("every snapshot has all of its data".into());
        return Ok(report);
    }
    report.actions.push(format!(
        "{} snapshot(s) miss data: {}",
        report.broken.len(),
        report
            .broken
            .iter()
            .map(|s| s.short())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut profiles: Vec<String> = repo
        .store()
        .snapshots()?
        .iter()
        .filter_map(|(id, b)| crate::model::snapshot::Manifest::from_bytes(id, b).ok())
        .map(|m| m.profile)
        .collect();
    profiles.sort();
    profiles.dedup();
    for p in &profiles {
        if !opts.dry_run {
            repo.store()
                .stat_cache_replace(p, &mut std::iter::empty())?;
        }
        report.actions.push(format!(
            "{would}clear the stat cache of profile {p} (the next create re-reads every file and stores missing chunks again)"
        ));
    }
    report.stat_cache_cleared = profiles;
    if opts.drop_broken {
        for id in report.broken.clone() {
            if !opts.dry_run {
                repo.delete_snapshot(&id)?;
            }
            report.dropped.push(id);
            report
                .actions
                .push(format!("{would}forget broken snapshot {}", id.short()));
        }
    } else {
        report.actions.push(
            "broken snapshots kept: run `snap create` on their profiles to store the missing chunks again, or `snap repair --drop-broken` to forget them".into(),
        );
    }
    Ok(report)
}
