//! The page's routes: the embedded assets and the read-only JSON API
//! (profiles, timeline, folders, files, versions, diffs). Requests that
//! change something are in `actions`; errors become JSON in
//! [`error_reply`], the one place that names error kinds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;
use snap_engine::commands::browse;
use snap_engine::commands::diff::diff_trees;
use snap_engine::commands::textdiff::{self, Side};
use snap_engine::model::snapshot::SnapshotInfo;
use snap_engine::model::tree::NodeKind;
use snap_engine::source::filter::Filter;
use snap_engine::source::live::LiveTree;
use snap_engine::Repo;
use snap_store::OpenOptions;

use super::http::{split_url, Reply};
use super::jobs::Jobs;
use super::{actions, assets};
use crate::commands::Context;

/// Answers one admitted request.
pub fn dispatch(ctx: &Context, jobs: &Arc<Jobs>, req: &tiny_http::Request, body: &[u8]) -> Reply {
    let (path, q) = split_url(req.url());
    let get = matches!(
        req.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    );
    if get {
        if path == "/" {
            return assets::page();
        }
        if let Some(asset) = assets::find(path) {
            return asset;
        }
    }
    let result = match (get, path) {
        (true, "/api/profiles") => profiles(ctx),
        (true, "/api/snapshots") => snapshots(ctx, &q),
        (true, "/api/ls") => ls(ctx, &q),
        (true, "/api/file") => file(ctx, &q),
        (true, "/api/versions") => versions(ctx, &q),
        (true, "/api/diff") => diff(ctx, &q),
        (true, "/api/textdiff") => text_diff(ctx, &q),
        (true, "/api/export") => actions::export_zip(ctx, &q),
        (false, "/api/create") => actions::create(ctx, body),
        (false, "/api/forget") => actions::forget(ctx, body),
        (false, "/api/tag") => actions::tag(ctx, body),
        (true, "/api/job") => return jobs.get(q.get("id").map_or("", String::as_str)),
        (false, "/api/restore") => match actions::plan_restore(ctx, body) {
            Ok(plan) if plan.dry_run => plan.run(None).map(|v| Reply::json(&v)),
            Ok(plan) => return jobs.start(plan),
            Err(e) => Err(e),
        },
        (false, "/api/settings") => actions::settings(ctx, body),
        (false, "/api/import") => {
            actions::import(ctx, &q, super::http::header(req, "X-Snap-Password"), body)
        }
        (false, "/api/export-vault") => actions::export_vault(ctx, body),
        _ => return Reply::error(404, "not_found", &format!("no such page: {path}")),
    };
    result.unwrap_or_else(|e| error_reply(&e))
}

/// The kind of an error, for the page to react to, and its HTTP status.
/// The page shows every error's message; it offers "Restore anyway" for
/// `in_use`, and asks for the password again for `wrong_password`.
pub fn error_kind(err: &anyhow::Error) -> (&'static str, u16) {
    use snap_engine::Error as E;
    use snap_store::Error as S;
    for cause in err.chain() {
        let store = match cause.downcast_ref::<E>() {
            Some(E::InUse { .. }) => return ("in_use", 409),
            Some(E::Store(s)) => Some(s),
            Some(E::WrongPasswordOrDamaged { .. }) => return ("wrong_password", 400),
            Some(E::Unsafe { .. }) => return ("unsafe", 400),
            Some(E::Invalid { .. }) => return ("invalid", 400),
            Some(_) => return ("error", 500),
            None => cause.downcast_ref::<S>(),
        };
        match store {
            Some(S::Locked { .. }) => return ("locked", 409),
            Some(S::NoRepository { .. }) => return ("no_repository", 500),
            Some(S::NotFound { .. }) => return ("not_found", 404),
            Some(S::Ambiguous { .. } | S::BadId { .. }) => return ("invalid", 400),
            Some(_) => return ("error", 500),
            None => {}
        }
    }
    ("error", 500)
}

/// An error as the JSON the page shows.
pub fn error_reply(err: &anyhow::Error) -> Reply {
    let (kind, status) = error_kind(err);
    Reply::error(status, kind, &format!("{err:#}"))
}

/// Opens the repository for one request (shared lock, released after).
pub fn open(ctx: &Context) -> anyhow::Result<Repo> {
    ctx.open_engine(OpenOptions::shared("ui"))
}

