//! Garbage collection and space accounting: marking the blobs reachable
//! from snapshots, collecting the rest (see [`snap_store::gc`] for the
//! crash-safe order on disk), and the per-profile figures of `snap stats`.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use snap_store::{gc as store_gc, BlobId, GcPlan, GcReport, LockMode, Stats};

use crate::error::{Error, Result};
use crate::model::snapshot::SnapshotInfo;
use crate::repo::Repo;

pub use snap_store::gc::DEFAULT_REPACK_THRESHOLD;

/// Adds to `live` every blob reachable from the tree `root`: the trees
/// themselves and every content chunk. Subtrees already in `live` are not
/// walked again (a tree's id covers everything below it).
///
/// # Errors
/// A missing or damaged tree.
pub fn mark_tree(repo: &Repo, root: &BlobId, live: &mut HashSet<BlobId>) -> Result<()> {
    let mut stack = vec![*root];
    while let Some(id) = stack.pop() {
        if !live.insert(id) {
            continue;
        }
        let tree = repo.tree(&id)?;
        for n in &tree.nodes {
            live.extend(n.content.iter().copied());
            if let Some(sub) = n.subtree {
                if !live.contains(&sub) {
                    stack.push(sub);
                }
            }
        }
    }
    Ok(())
}

/// Every blob reachable from `snapshots`.
///
/// # Errors
/// A missing or damaged tree.
pub fn mark(repo: &Repo, snapshots: &[SnapshotInfo]) -> Result<HashSet<BlobId>> {
    let mut live = HashSet::new();
    for s in snapshots {
        mark_tree(repo, &s.manifest.tree, &mut live)?;
    }
    Ok(live)
}

/// How to collect.
#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    /// Only report what would be reclaimed.
    pub dry_run: bool,
    /// Repack packs whose live fraction (by stored bytes) is under this.
    pub repack_threshold: f64,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            repack_threshold: DEFAULT_REPACK_THRESHOLD,
        }
    }
}

/// What `gc` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct GcOutcome {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Snapshots whose blobs were kept.
    pub snapshots: u64,
    /// Blobs reachable from them.
    pub live_blobs: u64,
    /// Packs that hold no live blob (deleted, or to delete).
    pub packs_to_delete: u64,
    /// Packs that are mostly garbage (repacked, or to repack).
    pub packs_to_repack: u64,
    /// Bytes the plan frees (estimate for a dry run).
    pub reclaimable_bytes: u64,
    /// Stored bytes of all unreferenced blobs.
    pub garbage_bytes: u64,
    /// What was done (absent for a dry run).
    pub report: Option<GcReport>,
}

/// Marks and plans under whatever lock `repo` holds.
///
/// # Errors
/// A missing or damaged tree; index errors.
pub fn plan(repo: &Repo, threshold: f64) -> Result<(GcPlan, u64, HashSet<BlobId>)> {
    let snaps = repo.snapshots()?;
    let live = mark(repo, &snaps)?;
    let plan = store_gc::plan(repo.store(), &live, threshold)?;
    Ok((plan, snaps.len() as u64, live))
}

/// Collects garbage: marks every blob reachable from the snapshots, then
/// deletes packs without a live blob and repacks mostly-garbage packs.
/// `repo` must be open with the exclusive lock (unless `dry_run`).
/// Drops the stat-cache entries that name blobs it deletes (the rest keep
/// unchanged files from being read again).
///
/// # Errors
/// [`Error::Invalid`] without the exclusive lock; a snapshot whose trees
/// cannot be read or whose blobs are missing (nothing is deleted then);
/// I/O and index errors.
pub fn gc(repo: &Repo, opts: &GcOptions) -> Result<GcOutcome> {
    if !opts.dry_run && repo.store().lock_mode() != LockMode::Exclusive {
        return Err(Error::Invalid {
            what: "lock",
            value: "shared".into(),
            reason: "gc needs the repository open with the exclusive lock".into(),
        });
    }
    let (plan, snapshots, live_blobs) = plan(repo, opts.repack_threshold)?;
    let mut out = GcOutcome {
        dry_run: opts.dry_run,
        snapshots,
        live_blobs: live_blobs.len() as u64,
        packs_to_delete: plan.delete.len() as u64,
        packs_to_repack: plan.repack.len() as u64,
        reclaimable_bytes: plan.reclaimable_bytes,
        garbage_bytes: plan.garbage_bytes,
        report: None,
    };
    if !opts.dry_run {
        // Under the exclusive lock no create can add entries meanwhile, so
        // what remains names only blobs that survive.
        repo.store().stat_cache_retain(&|entry| {
            crate::source::stat_cache::cached_ids(entry)
                .is_some_and(|ids| ids.iter().all(|id| live_blobs.contains(id)))
        })?;
        out.report = Some(store_gc::execute(repo.store(), &plan)?);
        repo.store().replenish_reserve()?;
    }
    Ok(out)
}

