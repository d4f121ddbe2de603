//! `snap key list | add | remove ID | passwd | cache`: the passwords (key
//! slots) of an encrypted repository. The new password of `add` and
//! `passwd` comes from `--new-password-file`, `$SNAP_NEW_PASSWORD` or a
//! prompt (twice). `cache` keeps the unlocked keys in the runtime directory
//! for a while ([`snap_store::key_cache`]); `cache --clear` drops them.

use anyhow::Context as _;
use serde::Serialize;
use snap_engine::model::duration::Duration as Span;
use snap_store::{KeyCache, KeyInfo, OpenOptions};

use super::{kdf_params, Context};
use crate::args::{Command, KeyCacheArgs, KeyCommand, NewPasswordArgs};

#[derive(Serialize)]
struct Changed<'a> {
    action: &'a str,
    id: &'a str,
}

/// Whether `command` may unlock with a `snap key cache` entry: every
/// command but the `key` ones that change or cache keys (those ask for a
/// password, so a cached key cannot be turned into a new password, and
/// `passwd` knows which slot it replaces).
pub fn may_use_key_cache(command: &Command) -> bool {
    !matches!(
        command,
        Command::Key {
            command: KeyCommand::Add(_)
                | KeyCommand::Remove { .. }
                | KeyCommand::Passwd(_)
                | KeyCommand::Cache(_)
        }
    )
}

/// Runs one `snap key` command.
pub fn run(ctx: &Context, cmd: &KeyCommand) -> anyhow::Result<()> {
    if let KeyCommand::Cache(a) = cmd {
        return cache(ctx, a);
    }
    let mut repo = open_encrypted(ctx, "key")?;
    let (action, id) = match cmd {
        KeyCommand::List => return list(ctx, &repo.key_slots()),
        KeyCommand::Cache(_) => unreachable!("handled above"),
        KeyCommand::Add(a) => ("added", repo.add_key(&new_password(a)?, kdf_params()?)?),
        KeyCommand::Remove { id } => ("removed", repo.remove_key(id)?),
        KeyCommand::Passwd(a) => (
            "changed",
            repo.change_password(None, &new_password(a)?, kdf_params()?)?,
        ),
    };
    let out = Changed { action, id: &id };
    ctx.out.emit(&out, |w, quiet| {
        if quiet {
            return Ok(());
        }
        match action {
            "changed" => writeln!(w, "changed the password; its key slot is now {id}"),
            _ => writeln!(w, "{action} key slot {id}"),
        }
    })
}

fn open_encrypted(ctx: &Context, command: &str) -> anyhow::Result<snap_store::Repository> {
    let repo = ctx.open(OpenOptions::shared(command))?;
    if !repo.is_encrypted() {
        anyhow::bail!(
            "{} is not encrypted: it has no passwords (create an encrypted repository with `snap init --encrypt`)",
            ctx.repo_path().display()
        );
    }
    Ok(repo)
}

#[derive(Serialize)]
struct Cached {
    action: &'static str,
    #[serde(flatten)]
    entry: snap_store::key_cache::Entry,
}

#[derive(Serialize)]
struct Cleared {
    action: &'static str,
    repository: String,
    removed: bool,
}

/// `snap key cache [--for DURATION] | --clear`.
fn cache(ctx: &Context, a: &KeyCacheArgs) -> anyhow::Result<()> {
    let cache = KeyCache::runtime()?;
    if a.clear {
        let repository = snap_store::key_cache::repository_id(&ctx.storage())?;
        let removed = cache.forget(&repository)?;
        let out = Cleared {
            action: "cleared",
            repository,
            removed,
        };
        return ctx.out.emit(&out, |w, quiet| match (quiet, out.removed) {
            (true, _) => Ok(()),
            (false, true) => writeln!(w, "removed the cached keys of {}", out.repository),
            (false, false) => writeln!(w, "no cached keys for {}", out.repository),
        });
    }
    let ttl = a
        .ttl
        .parse::<Span>()
        .ok()
        .and_then(|d| d.to_std())
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--for {:?}: expected a duration such as 30s, 15m or 2h",
                a.ttl
            )
        })?;
    let repo = open_encrypted(ctx, "key cache")?;
    let keys = repo.keys().expect("an encrypted repository opened");
    let entry = cache.remember(&repo.config().id, keys, ttl)?;
    let out = Cached {
        action: "cached",
        entry,
    };
    ctx.out.emit(&out, |w, quiet| {
        if quiet {
            return Ok(());
        }
        writeln!(
            w,
            "cached the keys of {} in {} until {} (end it early with `snap key cache --clear`)",
            out.entry.repository,
            out.entry.path.display(),
            out.entry.expires
        )
    })
}

fn new_password(a: &NewPasswordArgs) -> anyhow::Result<String> {
    crate::password::read_from(
        &crate::password::Source {
            file: a.new_password_file.clone(),
            command: None,
            env: Some("SNAP_NEW_PASSWORD"),
            what: "new password",
        },
        true,
    )
}

fn list(ctx: &Context, slots: &[KeyInfo]) -> anyhow::Result<()> {
    ctx.out.emit(&slots, |w, _quiet| {
        for s in slots {
            writeln!(
                w,
                "{} {}  created {}  argon2id m={} KiB t={} p={}{}",
                if s.current { "*" } else { " " },
                s.id,
                s.created,
                s.kdf.memory_kib,
                s.kdf.iterations,
                s.kdf.parallelism,
                if s.intact { "" } else { "  DAMAGED" }
            )?;
        }
        Ok(())
    })
}
