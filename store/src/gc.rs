//! Pack-level garbage collection: given the set of live blobs (the engine
//! marks them from the snapshots), delete packs that hold no live blob and
//! repack packs that are mostly garbage.
//!
//! # Order of operations (crash safety)
//!
//! [`execute`] requires the exclusive repository lock, so no other process
//! reads or writes blobs meanwhile. It proceeds in steps; a crash (or
//! kill -9, or power cut) between any two leaves every live blob readable:
//!
//! 1. **Drop dead packs.** Packs without a live blob are removed (each
//!    followed by an fsync of its directory), then their rows leave the
//!    index in one transaction. This needs no new space, so it runs first:
//!    on a full disk it is what makes room for the rest.
//!    *Crash here:* the index lists packs whose files are gone; the next
//!    open notices and rebuilds the index from the pack files.
//! 2. **Copy.** The live blobs of the packs to repack are read, verified
//!    against their ids, and their stored bytes (same codec, same nonce)
//!    are written into new packs, each made durable by `atomic_write`
//!    (tmp file, fsync, rename, fsync of the directory). The index is not
//!    touched. When the disk has no room for the copies (plus the space
//!    reserve), the repack is skipped and reported, not attempted.
//!    *Crash here:* the new packs are orphans; the next open indexes them
//!    as duplicates (the index keeps the first copy, in the old pack), and
//!    the next gc deletes them as packs without an indexed blob.
//! 3. **Relocate.** One SQLite transaction records the new packs and points
//!    every copied blob at its new location. (Before any of this, the engine
//!    drops the stat-cache entries that name blobs about to be deleted, so a
//!    later `create` cannot reuse ids of data that is gone.)
//!    *Crash here:* the transaction either committed or did not; both states
//!    are complete.
//! 4. **Delete.** The repacked pack files are removed, each followed by an
//!    fsync of its directory. Only dead blobs, or blobs that now have a
//!    durable indexed copy, go away. *Crash here:* as in step 1.
//! 5. **Forget.** The deleted packs' rows (and the rows of their dead
//!    blobs) are removed from the index in one transaction.
//!
//! Nothing is ever modified in place; a pack is only deleted after every
//! live blob it holds exists durably elsewhere and the index says so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::lock::LockMode;
use crate::pack::{format, reader, PackEntry};
use crate::repo::Repository;

/// Default live fraction (by stored bytes) below which a pack is repacked.
pub const DEFAULT_REPACK_THRESHOLD: f64 = 0.5;

/// How one pack is used.
#[derive(Debug, Clone, Serialize)]
pub struct PackUsage {
    /// The pack.
    pub pack: PackId,
    /// Its size on disk.
    pub size: u64,
    /// Blobs indexed in it that are still referenced.
    pub live_blobs: u64,
    /// Stored bytes of those blobs.
    pub live_bytes: u64,
    /// Blobs indexed in it that nothing references.
    pub dead_blobs: u64,
    /// Stored bytes of those blobs.
    pub dead_bytes: u64,
    /// The live entries (what a repack copies).
    #[serde(skip)]
    pub live: Vec<PackEntry>,
}

/// What gc would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcPlan {
    /// Packs without a live blob: deleted.
    pub delete: Vec<PackUsage>,
    /// Packs whose live fraction is under the threshold: repacked.
    pub repack: Vec<PackUsage>,
    /// Packs left as they are.
    pub keep_packs: u64,
    /// Live blobs that the index does not hold (damage: gc refuses to run).
    pub missing: Vec<BlobId>,
    /// Bytes of all packs before.
    pub pack_bytes_before: u64,
    /// Stored bytes of unreferenced blobs (all packs).
    pub garbage_bytes: u64,
    /// Bytes the plan frees (deleted packs plus the garbage in repacked
    /// ones; the new packs' headers are not subtracted).
    pub reclaimable_bytes: u64,
}

impl GcPlan {
    /// Whether executing the plan would change anything.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.repack.is_empty()
    }
}

/// What gc did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// Packs deleted because they held no live blob.
    pub packs_deleted: u64,
    /// Packs whose live blobs were copied out before they were deleted.
    pub packs_repacked: u64,
    /// Packs not repacked because the disk had no room for the copies.
    pub packs_repack_skipped: u64,
    /// New packs written by the repack.
    pub packs_written: u64,
    /// Live blobs copied.
    pub blobs_copied: u64,
    /// Unreferenced blobs removed.
    pub blobs_removed: u64,
    /// Pack bytes before.
    pub pack_bytes_before: u64,
    /// Pack bytes after.
    pub pack_bytes_after: u64,
    /// `pack_bytes_before - pack_bytes_after`.
    pub bytes_reclaimed: u64,
}

