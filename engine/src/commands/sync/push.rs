//! `sync push`: the profile's state into the shared repository, then the
//! head moved to it with a compare-and-swap.
//!
//! Order (FORMAT.md "Sync heads"): a local snapshot if the profile
//! changed; the pushed snapshot committed in the shared repository; the
//! local `last_synced` marked pending; the head swapped; `last_synced`
//! marked done. The head only ever names a snapshot already committed.

use chrono::Utc;
use serde::Serialize;
use snap_store::backend::Version;
use snap_store::SnapshotId;

use super::head::{self, Head, HeadScope, HEAD_VERSION};
use super::state::{self, LastSynced, Step, Synced};
use super::transfer::{self, Send};
use super::{find, local_profile, side_changes, snapshot_now, Conflict, SyncOptions};
use crate::error::{Error, Result};
use crate::export::{build_globs, ExportKind, ExportOptions, SnapshotView};
use crate::model::profile::Profile;
use crate::model::snapshot::SnapshotInfo;
use crate::repo::Repo;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushAction {
    /// The head now names the pushed snapshot.
    Pushed,
    /// Nothing changed on either side since the last sync.
    UpToDate,
}

/// What [`push`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The profile.
    pub profile: String,
    /// The shared repository.
    pub repo: String,
    /// What happened.
    pub action: PushAction,
    /// This device.
    pub device: String,
    /// The local snapshot pushed (or already in sync).
    pub local_snapshot: SnapshotId,
    /// Whether a new local snapshot was taken first.
    pub created: bool,
    /// The snapshot the head names now (in the shared repository).
    pub head: Option<SnapshotId>,
    /// The head it replaced.
    pub previous: Option<SnapshotId>,
    /// The scope applied.
    pub scope: Option<String>,
    /// Blobs (chunks, and trees for an unscoped push) the shared
    /// repository did not have.
    pub chunks_new: u64,
    /// How the snapshot was sent.
    pub transfer: Transfer,
}

/// How a push sent its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transfer {
    /// Nothing was sent (up to date).
    None,
    /// The local snapshot as it is, through [`crate::commands::copy::copy_snapshots`]
    /// (no scope): only the trees and chunks the shared repository lacked.
    Copy,
    /// A new snapshot with the scope applied, through a ZIP view imported
    /// into the shared repository (every file of the snapshot re-read).
    ScopedZip,
}

/// Pushes `opts.profile` of `local` to `shared`: see the module
/// documentation of [`crate::sync`].
///
/// # Errors
/// [`Error::SyncConflict`] when the head moved since this device's last
/// sync (nothing is overwritten; the snapshot may already be in the shared
/// repository, unreferenced by any head); an unknown profile or scope;
/// the errors of `create`, the transfer and the head's write.
pub fn push(local: &Repo, shared: &Repo, opts: &SyncOptions) -> Result<PushReport> {
    let ready = Ready::new(local, shared, opts)?;
    ready.push(local, shared, opts, false)
}

/// Everything a push or pull decides on.
pub(super) struct Ready {
    pub(super) profile: Profile,
    pub(super) device: String,
    pub(super) rec: LastSynced,
    pub(super) synced: Option<Synced>,
    pub(super) scope: Option<HeadScope>,
    pub(super) snap: SnapshotInfo,
    pub(super) created: bool,
    pub(super) head: Option<(Head, Version)>,
    /// Whether the profile holds a file or symlink a pull would replace
    /// (outside the head scope's excludes): what "changed" means before
    /// the first sync.
    pub(super) holds_files: bool,
}

impl Ready {
    /// Reads both sides: the profile, a snapshot of it now, the head and
    /// `last_synced` (a pending step adopted when it happened).
    pub(super) fn new(local: &Repo, shared: &Repo, opts: &SyncOptions) -> Result<Self> {
        let profile = local_profile(local, opts)?;
        let device = super::device_id(local)?;
        let rec = state::load(local, &profile.name, shared)?
            .unwrap_or_else(|| LastSynced::new(&profile.name, shared));
        let scope = match opts.scope.clone().or_else(|| rec.scope.clone()) {
            None => None,
            Some(name) => Some(HeadScope::new(
                &name,
                profile.scopes.get(&name).ok_or_else(|| Error::Invalid {
                    what: "scope",
                    value: name.clone(),
                    reason: format!(
                        "profile {:?} has no such scope (set one in profiles.json)",
                        profile.name
                    ),
                })?,
            )),
        };
        let (snap, created) = snapshot_now(local, &profile, opts.now)?;
        let head = head::read(shared, &profile.name)?;
        let synced = rec.effective(
            head.as_ref().map(|(h, _)| &h.snapshot),
            &snap.manifest.content_digest,
        );
        let exclude = head
            .as_ref()
            .and_then(|(h, _)| h.scope.as_ref())
            .map(|s| build_globs(&s.exclude))
            .transpose()?;
        let holds_files = SnapshotView::new(local, &snap)?.entries().iter().any(|e| {
            e.kind != ExportKind::Dir
                && !exclude
                    .as_ref()
                    .is_some_and(|x| x.is_match(String::from_utf8_lossy(&e.path).as_ref()))
        });
        Ok(Ready {
            holds_files,
            profile,
            device,
            rec,
            synced,
            scope,
            snap,
            created,
            head,
        })
    }

    /// Whether the head moved since the last sync.
    pub(super) fn remote_moved(&self) -> bool {
        match (&self.head, &self.synced) {
            (None, _) => false,
            (Some((h, _)), Some(s)) => h.snapshot != s.head,
            (Some(_), None) => true,
        }
    }

