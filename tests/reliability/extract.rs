//! `snap restore FILE --target DIR` (an archive extracted without a
//! repository) is all or nothing, under kill -9 at random moments and under
//! an injected fault at every I/O call.
//!
//! The archive is a ZIP export of a 300-file, 20 MB profile. After every
//! run the target must be absent or exactly the profile's tree, and
//! exactly the tree if and only if the command reported success (killed
//! runs report nothing). A failed run leaves no staging directory beside
//! the target; a killed one may, and the next extraction to the same
//! target removes it. `SNAP_EXTRACT_KILL_POINTS` sets the kill points
//! (default 20); the fault sweep injects at 12 points spread over the calls
//! of every operation, in both modes (`SNAP_EXTRACT_FAULT_FULL=1`: at every
//! call, about 10 000 runs, since the archive's data is written 8 KiB at
//! a time).

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::oracle::{created_id, run_interrupted, snap_env};
use crate::util::{env_or, image_diff, make_profile, remove_tree, tree_image, Gen, Run, TreeImage};

struct Base {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    zip: PathBuf,
    /// Where every run extracts to.
    target: PathBuf,
    want: TreeImage,
}

fn build() -> Base {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("profile");
    make_profile(&profile, 300, 20_000_000, 5);
    let repo = dir.path().join("repo");
    let run = snap_env(&repo, &["create", profile.to_str().expect("utf-8")], &[]);
    let id = created_id(&run).unwrap_or_else(|| panic!("create\n{}", run.dump()));
    let zip = dir.path().join("profile.zip");
    let run = snap_env(
        &repo,
        &["export", &id, "--zip", zip.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(run.code, 0, "export\n{}", run.dump());
    let target = dir.path().join("out").join("restored");
    Base {
        want: tree_image(&profile),
        repo,
        zip,
        target,
        _dir: dir,
    }
}

fn args(b: &Base) -> [&str; 4] {
    [
        "restore",
        b.zip.to_str().expect("utf-8"),
        "--target",
        b.target.to_str().expect("utf-8"),
    ]
}

fn extract(b: &Base, env: &[(&str, &str)]) -> Run {
    snap_env(&b.repo, &args(b), env)
}

/// Staging directories left beside the target.
fn staging_left(b: &Base) -> Vec<String> {
    let prefix = format!(
        ".{}{}",
        b.target.file_name().expect("name").to_string_lossy(),
        snap_engine::export::STAGING_INFIX
    );
    fs::read_dir(b.target.parent().expect("parent"))
        .map(|it| {
            it.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The target after a run: absent or complete, complete exactly when the
/// run reported success (`reported`: `None` when it was killed), and no
/// staging directory after a run that ended by itself.
fn after_run(b: &Base, reported: Option<bool>) -> Result<(), String> {
    let complete = match fs::symlink_metadata(&b.target) {
        Err(_) => false,
        Ok(_) => match image_diff(&b.want, &tree_image(&b.target)) {
            None => true,
            Some(d) => return Err(format!("the target is neither absent nor complete: {d}")),
        },
    };
    match reported {
        Some(true) if !complete => return Err("reported success, target absent".into()),
        Some(false) if complete => return Err("reported failure, target complete".into()),
        _ => {}
    }
    if reported.is_some() && !staging_left(b).is_empty() {
        return Err(format!("staging left: {:?}", staging_left(b)));
    }
    Ok(())
}

fn check_failures(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn extraction_killed_at_random_moments_leaves_the_target_absent_or_complete() {
    let b = build();
    let points = env_or("SNAP_EXTRACT_KILL_POINTS", 20);
    let mut g = Gen(env_or("SNAP_CRASH_SEED", 0xe47) | 1);
    let t = Instant::now();
    let clean = extract(&b, &[]);
    assert_eq!(clean.code, 0, "clean run\n{}", clean.dump());
    let mut took = t.elapsed();
    let (mut killed, mut failures) = (0u64, Vec::new());
    for point in 0..points {
        remove_tree(&b.target);
        let window = (took.as_micros() as u64 * 12 / 10).max(2_000);
        let delay = Duration::from_micros(g.below(window));
        let (code, _, ended) = run_interrupted(&b.repo, &args(&b), delay, |c| {
            let _ = c.kill();
        });
        killed += u64::from(ended.is_none());
        if let Some(t) = ended {
            took = t;
        }
        if let Err(e) = after_run(&b, ended.map(|_| code == 0)) {
            failures.push(format!("point {point} (delay {delay:?}): {e}"));
        }
    }
    // The next extraction completes and removes what the kills left.
    remove_tree(&b.target);
    let last = extract(&b, &[]);
    if let Err(e) = after_run(&b, Some(last.code == 0)) {
        failures.push(format!("the run after the kills: {e}\n{}", last.dump()));
    }
    eprintln!(
        "| restore FILE --target | crash points {points} | killed mid-run {killed} | failures {} |",
        failures.len()
    );
    check_failures("kill -9 of restore FILE --target", &failures);
}

#[test]
fn extraction_fault_sweep() {
    let b = build();
    let counts = b.target.with_file_name("counts");
    let c = counts.to_str().expect("utf-8");
    let clean = extract(&b, &[("SNAP_FAULT_COUNTS", c)]);
    assert_eq!(clean.code, 0, "clean run\n{}", clean.dump());
    let (calls, _, _) = super::faults::parse_counts(&counts);
    let full = std::env::var_os("SNAP_EXTRACT_FAULT_FULL").is_some();
    let super::faults::Swept {
        runs,
        false_successes,
        failures,
    } = super::faults::sweep_calls(
        calls,
        full,
        &counts,
        |spec| {
            remove_tree(&b.target);
            extract(&b, &[("SNAP_FAULT", spec), ("SNAP_FAULT_COUNTS", c)])
        },
        |run| {
            if run.code != 0 && run.stderr.trim().lines().count() != 1 {
                return Some("not one line".into());
            }
            after_run(&b, Some(run.code == 0)).err()
        },
    );
    eprintln!(
        "| restore FILE --target | calls w/f/r/d/u/rd/sql {} | runs {runs} | false successes {false_successes} | failures {} |",
        calls.map(|n| n.to_string()).join("/"),
        failures.len()
    );
    check_failures("faults in restore FILE --target", &failures);
}

#[test]
fn extraction_into_an_empty_directory_by_dot_or_symlink_and_to_a_255_byte_name() {
    let b = build();
    let out = b.target.parent().expect("parent");
    fs::create_dir_all(&b.target).expect("target");
    // `--target .` from inside the empty target.
    let run = std::process::Command::new(crate::util::snap_bin())
        .args(["restore", b.zip.to_str().expect("utf-8"), "--target", "."])
        .current_dir(&b.target)
        .output()
        .expect("spawn snap");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(image_diff(&b.want, &tree_image(&b.target)), None);
    // Through a symlink to an empty directory: the link stays a link.
    remove_tree(&b.target);
    let real = out.join("real");
    fs::create_dir(&real).expect("real");
    std::os::unix::fs::symlink(&real, &b.target).expect("symlink");
    assert_eq!(extract(&b, &[]).code, 0);
    assert!(fs::symlink_metadata(&b.target)
        .expect("link")
        .file_type()
        .is_symlink());
    assert_eq!(image_diff(&b.want, &tree_image(&real)), None);
    assert!(staging_left(&b).is_empty(), "{:?}", staging_left(&b));
    // A target with the longest name a folder can have: the staging
    // folder's name is cut to fit.
    let long = out.join("t".repeat(255));
    let run = snap_env(
        &b.repo,
        &[
            "restore",
            b.zip.to_str().expect("utf-8"),
            "--target",
            long.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(image_diff(&b.want, &tree_image(&long)), None);
}
