//! `snap create [PATH] [--profile NAME]`: take a snapshot. Prints the new
//! snapshot's id on stdout after the commit point, or `unchanged` and the
//! parent's id; exit 3 when some files could not be read.

use std::io::IsTerminal;

use anyhow::{bail, Context as _};
use snap_engine::commands::backup::{create, CreateOptions, CreateStatus, Progress};
use snap_store::OpenOptions;

use super::Context;
use crate::args::CreateArgs;
use crate::render::{bytes, progress_bar};
use crate::Partial;

/// Resolves (and registers, if new) the profile, then snapshots it.
pub fn run(ctx: &Context, args: &CreateArgs) -> anyhow::Result<()> {
    if let Some(p) = &args.path {
        if !p.is_dir() {
            let why = if p.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            bail!("source {} {why}", p.display());
        }
    }
    if ctx.repo_path().join(snap_store::layout::CONFIG).exists() {
        if let Some(low) = snap_engine::commands::gc::make_room_if_low(
            ctx.repo_path(),
            ctx.lock_wait,
            Some(&ctx.unlock()),
        )? {
            ctx.out.warn(&format!(
                "{} has only {} free of {}{}",
                ctx.repo_path().display(),
                bytes(low.free),
                bytes(low.total),
                if low.reclaimed > 0 {
                    format!("; gc reclaimed {} first", bytes(low.reclaimed))
                } else {
                    String::new()
                }
            ));
        }
    }
    let repo = ctx.open_or_init_engine(OpenOptions::shared("create"), args.encrypt)?;
    if args.profile.is_none() && args.path.is_none() {
        bail!("give a directory to snapshot, or --profile NAME");
    }
    let (profile, warnings) = snap_engine::commands::registry::resolve_for_create(
        &repo,
        ctx.lock_wait,
        args.profile.as_deref(),
        args.path.as_deref(),
    )?;
    for w in &warnings {
        ctx.out.warn(w);
    }

    let mut opts = CreateOptions::new(&profile.name, &profile.path);
    opts.excludes = profile
        .excludes
        .iter()
        .chain(&args.excludes)
        .cloned()
        .collect();
    opts.tags = args.tags.clone();
    opts.force = args.force;
    opts.now = ctx.now()?;
    opts.free_space_limit = std::env::var("SNAP_FREE_SPACE_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok());
    let bar =
        (!ctx.out.json && !ctx.out.quiet && std::io::stderr().is_terminal()).then(progress_bar);
    let report = |p: Progress| {
        if let Some(b) = &bar {
            b.set_length(p.bytes_total);
            b.set_position(p.bytes_done);
            b.set_message(format!("{}/{} files", p.files_done, p.files_total));
        }
    };
    if bar.is_some() {
        opts.progress = Some(&report);
    }
    let out = create(&repo, &opts).with_context(|| {
        format!(
            "snapshot of profile {} failed; nothing was committed",
            profile.name
        )
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for w in out.warnings.iter().chain(&out.post_commit_warnings) {
        ctx.out.warn(w);
    }
    if !ctx.out.quiet && !ctx.out.json {
        for s in &out.skipped {
            eprintln!("snap: note: {s}");
        }
    }
    ctx.out.emit(&out, |w, quiet| {
        match out.status {
            CreateStatus::Created => writeln!(w, "{}", out.id)?,
            CreateStatus::Unchanged => writeln!(w, "unchanged {}", out.id)?,
        }
        if !quiet {
            let s = &out.stats;
            eprintln!(
                "{} {} of {}: {} files ({} new, {} changed, {} unchanged), {} read, {} stored in {} ms",
                if out.status == CreateStatus::Created { "snapshot" } else { "unchanged since" },
                &out.id.short(),
                profile.name,
                out.manifest.summary.files,
                s.files_new,
                s.files_changed,
                s.files_unchanged,
                bytes(s.bytes_read),
                bytes(s.bytes_stored),
                s.duration_ms
            );
        }
        Ok(())
    })?;
    if !out.warnings.is_empty() {
        return Err(Partial(format!(
            "snapshot {} was created, but {} file(s) could not be read (listed above)",
            out.id.short(),
            out.warnings.len()
        ))
        .into());
    }
    Ok(())
}
