//! What the page can change or take away: create a snapshot now, forget
//! one, pin or unpin one, restore (preview first), the settings dialog, import an uploaded
//! ZIP or vault, and export a snapshot as a ZIP or vault download. Every
//! one goes through the engine's library API, as the matching command does.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize;
use snap_engine::commands::backup::{create as create_snapshot, CreateOptions};
use snap_engine::commands::forget::{forget as forget_snapshots, now_from_env, ForgetOptions};
use snap_engine::commands::restore::{restore as restore_snapshot, ProgressFn, RestoreOptions};
use snap_engine::export::{self, ExportOptions};
use snap_engine::model::snapshot::SnapshotInfo;

use super::http::{safe_file_name, Reply};
use super::routes::{bad, live_dir, open, param, snapshot};
use crate::args::{PolicyArgs, ProfileSettings, Switch};
use crate::commands::Context;

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> anyhow::Result<T> {
    serde_json::from_slice(body).map_err(|e| bad(&format!("request body: {e}")))
}

#[derive(Deserialize)]
struct ProfileRequest {
    profile: String,
}

/// `POST /api/create {"profile"}`: a snapshot now (`unchanged` when nothing
/// changed), with the profile's excludes.
pub fn create(ctx: &Context, body: &[u8]) -> anyhow::Result<Reply> {
    let r: ProfileRequest = parse(body)?;
    let repo = open(ctx)?;
    let profiles = ctx.profiles(&repo)?;
    let p = profiles.require(&r.profile)?;
    let mut opts = CreateOptions::new(&p.name, &p.path);
    opts.excludes = p.excludes.clone();
    opts.now = ctx.now()?;
    let out = create_snapshot(&repo, &opts).with_context(|| {
        format!(
            "snapshot of profile {} failed; nothing was committed",
            p.name
        )
    })?;
    Ok(Reply::json(&out))
}

#[derive(Deserialize)]
struct SnapshotRequest {
    snapshot: String,
}

/// `POST /api/forget {"snapshot"}`: forgets one snapshot (a `keep`-pinned
/// one is refused, as `snap forget ID` refuses it without --force).
pub fn forget(ctx: &Context, body: &[u8]) -> anyhow::Result<Reply> {
    let r: SnapshotRequest = parse(body)?;
    let repo = open(ctx)?;
    let report = forget_snapshots(
        &repo,
        &ForgetOptions {
            profile: None,
            policy: None,
            ids: vec![r.snapshot],
            force: false,
            dry_run: false,
            now_ms: now_from_env()?.timestamp_millis(),
            lock_wait: ctx.lock_wait,
        },
    )?;
    Ok(Reply::json(&report))
}