/// A required query parameter.
pub fn param<'q>(q: &'q HashMap<String, String>, name: &str) -> anyhow::Result<&'q str> {
    q.get(name)
        .map(String::as_str)
        .ok_or_else(|| bad(&format!("missing parameter {name:?}")))
}

/// A request the page should not have sent.
pub fn bad(message: &str) -> anyhow::Error {
    snap_engine::Error::Invalid {
        what: "request",
        value: String::new(),
        reason: message.into(),
    }
    .into()
}

/// One snapshot as the timeline shows it.
#[derive(Serialize)]
pub struct SnapshotRow {
    id: String,
    short_id: String,
    name: String,
    profile: String,
    time_ms: i64,
    tags: Vec<String>,
    files: u64,
    bytes: u64,
    new_bytes: u64,
    added: u64,
    changed: u64,
    removed: u64,
}

impl From<&SnapshotInfo> for SnapshotRow {
    fn from(s: &SnapshotInfo) -> Self {
        let m = &s.manifest;
        SnapshotRow {
            id: s.id.to_hex(),
            short_id: s.short_id.clone(),
            name: m.name.clone(),
            profile: m.profile.clone(),
            time_ms: m.time_ms,
            tags: m.tags.clone(),
            files: m.summary.files,
            bytes: m.summary.bytes,
            new_bytes: m.summary.new_bytes,
            added: m.summary.added,
            changed: m.summary.changed,
            removed: m.summary.removed,
        }
    }
}

fn profiles(ctx: &Context) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let profiles = ctx.profiles(&repo)?;
    let usage = snap_engine::commands::gc::usage(&repo)?;
    let snaps = repo.snapshots()?;
    let list: Vec<serde_json::Value> = profiles
        .iter()
        .map(|p| {
            let mine: Vec<&SnapshotInfo> = snaps
                .iter()
                .filter(|s| s.manifest.profile == p.name)
                .collect();
            let last = mine.first().map(|s| SnapshotRow::from(*s));
            let next_due_ms = match (p.auto, p.interval.as_millis(), mine.first()) {
                (true, Some(i), Some(s)) => Some(s.manifest.time_ms + i),
                _ => None,
            };
            let u = usage.profiles.iter().find(|u| u.profile == p.name);
            serde_json::json!({
                "settings": p,
                "snapshots": mine.len(),
                "last": last,
                "next_due_ms": next_due_ms,
                "logical_bytes": u.map(|u| u.logical_bytes),
                "stored_bytes": u.map(|u| u.stored_bytes),
                "dedup_ratio": u.map(|u| u.dedup_ratio),
            })
        })
        .collect();
    Ok(Reply::json(&serde_json::json!({
        "repository": ctx.repo_path(),
        "stored_bytes": usage.totals.stored_bytes,
        "last_check": snap_engine::commands::last_check::load(&repo),
        "profiles": list,
    })))
}

fn snapshots(ctx: &Context, q: &HashMap<String, String>) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let profile = q.get("profile");
    let rows: Vec<SnapshotRow> = repo
        .snapshots()?
        .iter()
        .filter(|s| profile.is_none_or(|p| &s.manifest.profile == p))
        .map(SnapshotRow::from)
        .collect();
    Ok(Reply::json(&rows))
}

/// The snapshot named by the query parameter `name`.
pub fn snapshot(
    repo: &Repo,
    q: &HashMap<String, String>,
    name: &str,
) -> anyhow::Result<SnapshotInfo> {
    Ok(repo.resolve(param(q, name)?, None)?)
}

fn ls(ctx: &Context, q: &HashMap<String, String>) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let s = snapshot(&repo, q, "snapshot")?;
    let rel = browse::check_rel(q.get("path").map_or("", String::as_str))?;
    Ok(Reply::json(&browse::children(
        &repo,
        &s.manifest.tree,
        &rel,
    )?))
}

/// The content type of a file, by its name, for previews and downloads.
fn content_type(rel: &str) -> &'static str {
    let ext = rel.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("txt" | "md" | "log" | "ini" | "toml" | "yaml" | "yml" | "csv" | "lua") => {
            "text/plain; charset=utf-8"
        }
        _ => "application/octet-stream",
    }
}

