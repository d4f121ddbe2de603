//! `snap repair [--drop-broken] [--dry-run]`: rebuild the index, find
//! snapshots whose data is gone, clear the stat cache so the next `create`
//! stores missing chunks again, and (only with `--drop-broken`) forget the
//! broken snapshots. Prints each action.

use snap_engine::commands::repair::{repair, RepairOptions};
use snap_store::OpenOptions;

use super::Context;
use crate::args::RepairArgs;

/// Repairs under the exclusive lock and prints what was done.
pub fn run(ctx: &Context, args: &RepairArgs) -> anyhow::Result<()> {
    let mut repo = ctx.open_engine(OpenOptions::exclusive("repair"))?;
    let report = repair(
        &mut repo,
        RepairOptions {
            drop_broken: args.drop_broken,
            dry_run: args.dry_run,
        },
    )?;
    ctx.out.emit(&report, |w, _quiet| {
        for a in &report.actions {
            writeln!(w, "{a}")?;
        }
        Ok(())
    })
}
