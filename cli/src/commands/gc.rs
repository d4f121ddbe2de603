//! `snap gc [--dry-run]`: garbage collection under the exclusive lock.

use snap_engine::commands::gc::{gc, GcOptions};
use snap_engine::Repo;
use snap_store::OpenOptions;

use super::Context;
use crate::args::GcArgs;
use crate::render::bytes;

/// Opens the engine's handle with `opts` (wait from `--lock-wait`) and
/// prints the repairs made while opening as warnings.
pub fn open_repo(ctx: &Context, opts: OpenOptions) -> anyhow::Result<Repo> {
    ctx.open_engine(opts)
}

/// Collects garbage and reports packs deleted and repacked and bytes reclaimed.
pub fn run(ctx: &Context, args: &GcArgs) -> anyhow::Result<()> {
    let opts = if args.dry_run {
        OpenOptions::shared("gc --dry-run")
    } else {
        OpenOptions::exclusive("gc").freeing_space()
    };
    let repo = open_repo(ctx, opts)?;
    let out = gc(
        &repo,
        &GcOptions {
            dry_run: args.dry_run,
            repack_threshold: f64::from(args.repack_threshold) / 100.0,
        },
    )?;
    ctx.out.emit(&out, |w, quiet| {
        if quiet {
            return Ok(());
        }
        match &out.report {
            None => writeln!(
                w,
                "would delete {} pack(s), repack {}, reclaiming about {} ({} unreferenced)",
                out.packs_to_delete,
                out.packs_to_repack,
                bytes(out.reclaimable_bytes),
                bytes(out.garbage_bytes)
            ),
            Some(r) => {
                writeln!(
                    w,
                    "deleted {} pack(s), repacked {} into {}, reclaimed {} ({} -> {})",
                    r.packs_deleted,
                    r.packs_repacked,
                    r.packs_written,
                    bytes(r.bytes_reclaimed),
                    bytes(r.pack_bytes_before),
                    bytes(r.pack_bytes_after)
                )?;
                if r.packs_repack_skipped > 0 {
                    writeln!(
                        w,
                        "{} pack(s) not repacked: not enough free space for their live data",
                        r.packs_repack_skipped
                    )?;
                }
                Ok(())
            }
        }
    })
}
