//! `last_synced`: per profile and shared repository, what this device
//! last agreed with the shared repository on (FORMAT.md "Sync heads"),
//! kept in the LOCAL repository as `sync/<16 hex>` (sealed, kind `sync`,
//! in an encrypted repository).
//!
//! A push or pull first records what it is about to make true
//! (`pending`), then does it (moves the head, or restores in place), then
//! records it as done. A crash in between leaves `pending`, and
//! [`LastSynced::effective`] adopts it when the shared head or the local
//! profile shows that the step did happen, so a crash never leaves a
//! device in conflict with itself.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use snap_store::backend::Version;
use snap_store::{fsutil, SnapshotId};

use crate::error::{Error, Result};
use crate::repo::Repo;

/// The folder of `last_synced` records in the local repository.
pub const SYNC_DIR: &str = "sync";
/// The kind a record is sealed under in an encrypted repository.
pub const SYNC_KIND: &str = "sync";
/// The record version this build writes and reads.
pub const SYNC_VERSION: u32 = 1;

/// Which step a pending record stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// A push: the shared head is about to move to `head`.
    Push,
    /// A pull: the local profile is about to become `local_digest`.
    Pull,
}

/// One agreed state: the shared head and the local snapshot it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synced {
    /// The head's snapshot in the shared repository.
    pub head: SnapshotId,
    /// The head's version when it was seen (an ETag, a content hash).
    pub head_version: Option<Version>,
    /// The local snapshot the head corresponds to.
    pub local_snapshot: SnapshotId,
    /// Its content digest (64 hex): the local profile "has changes" when
    /// its digest differs.
    pub local_digest: String,
}

/// The `last_synced` record of a profile and a shared repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSynced {
    /// Always [`SYNC_VERSION`].
    pub version: u32,
    /// The profile.
    pub profile: String,
    /// Where the shared repository is (a directory or `s3://…`).
    pub repo: String,
    /// The shared repository's id (`config.json`).
    pub repo_id: String,
    /// The scope pushes use (`--scope`), if any.
    pub scope: Option<String>,
    /// When it was written (RFC 3339, UTC).
    pub time: String,
    /// The last state both sides agreed on (`None` before the first
    /// completed push or pull).
    pub synced: Option<Synced>,
    /// A step begun and perhaps not finished.
    pub pending: Option<(Step, Synced)>,
}

impl LastSynced {
    /// A record with nothing synced yet.
    pub fn new(profile: &str, shared: &Repo) -> Self {
        LastSynced {
            version: SYNC_VERSION,
            profile: profile.into(),
            repo: shared.store().storage().location().to_string(),
            repo_id: shared.store().config().id.clone(),
            scope: None,
            time: rfc3339(Utc::now()),
            synced: None,
            pending: None,
        }
    }

    /// The agreed state, adopting a pending step that did happen: a push
    /// whose snapshot is the shared head now, or a pull whose content is
    /// the local profile's now (`local_digest`).
    pub fn effective(&self, head: Option<&SnapshotId>, local_digest: &str) -> Option<Synced> {
        match &self.pending {
            Some((Step::Push, p)) if head == Some(&p.head) => Some(p.clone()),
            Some((Step::Pull, p)) if head == Some(&p.head) && p.local_digest == local_digest => {
                Some(p.clone())
            }
            _ => self.synced.clone(),
        }
    }
}

/// The file of the record of `profile` and the shared repository `repo_id`.
fn path_of(local: &Repo, profile: &str, repo_id: &str) -> std::path::PathBuf {
    let h = blake3::hash(format!("{profile}\0{repo_id}").as_bytes());
    local.store().root().join(SYNC_DIR).join(&h.to_hex()[..16])
}

/// The record of `profile` with `shared`, if any.
///
/// # Errors
/// I/O errors; [`Error::Format`] for a record that does not open or parse.
pub fn load(local: &Repo, profile: &str, shared: &Repo) -> Result<Option<LastSynced>> {
    let path = path_of(local, profile, &shared.store().config().id);
    read(local, &path)
}

fn read(local: &Repo, path: &std::path::Path) -> Result<Option<LastSynced>> {
    let bytes = match local.store().read_repo_file(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let plain = local.store().open_file(SYNC_KIND, path, &bytes)?;
    let rec: LastSynced = serde_json::from_slice(&plain).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        detail: format!("last_synced record does not parse: {e}"),
    })?;
    if rec.version != SYNC_VERSION {
        return Err(Error::Format {
            path: path.to_path_buf(),
            detail: format!("last_synced version {} is not supported", rec.version),
        });
    }
    Ok(Some(rec))
}

/// Every record in `local` (unreadable ones are reported as errors).
///
/// # Errors
/// I/O errors listing the folder; those of reading each record.
pub fn load_all(local: &Repo) -> Result<Vec<LastSynced>> {
    let dir = local.store().root().join(SYNC_DIR);
    let mut out = Vec::new();
    let mut names = local.store().list_repo_dir(&dir)?;
    names.sort();
    for name in names {
        if name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Some(r) = read(local, &dir.join(&name))? {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Writes `rec` atomically (the old record or the new one after a crash).
///
/// # Errors
/// I/O errors naming the file.
pub fn save(local: &Repo, rec: &LastSynced) -> Result<()> {
    let path = path_of(local, &rec.profile, &rec.repo_id);
    fsutil::create_dir_durable(fsutil::parent_dir(&path))?;
    let json = serde_json::to_vec_pretty(rec).expect("last_synced serialises");
    local
        .store()
        .write_repo_file(&path, &local.store().seal_file(SYNC_KIND, &json))?;
    Ok(())
}

/// `t` as RFC 3339 with milliseconds, UTC.
pub(crate) fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