/// Every indexed blob with its pack and stored length.
///
/// # Errors
/// [`Error::Index`].
pub fn blob_sizes(repo: &Repository) -> Result<HashMap<BlobId, (PackId, u32)>> {
    Ok(repo
        .index()?
        .blob_rows()?
        .into_iter()
        .map(|(p, e)| (e.id, (p, e.stored_len)))
        .collect())
}

/// Plans a collection: which packs to delete and which to repack, given the
/// blobs that are `live` and the live fraction under which a pack is
/// repacked (`threshold`, 0.0–1.0). Changes nothing.
///
/// # Errors
/// [`Error::Index`].
pub fn plan(repo: &Repository, live: &HashSet<BlobId>, threshold: f64) -> Result<GcPlan> {
    let idx = repo.index()?;
    let packs: Vec<(PackId, u64)> = idx.packs()?;
    let rows = idx.blob_rows()?;
    drop(idx);
    let mut usage: BTreeMap<PackId, PackUsage> = packs
        .iter()
        .map(|(id, size)| {
            (
                *id,
                PackUsage {
                    pack: *id,
                    size: *size,
                    live_blobs: 0,
                    live_bytes: 0,
                    dead_blobs: 0,
                    dead_bytes: 0,
                    live: Vec::new(),
                },
            )
        })
        .collect();
    let mut indexed = HashSet::with_capacity(rows.len());
    let mut plan = GcPlan::default();
    for (pack, e) in rows {
        indexed.insert(e.id);
        let Some(u) = usage.get_mut(&pack) else {
            continue;
        };
        if live.contains(&e.id) {
            u.live_blobs += 1;
            u.live_bytes += u64::from(e.stored_len);
            u.live.push(e);
        } else {
            u.dead_blobs += 1;
            u.dead_bytes += u64::from(e.stored_len);
            plan.garbage_bytes += u64::from(e.stored_len);
        }
    }
    plan.missing = live
        .iter()
        .filter(|id| !indexed.contains(*id))
        .copied()
        .collect();
    plan.missing.sort();
    for (_, mut u) in usage {
        plan.pack_bytes_before += u.size;
        if u.live_blobs == 0 {
            plan.reclaimable_bytes += u.size;
            plan.delete.push(u);
        } else if (u.live_bytes as f64) < threshold * u.size as f64 {
            plan.reclaimable_bytes += u.size.saturating_sub(u.live_bytes);
            u.live.sort_by_key(|e| e.offset);
            plan.repack.push(u);
        } else {
            plan.keep_packs += 1;
        }
    }
    Ok(plan)
}

