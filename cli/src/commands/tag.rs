//! `snap tag ID --add TAG --remove TAG`: changes a snapshot's tags through
//! its tag record (`--add keep` pins, `--remove keep` unpins).

use anyhow::Context as _;
use snap_store::OpenOptions;

use super::Context;
use crate::args::TagArgs;

/// Changes the tags and prints the snapshot's tags after the change.
pub fn run(ctx: &Context, args: &TagArgs) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("tag"))?;
    let report = snap_engine::commands::tag::change(
        &repo,
        &args.snapshot.id,
        args.snapshot.profile.as_deref(),
        &args.add,
        &args.remove,
    )
    .with_context(|| format!("tags of snapshot {} not changed", args.snapshot.id))?;
    ctx.out.emit(&report, |w, quiet| {
        if !quiet {
            let tags = if report.tags.is_empty() {
                "none".to_string()
            } else {
                report.tags.join(", ")
            };
            let what = if report.changed { "now" } else { "unchanged" };
            writeln!(
                w,
                "snapshot {} ({}): tags {what}: {tags}",
                report.short_id, report.name
            )?;
        }
        Ok(())
    })
}