/// The body of `POST /api/tag`.
#[derive(Deserialize)]
struct TagRequest {
    snapshot: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// `POST /api/tag {"snapshot", "add", "remove"}`: pin (`add: ["keep"]`) or
/// unpin (`remove: ["keep"]`) a snapshot, as `snap tag` does.
pub fn tag(ctx: &Context, body: &[u8]) -> anyhow::Result<Reply> {
    let r: TagRequest = parse(body)?;
    let repo = open(ctx)?;
    let report = snap_engine::commands::tag::change(&repo, &r.snapshot, None, &r.add, &r.remove)?;
    Ok(Reply::json(&report))
}

/// The body of `POST /api/restore`.
#[derive(Deserialize)]
struct RestoreRequest {
    snapshot: String,
    /// A new or empty folder; absent or empty: in place.
    #[serde(default)]
    target: Option<PathBuf>,
    /// Only these paths of the snapshot.
    #[serde(default)]
    paths: Vec<String>,
    /// Only report what would change.
    #[serde(default)]
    dry_run: bool,
    /// Restore even while another program has a profile file open ("Restore
    /// anyway"); see `routes::error_kind`.
    #[serde(default)]
    force: bool,
}

/// A restore the page asked for, parsed and checked, ready to run (now for
/// a preview, in the background otherwise: see `jobs`).
pub struct PlannedRestore {
    repo: snap_engine::Repo,
    snap: SnapshotInfo,
    opts: RestoreOptions<'static>,
    dest: String,
    /// Only report what would change.
    pub dry_run: bool,
}

/// Parses and checks `POST /api/restore`'s body: the snapshot exists, the
/// target is absolute, the paths are inside the snapshot's tree.
pub fn plan_restore(ctx: &Context, body: &[u8]) -> anyhow::Result<PlannedRestore> {
    let r: RestoreRequest = parse(body)?;
    let repo = open(ctx)?;
    let s = repo.resolve(&r.snapshot, None)?;
    let (profile_path, excludes) = live_dir(ctx, &repo, &s)?;
    let target = r.target.filter(|t| !t.as_os_str().is_empty());
    if let Some(t) = &target {
        if !t.is_absolute() {
            return Err(bad("the target folder must be an absolute path"));
        }
    }
    let paths = r
        .paths
        .iter()
        .map(|p| snap_engine::commands::browse::check_rel(p))
        .collect::<Result<Vec<_>, _>>()?;
    let dest = target
        .as_ref()
        .unwrap_or(&profile_path)
        .display()
        .to_string();
    let opts = RestoreOptions {
        target,
        profile_path: Some(profile_path),
        excludes,
        paths,
        dry_run: r.dry_run,
        now: ctx.now()?,
        force: r.force,
        progress: None,
    };
    Ok(PlannedRestore {
        repo,
        snap: s,
        opts,
        dest,
        dry_run: r.dry_run,
    })
}

impl PlannedRestore {
    /// Runs the restore (or its dry run), reporting to `progress`; the
    /// answer of `POST /api/restore` (a preview) or of its job (FORMAT.md §15).
    pub fn run(self, progress: Option<ProgressFn<'_>>) -> anyhow::Result<serde_json::Value> {
        let mut opts: RestoreOptions<'_> = self.opts;
        opts.progress = progress;
        let (repo, s) = (&self.repo, &self.snap);
        let report = restore_snapshot(repo, s, &opts)
            .map_err(|e| crate::commands::restore::restore_failure(e, &s.short_id, &self.dest))?;
        let undo = report
            .pre_restore
            .and_then(|id| repo.resolve(&id.to_hex(), None).ok())
            .map(|u| serde_json::json!({ "id": u.id.to_hex(), "short_id": u.short_id, "name": u.manifest.name }));
        Ok(serde_json::json!({
            "snapshot": s.id.to_hex(),
            "short_id": s.short_id,
            "target": report.target,
            "in_place": report.in_place,
            "dry_run": self.dry_run,
            "changes": report.changes,
            "files_written": report.files_written,
            "files_reused": report.files_reused,
            "bytes_written": report.bytes_written,
            "undo": undo,
            "undo_command": report.undo_command,
            "warnings": report.warnings,
        }))
    }
}

/// The body of `POST /api/settings`: the seed's settings dialog.
#[derive(Deserialize)]
struct SettingsRequest {
    profile: String,
    auto: bool,
    /// `15m` … `24h`.
    interval: String,
    /// 1 … 100.
    max_count: u32,
    /// `7d` … `90d`, or `never`.
    max_age: String,
}

/// `POST /api/settings`: writes the profile's settings as `snap profile set`
/// does, within the seed's ranges (interval 15 min to 24 h, keep 1 to 100
/// snapshots, 7 to 90 days or never).
pub fn settings(ctx: &Context, body: &[u8]) -> anyhow::Result<Reply> {
    use snap_engine::model::duration::Duration;
    let r: SettingsRequest = parse(body)?;
    let interval: Duration = r.interval.parse()?;
    let secs = interval.as_secs().unwrap_or(0);
    if !(15 * 60..=24 * 3600).contains(&secs) {
        return Err(bad("the interval must be between 15 minutes and 24 hours"));
    }
    if !(1..=100).contains(&r.max_count) {
        return Err(bad("keep between 1 and 100 snapshots"));
    }
    let age: Duration = r.max_age.parse()?;
    if !age.is_never() && !(7 * 86400..=90 * 86400).contains(&age.as_secs().unwrap_or(0)) {
        return Err(bad("the age limit must be between 7 and 90 days, or never"));
    }
    let change = ProfileSettings {
        auto: Some(if r.auto { Switch::On } else { Switch::Off }),
        interval: Some(r.interval),
        policy: PolicyArgs {
            max_count: Some(r.max_count),
            max_age: Some(r.max_age),
            ..Default::default()
        },
        ..Default::default()
    };
    let repo = open(ctx)?;
    let p = ctx.update_profiles(&repo, |ps| {
        let mut err = None;
        let p = ps
            .set(&r.profile, |p| {
                err = crate::commands::profile::apply(p, &change, false).err()
            })?
            .clone();
        err.map_or(Ok(p), Err)
    })?;
    Ok(Reply::json(&p))
}

/// `GET /api/export?snapshot=ID`: the snapshot as a ZIP download.
pub fn export_zip(ctx: &Context, q: &HashMap<String, String>) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let s = snapshot(&repo, q, "snapshot")?;
    let mut zip = Cursor::new(Vec::new());
    export::export_snapshot_zip(&repo, &s, &ExportOptions::default(), &mut zip)?;
    Ok(download(
        zip.into_inner(),
        "application/zip",
        &format!("{}.zip", s.manifest.name),
    ))
}