struct NewPack {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl NewPack {
    fn new(encrypted: bool) -> Self {
        Self {
            buf: format::prefix_with(encrypted).to_vec(),
            entries: Vec::new(),
        }
    }
}

/// Carries out `plan` in the order described in the module documentation.
/// Requires the repository to be open with the exclusive lock.
///
/// # Errors
/// [`Error::Invalid`] without the exclusive lock or when live blobs are
/// missing (nothing is changed then); [`Error::BlobDamaged`] when a live
/// blob to copy is damaged (nothing is deleted then); I/O and index errors.
pub fn execute(repo: &Repository, plan: &GcPlan) -> Result<GcReport> {
    if repo.lock_mode() != LockMode::Exclusive {
        return Err(Error::Invalid {
            what: "gc",
            detail: "needs the exclusive repository lock".into(),
        });
    }
    if let Some(first) = plan.missing.first() {
        return Err(Error::Invalid {
            what: "repository",
            detail: format!(
                "{} blob(s) referenced by snapshots are not stored (first: {first}); \
                 gc refuses to delete anything: run `snap check`",
                plan.missing.len()
            ),
        });
    }
    let mut report = GcReport {
        pack_bytes_before: plan.pack_bytes_before,
        ..GcReport::default()
    };
    if plan.is_empty() {
        report.pack_bytes_after = plan.pack_bytes_before;
        return Ok(report);
    }
    // 1. Packs without a live blob: no copy needed, and it frees room.
    let dead: Vec<PackId> = plan.delete.iter().map(|u| u.pack).collect();
    remove_packs(repo, &dead)?;
    report.blobs_removed += plan.delete.iter().map(|u| u.dead_blobs).sum::<u64>();
    let copy_bytes: u64 = plan.repack.iter().map(|u| u.live_bytes).sum();
    let free = if repo.is_local() {
        crate::reserve::free_bytes(repo.root()).unwrap_or(u64::MAX)
    } else {
        u64::MAX // an object store has no disk to fill
    };
    let repack: &[PackUsage] = if free < copy_bytes + copy_bytes / 64 + crate::reserve::RESERVE_LEN
    {
        report.packs_repack_skipped = plan.repack.len() as u64;
        &[]
    } else {
        &plan.repack
    };
    // 2. Copy the live blobs of the packs to repack into new durable packs.
    let target = repo.config().pack_target_size;
    let mut written: Vec<(PackId, u64, Vec<PackEntry>)> = Vec::new();
    let mut open = NewPack::new(repo.is_encrypted());
    let seal = |open: NewPack, written: &mut Vec<(PackId, u64, Vec<PackEntry>)>| {
        if open.entries.is_empty() {
            return Ok::<(), Error>(());
        }
        let mut buf = open.buf;
        buf.extend_from_slice(&format::encode_header_and_trailer_with(
            &open.entries,
            repo.keys(),
        ));
        let id = repo.write_pack(&buf)?;
        written.push((id, buf.len() as u64, open.entries));
        Ok(())
    };
    for u in repack {
        let path = repo.pack_path(&u.pack);
        let file = match repo.is_local() {
            true => Some(File::open(&path).map_err(|e| Error::io(&path, e))?),
            false => None,
        };
        for e in &u.live {
            let stored = repo.storage().pack_range(
                &u.pack,
                file.as_ref(),
                e.offset,
                e.stored_len as usize,
            )?;
            reader::decode_blob(&stored, &u.pack, e, repo.keys())?;
            let offset = open.buf.len() as u64;
            open.buf.extend_from_slice(&stored);
            open.entries.push(PackEntry { offset, ..*e });
            report.blobs_copied += 1;
            if open.buf.len() as u64 >= target {
                seal(
                    std::mem::replace(&mut open, NewPack::new(repo.is_encrypted())),
                    &mut written,
                )?;
            }
        }
    }
    seal(open, &mut written)?;
    report.packs_written = written.len() as u64;
    // 3. Point the copied blobs at their new packs.
    if !written.is_empty() {
        repo.index()?.relocate(&written)?;
    }
    // 4. and 5. Delete the repacked pack files (never one that was just
    // written) and forget them.
    let new_ids: HashSet<PackId> = written.iter().map(|(id, _, _)| *id).collect();
    let repacked: Vec<PackId> = repack
        .iter()
        .map(|u| u.pack)
        .filter(|p| !new_ids.contains(p))
        .collect();
    remove_packs(repo, &repacked)?;
    report.blobs_removed += repack.iter().map(|u| u.dead_blobs).sum::<u64>();
    report.packs_deleted = plan.delete.len() as u64;
    report.packs_repacked = repack.len() as u64;
    report.pack_bytes_after = repo.index()?.packs()?.iter().map(|(_, s)| s).sum();
    report.bytes_reclaimed = report
        .pack_bytes_before
        .saturating_sub(report.pack_bytes_after);
    Ok(report)
}

/// Removes pack files durably, then their rows from the index.
fn remove_packs(repo: &Repository, packs: &[PackId]) -> Result<()> {
    if packs.is_empty() {
        return Ok(());
    }
    for p in packs {
        // On an object store: only while the exclusive lease surely runs
        // (FORMAT.md 17.3); a gc that lost it stops before the next delete.
        repo.ensure_lock()?;
        repo.storage().remove(&crate::storage::pack_key(p))?;
        repo.lock_still_held()?;
    }
    repo.forget_open_packs();
    repo.index()?.remove_packs(packs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobKind, InitOptions, OpenOptions};

    #[test]
    fn repack_keeps_live_blobs_and_drops_dead_ones() {
        let dir = tempfile::tempdir().unwrap();
        Repository::init(dir.path(), &InitOptions::default()).unwrap();
        let repo = Repository::open(dir.path(), &OpenOptions::exclusive("test")).unwrap();
        let w = repo.writer();
        let mut ids = Vec::new();
        for i in 0..10u32 {
            let data: Vec<u8> = (0..5000u32).map(|j| (j * 7 + i * 13) as u8).collect();
            ids.push(w.put(BlobKind::Data, &data).unwrap().0);
        }
        w.finish().unwrap();
        let w = repo.writer();
        let only_dead = w.put(BlobKind::Data, b"dead pack").unwrap().0;
        w.finish().unwrap();
        let live: HashSet<BlobId> = ids[..2].iter().copied().collect();
        let p = plan(&repo, &live, DEFAULT_REPACK_THRESHOLD).unwrap();
        assert_eq!(p.delete.len(), 1);
        assert_eq!(p.repack.len(), 1);
        let r = execute(&repo, &p).unwrap();
        assert_eq!(r.packs_written, 1);
        assert!(r.bytes_reclaimed > 0);
        for id in &ids[..2] {
            assert!(repo.read_blob(id).is_ok());
        }
        assert!(!repo.has_blob(&ids[5]).unwrap());
        assert!(!repo.has_blob(&only_dead).unwrap());
        let c = crate::check(&repo, crate::CheckOptions { read_data: true }).unwrap();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        // Nothing left to do.
        assert!(plan(&repo, &live, DEFAULT_REPACK_THRESHOLD)
            .unwrap()
            .is_empty());
    }
}
