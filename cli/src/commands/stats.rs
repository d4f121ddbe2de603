//! `snap stats`: repository totals, per-profile usage, garbage and the
//! last check.

use serde::Serialize;
use snap_engine::commands::gc::Usage;
use snap_engine::commands::last_check::LastCheck;
use snap_store::OpenOptions;

use super::gc::open_repo;
use super::Context;
use crate::render::{bytes, time};

/// `stats --json`: the usage, and the repository's last check (null: never).
#[derive(Serialize)]
struct Stats<'a> {
    #[serde(flatten)]
    usage: &'a Usage,
    last_check: Option<&'a LastCheck>,
}

/// "2026-01-02 10:00:00, with --read-data: no problems", or "never".
fn describe_check(last: Option<&LastCheck>) -> String {
    let Some(c) = last else {
        return "never (run `snap check`)".into();
    };
    format!(
        "{}{}: {}",
        time(c.time_ms),
        if c.read_data {
            ", with --read-data"
        } else {
            ""
        },
        match c.problems {
            0 => "no problems".to_string(),
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        }
    )
}

/// Prints totals, then per profile: snapshots, logical and stored size and
/// the deduplication ratio; then the reclaimable garbage.
pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let repo = open_repo(ctx, OpenOptions::shared("stats"))?;
    let u = snap_engine::commands::gc::usage(&repo)?;
    let last = snap_engine::commands::last_check::load(&repo);
    let s = u.totals;
    let doc = Stats {
        usage: &u,
        last_check: last.as_ref(),
    };
    ctx.out.emit(&doc, |w, quiet| {
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
        writeln!(w, "checked    {}", describe_check(last.as_ref()))?;
        Ok(())
    })
}