#[derive(Deserialize)]
struct VaultRequest {
    snapshot: String,
    password: String,
}

/// `POST /api/export-vault {"snapshot", "password"}`: the snapshot as an
/// encrypted `.stvault` download.
pub fn export_vault(ctx: &Context, body: &[u8]) -> anyhow::Result<Reply> {
    let r: VaultRequest = parse(body)?;
    let repo = open(ctx)?;
    let s = repo.resolve(&r.snapshot, None)?;
    let mut out = Vec::new();
    export::export_snapshot_vault(
        &repo,
        &s,
        &ExportOptions::default(),
        &r.password,
        None,
        &mut out,
    )?;
    Ok(download(
        out,
        "application/octet-stream",
        &format!("{}.stvault", s.manifest.name),
    ))
}

fn download(body: Vec<u8>, content_type: &str, name: &str) -> Reply {
    Reply::bytes(200, content_type, body).header(
        "Content-Disposition",
        &format!("attachment; filename=\"{name}\""),
    )
}

/// `POST /api/import?name=FILE[&profile=P]` with the file as the body (and
/// `X-Snap-Password` for a vault): a new snapshot, as `snap import` makes.
pub fn import(
    ctx: &Context,
    q: &HashMap<String, String>,
    password: Option<&str>,
    body: &[u8],
) -> anyhow::Result<Reply> {
    let name = safe_file_name(param(q, "name")?);
    let dir = tempfile_dir()?;
    let file = dir.join(&name);
    let result = (|| -> anyhow::Result<Reply> {
        std::fs::write(&file, body).with_context(|| format!("writing {}", file.display()))?;
        let archive = snap_engine::commands::import::open(
            &file,
            password,
            &export::ArchiveOptions::default(),
        )?;
        let profile = q
            .get("profile")
            .map(String::as_str)
            .filter(|p| !p.is_empty());
        let done = crate::commands::import::import_archive(ctx, &archive, &file, profile, false)?;
        let out = &done.outcome;
        Ok(Reply::json(&serde_json::json!({
            "id": out.id.to_hex(),
            "short_id": out.id.short(),
            "profile": out.manifest.profile,
            "files": out.manifest.summary.files,
            "warnings": out.warnings,
            "registered": done.existing.is_none(),
            "path": done.path,
        })))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A fresh private folder (mode 0700) under the system's temporary
/// directory, for an upload being imported.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = std::env::temp_dir().join(format!("snap-ui-{}", super::auth::random_hex()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
