//! `snap init [--encrypt] [--from SRC]`: create a new, empty repository
//! (sharing SRC's chunker parameters and key with `--from`).

use anyhow::Context as _;
use serde::Serialize;
use snap_store::{InitOptions, OpenOptions, Repository};

use super::Context;
use crate::args::{Global, InitArgs};

#[derive(Serialize)]
struct Created<'a> {
    path: &'a std::path::Path,
    id: &'a str,
    format_version: u64,
    encrypted: bool,
    /// The repository whose chunker parameters and key it shares (`--from`).
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
}

/// Creates the repository at `--repo`; fails when one (or anything) is there.
pub fn run(ctx: &Context, global: &Global, args: &InitArgs) -> anyhow::Result<()> {
    let path = ctx.repo_path();
    if ctx.repo_exists()? {
        anyhow::bail!("a repository already exists at {}", path.display());
    }
    let (opts, from) = match &args.from {
        None => (
            InitOptions {
                chunker: snap_engine::chunker::DEFAULT_PARAMS,
                encryption: ctx.init_encryption(args.encrypt)?,
                ..InitOptions::default()
            },
            None,
        ),
        Some(from) => {
            let src_ctx = super::copy::source_context(ctx, global, from, &args.from_password)?;
            let src = src_ctx
                .open_repo(OpenOptions::shared("init --from"))
                .with_context(|| format!("opening {}", from.display()))?;
            let encrypt = args.encrypt || src.store().is_encrypted();
            let opts = snap_engine::commands::copy::init_options_from(
                &src,
                ctx.init_encryption(encrypt)?,
            )?;
            (opts, Some(src.store().storage().location().to_string()))
        }
    };
    let config = match &ctx.remote {
        Some(b) => Repository::init_in(b.clone(), &opts),
        None => Repository::init(path, &opts),
    }
    .with_context(|| format!("cannot create a repository at {}", path.display()))?;
    let created = Created {
        path,
        id: &config.id,
        format_version: config.format_version,
        encrypted: config.encryption.is_some(),
        from,
    };
    ctx.out.emit(&created, |w, quiet| {
        if quiet {
            return Ok(());
        }
        writeln!(
            w,
            "created {}repository {} at {}{}",
            if created.encrypted { "encrypted " } else { "" },
            &config.id[..8],
            path.display(),
            created
                .from
                .as_deref()
                .map(|f| format!(" (chunker parameters and key of {f})"))
                .unwrap_or_default()
        )
    })
}
