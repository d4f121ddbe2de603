//! `snap restore ID [--target DIR] [--path P]... [--dry-run]`.

use std::path::PathBuf;

use anyhow::Context as _;
use snap_engine::restore::{restore, RestoreOptions};
use snap_store::OpenOptions;

use super::Context;
use crate::args::RestoreArgs;
use crate::render::bytes;

/// Restores a snapshot in place (the profile's directory) or into `--target`.
pub fn run(ctx: &Context, args: &RestoreArgs) -> anyhow::Result<()> {
    if super::import::names_archive(ctx, &args.snapshot) {
        return super::import::restore_file(ctx, args);
    }
    if args.max_size.is_some() {
        anyhow::bail!("--max-size applies only when restoring from a ZIP or vault file");
    }
    let repo = ctx.open_engine(OpenOptions::shared("restore"))?;
    let s = repo.resolve(&args.snapshot.id, args.snapshot.profile.as_deref())?;
    let profiles = ctx.profiles(&repo)?;
    let profile = profiles.get(&s.manifest.profile);
    let opts = RestoreOptions {
        target: args.target.clone(),
        profile_path: Some(
            profile
                .map(|p| p.path.clone())
                .unwrap_or_else(|| PathBuf::from(&s.manifest.source.path)),
        ),
        excludes: profile.map(|p| p.excludes.clone()).unwrap_or_default(),
        paths: args.paths.clone(),
        dry_run: args.dry_run,
        now: ctx.now()?,
    };
    let report = restore(&repo, &s, &opts).with_context(|| {
        format!(
            "restore of snapshot {} failed; {} was not changed",
            s.short_id,
            opts.target
                .as_ref()
                .or(opts.profile_path.as_ref())
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )
    })?;
    ctx.out.emit(&report, |w, quiet| {
        if args.dry_run {
            for c in &report.changes {
                writeln!(w, "{} {}", c.kind.marker(), c.path)?;
            }
            if !quiet {
                writeln!(
                    w,
                    "dry run: {} change(s) would be made to {}",
                    report.changes.len(),
                    report.target.display()
                )?;
            }
            return Ok(());
        }
        if !quiet {
            if let Some(pre) = report.pre_restore {
                writeln!(
                    w,
                    "saved the current state as snapshot {} (pre-restore)",
                    pre.short()
                )?;
            }
            writeln!(
                w,
                "restored {} into {}: {} files written ({}), {} already correct",
                s.short_id,
                report.target.display(),
                report.files_written,
                bytes(report.bytes_written),
                report.files_reused
            )?;
        }
        Ok(())
    })
}
