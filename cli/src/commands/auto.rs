//! `snap auto`: the foreground scheduler. SIGINT/SIGTERM set a stop flag;
//! the engine abandons a snapshot in progress cleanly and returns.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use snap_engine::commands::auto::{run as run_auto, AutoOptions, Event};

use super::Context;
use crate::args::AutoArgs;

/// Runs until a signal (or one round with `--once`); one line per action on
/// stderr, or one JSON object per line with `--json`.
pub fn run(ctx: &Context, args: &AutoArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing the signal handlers")?;
    }
    let json = ctx.out.json;
    let quiet = ctx.out.quiet;
    let log = move |e: Event| {
        if json {
            if let Ok(line) = serde_json::to_string(&e) {
                eprintln!("{line}");
            }
        } else if !quiet || matches!(e, Event::Failed { .. } | Event::LowSpace { .. }) {
            eprintln!("snap auto: {e}");
        }
    };
    let opts = AutoOptions {
        profiles: args.profile.clone(),
        once: args.once,
        debounce: Duration::from_millis(args.debounce_ms),
        min_gap: Duration::from_millis(args.min_gap_ms),
        lock_wait: ctx.lock_wait,
        unlock: Some(ctx.unlock()),
        sync: args.sync.as_ref().map(|to| super::sync::auto_sync(ctx, to)),
        ..AutoOptions::default()
    };
    run_auto(ctx.repo_path(), &opts, &stop, &log)?;
    Ok(())
}
