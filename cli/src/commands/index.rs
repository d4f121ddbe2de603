//! `snap index rebuild`: recreate the index from packs and snapshots alone.

use snap_store::OpenOptions;

use super::Context;
use crate::render::count;

/// Rebuilds the index under the exclusive lock and prints the report.
pub fn rebuild(ctx: &Context) -> anyhow::Result<()> {
    let mut repo = ctx.open(OpenOptions::exclusive("index-rebuild"))?;
    let report = repo.rebuild_index()?;
    for s in &report.skipped {
        ctx.out.warn(s);
    }
    ctx.out.emit(&report, |w, quiet| {
        if quiet {
            return Ok(());
        }
        writeln!(
            w,
            "rebuilt index: {}, {}, {}",
            count(report.packs, "pack", "packs"),
            count(report.blobs, "blob", "blobs"),
            count(report.snapshots, "snapshot", "snapshots"),
        )
    })
}
