//! `snap init`: create a new, empty repository.

use anyhow::Context as _;
use serde::Serialize;

use super::Context;

#[derive(Serialize)]
struct Created<'a> {
    path: &'a std::path::Path,
    id: &'a str,
    format_version: u64,
}

/// Creates the repository at `--repo`; fails when one (or anything) is there.
pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let path = ctx.repo_path();
    if path.join(snap_store::layout::CONFIG).exists() {
        anyhow::bail!("a repository already exists at {}", path.display());
    }
    let config = snap_engine::Repo::init(path)
        .with_context(|| format!("cannot create a repository at {}", path.display()))?;
    let created = Created {
        path,
        id: &config.id,
        format_version: config.format_version,
    };
    ctx.out.emit(&created, |w, quiet| {
        if quiet {
            return Ok(());
        }
        writeln!(
            w,
            "created repository {} at {}",
            &config.id[..8],
            path.display()
        )
    })
}