    /// Whether the local profile changed since the last sync.
    pub(super) fn local_changed(&self) -> bool {
        match &self.synced {
            Some(s) => s.local_digest != self.snap.manifest.content_digest,
            None => self.holds_files,
        }
    }

    /// The conflict with the head `now`.
    pub(super) fn conflict(&self, local: &Repo, shared: &Repo, now: &Head) -> Error {
        let old_local = self
            .synced
            .as_ref()
            .and_then(|s| find(local, &s.local_snapshot).ok().flatten());
        let local_side = old_local.and_then(|old| {
            side_changes(
                &|id| local.tree(id),
                Some(&old.manifest.tree),
                &self.snap.manifest.tree,
            )
            .ok()
        });
        let remote_side = self.synced.as_ref().and_then(|s| {
            let old = find(shared, &s.head).ok().flatten()?;
            let new = find(shared, &now.snapshot).ok().flatten()?;
            side_changes(
                &|id| shared.tree(id),
                Some(&old.manifest.tree),
                &new.manifest.tree,
            )
            .ok()
        });
        Error::SyncConflict(Box::new(Conflict {
            profile: self.profile.name.clone(),
            repo: shared.store().storage().location().to_string(),
            head: now.into(),
            local: local_side,
            remote: remote_side,
        }))
    }

    /// Pushes; `over` (a pull's `--ours`) replaces a head that moved.
    pub(super) fn push(
        mut self,
        local: &Repo,
        shared: &Repo,
        opts: &SyncOptions,
        over: bool,
    ) -> Result<PushReport> {
        let mut report = PushReport {
            profile: self.profile.name.clone(),
            repo: shared.store().storage().location().to_string(),
            action: PushAction::UpToDate,
            device: self.device.clone(),
            local_snapshot: self.snap.id,
            created: self.created,
            head: self.head.as_ref().map(|(h, _)| h.snapshot),
            previous: None,
            scope: self.scope.as_ref().map(|s| s.name.clone()),
            chunks_new: 0,
            transfer: Transfer::None,
        };
        if self.remote_moved() && !over {
            let (h, _) = self.head.as_ref().expect("moved implies a head");
            return Err(self.conflict(local, shared, h));
        }
        if self.head.is_some() && !self.remote_moved() && !self.local_changed() {
            if self.rec.synced != self.synced || self.rec.pending.is_some() {
                self.rec.synced = self.synced.clone();
                self.rec.pending = None;
                state::save(local, &self.rec)?;
            }
            return Ok(report);
        }
        let (sent_id, blobs_new, transfer) = match &self.scope {
            None => {
                let c = transfer::copy(local, shared, self.snap.id, opts.lock_wait)?;
                (c.id, c.blobs_new, Transfer::Copy)
            }
            Some(s) => {
                let view = SnapshotView::new(local, &self.snap)?;
                let options = ExportOptions {
                    exclude: s.exclude.clone(),
                    redact_keys: s.redact_keys.clone(),
                };
                let sent = transfer::send(
                    shared,
                    &Send {
                        info: view.info(),
                        entries: view.entries(),
                        source: &view,
                        options: &options,
                        scratch: &local.store().scratch_dir(),
                        profile: &self.profile.name,
                        source_path: &self.profile.path.to_string_lossy(),
                        now: opts.now,
                    },
                )?;
                (sent.id, sent.chunks_new, Transfer::ScopedZip)
            }
        };
        let now = opts.now.unwrap_or_else(Utc::now);
        let new_head = Head {
            version: HEAD_VERSION,
            profile: self.profile.name.clone(),
            snapshot: sent_id,
            device: self.device.clone(),
            host: crate::commands::commit::hostname(),
            time: state::rfc3339(now),
            previous: self.head.as_ref().map(|(h, _)| h.snapshot),
            scope: self.scope.clone(),
        };
        let done = Synced {
            head: sent_id,
            head_version: None,
            local_snapshot: self.snap.id,
            local_digest: self.snap.manifest.content_digest.clone(),
        };
        self.rec.scope = self.scope.as_ref().map(|s| s.name.clone());
        self.rec.time = state::rfc3339(now);
        self.rec.synced = self.synced.clone();
        self.rec.pending = Some((Step::Push, done.clone()));
        state::save(local, &self.rec)?;
        let expected = self.head.as_ref().map(|(_, v)| v);
        let version = match head::swap(shared, &new_head, expected) {
            Ok(v) => v,
            Err(Error::Store(snap_store::Error::Conflict { .. })) => {
                // A retried conditional write whose first try landed
                // reports a conflict with itself: the head is ours.
                match head::read(shared, &self.profile.name)? {
                    Some((h, v)) if h == new_head => v,
                    now => {
                        self.rec.pending = None;
                        let _ = state::save(local, &self.rec);
                        return Err(match now {
                            Some((h, _)) => self.conflict(local, shared, &h),
                            None => Error::Invalid {
                                what: "sync head",
                                value: self.profile.name.clone(),
                                reason: "it changed while being replaced; try again".into(),
                            },
                        });
                    }
                }
            }
            Err(e) => return Err(e),
        };
        self.rec.synced = Some(Synced {
            head_version: Some(version),
            ..done
        });
        self.rec.pending = None;
        state::save(local, &self.rec)?;
        report.action = PushAction::Pushed;
        report.head = Some(sent_id);
        report.previous = new_head.previous;
        report.chunks_new = blobs_new;
        report.transfer = transfer;
        Ok(report)
    }
}
