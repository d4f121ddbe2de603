//! Sync: one profile kept in step across machines through a shared
//! repository (a folder on a shared disk, or `s3://…`), the StakTrakr
//! seed's cloud sync without its "last writer wins".
//!
//! The shared repository holds, per profile, a head record
//! ([`head::Head`]: which snapshot is current, which device pushed it,
//! when, and the previous head), moved only by a compare-and-swap on the
//! object's version. Each device keeps a [`device::device_id`] and, per
//! profile, [`state::LastSynced`]: the head it last agreed with and the
//! local snapshot that stands for it.
//!
//! - [`push`] takes a snapshot of the profile if it changed, writes it
//!   (the profile's scope applied: excluded files dropped, JSON keys
//!   redacted) into the shared repository as a committed snapshot, then
//!   moves the head from `last_synced` to it. When the head moved
//!   meanwhile, nothing is overwritten: [`Error::SyncConflict`].
//! - [`pull`] restores the head in place when the local profile has no
//!   changes since `last_synced`, with the restore's undo point (the seed's
//!   override backup); files and JSON keys the pushing device's scope kept
//!   out come from the local profile. When both sides changed:
//!   [`Error::SyncConflict`] with what changed on each side, unless the
//!   caller chose [`Resolve::Theirs`] or [`Resolve::Ours`].
//! - [`status`] says, without writing anything, what push or pull would do.
//!
//! Conflicts are decided by the compare-and-swap on the head, never by
//! device ids or clocks.
//!
//! ```
//! use snap_engine::commands::sync::{self, PullAction, PushAction, SyncOptions};
//! use snap_engine::{CreateOptions, Repo};
//! use snap_store::OpenOptions;
//! # fn main() -> snap_engine::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let open = |p: &str| Repo::open_or_init(&dir.path().join(p), &OpenOptions::shared("doc"));
//! let (shared, repo_a, repo_b) = (open("shared")?, open("a")?, open("b")?);
//! let (pa, pb) = (dir.path().join("pa"), dir.path().join("pb"));
//! std::fs::create_dir(&pa).unwrap();
//! std::fs::create_dir(&pb).unwrap();
//! std::fs::write(pa.join("settings.json"), b"{\"theme\":\"dark\"}").unwrap();
//! snap_engine::create(&repo_a, &CreateOptions::new("app", &pa))?;
//!
//! // Device A pushes; device B pulls into its own folder (each local
//! // repository has its own device id).
//! let pushed = sync::push(&repo_a, &shared, &SyncOptions::new("app"))?;
//! assert_eq!(pushed.action, PushAction::Pushed);
//! let opts = SyncOptions { path: Some(pb.clone()), ..SyncOptions::new("app") };
//! let pulled = sync::pull(&repo_b, &shared, &opts)?;
//! assert_eq!(pulled.action, PullAction::Restored);
//! assert_eq!(std::fs::read(pb.join("settings.json")).unwrap(), b"{\"theme\":\"dark\"}");
//! # Ok(()) }
//! ```

pub mod device;
pub mod head;
mod merge;
mod pull;
mod push;
pub mod state;
mod status;
mod transfer;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use snap_store::SnapshotId;

use crate::commands::diff::{diff_trees, ChangeKind};
use crate::error::{Error, Result};
use crate::model::tree::Tree;
use crate::repo::Repo;

pub use crate::error::{Conflict, HeadInfo, SideChanges};
pub use device::device_id;
pub use pull::{pull, PullAction, PullReport};
pub use push::{push, PushAction, PushReport, Transfer};
pub use status::{status, SyncStatus, WouldDo};
pub use transfer::TAG_SYNC;

/// How a pull settles a conflict (both sides changed since the last sync).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolve {
    /// Report it ([`Error::SyncConflict`]); change nothing.
    #[default]
    Report,
    /// Take the shared head; the local state is kept as the undo point.
    Theirs,
    /// Push the local state over the head; the head replaced stays in the
    /// shared repository's history (the new head's `previous`).
    Ours,
}

