//! Recreating the index from `packs/` and `snapshots/` alone.

use std::fs;

use super::Index;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::id::SnapshotId;
use crate::layout::Places;
use crate::storage::{open_snapshot, snapshot_key, Storage};

/// What a rebuild found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RebuildReport {
    /// Packs indexed.
    pub packs: u64,
    /// Blob entries indexed.
    pub blobs: u64,
    /// Snapshots indexed.
    pub snapshots: u64,
    /// Damaged packs or snapshots that were left out, one line each.
    pub skipped: Vec<String>,
}

/// Builds a fresh index of the repository in `storage` in the scratch
/// folder, then renames
/// it over `index.sqlite` (after removing the old WAL files, which belong to
/// the old index).
///
/// # Errors
/// I/O or index errors; the old index is untouched unless the rename happened.
pub(crate) fn rebuild_into_place(
    storage: &Storage,
    places: &Places,
    keys: Option<&Keys>,
) -> Result<RebuildReport> {
    let tmp = tempfile::Builder::new()
        .prefix("index-rebuild-")
        .suffix(".sqlite")
        .tempfile_in(&places.scratch)
        .map_err(|e| Error::io(&places.scratch, e))?
        .into_temp_path();
    fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut idx = Index::create(&tmp)?;
    let mut report = RebuildReport::default();
    let mut batch = Vec::new();
    let mut packs: Vec<_> = storage.list_packs()?.into_iter().collect();
    packs.sort();
    let headers = storage.pack_headers(&packs, keys);
    for ((id, size), header) in packs.into_iter().zip(headers) {
        match header {
            Ok(entries) => {
                report.packs += 1;
                report.blobs += entries.len() as u64;
                batch.push((id, size, entries));
                if batch.len() >= 64 {
                    idx.add_packs(&batch)?;
                    batch.clear();
                }
            }
            // An I/O error is not damage: leaving the pack out would make
            // its blobs look lost. Fail, and keep the old index.
            Err(e @ Error::Io { .. }) => return Err(e),
            Err(e) => report
                .skipped
                .push(format!("pack left out of the index: {e}")),
        }
    }
    idx.add_packs(&batch)?;
    let mut snaps: Vec<SnapshotId> = storage.list_snapshots()?.into_iter().collect();
    snaps.sort();
    for id in snaps {
        let key = snapshot_key(&id);
        let path = storage.display_path(&key);
        let Some(bytes) = storage.read_opt(&key)? else {
            continue; // deleted since it was listed
        };
        let record = match open_snapshot(keys, &path, &id, &bytes) {
            Ok(r) => r,
            Err(e) => {
                report
                    .skipped
                    .push(format!("snapshot left out of the index: {e}"));
                continue;
            }
        };
        idx.add_snapshot(&id, &record)?;
        report.snapshots += 1;
    }
    idx.close()?;
    let dest = places.index.clone();
    for side in ["-wal", "-shm", "-journal"] {
        let mut p = dest.clone().into_os_string();
        p.push(side);
        let p = std::path::PathBuf::from(p);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    let f = fsutil::open_read(&tmp)?;
    crate::fault::sync_all(&f).map_err(|e| Error::io(&tmp, e))?;
    crate::fault::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    tmp.keep().map_err(|e| Error::io(&dest, e.error))?;
    fsutil::sync_dir(fsutil::parent_dir(&dest))?;
    Ok(report)
}
