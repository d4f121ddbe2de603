//! `sync pull`: the shared head restored in place, with an undo point.
//!
//! Order (FORMAT.md "Sync heads"): a local snapshot if the profile
//! changed (so nothing unsaved is ever replaced); the state to put in
//! place built as a local snapshot (the head's files, plus what its scope
//! kept out taken from the local profile) through the commit path; the
//! local `last_synced` marked pending; the in-place restore (whose undo
//! point is the seed's override backup, and whose exchange is the commit
//! point); `last_synced` marked done.

use serde::Serialize;
use snap_store::SnapshotId;

use super::merge::Merged;
use super::push::{PushReport, Ready};
use super::state::{self, Step, Synced};
use super::transfer::{self, Send};
use super::{find, side_changes, HeadInfo, Resolve, SyncOptions};
use crate::commands::restore::{restore, RestoreOptions};
use crate::error::{Error, Result};
use crate::export::{ExportOptions, SnapshotView};
use crate::repo::Repo;

/// What a pull did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullAction {
    /// The head is what this device last synced: nothing to do.
    UpToDate,
    /// The head was restored in place.
    Restored,
    /// Both sides changed and `--ours` pushed the local state over the head.
    Pushed,
}

/// What [`pull`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// The profile.
    pub profile: String,
    /// The shared repository.
    pub repo: String,
    /// What happened.
    pub action: PullAction,
    /// The head pulled (or found).
    pub head: HeadInfo,
    /// The local snapshot restored (the head merged with what the scope
    /// kept local).
    pub restored: Option<SnapshotId>,
    /// The undo point: the local state replaced, as a snapshot tagged
    /// `pre-restore` (the seed's override backup).
    pub undo_point: Option<SnapshotId>,
    /// The command that puts the replaced state back.
    pub undo_command: Option<String>,
    /// Entries that differed between the local profile and the head.
    pub changes: u64,
    /// Local paths kept because the head's scope excludes them.
    pub carried_over: Vec<String>,
    /// Local JSON values kept because the head's scope redacts them
    /// (`file:key/path`).
    pub kept_keys: Vec<String>,
    /// With `--ours`: the push that replaced the head.
    pub push: Option<PushReport>,
    /// Warnings of the restore.
    pub warnings: Vec<String>,
}

/// Pulls `opts.profile` from `shared` into `local`: see the module
/// documentation of [`crate::sync`].
///
/// # Errors
/// [`Error::SyncConflict`] when both sides changed since the last sync
/// and `opts.resolve` is [`Resolve::Report`]; [`Error::Invalid`] when
/// nothing was pushed for the profile; those of `create`, the transfer and
/// the restore (the profile is then the old state).
pub fn pull(local: &Repo, shared: &Repo, opts: &SyncOptions) -> Result<PullReport> {
    let mut ready = Ready::new(local, shared, opts)?;
    let Some((head, version)) = ready.head.clone() else {
        return Err(Error::Invalid {
            what: "sync head",
            value: opts.profile.clone(),
            reason: format!(
                "nothing was pushed for this profile to {}",
                shared.store().storage().location()
            ),
        });
    };
    let mut report = PullReport {
        profile: ready.profile.name.clone(),
        repo: shared.store().storage().location().to_string(),
        action: PullAction::UpToDate,
        head: (&head).into(),
        restored: None,
        undo_point: None,
        undo_command: None,
        changes: 0,
        carried_over: Vec::new(),
        kept_keys: Vec::new(),
        push: None,
        warnings: Vec::new(),
    };
    if !ready.remote_moved() {
        if ready.rec.synced != ready.synced || ready.rec.pending.is_some() {
            ready.rec.synced = ready.synced.clone();
            ready.rec.pending = None;
            state::save(local, &ready.rec)?;
        }
        return Ok(report);
    }
    if ready.local_changed() {
        match opts.resolve {
            Resolve::Report => return Err(ready.conflict(local, shared, &head)),
            Resolve::Ours => {
                report.push = Some(ready.push(local, shared, opts, true)?);
                report.action = PullAction::Pushed;
                return Ok(report);
            }
            Resolve::Theirs => {}
        }
    }
    let theirs = find(shared, &head.snapshot)?.ok_or_else(|| Error::Invalid {
        what: "sync head",
        value: head.snapshot.to_hex(),
        reason: format!(
            "names a snapshot that is not in {}",
            shared.store().storage().location()
        ),
    })?;
    let remote_view = SnapshotView::new(shared, &theirs)?;
    let local_view = SnapshotView::new(local, &ready.snap)?;
    let merged = Merged::new(&remote_view, Some(&local_view), head.scope.as_ref())?;
    let built = transfer::send(
        local,
        &Send {
            info: remote_view.info(),
            entries: merged.entries(),
            source: &merged,
            options: &ExportOptions::default(),
            scratch: &local.store().scratch_dir(),
            profile: &ready.profile.name,
            source_path: &ready.profile.path.to_string_lossy(),
            now: opts.now,
        },
    )?;
    report.carried_over = merged.carried.clone();
    report.kept_keys = merged.kept_keys.clone();
    drop(merged);
    let pulled = Synced {
        head: head.snapshot,
        head_version: Some(version),
        local_snapshot: built.id,
        local_digest: built.manifest.content_digest.clone(),
    };
    ready.rec.synced = ready.synced.clone();
    ready.rec.pending = Some((Step::Pull, pulled.clone()));
    ready.rec.time = state::rfc3339(opts.now.unwrap_or_else(chrono::Utc::now));
    state::save(local, &ready.rec)?;
    let info = find(local, &built.id)?.ok_or_else(|| Error::Invalid {
        what: "snapshot",
        value: built.id.to_hex(),
        reason: "just written, but not listed".into(),
    })?;
    let restored = restore(
        local,
        &info,
        &RestoreOptions {
            profile_path: Some(ready.profile.path.clone()),
            excludes: ready.profile.excludes.clone(),
            now: opts.now,
            force: opts.force,
            ..RestoreOptions::default()
        },
    )?;
    ready.rec.synced = Some(pulled);
    ready.rec.pending = None;
    state::save(local, &ready.rec)?;
    report.action = PullAction::Restored;
    report.restored = Some(built.id);
    report.undo_point = restored.pre_restore;
    report.undo_command = restored.undo_command;
    let changed = side_changes(
        &|id| local.tree(id),
        Some(&ready.snap.manifest.tree),
        &built.manifest.tree,
    )?;
    report.changes = changed.added + changed.changed + changed.removed;
    report.warnings = restored.warnings;
    Ok(report)
}