/// How to push or pull.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The profile.
    pub profile: String,
    /// The profile's scope applied to what is pushed (`None`: the scope
    /// the last sync of this profile used, if any).
    pub scope: Option<String>,
    /// What a pull does when both sides changed.
    pub resolve: Resolve,
    /// For a pull into a profile this repository does not know yet: its
    /// directory (registered under the profile's name).
    pub path: Option<PathBuf>,
    /// The time recorded (`None`: now).
    pub now: Option<DateTime<Utc>>,
    /// How long to wait for locks.
    pub lock_wait: Duration,
    /// Restore in place even when another process has a file of the
    /// profile open.
    pub force: bool,
}

impl SyncOptions {
    /// Defaults for `profile`.
    pub fn new(profile: &str) -> Self {
        SyncOptions {
            profile: profile.into(),
            scope: None,
            resolve: Resolve::Report,
            path: None,
            now: None,
            lock_wait: Duration::from_secs(30),
            force: false,
        }
    }
}

impl From<&head::Head> for HeadInfo {
    fn from(h: &head::Head) -> Self {
        HeadInfo {
            snapshot: h.snapshot,
            short_id: h.snapshot.to_hex()[..8].to_string(),
            device: h.device.clone(),
            host: h.host.clone(),
            time: h.time.clone(),
            scope: h.scope.as_ref().map(|s| s.name.clone()),
        }
    }
}

/// How many paths [`SideChanges::paths`] lists.
const MAX_PATHS: usize = 10;

/// What changed between two trees (loaded with `load`).
fn side_changes(
    load: &dyn Fn(&snap_store::BlobId) -> Result<Tree>,
    old: Option<&snap_store::BlobId>,
    new: &snap_store::BlobId,
) -> Result<SideChanges> {
    let mut out = SideChanges::default();
    for c in diff_trees(load, old, Some(new))? {
        match c.kind {
            ChangeKind::Added => out.added += 1,
            ChangeKind::Modified => out.changed += 1,
            ChangeKind::Removed => out.removed += 1,
        }
        if out.paths.len() < MAX_PATHS {
            out.paths.push(format!("{} {}", c.kind.marker(), c.path));
        }
    }
    Ok(out)
}

/// The profile `name` of `local`, registering it with `path` when it is
/// not known yet and a path is given.
fn local_profile(local: &Repo, opts: &SyncOptions) -> Result<crate::model::profile::Profile> {
    if let Some(p) = &opts.path {
        std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        return Ok(crate::commands::registry::resolve_for_create(
            local,
            opts.lock_wait,
            Some(&opts.profile),
            Some(p),
        )?
        .0);
    }
    let (profiles, _) = crate::commands::registry::load(local, opts.lock_wait)?;
    profiles
        .get(&opts.profile)
        .cloned()
        .ok_or_else(|| Error::Invalid {
            what: "profile",
            value: opts.profile.clone(),
            reason: "no such profile in this repository (give its directory with --path)".into(),
        })
}

/// A snapshot of the profile now (none written when nothing changed).
fn snapshot_now(
    local: &Repo,
    profile: &crate::model::profile::Profile,
    now: Option<DateTime<Utc>>,
) -> Result<(crate::model::snapshot::SnapshotInfo, bool)> {
    let mut opts = crate::CreateOptions::new(&profile.name, &profile.path);
    opts.excludes = profile.excludes.clone();
    opts.now = now;
    let out = crate::create(local, &opts)?;
    let created = out.status == crate::CreateStatus::Created;
    let info = local
        .snapshots()?
        .into_iter()
        .find(|s| s.id == out.id)
        .ok_or_else(|| Error::Invalid {
            what: "snapshot",
            value: out.id.to_hex(),
            reason: "just written, but not listed".into(),
        })?;
    Ok((info, created))
}

/// The snapshot `id` of `repo`.
fn find(repo: &Repo, id: &SnapshotId) -> Result<Option<crate::model::snapshot::SnapshotInfo>> {
    Ok(repo.snapshots()?.into_iter().find(|s| s.id == *id))
}
