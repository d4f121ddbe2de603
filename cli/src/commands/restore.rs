//! `snap restore ID [--target DIR] [--path P]... [--dry-run]`.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use snap_engine::commands::restore::{restore, ProgressFn, RestoreOptions, RestoreProgress};
use snap_store::OpenOptions;

use super::Context;
use crate::args::RestoreArgs;
use crate::render::{bytes, progress_bar};

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
    let bar = (!args.dry_run && !ctx.out.json && !ctx.out.quiet && std::io::stderr().is_terminal())
        .then(progress_bar);
    let show = |p: RestoreProgress| {
        if let Some(b) = &bar {
            b.set_length(p.bytes_total);
            b.set_position(p.bytes_done);
            b.set_message(format!("{}/{} files", p.files_done, p.files_total));
        }
    };
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
        force: args.force,
        progress: bar.is_some().then_some(&show as ProgressFn<'_>),
    };
    let dest = opts
        .target
        .as_ref()
        .or(opts.profile_path.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let report = restore(&repo, &s, &opts).map_err(|e| restore_failure(e, &s.short_id, &dest));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report?;
    for w in &report.warnings {
        ctx.out.warn(w);
    }
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
            writeln!(
                w,
                "restored {} into {}: {} files written ({}), {} already correct",
                s.short_id,
                report.target.display(),
                report.files_written,
                bytes(report.bytes_written),
                report.files_reused
            )?;
            if let (Some(pre), Some(undo)) = (report.pre_restore, &report.undo_command) {
                writeln!(
                    w,
                    "the state replaced is snapshot {} (tagged pre-restore); to undo: {undo}",
                    pre.short()
                )?;
            }
        }
        Ok(())
    })
}

/// The one line for a failed restore of snapshot `short` into `dest`,
/// saying what happened on disk. Shared with `snap ui`.
pub(crate) fn restore_failure(e: snap_engine::Error, short: &str, dest: &str) -> anyhow::Error {
    let context = match &e {
        // The refusal is its own one line (exit code 14).
        snap_engine::Error::InUse { .. } => format!("restore of snapshot {short} refused"),
        // An interrupted `--path` swap that could not be undone at once:
        // the engine's message says the next command rolls it back.
        snap_engine::Error::Invalid {
            what: "restore --path into",
            ..
        } => format!("restore of snapshot {short} failed"),
        _ => format!("restore of snapshot {short} failed; {dest} was not changed"),
    };
    anyhow::Error::new(e).context(context)
}
