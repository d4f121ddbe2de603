//! `snap key list | add | remove ID | passwd`: the passwords (key slots) of
//! an encrypted repository. The new password of `add` and `passwd` comes
//! from `--new-password-file`, `$SNAP_NEW_PASSWORD` or a prompt (twice).

use serde::Serialize;
use snap_store::{KeyInfo, OpenOptions};

use super::{kdf_params, Context};
use crate::args::{KeyCommand, NewPasswordArgs};

#[derive(Serialize)]
struct Changed<'a> {
    action: &'a str,
    id: &'a str,
}

/// Runs one `snap key` command.
pub fn run(ctx: &Context, cmd: &KeyCommand) -> anyhow::Result<()> {
    let mut repo = ctx.open(OpenOptions::shared("key"))?;
    if !repo.is_encrypted() {
        anyhow::bail!(
            "{} is not encrypted: it has no passwords (create an encrypted repository with `snap init --encrypt`)",
            ctx.repo_path().display()
        );
    }
    let (action, id) = match cmd {
        KeyCommand::List => return list(ctx, &repo.key_slots()),
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
