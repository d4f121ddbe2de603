//! `snap forget`: retention by policy or removal by id.

use snap_engine::commands::forget::{forget, now_from_env, ForgetOptions};
use snap_engine::model::retention::Policy;
use snap_store::OpenOptions;

use super::gc::open_repo;
use super::Context;
use crate::args::ForgetArgs;

/// The policy the flags describe, or `None` when no policy flag is given.
fn policy(a: &ForgetArgs) -> anyhow::Result<Option<Policy>> {
    let mut p = Policy::default();
    if !super::apply_policy(&a.policy, &mut p)? {
        return Ok(None);
    }
    p.validate()?;
    Ok(Some(p))
}

/// Applies retention (or removes ids) and prints every verdict with reasons.
pub fn run(ctx: &Context, args: &ForgetArgs) -> anyhow::Result<()> {
    let policy = policy(args)?;
    if policy.is_some() && !args.ids.is_empty() {
        anyhow::bail!("give either snapshot ids or policy flags, not both");
    }
    let now = now_from_env()?;
    let repo = open_repo(ctx, OpenOptions::shared("forget").freeing_space())?;
    let report = forget(
        &repo,
        &ForgetOptions {
            profile: args.profile.clone(),
            policy,
            ids: args.ids.clone(),
            force: args.force,
            dry_run: args.dry_run,
            now_ms: now.timestamp_millis(),
            lock_wait: ctx.lock_wait,
        },
    )?;
    ctx.out.emit(&report, |w, quiet| {
        for p in &report.profiles {
            if !quiet {
                writeln!(w, "profile {}", p.profile)?;
            }
            for s in &p.snapshots {
                if quiet && s.keep {
                    continue;
                }
                let verb = match (s.keep, report.dry_run) {
                    (true, _) => "keep",
                    (false, true) => "would remove",
                    (false, false) => "remove",
                };
                writeln!(
                    w,
                    "  {:<12} {}  {}  {}",
                    verb,
                    s.short_id,
                    s.name,
                    s.reasons.join(", ")
                )?;
            }
        }
        if !quiet {
            let verb = if report.dry_run {
                "would remove"
            } else {
                "removed"
            };
            writeln!(
                w,
                "{verb} {} snapshot(s); run `snap gc` to reclaim their space",
                report.removed
            )?;
        }
        Ok(())
    })
}
