//! `snap ls`, `snap cat`, `snap diff`: looking inside snapshots.

use std::io::Write;
use std::path::PathBuf;

use snap_engine::commands::browse;
use snap_engine::commands::diff::diff_trees;
use snap_engine::source::filter::Filter;
use snap_engine::source::live::LiveTree;
use snap_store::OpenOptions;

use super::Context;
use crate::args::{CatArgs, DiffArgs, LsArgs};
use crate::render::{bytes, time};

/// Lists a snapshot's entries (under PATH).
pub fn ls(ctx: &Context, args: &LsArgs) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("ls"))?;
    let s = repo.resolve(&args.snapshot.id, args.snapshot.profile.as_deref())?;
    let entries = browse::list(&repo, &s.manifest.tree, args.path.as_deref().unwrap_or(""))?;
    ctx.out.emit(&entries, |w, _| {
        for e in &entries {
            let kind = match e.kind {
                snap_engine::model::tree::NodeKind::Dir => 'd',
                snap_engine::model::tree::NodeKind::File => '-',
                snap_engine::model::tree::NodeKind::Symlink => 'l',
            };
            let target = e
                .target
                .as_ref()
                .map(|t| format!(" -> {t}"))
                .unwrap_or_default();
            writeln!(
                w,
                "{kind}{:04o}  {:>10}  {}  {}{target}",
                e.mode,
                bytes(e.size),
                time(e.mtime_ns / 1_000_000),
                e.path
            )?;
        }
        Ok(())
    })
}

/// Writes one file of a snapshot to stdout.
pub fn cat(ctx: &Context, args: &CatArgs) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("cat"))?;
    let s = repo.resolve(&args.snapshot.id, args.snapshot.profile.as_deref())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    browse::cat(&repo, &s.manifest.tree, &args.path, &mut out)?;
    out.flush()?;
    Ok(())
}

/// Differences between two snapshots, or a snapshot and the live directory.
pub fn diff(ctx: &Context, args: &DiffArgs) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("diff"))?;
    let profile = args.snapshot.profile.as_deref();
    let a = repo.resolve(&args.snapshot.id, profile)?;
    let changes = match &args.id2 {
        Some(id2) => {
            let b = repo.resolve(id2, profile)?;
            diff_trees(
                &|id| repo.tree(id),
                Some(&a.manifest.tree),
                Some(&b.manifest.tree),
            )?
        }
        None => {
            let profiles = ctx.profiles(&repo)?;
            let (dir, excludes) = match profiles.get(&a.manifest.profile) {
                Some(p) => (p.path.clone(), p.excludes.clone()),
                None => (PathBuf::from(&a.manifest.source.path), Vec::new()),
            };
            let live = LiveTree::build(
                &repo,
                &dir,
                &Filter::new(&excludes)?,
                Some(&a.manifest.tree),
            )?;
            let load = live.load(&repo);
            diff_trees(&load, Some(&a.manifest.tree), Some(&live.root))?
        }
    };
    ctx.out.emit(&changes, |w, _| {
        for c in &changes {
            writeln!(w, "{} {}", c.kind.marker(), c.path)?;
        }
        Ok(())
    })
}
