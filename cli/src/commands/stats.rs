//! `snap stats`: repository totals, per-profile usage and garbage.

use snap_store::OpenOptions;

use super::gc::open_repo;
use super::Context;
use crate::render::bytes;

/// Prints totals, then per profile: snapshots, logical and stored size and
/// the deduplication ratio; then the reclaimable garbage.
pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let repo = open_repo(ctx, OpenOptions::shared("stats"))?;
    let u = snap_engine::gc::usage(&repo)?;
    let s = u.totals;
    ctx.out.emit(&u, |w, quiet| {
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
        if !u.profiles.is_empty() {
            writeln!(w)?;
            writeln!(
                w,
                "{:<24} {:>9} {:>12} {:>12} {:>7}",
                "PROFILE", "SNAPSHOTS", "LOGICAL", "STORED", "DEDUP"
            )?;
            for p in &u.profiles {
                writeln!(
                    w,
                    "{:<24} {:>9} {:>12} {:>12} {:>6.1}x",
                    p.profile,
                    p.snapshots,
                    bytes(p.logical_bytes),
                    bytes(p.stored_bytes),
                    p.dedup_ratio
                )?;
            }
            writeln!(w)?;
        }
        writeln!(
            w,
            "garbage    {} ({:.0}% of stored; `snap gc` reclaims it)",
            bytes(u.garbage_bytes),
            u.garbage_fraction * 100.0
        )?;
        Ok(())
    })
}
