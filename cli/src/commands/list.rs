//! `snap list` and `snap show ID`.

use snap_store::OpenOptions;

use super::Context;
use crate::args::{ListArgs, SnapshotArg};
use crate::render::{bytes, time};

/// Lists snapshots, newest first.
pub fn list(ctx: &Context, args: &ListArgs) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("list"))?;
    let snaps: Vec<_> = repo
        .snapshots()?
        .into_iter()
        .filter(|s| {
            args.profile
                .as_ref()
                .is_none_or(|p| &s.manifest.profile == p)
        })
        .collect();
    ctx.out.emit(&snaps, |w, _| {
        writeln!(
            w,
            "{:<8}  {:<36}  {:<16}  {:<20}  {:>6}  {:>10}  tags",
            "id", "name", "profile", "time", "files", "size"
        )?;
        for s in &snaps {
            let m = &s.manifest;
            writeln!(
                w,
                "{:<8}  {:<36}  {:<16}  {:<20}  {:>6}  {:>10}  {}",
                s.short_id,
                m.name,
                m.profile,
                time(m.time_ms),
                m.summary.files,
                bytes(m.summary.bytes),
                m.tags.join(",")
            )?;
        }
        Ok(())
    })
}

/// Shows one snapshot's manifest.
pub fn show(ctx: &Context, args: &SnapshotArg) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("show"))?;
    let s = repo.resolve(&args.id, args.profile.as_deref())?;
    let m = &s.manifest;
    ctx.out.emit(&s, |w, _| {
        writeln!(w, "snapshot  {}", s.id)?;
        writeln!(w, "name      {}", m.name)?;
        writeln!(w, "profile   {}", m.profile)?;
        writeln!(w, "time      {}", time(m.time_ms))?;
        writeln!(w, "source    {} on {}", m.source.path, m.source.host)?;
        writeln!(
            w,
            "parent    {}",
            m.parent
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into())
        )?;
        if let Some(from) = m.copied_from {
            writeln!(w, "copied    from {from} (snap copy)")?;
        }
        writeln!(
            w,
            "tags      {}",
            if m.tags.is_empty() {
                "-".into()
            } else {
                m.tags.join(", ")
            }
        )?;
        let sm = &m.summary;
        writeln!(
            w,
            "contents  {} files, {} dirs, {} symlinks, {}",
            sm.files,
            sm.dirs,
            sm.symlinks,
            bytes(sm.bytes)
        )?;
        writeln!(
            w,
            "changes   +{} M{} -{} ({} new data)",
            sm.added,
            sm.changed,
            sm.removed,
            bytes(sm.new_bytes)
        )?;
        for warning in &m.warnings {
            writeln!(w, "warning   {warning}")?;
        }
        Ok(())
    })
}