/// Space used by one profile.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileUsage {
    /// The profile.
    pub profile: String,
    /// Its snapshots.
    pub snapshots: u64,
    /// Sum of the snapshots' content bytes.
    pub logical_bytes: u64,
    /// Stored bytes of the blobs reachable from its snapshots (blobs shared
    /// with other profiles count for each).
    pub stored_bytes: u64,
    /// `logical_bytes / stored_bytes` (0 when nothing is stored).
    pub dedup_ratio: f64,
}

/// Repository totals plus per-profile usage and garbage.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// The store's totals.
    #[serde(flatten)]
    pub totals: Stats,
    /// Per profile, by name.
    pub profiles: Vec<ProfileUsage>,
    /// Stored bytes of blobs reachable from some snapshot.
    pub live_bytes: u64,
    /// Stored bytes of blobs no snapshot reaches (what gc can reclaim).
    pub garbage_bytes: u64,
    /// `garbage_bytes / stored_bytes` (0 for an empty repository).
    pub garbage_fraction: f64,
}

/// Computes [`Usage`].
///
/// # Errors
/// A missing or damaged tree; index errors.
pub fn usage(repo: &Repo) -> Result<Usage> {
    let totals = repo.store().stats()?;
    let sizes = store_gc::blob_sizes(repo.store())?;
    let mut by_profile: BTreeMap<String, Vec<SnapshotInfo>> = BTreeMap::new();
    for s in repo.snapshots()? {
        by_profile
            .entry(s.manifest.profile.clone())
            .or_default()
            .push(s);
    }
    let mut all_live = HashSet::new();
    let mut profiles = Vec::new();
    for (name, snaps) in by_profile {
        let live = mark(repo, &snaps)?;
        let stored: u64 = live
            .iter()
            .filter_map(|id| sizes.get(id))
            .map(|(_, n)| u64::from(*n))
            .sum();
        let logical: u64 = snaps.iter().map(|s| s.manifest.summary.bytes).sum();
        profiles.push(ProfileUsage {
            profile: name,
            snapshots: snaps.len() as u64,
            logical_bytes: logical,
            stored_bytes: stored,
            dedup_ratio: ratio(logical, stored),
        });
        all_live.extend(live);
    }
    let live_bytes: u64 = all_live
        .iter()
        .filter_map(|id| sizes.get(id))
        .map(|(_, n)| u64::from(*n))
        .sum();
    let garbage_bytes = totals.stored_bytes.saturating_sub(live_bytes);
    Ok(Usage {
        totals,
        profiles,
        live_bytes,
        garbage_bytes,
        garbage_fraction: ratio(garbage_bytes, totals.stored_bytes),
    })
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// What [`make_room_if_low`] found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LowSpace {
    /// Free bytes on the repository's filesystem before.
    pub free: u64,
    /// Size of that filesystem.
    pub total: u64,
    /// Bytes gc reclaimed (0 when there was no garbage or gc could not run).
    pub reclaimed: u64,
}

/// When the repository's filesystem has less than
/// [`LOW_SPACE_FRACTION`](crate::space::LOW_SPACE_FRACTION) free, collects
/// garbage first if there is any (exclusive lock, waiting at most
/// `lock_wait`; a busy repository is left alone). Returns `None` when space
/// is not low.
///
/// # Errors
/// Opening the repository or gc failing for another reason than a held lock.
pub fn make_room_if_low(
    repo_path: &std::path::Path,
    lock_wait: std::time::Duration,
    unlock: Option<&snap_store::Unlock>,
) -> Result<Option<LowSpace>> {
    let Some((free, total)) = crate::space::is_low(repo_path) else {
        return Ok(None);
    };
    let mut low = LowSpace {
        free,
        total,
        reclaimed: 0,
    };
    let mut shared = snap_store::OpenOptions::shared("create");
    shared.wait = lock_wait;
    shared.unlock = unlock.cloned();
    if usage(&Repo::open(repo_path, &shared)?)?.garbage_bytes == 0 {
        return Ok(Some(low));
    }
    // gc may use the space reserve (it is put back after gc when it fits).
    let mut exclusive = snap_store::OpenOptions::exclusive("gc before create").freeing_space();
    exclusive.wait = lock_wait;
    exclusive.unlock = unlock.cloned();
    match Repo::open(repo_path, &exclusive) {
        Ok(repo) => {
            low.reclaimed = gc(&repo, &GcOptions::default())?
                .report
                .unwrap_or_default()
                .bytes_reclaimed
        }
        Err(Error::Store(snap_store::Error::Locked { .. })) => {}
        Err(e) => return Err(e),
    }
    Ok(Some(low))
}
