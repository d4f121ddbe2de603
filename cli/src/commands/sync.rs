//! `snap sync push --to REPO | pull --from REPO | status`: converts the
//! arguments, opens the local and the shared repository, calls
//! [`snap_engine::sync`], renders the report.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use snap_engine::commands::sync::{self, PullAction, PushAction, Resolve, SyncOptions, WouldDo};
use snap_engine::Repo;
use snap_store::OpenOptions;

use super::Context;
use crate::args::SyncCommand;

/// Runs one `snap sync` command.
pub fn run(ctx: &Context, command: &SyncCommand) -> anyhow::Result<()> {
    match command {
        SyncCommand::Push { to, profile, scope } => {
            let local = ctx.open_engine(OpenOptions::shared("sync push"))?;
            let shared = open_shared(ctx, to, Some(&local))?;
            let mut opts = options(ctx, &local, profile.as_deref())?;
            opts.scope = scope.clone();
            let r = sync::push(&local, &shared, &opts)
                .with_context(|| format!("push of profile {:?} to {to}", opts.profile))?;
            ctx.out.emit(&r, |w, quiet| {
                if quiet {
                    return Ok(());
                }
                match (r.action, r.head) {
                    (PushAction::Pushed, Some(h)) => writeln!(
                        w,
                        "{}: pushed snapshot {} to {} as {} (head was {}; {} new chunk(s){})",
                        r.profile,
                        short(&r.local_snapshot.to_hex()),
                        r.repo,
                        short(&h.to_hex()),
                        r.previous
                            .map(|p| short(&p.to_hex()))
                            .unwrap_or_else(|| "none".into()),
                        r.chunks_new,
                        r.scope
                            .as_ref()
                            .map(|s| format!("; scope {s}"))
                            .unwrap_or_default()
                    ),
                    _ => writeln!(w, "{}: up to date with {}", r.profile, r.repo),
                }
            })
        }
        SyncCommand::Pull {
            from,
            profile,
            path,
            theirs,
            ours,
            force,
        } => {
            // A first pull on a new machine creates its repository, as
            // `create` does.
            let local = ctx.open_or_init_engine(OpenOptions::shared("sync pull"), false)?;
            let shared = open_shared(ctx, from, None)?;
            let mut opts = match (profile, path) {
                (Some(p), Some(_)) => base(ctx, p)?,
                _ => options(ctx, &local, profile.as_deref())?,
            };
            opts.path = path.clone();
            opts.force = *force;
            opts.resolve = match (theirs, ours) {
                (true, _) => Resolve::Theirs,
                (_, true) => Resolve::Ours,
                _ => Resolve::Report,
            };
            let r = sync::pull(&local, &shared, &opts)
                .with_context(|| format!("pull of profile {:?} from {from}", opts.profile))?;
            for warning in &r.warnings {
                ctx.out.warn(warning);
            }
            ctx.out.emit(&r, |w, quiet| {
                if quiet {
                    return Ok(());
                }
                let h = &r.head;
                let by = format!("snapshot {} pushed by {} ({}) at {}", h.short_id, h.device, h.host, h.time);
                match r.action {
                    PullAction::UpToDate => {
                        writeln!(w, "{}: up to date with {} ({by})", r.profile, r.repo)
                    }
                    PullAction::Pushed => writeln!(
                        w,
                        "{}: kept ours: pushed the local state over {by}; it stays in the shared history",
                        r.profile
                    ),
                    PullAction::Restored => {
                        writeln!(
                            w,
                            "{}: pulled {by} from {}: {} change(s)",
                            r.profile, r.repo, r.changes
                        )?;
                        if !r.carried_over.is_empty() || !r.kept_keys.is_empty() {
                            writeln!(
                                w,
                                "kept from this machine (outside the scope {}): {} path(s), {} key(s)",
                                h.scope.as_deref().unwrap_or("-"),
                                r.carried_over.len(),
                                r.kept_keys.len()
                            )?;
                        }
                        if let (Some(u), Some(cmd)) = (&r.undo_point, &r.undo_command) {
                            writeln!(
                                w,
                                "undo point (override backup): snapshot {}; undo with: {cmd}",
                                short(&u.to_hex())
                            )?;
                        }
                        Ok(())
                    }
                }
            })
        }
        SyncCommand::Status { with, profile } => {
            let local = ctx.open_engine(OpenOptions::shared("sync status"))?;
            let mut places: Vec<String> = match with {
                Some(w) => vec![w.clone()],
                None => sync::state::load_all(&local)?
                    .into_iter()
                    .filter(|r| profile.as_ref().is_none_or(|p| *p == r.profile))
                    .map(|r| r.repo)
                    .collect(),
            };
            places.sort();
            places.dedup();
            let mut all = Vec::new();
            for place in &places {
                let shared = open_shared(ctx, place, None)?;
                all.extend(sync::status(&local, &shared, profile.as_deref())?);
            }
            ctx.out.emit(&all, |w, quiet| {
                if all.is_empty() && !quiet {
                    return writeln!(w, "no profile is synced yet (snap sync push --to REPO)");
                }
                for s in &all {
                    let would = match s.would {
                        WouldDo::Nothing => "in sync",
                        WouldDo::Push => "push would send local changes",
                        WouldDo::Pull => "pull would restore the new head",
                        WouldDo::Conflict => "conflict: both changed (pull --theirs or --ours)",
                    };
                    let head = s
                        .head
                        .as_ref()
                        .map(|h| format!("head {} by {} at {}", h.short_id, h.device, h.time))
                        .unwrap_or_else(|| "no head".into());
                    let local = s
                        .local
                        .as_ref()
                        .map(|c| format!("local +{} ~{} -{}", c.added, c.changed, c.removed))
                        .unwrap_or_else(|| "local ?".into());
                    writeln!(w, "{} @ {}: {would} ({local}; {head})", s.profile, s.repo)?;
                }
                Ok(())
            })
        }
    }
}

