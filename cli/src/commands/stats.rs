//! `snap stats`: repository totals.

use snap_store::OpenOptions;

use super::Context;
use crate::render::bytes;

/// Prints packs, blobs, stored and raw bytes and snapshots.
pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.open(OpenOptions::shared("stats"))?;
    let s = repo.stats()?;
    ctx.out.emit(&s, |w, quiet| {
        if quiet {
            return Ok(());
        }
        writeln!(w, "packs      {} ({})", s.packs, bytes(s.pack_bytes))?;
        writeln!(w, "blobs      {}", s.blobs)?;
        writeln!(w, "stored     {}", bytes(s.stored_bytes))?;
        let ratio = if s.stored_bytes > 0 {
            format!(
                " ({:.2}x compression)",
                s.raw_bytes as f64 / s.stored_bytes as f64
            )
        } else {
            String::new()
        };
        writeln!(w, "raw        {}{ratio}", bytes(s.raw_bytes))?;
        writeln!(w, "snapshots  {}", s.snapshots)?;
        Ok(())
    })
}
