//! `snap init [--encrypt]`: create a new, empty repository.

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use crate::args::InitArgs;

#[derive(Serialize)]
struct Created<'a> {
    path: &'a std::path::Path,
    id: &'a str,
    format_version: u64,
    encrypted: bool,
}

/// Creates the repository at `--repo`; fails when one (or anything) is there.
pub fn run(ctx: &Context, args: &InitArgs) -> anyhow::Result<()> {
    let path = ctx.repo_path();
    if ctx.repo_exists()? {
        anyhow::bail!("a repository already exists at {}", path.display());
    }
    let encryption = ctx.init_encryption(args.encrypt)?;
    let config = match &ctx.remote {
        Some(b) => snap_engine::Repo::init_in(b.clone(), encryption, None),
        None => snap_engine::Repo::init_with(path, encryption),
    }
    .with_context(|| format!("cannot create a repository at {}", path.display()))?;
    let created = Created {
        path,
        id: &config.id,
        format_version: config.format_version,
        encrypted: config.encryption.is_some(),
    };
    ctx.out.emit(&created, |w, quiet| {
        if quiet {
            return Ok(());
        }
        writeln!(
            w,
            "created {}repository {} at {}",
            if created.encrypted { "encrypted " } else { "" },
            &config.id[..8],
            path.display()
        )
    })
}
