//! `exports.json`: the last export of each (destination, scope), for
//! `--if-changed`. A cache, not truth: losing it only means the next
//! export is written again.
//!
//! A record must never claim content the destination does not hold (an
//! `--if-changed` export would then wrongly skip), so an export first
//! [`forget`]s the destination's record, then writes the file, then
//! [`record`]s it: if that last step fails the file is still right and
//! the cache merely lacks it.
//!
//! ```json
//! {"version": 1, "exports": [{"dest": "/abs/path.zip", "scope": "sync",
//!   "files_digest": "<blake3 hex>", "snapshot": "<id hex>", "time_ms": 0}]}
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use snap_store::LockMode;

use super::{export_snapshot_to_file_with, ExportOptions, FileExport, FileFormat};
use crate::model::snapshot::SnapshotInfo;
use crate::repo::Repo;
use crate::{Error, Result};

/// The file's name in the repository.
pub const EXPORTS_FILE: &str = "exports.json";
const VERSION: u32 = 1;

/// One remembered export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// The destination, absolute.
    pub dest: String,
    /// The scope's name (`""` for an export without `--scope`).
    pub scope: String,
    /// [`super::ExportSummary::files_digest`] of what was written.
    pub files_digest: String,
    /// The snapshot exported (hex id).
    pub snapshot: String,
    /// When, ms since the epoch.
    pub time_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    exports: Vec<ExportRecord>,
}

/// The absolute form of `dest` recorded in the file (its directory made
/// canonical when it exists).
pub fn record_key(dest: &Path) -> String {
    let abs = match dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => std::fs::canonicalize(p)
            .map(|c| c.join(dest.file_name().unwrap_or_default()))
            .unwrap_or_else(|_| dest.to_path_buf()),
        None => std::env::current_dir()
            .map(|c| c.join(dest))
            .unwrap_or_else(|_| dest.to_path_buf()),
    };
    abs.to_string_lossy().into_owned()
}

/// The associated-data kind of `exports.json` when sealed.
pub const EXPORTS_KIND: &str = "exports";

fn load(store: &snap_store::Repository) -> Vec<ExportRecord> {
    let path = store.root().join(EXPORTS_FILE);
    store
        .read_repo_file(&path)
        .ok()
        .and_then(|b| store.open_file(EXPORTS_KIND, &path, &b).ok())
        .and_then(|b| serde_json::from_slice::<File>(&b).ok())
        .filter(|f| f.version == VERSION)
        .map(|f| f.exports)
        .unwrap_or_default()
}

/// The files digest of the last export of `scope` to `dest`, if any.
pub fn last_digest(repo: &Repo, dest: &Path, scope: &str) -> Option<String> {
    let key = record_key(dest);
    load(repo.store())
        .into_iter()
        .find(|r| r.dest == key && r.scope == scope)
        .map(|r| r.files_digest)
}

/// Records an export, replacing the previous one of the same destination
/// and scope; written atomically under the `exports` lock.
///
/// # Errors
/// Lock and I/O errors.
pub fn record(repo: &Repo, rec: ExportRecord) -> Result<()> {
    update(repo, &rec.dest.clone(), &rec.scope.clone(), Some(rec))
}

/// Removes the record of `dest` (any scope: the file is about to change
/// whatever the scope), before the file is written. Writes nothing when
/// there is none.
///
/// # Errors
/// Lock and I/O errors.
pub fn forget(repo: &Repo, dest: &Path) -> Result<()> {
    update(repo, &record_key(dest), "", None)
}

/// Replaces the record of (`dest`, `scope`) by `rec` (`None`: removes
/// every record of `dest`), under the `exports` lock.
fn update(repo: &Repo, dest: &str, scope: &str, rec: Option<ExportRecord>) -> Result<()> {
    let store = repo.store();
    let _lock = store.lock_named(
        "exports",
        LockMode::Exclusive,
        "export",
        Duration::from_secs(30),
    )?;
    let root: PathBuf = store.root().to_path_buf();
    let mut all = load(store);
    let before = all.len();
    match rec {
        Some(rec) => {
            all.retain(|r| !(r.dest == dest && r.scope == scope));
            all.push(rec);
        }
        None => {
            all.retain(|r| r.dest != dest);
            if all.len() == before {
                return Ok(());
            }
        }
    }
    let bytes = serde_json::to_vec_pretty(&File {
        version: VERSION,
        exports: all,
    })
    .map_err(|e| Error::Format {
        path: root.join(EXPORTS_FILE),
        detail: e.to_string(),
    })?;
    let bytes = store.seal_file(EXPORTS_KIND, &bytes);
    store.write_repo_file(&root.join(EXPORTS_FILE), &bytes)?;
    Ok(())
}

/// What [`export_recorded`] did.
#[derive(Debug, Clone)]
pub struct RecordedExport {
    /// The export (`written` false when `--if-changed` found it unchanged).
    pub export: FileExport,
    /// Past the commit point (the file complete and durable): the record
    /// could not be written. The file is right; the next `--if-changed`
    /// export writes it again.
    pub warnings: Vec<String>,
}

/// Where [`export_recorded`] writes, and how it consults `exports.json`.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// The file written.
    pub path: &'a Path,
    /// The scope's name (`""` without `--scope`).
    pub scope: &'a str,
    /// Skip when the last export here has the same content.
    pub if_changed: bool,
    /// The time recorded, ms since the epoch.
    pub time_ms: i64,
}

/// Exports `snap` to `to.path` with its `exports.json` protocol: with
/// `if_changed`, skipped when the last export of (`dest`, `scope`) has the
/// same content; otherwise the destination's record is forgotten before
/// the file changes and the new one recorded after it is durable (a
/// failure of that last step is a warning, never a failure).
///
/// # Errors
/// Those of [`export_snapshot_to_file_with`]; then `dest` is as it was.
pub fn export_recorded(
    repo: &Repo,
    snap: &SnapshotInfo,
    options: &ExportOptions,
    format: FileFormat<'_>,
    to: Destination<'_>,
) -> Result<RecordedExport> {
    let Destination {
        path: dest,
        scope,
        if_changed,
        time_ms,
    } = to;
    let unless = if if_changed {
        last_digest(repo, dest, scope)
    } else {
        None
    };
    let export =
        export_snapshot_to_file_with(repo, snap, options, format, dest, unless.as_deref(), || {
            forget(repo, dest)
        })?;
    let mut warnings = Vec::new();
    if export.written {
        let recorded = snap_store::fault::in_cleanup(|| {
            record(
                repo,
                ExportRecord {
                    dest: record_key(dest),
                    scope: scope.to_string(),
                    files_digest: export.zip.files_digest.clone(),
                    snapshot: snap.id.to_hex(),
                    time_ms,
                },
            )
        });
        if let Err(e) = recorded {
            warnings.push(format!(
                "{} was written, but it could not be recorded for --if-changed ({e}); the next --if-changed export will write it again",
                dest.display()
            ));
        }
    }
    Ok(RecordedExport { export, warnings })
}
