//! When `check` last ran on a repository, and what it found.
//!
//! `snap check` ends by writing `last-check.json` at the repository's
//! root (FORMAT.md "Last check"): the time, whether the data was read
//! (`--read-data`) and how many problems were found. `snap ui` and `snap
//! stats` show it. It is written with the one atomic write and sealed like
//! `profiles.json` in an encrypted repository, so nothing readable lands in
//! the repository directory. The record is informational: a missing,
//! damaged or foreign one reads as "never checked", and failing to write it
//! does not change what `check` reports.

use serde::{Deserialize, Serialize};
use snap_store::CheckReport;

use crate::error::Result;
use crate::repo::Repo;

/// The file, at the repository's root.
pub const LAST_CHECK_FILE: &str = "last-check.json";

/// The associated-data kind the file is sealed under when encrypted.
pub const LAST_CHECK_KIND: &str = "last-check";

/// The version of the record this build writes and reads.
const VERSION: u32 = 1;

/// The outcome of the last `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCheck {
    /// Always 1.
    pub version: u32,
    /// When the check finished (ms since the epoch, UTC).
    pub time_ms: i64,
    /// Whether every blob's data was read and verified (`--read-data`).
    pub read_data: bool,
    /// Whether it found nothing wrong.
    pub ok: bool,
    /// How many problems it found.
    pub problems: u64,
    /// Packs examined.
    pub packs: u64,
    /// Snapshots examined.
    pub snapshots: u64,
}

impl LastCheck {
    /// The record of a finished check.
    pub fn of(report: &CheckReport, read_data: bool, time_ms: i64) -> Self {
        LastCheck {
            version: VERSION,
            time_ms,
            read_data,
            ok: report.problems.is_empty(),
            problems: report.problems.len() as u64,
            packs: report.packs,
            snapshots: report.snapshots,
        }
    }
}

/// Writes `check` as the repository's last check (atomically; sealed in an
/// encrypted repository).
///
/// # Errors
/// I/O errors writing the file (the previous record is then unchanged).
pub fn record(repo: &Repo, check: &LastCheck) -> Result<()> {
    let store = repo.store();
    let json = serde_json::to_vec_pretty(check).expect("last check serialises");
    store.write_repo_file(
        &store.root().join(LAST_CHECK_FILE),
        &store.seal_file(LAST_CHECK_KIND, &json),
    )?;
    Ok(())
}

/// The repository's last check: `None` when it was never checked, or when
/// the record cannot be read, does not authenticate or is of another version.
pub fn load(repo: &Repo) -> Option<LastCheck> {
    let store = repo.store();
    let path = store.root().join(LAST_CHECK_FILE);
    let bytes = store.read_repo_file(&path).ok()?;
    let plain = store.open_file(LAST_CHECK_KIND, &path, &bytes).ok()?;
    serde_json::from_slice::<LastCheck>(&plain)
        .ok()
        .filter(|c| c.version == VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snap_store::OpenOptions;

    #[test]
    fn records_and_loads_and_ignores_a_foreign_version() {
        let t = tempfile::tempdir().unwrap();
        let repo = Repo::open_or_init(&t.path().join("r"), &OpenOptions::shared("t")).unwrap();
        assert_eq!(load(&repo), None);
        let report = CheckReport {
            packs: 3,
            ..Default::default()
        };
        let c = LastCheck::of(&report, true, 42);
        record(&repo, &c).unwrap();
        assert_eq!(load(&repo), Some(c.clone()));
        assert!(c.ok && c.read_data);
        let path = t.path().join("r").join(LAST_CHECK_FILE);
        std::fs::write(&path, br#"{"version":2,"time_ms":1}"#).unwrap();
        assert_eq!(load(&repo), None);
    }
}