fn file(ctx: &Context, q: &HashMap<String, String>) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let s = snapshot(&repo, q, "snapshot")?;
    let rel = browse::check_rel(param(q, "path")?)?;
    let bytes = browse::read(&repo, &s.manifest.tree, &rel)?;
    let reply = Reply::bytes(200, content_type(&rel), bytes);
    Ok(if q.contains_key("download") {
        let name = rel.rsplit('/').next().unwrap_or("file");
        let safe = super::http::safe_file_name(name);
        reply.header(
            "Content-Disposition",
            &format!("attachment; filename=\"{safe}\""),
        )
    } else {
        reply
    })
}

fn versions(ctx: &Context, q: &HashMap<String, String>) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let rel = browse::check_rel(param(q, "path")?)?;
    let v = snap_engine::commands::versions::file_versions(&repo, param(q, "profile")?, &rel)?;
    Ok(Reply::json(&v))
}

/// The live folder of a snapshot's profile, with its excludes.
pub fn live_dir(
    ctx: &Context,
    repo: &Repo,
    s: &SnapshotInfo,
) -> anyhow::Result<(PathBuf, Vec<String>)> {
    let profiles = ctx.profiles(repo)?;
    Ok(match profiles.get(&s.manifest.profile) {
        Some(p) => (p.path.clone(), p.excludes.clone()),
        None => (PathBuf::from(&s.manifest.source.path), Vec::new()),
    })
}

fn diff(ctx: &Context, q: &HashMap<String, String>) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let a = snapshot(&repo, q, "a")?;
    let live = match param(q, "b")? {
        "live" => {
            let (dir, excludes) = live_dir(ctx, &repo, &a)?;
            let tree = LiveTree::build(
                &repo,
                &dir,
                &Filter::new(&excludes)?,
                Some(&a.manifest.tree),
            )
            .with_context(|| format!("reading the live folder {}", dir.display()))?;
            Some(tree)
        }
        _ => None,
    };
    let changes = match &live {
        Some(live) => diff_trees(&live.load(&repo), Some(&a.manifest.tree), Some(&live.root))?,
        None => {
            let b = snapshot(&repo, q, "b")?;
            diff_trees(
                &|id| repo.tree(id),
                Some(&a.manifest.tree),
                Some(&b.manifest.tree),
            )?
        }
    };
    let rows: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| {
            serde_json::json!({
                "marker": c.kind.marker().to_string(),
                "kind": c.kind,
                "path": c.path,
                "file": c.node_kind == NodeKind::File,
            })
        })
        .collect();
    Ok(Reply::json(&rows))
}

fn text_diff(ctx: &Context, q: &HashMap<String, String>) -> anyhow::Result<Reply> {
    let repo = open(ctx)?;
    let a = snapshot(&repo, q, "a")?;
    let rel = param(q, "path")?;
    let d = match param(q, "b")? {
        "live" => {
            let (dir, _) = live_dir(ctx, &repo, &a)?;
            textdiff::file_diff(&repo, Side::Snapshot(&a), Side::Live(&dir), rel)?
        }
        _ => {
            let b = snapshot(&repo, q, "b")?;
            textdiff::file_diff(&repo, Side::Snapshot(&a), Side::Snapshot(&b), rel)?
        }
    };
    Ok(Reply::json(&d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn error_kinds_follow_the_error_through_context() {
        let locked = anyhow::Error::new(snap_engine::Error::Store(snap_store::Error::Locked {
            path: PathBuf::from("/r/lock"),
            holder: "pid 1".into(),
            waited_ms: 0,
        }))
        .context("restore failed");
        assert_eq!(error_kind(&locked), ("locked", 409));
        let invalid = snap_engine::commands::browse::check_rel("../x").unwrap_err();
        assert_eq!(error_kind(&anyhow::Error::new(invalid)), ("invalid", 400));
        assert_eq!(error_kind(&bad("x")), ("invalid", 400));
        assert_eq!(error_kind(&anyhow::anyhow!("plain")), ("error", 500));
        let in_use = crate::commands::restore::restore_failure(
            snap_engine::Error::InUse {
                path: PathBuf::from("app.db"),
                pid: 42,
                command: "app".into(),
            },
            "abc",
            "/p",
        );
        assert_eq!(error_kind(&in_use), ("in_use", 409));
        assert!(format!("{in_use:#}").starts_with("restore of snapshot abc refused"));
        let reply = error_reply(&locked);
        assert_eq!(reply.status, 409);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"]["kind"], "locked");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("restore failed"));
    }
}
