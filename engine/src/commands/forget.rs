//! `forget`: applying retention to the snapshots of each profile (or
//! removing snapshots by id), under the profile's lock.
//!
//! Removing a snapshot deletes its file and index row only; its blobs stay
//! until [`crate::gc`] collects them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use snap_store::{LockMode, SnapshotId};

use crate::error::{Error, Result};
use crate::model::profile::Profiles;
use crate::model::retention::{self, Policy, Reason, SnapshotMeta, TAG_KEEP};
use crate::model::snapshot::SnapshotInfo;
use crate::repo::Repo;

/// What to forget.
#[derive(Debug, Clone, Default)]
pub struct ForgetOptions {
    /// Only this profile (default: every profile with snapshots).
    pub profile: Option<String>,
    /// Use this policy instead of each profile's own.
    pub policy: Option<Policy>,
    /// Remove exactly these snapshots (ids as a user types them) instead of
    /// applying a policy.
    pub ids: Vec<String>,
    /// Remove `keep`-pinned snapshots named in `ids` too.
    pub force: bool,
    /// Decide and report, remove nothing.
    pub dry_run: bool,
    /// The current time (ms since the epoch), `SNAP_NOW` in tests.
    pub now_ms: i64,
    /// How long to wait for a profile's lock.
    pub lock_wait: Duration,
}

/// The verdict on one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotVerdict {
    /// Full id.
    pub id: SnapshotId,
    /// Short id.
    pub short_id: String,
    /// Its name.
    pub name: String,
    /// Its time (ms since the epoch, UTC).
    pub time_ms: i64,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether it stays.
    pub keep: bool,
    /// Why, as text ("within max-count 25", "requested").
    pub reasons: Vec<String>,
    /// The retention reasons (empty when removed by id).
    pub rules: Vec<Reason>,
}

/// The decisions for one profile, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileDecisions {
    /// The profile.
    pub profile: String,
    /// The policy applied (absent when removing by id).
    pub policy: Option<Policy>,
    /// One per snapshot of the profile.
    pub snapshots: Vec<SnapshotVerdict>,
}

impl ProfileDecisions {
    /// Snapshots removed (or, in a dry run, to remove).
    pub fn removed(&self) -> impl Iterator<Item = &SnapshotVerdict> {
        self.snapshots.iter().filter(|s| !s.keep)
    }
}

/// What `forget` decided and did.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetReport {
    /// Whether anything was removed (false for a dry run).
    pub dry_run: bool,
    /// Per profile, by name.
    pub profiles: Vec<ProfileDecisions>,
    /// Snapshots removed (or to remove).
    pub removed: u64,
    /// Short ids of the snapshots actually deleted (empty for a dry run).
    pub deleted: Vec<String>,
}

/// Groups snapshots by profile.
fn by_profile(all: Vec<SnapshotInfo>) -> BTreeMap<String, Vec<SnapshotInfo>> {
    let mut m: BTreeMap<String, Vec<SnapshotInfo>> = BTreeMap::new();
    for s in all {
        m.entry(s.manifest.profile.clone()).or_default().push(s);
    }
    m
}

/// Decides, for one profile's snapshots, what `policy` keeps. Pure.
pub fn decide(
    profile: &str,
    snaps: &[SnapshotInfo],
    policy: &Policy,
    now_ms: i64,
) -> ProfileDecisions {
    let metas: Vec<SnapshotMeta> = snaps
        .iter()
        .map(|s| SnapshotMeta {
            id: s.id.to_hex(),
            time_ms: s.manifest.time_ms,
            tags: s.manifest.tags.clone(),
        })
        .collect();
    let by_id: BTreeMap<String, &SnapshotInfo> = snaps.iter().map(|s| (s.id.to_hex(), s)).collect();
    let snapshots = retention::apply(&metas, policy, now_ms)
        .into_iter()
        .filter_map(|d| {
            let s = by_id.get(&d.id)?;
            Some(SnapshotVerdict {
                id: s.id,
                short_id: s.short_id.clone(),
                name: s.manifest.name.clone(),
                time_ms: s.manifest.time_ms,
                tags: s.manifest.tags.clone(),
                keep: d.keep,
                reasons: d.reasons.iter().map(|r| r.to_string()).collect(),
                rules: d.reasons,
            })
        })
        .collect();
    ProfileDecisions {
        profile: profile.to_string(),
        policy: Some(policy.clone()),
        snapshots,
    }
}

