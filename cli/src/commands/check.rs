//! `snap check [--read-data]`: one line per problem, then a summary; exit 1
//! when anything is wrong. The store checks packs, index and snapshot files;
//! the engine then walks every snapshot's trees (`tree-missing`,
//! `blob-missing`, ...). The outcome is recorded (`last-check.json`) for
//! `snap ui` and `snap stats`.

use serde::Serialize;
use snap_engine::commands::last_check::{self, LastCheck};
use snap_store::{CheckOptions, CheckReport, OpenOptions, Problem};

use super::Context;
use crate::args::CheckArgs;
use crate::render::count;

/// `check --json`: the report, and the record written for `snap ui`.
#[derive(Serialize)]
struct Checked<'a> {
    #[serde(flatten)]
    report: &'a CheckReport,
    last_check: &'a LastCheck,
}

/// Checks the repository; problems are printed (even with `--quiet`) and
/// turned into an error so the exit code is 1.
pub fn run(ctx: &Context, args: &CheckArgs) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("check"))?;
    let mut report = snap_store::check(
        repo.store(),
        CheckOptions {
            read_data: args.read_data,
        },
    )?;
    // The engine's half: every snapshot's trees and chunks are still stored.
    let walked = snap_engine::commands::check::check_snapshots(&repo)?;
    report.problems.extend(walked.problems);
    report
        .problems
        .extend(snap_engine::commands::check::check_files(&repo)?);
    // Recorded for `snap ui` and `snap stats`; not being able to write the
    // record does not change what the check found.
    let now = ctx
        .now()?
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis();
    let last = LastCheck::of(&report, args.read_data, now);
    if let Err(e) = last_check::record(&repo, &last) {
        ctx.out
            .warn(&format!("the time of this check was not recorded: {e}"));
    }
    let doc = Checked {
        report: &report,
        last_check: &last,
    };
    ctx.out.emit(&doc, |w, quiet| {
        for p in &report.problems {
            writeln!(w, "{}", line(p))?;
        }
        if !quiet {
            let read = if args.read_data {
                format!(", {} read", count(report.blobs_read, "blob", "blobs"))
            } else {
                String::new()
            };
            writeln!(
                w,
                "checked {}{read}, {}: {}",
                count(report.packs, "pack", "packs"),
                count(report.snapshots, "snapshot", "snapshots"),
                if report.problems.is_empty() {
                    "no problems".to_string()
                } else {
                    count(report.problems.len() as u64, "problem", "problems")
                }
            )?;
        }
        Ok(())
    })?;
    if !report.problems.is_empty() {
        anyhow::bail!(
            "check found {} in {}",
            count(report.problems.len() as u64, "problem", "problems"),
            ctx.repo_path().display()
        );
    }
    Ok(())
}

/// `kind [pack P] [blob B] [snapshot S]: detail`, full ids so they can be
/// searched for.
fn line(p: &Problem) -> String {
    let mut s = p.kind.clone();
    for (what, id) in [
        ("pack", &p.pack),
        ("blob", &p.blob),
        ("snapshot", &p.snapshot),
    ] {
        if let Some(id) = id {
            s.push_str(&format!(" {what} {id}"));
        }
    }
    format!("{s}: {}", p.detail)
}
