//! `snap profile add|list|show|set|remove`.

use anyhow::bail;
use snap_engine::model::duration::Duration;
use snap_engine::model::profile::{sanitize_name, Profile, Scope};
use snap_store::OpenOptions;

use super::Context;
use crate::args::{ProfileCommand, ProfileSettings, Switch};

/// Runs a profile subcommand.
pub fn run(ctx: &Context, cmd: &ProfileCommand) -> anyhow::Result<()> {
    let repo = match cmd {
        ProfileCommand::Add { .. } => {
            ctx.open_or_init_engine(OpenOptions::shared("profile"), false)?
        }
        _ => ctx.open_engine(OpenOptions::shared("profile"))?,
    };
    match cmd {
        ProfileCommand::Add {
            name,
            path,
            settings,
        } => {
            let path = std::fs::canonicalize(path)
                .map_err(|e| anyhow::anyhow!("profile directory {}: {e}", path.display()))?;
            let p = ctx.update_profiles(&repo, |ps| {
                let mut p = Profile::new(&sanitize_name(name)?, path)?;
                apply(&mut p, settings, true)?;
                p.validate()?;
                ps.add(p.clone())?;
                Ok(p)
            })?;
            show_one(ctx, &p)
        }
        ProfileCommand::List => {
            let ps = ctx.profiles(&repo)?;
            let list: Vec<&Profile> = ps.iter().collect();
            ctx.out.emit(&list, |w, _| {
                writeln!(w, "{:<20}  {:<5}  {:<9}  path", "name", "auto", "interval")?;
                for p in &list {
                    writeln!(
                        w,
                        "{:<20}  {:<5}  {:<9}  {}",
                        p.name,
                        if p.auto { "on" } else { "off" },
                        p.interval.to_string(),
                        p.path.display()
                    )?;
                }
                Ok(())
            })
        }
        ProfileCommand::Show { name } => {
            let ps = ctx.profiles(&repo)?;
            show_one(ctx, ps.require(name)?)
        }
        ProfileCommand::Set {
            name,
            path,
            settings,
        } => {
            let path = path.as_ref().map(std::fs::canonicalize).transpose()?;
            let p = ctx.update_profiles(&repo, |ps| {
                let mut err = None;
                let p = ps
                    .set(name, |p| {
                        if let Some(path) = path {
                            p.path = path;
                        }
                        err = apply(p, settings, false).err();
                    })?
                    .clone();
                match err {
                    Some(e) => Err(e),
                    None => Ok(p),
                }
            })?;
            show_one(ctx, &p)
        }
        ProfileCommand::Remove { name, purge } => {
            let removed = ctx.update_profiles(&repo, |ps| Ok(ps.remove(name)?))?;
            let mut forgotten = 0;
            if *purge {
                for s in repo
                    .snapshots()?
                    .into_iter()
                    .filter(|s| s.manifest.profile == removed.name)
                {
                    repo.delete_snapshot(&s.id)?;
                    forgotten += 1;
                }
            }
            ctx.out.emit(&serde_json::json!({ "removed": removed.name, "snapshots_forgotten": forgotten }), |w, quiet| {
                if !quiet {
                    writeln!(w, "removed profile {}{}", removed.name, if *purge { format!(" and forgot its {forgotten} snapshot(s); run `snap gc` to reclaim space") } else { "; its snapshots are kept".into() })?;
                }
                Ok(())
            })
        }
    }
}

fn show_one(ctx: &Context, p: &Profile) -> anyhow::Result<()> {
    ctx.out.emit(p, |w, _| {
        writeln!(w, "name      {}", p.name)?;
        writeln!(w, "path      {}", p.path.display())?;
        writeln!(
            w,
            "auto      {} every {}",
            if p.auto { "on" } else { "off" },
            p.interval
        )?;
        writeln!(
            w,
            "excludes  {}",
            if p.excludes.is_empty() {
                "-".into()
            } else {
                p.excludes.join(" ")
            }
        )?;
        writeln!(
            w,
            "retention {}",
            serde_json::to_string(&p.retention).unwrap_or_default()
        )?;
        for (name, s) in &p.scopes {
            writeln!(
                w,
                "scope     {name}: exclude {:?}, redact {:?}",
                s.exclude, s.redact_keys
            )?;
        }
        Ok(())
    })
}

/// Applies the settings given on the command line to a profile.
pub(crate) fn apply(p: &mut Profile, s: &ProfileSettings, adding: bool) -> anyhow::Result<()> {
    if !s.excludes.is_empty() || adding {
        p.excludes = s.excludes.clone();
    }
    if let Some(a) = s.auto {
        p.auto = matches!(a, Switch::On);
    }
    let dur = |v: &Option<String>| v.as_deref().map(str::parse::<Duration>).transpose();
    if let Some(i) = dur(&s.interval)? {
        if i.is_never() {
            bail!("--interval never: turn automatic snapshots off with --auto off instead");
        }
        p.interval = i;
    }
    super::apply_policy(&s.policy, &mut p.retention)?;
    for spec in &s.scopes {
        let (name, rules) = spec.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--scope {spec:?}: expected NAME=exclude:GLOB,redact:PATTERN")
        })?;
        let mut scope = Scope::default();
        for rule in rules.split(',').filter(|r| !r.is_empty()) {
            match rule.split_once(':') {
                Some(("exclude", g)) => scope.exclude.push(g.to_string()),
                Some(("redact", k)) => scope.redact_keys.push(k.to_string()),
                _ => bail!("--scope {spec:?}: {rule:?} is neither exclude:GLOB nor redact:PATTERN"),
            }
        }
        p.scopes.insert(sanitize_name(name)?, scope);
    }
    p.validate()?;
    Ok(())
}
