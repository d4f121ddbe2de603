//! `snap export --zip` killed (-9) at random moments: the output is always
//! the previous file or the complete new one, exactly the new one when the
//! command reported success, and the partial file a kill leaves beside it
//! (`.NAME.snap-partial-*`) is removed by the next export to that output.
//!
//! Two snapshots of a 300-file, 20 MB profile are exported, one picked at
//! random each time, over the same output; each run is killed after a
//! random delay (0 to 1.2x the last run that ended by itself).
//! `SNAP_EXPORT_KILL_POINTS` sets the points (default 100, about 15 s).

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::oracle::{created_id, run_interrupted, snap_env};
use crate::util::{make_profile, mutate_profile, Gen};

struct Base {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    /// Where every run exports to.
    out: PathBuf,
    /// The two snapshots, and their clean exports' bytes.
    ids: [String; 2],
    zips: [Vec<u8>; 2],
}

fn build() -> Base {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("profile");
    let repo = dir.path().join("repo");
    make_profile(&profile, 300, 20_000_000, 7);
    let mut ids = Vec::new();
    let mut zips = Vec::new();
    for i in 0..2u64 {
        if i == 1 {
            mutate_profile(&profile, 0.3, 8);
        }
        let run = snap_env(&repo, &["create", profile.to_str().expect("utf-8")], &[]);
        let id = created_id(&run).unwrap_or_else(|| panic!("create\n{}", run.dump()));
        let zip = dir.path().join(format!("clean-{i}.zip"));
        let z = zip.to_str().expect("utf-8");
        let run = snap_env(&repo, &["export", &id, "--zip", z], &[]);
        assert_eq!(run.code, 0, "export\n{}", run.dump());
        zips.push(fs::read(&zip).expect("clean export"));
        ids.push(id);
    }
    let out = dir.path().join("out").join("export.zip");
    fs::create_dir_all(out.parent().expect("parent")).expect("out");
    Base {
        repo,
        out,
        ids: ids.try_into().expect("two"),
        zips: zips.try_into().expect("two"),
        _dir: dir,
    }
}

/// Partial files left beside the output.
fn partials(b: &Base) -> Vec<String> {
    let prefix = format!(".export.zip{}", snap_store::fsutil::PARTIAL_INFIX);
    fs::read_dir(b.out.parent().expect("parent"))
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// What is wrong with the output after exporting snapshot `i` over
/// `previous`; `reported`: `None` when the run was killed.
fn problem(
    b: &Base,
    i: usize,
    previous: &Option<Vec<u8>>,
    reported: Option<bool>,
) -> Option<String> {
    let now = fs::read(&b.out).ok();
    let complete = now.as_ref() == Some(&b.zips[i]);
    let unchanged = now == *previous;
    let ok = match reported {
        Some(true) => complete,
        Some(false) => unchanged,
        None => complete || unchanged,
    };
    if !ok {
        return Some(format!(
            "reported {reported:?}: the output is {} bytes, neither the previous file ({:?} bytes) nor the new export ({} bytes)",
            now.map_or(0, |n| n.len()),
            previous.as_ref().map(Vec::len),
            b.zips[i].len()
        ));
    }
    let left = partials(b);
    (reported.is_some() && !left.is_empty())
        .then(|| format!("a run that ended by itself left {left:?}"))
}

fn export(b: &Base, i: usize) -> [&str; 4] {
    [
        "export",
        b.ids[i].as_str(),
        "--zip",
        b.out.to_str().expect("utf-8"),
    ]
}

#[test]
fn export_killed_at_random_moments_leaves_the_previous_file_or_the_new_one() {
    let b = build();
    let points = std::env::var("SNAP_EXPORT_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100u64);
    let mut g = Gen(0xe59);
    let t = Instant::now();
    let clean = snap_env(&b.repo, &export(&b, 0), &[]);
    assert_eq!(clean.code, 0, "clean run\n{}", clean.dump());
    let mut took = t.elapsed();
    let (mut killed, mut left_by_kills, mut failures) = (0u64, 0u64, Vec::new());
    for point in 0..points {
        let i = g.below(2) as usize;
        let previous = fs::read(&b.out).ok();
        let window = (took.as_micros() as u64 * 12 / 10).max(2_000);
        let delay = Duration::from_micros(g.below(window));
        let (code, _, ended) = run_interrupted(&b.repo, &export(&b, i), delay, |c| {
            let _ = c.kill();
        });
        killed += u64::from(ended.is_none());
        left_by_kills += u64::from(ended.is_none() && !partials(&b).is_empty());
        if let Some(t) = ended {
            took = t;
        }
        if let Some(p) = problem(&b, i, &previous, ended.map(|_| code == 0)) {
            failures.push(format!("point {point} (delay {delay:?}): {p}"));
        }
    }
    // The next export completes and removes what the kills left.
    let previous = fs::read(&b.out).ok();
    let last = snap_env(&b.repo, &export(&b, 1), &[]);
    if let Some(p) = problem(&b, 1, &previous, Some(last.code == 0)) {
        failures.push(format!("the run after the kills: {p}\n{}", last.dump()));
    }
    eprintln!(
        "| export --zip | crash points {points} | killed mid-run {killed} | partial file left by {left_by_kills} kills | failures {} |",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "kill -9 of export: {} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
}
