//! `snap copy --from SRC [--to DST] [--profile P] [IDS…]`: copy snapshots
//! from one repository to another ([`snap_engine::copy`]).

use anyhow::Context as _;
use serde::Serialize;
use snap_engine::commands::copy::{copy_snapshots, CopyOptions, CopyReport, CopyStatus, Selection};
use snap_store::OpenOptions;

use super::Context;
use crate::args::{CopyArgs, FromPasswordArgs, Global};
use crate::render;

/// Where the password of the `--from` repository comes from.
pub(crate) fn from_password(args: &FromPasswordArgs) -> crate::password::Source {
    crate::password::Source {
        file: args.from_password_file.clone(),
        command: args.from_password_command.clone(),
        env: Some("SNAP_FROM_PASSWORD"),
        what: "source repository password",
    }
}

/// The context of the `--from` repository.
pub(crate) fn source_context(
    ctx: &Context,
    global: &Global,
    from: &std::path::Path,
    password: &FromPasswordArgs,
) -> anyhow::Result<Context> {
    if let Some(f) = &password.from_password_file {
        if !f.is_file() {
            anyhow::bail!("password file {} does not exist", f.display());
        }
    }
    ctx.for_repo(global, from, from_password(password))
}

#[derive(Serialize)]
struct Copied<'a> {
    from: String,
    to: String,
    #[serde(flatten)]
    report: &'a CopyReport,
}

/// Copies the selected snapshots and prints one line per snapshot and the totals.
pub fn run(ctx: &Context, global: &Global, args: &CopyArgs) -> anyhow::Result<()> {
    let src_ctx = source_context(ctx, global, &args.from, &args.from_password)?;
    let dst_ctx = match &args.to {
        Some(to) => ctx.for_repo(global, to, ctx.password.clone())?,
        None => ctx.for_repo(global, ctx.repo_path(), ctx.password.clone())?,
    };
    let src = src_ctx
        .open_engine(OpenOptions::shared("copy"))
        .with_context(|| format!("opening the source {}", args.from.display()))?;
    let dst = dst_ctx
        .open_engine(OpenOptions::shared("copy"))
        .with_context(|| format!("opening the destination {}", dst_ctx.repo_path().display()))?;
    let mut selection = Selection {
        profile: args.profile.clone(),
        ids: Vec::new(),
    };
    for text in &args.ids {
        selection
            .ids
            .push(src.resolve(text, args.profile.as_deref())?.id);
    }
    let options = CopyOptions {
        lock_wait: ctx.lock_wait,
    };
    let report = copy_snapshots(&src, &dst, &selection, &options)?;
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    let shown = Copied {
        from: src.store().storage().location().to_string(),
        to: dst.store().storage().location().to_string(),
        report: &report,
    };
    ctx.out.emit(&shown, |w, quiet| {
        if quiet {
            return Ok(());
        }
        for s in &report.snapshots {
            let what = match s.status {
                CopyStatus::Copied => "copied ",
                CopyStatus::Skipped => "skipped",
            };
            let ids = if s.source == s.destination {
                s.source.short()
            } else {
                format!("{} -> {}", s.source.short(), s.destination.short())
            };
            writeln!(w, "{what} {ids} {} {}", s.profile, s.name)?;
        }
        writeln!(
            w,
            "{} copied, {} already there; {} stored in {} ({} of data)",
            report.copied(),
            report.snapshots.len() - report.copied(),
            render::count(report.blobs, "blob", "blobs"),
            render::count(report.packs, "new pack", "new packs"),
            render::bytes(report.raw_bytes),
        )?;
        for p in &report.profiles_added {
            writeln!(w, "registered profile {p} in {}", shown.to)?;
        }
        Ok(())
    })
}