/// Applies retention (or removes the snapshots named in `opts.ids`).
///
/// Without a policy in `opts`, each profile's own policy from
/// `profiles.json` applies (`Policy::default()` for a profile that has
/// snapshots but no entry). Each profile is planned and pruned while its
/// lock is held (the lock `create` takes), so a snapshot being created is
/// never judged half-way. The caller holds the repository lock (shared).
///
/// # Errors
/// An unknown or ambiguous id; a `keep`-pinned id without `force` (nothing
/// is removed then); an invalid policy; lock, I/O and index errors.
pub fn forget(repo: &Repo, opts: &ForgetOptions) -> Result<ForgetReport> {
    if let Some(p) = &opts.policy {
        p.validate()?;
    }
    let (profiles, _) = Profiles::load_in(repo.store())?;
    let mut out = ForgetReport {
        dry_run: opts.dry_run,
        profiles: Vec::new(),
        removed: 0,
        deleted: Vec::new(),
    };
    if !opts.ids.is_empty() {
        return forget_ids(repo, opts, out);
    }
    let groups = by_profile(repo.snapshots()?);
    if let Some(name) = &opts.profile {
        if !groups.contains_key(name) && profiles.get(name).is_none() {
            return Err(Error::Invalid {
                what: "profile",
                value: name.clone(),
                reason: "no such profile and no snapshots of that name".into(),
            });
        }
    }
    for name in groups.keys() {
        if opts.profile.as_ref().is_some_and(|p| p != name) {
            continue;
        }
        let policy = match &opts.policy {
            Some(p) => p.clone(),
            None => profiles
                .get(name)
                .map(|p| p.retention.clone())
                .unwrap_or_default(),
        };
        let _lock = repo.store().lock_named(
            &format!("profile-{name}"),
            LockMode::Exclusive,
            "forget",
            opts.lock_wait,
        )?;
        // Re-read under the lock: a create may have finished meanwhile.
        let snaps: Vec<SnapshotInfo> = repo
            .snapshots()?
            .into_iter()
            .filter(|s| &s.manifest.profile == name)
            .collect();
        let d = decide(name, &snaps, &policy, opts.now_ms);
        if !opts.dry_run {
            let removed: Vec<(SnapshotId, &str)> =
                d.removed().map(|s| (s.id, s.short_id.as_str())).collect();
            delete(repo, &removed, &mut out.deleted)?;
        }
        out.removed += d.removed().count() as u64;
        out.profiles.push(d);
    }
    Ok(out)
}

fn forget_ids(repo: &Repo, opts: &ForgetOptions, mut out: ForgetReport) -> Result<ForgetReport> {
    let mut chosen: Vec<SnapshotInfo> = Vec::new();
    for text in &opts.ids {
        let s = repo.resolve(text, opts.profile.as_deref())?;
        if s.manifest.tags.iter().any(|t| t == TAG_KEEP) && !opts.force {
            return Err(Error::Invalid {
                what: "snapshot",
                value: text.clone(),
                reason: format!(
                    "snapshot {} ({}) is pinned with the tag `keep`; pass --force to remove it",
                    s.short_id, s.manifest.name
                ),
            });
        }
        if !chosen.iter().any(|c| c.id == s.id) {
            chosen.push(s);
        }
    }
    let mut groups: BTreeMap<String, Vec<SnapshotInfo>> = BTreeMap::new();
    for s in chosen {
        groups
            .entry(s.manifest.profile.clone())
            .or_default()
            .push(s);
    }
    for (name, snaps) in groups {
        let _lock = repo.store().lock_named(
            &format!("profile-{name}"),
            LockMode::Exclusive,
            "forget",
            opts.lock_wait,
        )?;
        let mut d = ProfileDecisions {
            profile: name,
            policy: None,
            snapshots: Vec::new(),
        };
        if !opts.dry_run {
            let removed: Vec<(SnapshotId, &str)> =
                snaps.iter().map(|s| (s.id, s.short_id.as_str())).collect();
            delete(repo, &removed, &mut out.deleted)?;
        }
        for s in snaps {
            d.snapshots.push(SnapshotVerdict {
                id: s.id,
                short_id: s.short_id.clone(),
                name: s.manifest.name.clone(),
                time_ms: s.manifest.time_ms,
                tags: s.manifest.tags.clone(),
                keep: false,
                reasons: vec!["requested".into()],
                rules: Vec::new(),
            });
            out.removed += 1;
        }
        out.profiles.push(d);
    }
    Ok(out)
}

/// The current time: `SNAP_NOW` (RFC 3339) when set, for tests; the clock
/// otherwise.
///
/// # Errors
/// [`Error::Invalid`] when `SNAP_NOW` is set but not RFC 3339.
pub fn now_from_env() -> Result<chrono::DateTime<chrono::Utc>> {
    match std::env::var("SNAP_NOW") {
        Ok(v) if !v.is_empty() => chrono::DateTime::parse_from_rfc3339(&v)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| Error::Invalid {
                what: "SNAP_NOW",
                value: v,
                reason: format!("not an RFC 3339 time: {e}"),
            }),
        _ => Ok(chrono::Utc::now()),
    }
}

/// Deletes snapshots (id, short id) in one index transaction, remembering
/// the short ids of those deleted in `deleted`. A failure after earlier
/// deletions says which snapshots are already gone, so the error tells
/// exactly what happened on disk.
fn delete(repo: &Repo, snaps: &[(SnapshotId, &str)], deleted: &mut Vec<String>) -> Result<()> {
    let ids: Vec<SnapshotId> = snaps.iter().map(|(id, _)| *id).collect();
    let mut gone = Vec::new();
    let result = repo.delete_snapshots(&ids, &mut gone);
    deleted.extend(
        snaps[..gone.len()]
            .iter()
            .map(|(_, short)| short.to_string()),
    );
    match result {
        Ok(()) => Ok(()),
        Err(e) if deleted.is_empty() => Err(e),
        Err(e) => Err(Error::Invalid {
            what: "removal of snapshot",
            value: snaps.get(gone.len()).map_or("?", |(_, s)| *s).to_string(),
            reason: format!("{e}; removed before this failure: {}", deleted.join(", ")),
        }),
    }
}
