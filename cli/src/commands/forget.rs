//! `snap forget`: retention by policy or removal by id.

use anyhow::Context as _;
use snap_engine::duration::Duration as Dur;
use snap_engine::forget::{forget, now_from_env, ForgetOptions};
use snap_engine::retention::Policy;
use snap_store::OpenOptions;

use super::gc::open_repo;
use super::Context;
use crate::args::ForgetArgs;

fn dur(flag: &str, v: &Option<String>) -> anyhow::Result<Option<Dur>> {
    v.as_deref()
        .map(|s| s.parse::<Dur>().with_context(|| format!("--{flag} {s}")))
        .transpose()
}

/// The policy the flags describe, or `None` when no policy flag is given.
fn policy(a: &ForgetArgs) -> anyhow::Result<Option<Policy>> {
    let any = a.max_count.is_some()
        || a.max_age.is_some()
        || a.keep_last.is_some()
        || a.keep_within.is_some()
        || a.keep_hourly.is_some()
        || a.keep_daily.is_some()
        || a.keep_weekly.is_some()
        || a.keep_monthly.is_some()
        || a.keep_yearly.is_some()
        || !a.keep_tag.is_empty();
    if !any {
        return Ok(None);
    }
    let d = Policy::default();
    let p = Policy {
        max_count: a.max_count.or(d.max_count),
        max_age: dur("max-age", &a.max_age)?.unwrap_or(d.max_age),
        keep_last: a.keep_last,
        keep_within: dur("keep-within", &a.keep_within)?,
        keep_hourly: a.keep_hourly,
        keep_daily: a.keep_daily,
        keep_weekly: a.keep_weekly,
        keep_monthly: a.keep_monthly,
        keep_yearly: a.keep_yearly,
        keep_tags: a.keep_tag.clone(),
    };
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
    let repo = open_repo(ctx, OpenOptions::shared("forget"))?;
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
