//! `sync status`: for each synced profile, what changed on each side since
//! the last sync and what a push or pull would do. Reads only: the live
//! profile is compared with the last synced snapshot without storing
//! anything ([`LiveTree`]).

use serde::Serialize;
use snap_store::SnapshotId;

use super::state::{self, LastSynced};
use super::{find, head, side_changes, HeadInfo, SideChanges};
use crate::error::Result;
use crate::repo::Repo;
use crate::source::filter::Filter;
use crate::source::live::LiveTree;

/// What a sync would do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WouldDo {
    /// Both sides are as last synced.
    Nothing,
    /// Only the local profile changed: `push`.
    Push,
    /// Only the head moved: `pull`.
    Pull,
    /// Both changed: `pull --theirs` or `pull --ours` must choose.
    Conflict,
}

/// The sync state of one profile with one shared repository.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    /// The profile.
    pub profile: String,
    /// The shared repository.
    pub repo: String,
    /// The head now (`None`: nothing pushed yet).
    pub head: Option<HeadInfo>,
    /// The head this device last synced.
    pub last_synced: Option<SnapshotId>,
    /// Whether the head moved since.
    pub remote_moved: bool,
    /// Whether the local profile changed since.
    pub local_changed: bool,
    /// The local changes.
    pub local: Option<SideChanges>,
    /// What push or pull would do.
    pub would: WouldDo,
}

/// The status of `profile` (when given) or of every profile `local` has
/// synced with `shared`.
///
/// # Errors
/// Reading the records, the heads, the profiles or the live folder.
pub fn status(local: &Repo, shared: &Repo, profile: Option<&str>) -> Result<Vec<SyncStatus>> {
    let id = &shared.store().config().id;
    let mut records: Vec<LastSynced> = state::load_all(local)?
        .into_iter()
        .filter(|r| &r.repo_id == id && profile.is_none_or(|p| p == r.profile))
        .collect();
    if let Some(p) = profile {
        if records.is_empty() {
            records.push(LastSynced::new(p, shared));
        }
    }
    let (profiles, _) = crate::commands::registry::load(local, std::time::Duration::from_secs(30))?;
    let mut out = Vec::new();
    for rec in records {
        let head = head::read(shared, &rec.profile)?.map(|(h, _)| h);
        let synced = rec.effective(head.as_ref().map(|h| &h.snapshot), "");
        let remote_moved = match (&head, &synced) {
            (None, _) => false,
            (Some(h), Some(s)) => h.snapshot != s.head,
            (Some(_), None) => true,
        };
        let mut local_side = None;
        let local_changed = match profiles.get(&rec.profile) {
            None => false,
            Some(p) => {
                let filter = Filter::new(&p.excludes)?;
                let old = match &synced {
                    Some(s) => find(local, &s.local_snapshot)?.map(|s| s.manifest.tree),
                    None => None,
                };
                let live = LiveTree::build(local, &p.path, &filter, old.as_ref())?;
                let changes = side_changes(&live.load(local), old.as_ref(), &live.root)?;
                let changed = changes.added + changes.changed + changes.removed > 0;
                local_side = Some(changes);
                changed
            }
        };
        let would = match (remote_moved, local_changed) {
            (true, true) => WouldDo::Conflict,
            (true, false) => WouldDo::Pull,
            (false, true) => WouldDo::Push,
            (false, false) if head.is_none() => WouldDo::Push,
            (false, false) => WouldDo::Nothing,
        };
        out.push(SyncStatus {
            profile: rec.profile.clone(),
            repo: shared.store().storage().location().to_string(),
            head: head.as_ref().map(Into::into),
            last_synced: synced.map(|s| s.head),
            remote_moved,
            local_changed,
            local: local_side,
            would,
        });
    }
    Ok(out)
}