/// Options for `profile`, or for the only profile of `local`.
fn options(ctx: &Context, local: &Repo, profile: Option<&str>) -> anyhow::Result<SyncOptions> {
    if let Some(p) = profile {
        return base(ctx, p);
    }
    let profiles = ctx.profiles(local)?;
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    match names.as_slice() {
        [one] => base(ctx, one),
        [] => anyhow::bail!("this repository has no profile; name one with --profile"),
        _ => anyhow::bail!(
            "this repository has {} profiles ({}); name one with --profile",
            names.len(),
            names.join(", ")
        ),
    }
}

fn base(ctx: &Context, profile: &str) -> anyhow::Result<SyncOptions> {
    let mut o = SyncOptions::new(profile);
    o.now = ctx.now()?;
    o.lock_wait = ctx.lock_wait;
    Ok(o)
}

fn short(hex: &str) -> String {
    hex[..8.min(hex.len())].to_string()
}

/// Opens the shared repository at `location` (a directory or
/// `s3://BUCKET/PREFIX`) with the same password sources as the local one;
/// with `init_like`, creates it first when it does not exist (encrypted
/// when that local repository is).
pub(crate) fn open_shared(
    ctx: &Context,
    location: &str,
    init_like: Option<&Repo>,
) -> anyhow::Result<Repo> {
    use snap_store::backend::s3::{S3Backend, S3Location};
    let mut opts = OpenOptions::shared("sync");
    opts.wait = ctx.lock_wait;
    opts.unlock = Some(ctx.password_unlock());
    let encryption = match init_like {
        Some(l) => ctx.init_encryption(l.store().is_encrypted())?,
        None => None,
    };
    let repo = if S3Location::is_s3_url(location) {
        let mut loc = S3Location::parse(location)?;
        if let Some(e) = &ctx.s3.0 {
            loc.endpoint = Some(e.clone());
        }
        loc.virtual_host_style = ctx.s3.1;
        let backend: Arc<dyn snap_store::backend::Backend> = Arc::new(S3Backend::new(&loc)?);
        match init_like {
            Some(_) => Repo::open_or_init_in(backend, &opts, encryption)?,
            None => Repo::open_in(backend, &opts)?,
        }
    } else {
        let path = Path::new(location);
        match init_like {
            Some(_) => Repo::open_or_init_with(path, &opts, encryption)?,
            None => Repo::open(path, &opts)?,
        }
    };
    for w in repo.store().warnings() {
        ctx.out.warn(w);
    }
    Ok(repo)
}

/// How `snap auto --sync REPO` reaches the shared repository: opened each
/// time a sync is due (its errors are the engine's, so `auto` can back
/// off); the head is looked at every `SNAP_AUTO_SYNC_POLL_MS` (default
/// 60 s) when nothing changed locally.
pub(crate) fn auto_sync(ctx: &Context, location: &str) -> snap_engine::commands::auto::AutoSync {
    let poll = std::env::var("SNAP_AUTO_SYNC_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let location = location.to_string();
    let unlock = ctx.password_unlock();
    // The keys of the first open, for every later one: Argon2id runs once
    // per `snap auto`, not once per poll.
    let keys: Arc<std::sync::Mutex<Option<snap_store::Keys>>> = Arc::default();
    let (endpoint, virtual_host) = ctx.s3.clone();
    let wait = ctx.lock_wait;
    snap_engine::commands::auto::AutoSync {
        poll: std::time::Duration::from_millis(poll),
        open: Arc::new(move || {
            use snap_store::backend::s3::{S3Backend, S3Location};
            let mut known = keys.lock().unwrap_or_else(|p| p.into_inner());
            let mut opts = OpenOptions::shared("auto sync");
            opts.wait = wait;
            opts.unlock = Some(match known.as_ref() {
                Some(k) => snap_store::Unlock::Keys(k.clone()),
                None => unlock.clone(),
            });
            let repo = if S3Location::is_s3_url(&location) {
                let mut loc = S3Location::parse(&location)?;
                if let Some(e) = &endpoint {
                    loc.endpoint = Some(e.clone());
                }
                loc.virtual_host_style = virtual_host;
                Repo::open_in(Arc::new(S3Backend::new(&loc)?), &opts)?
            } else {
                Repo::open(Path::new(&location), &opts)?
            };
            if let Some(k) = repo.store().keys() {
                *known = Some(k.clone());
            }
            Ok(repo)
        }),
    }
}
