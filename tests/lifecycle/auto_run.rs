//! `snap auto`: interval, change-triggered snapshots, SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use snap_engine::model::duration::Duration as Dur;
use snap_engine::model::profile::{Profile, Profiles};

use crate::util::*;

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// With a 1-second interval and a short debounce: the first round takes a
/// snapshot; no change makes none; a change makes one within a few
/// seconds; SIGTERM exits 0 and the repository checks clean.
#[test]
fn auto_snapshots_on_change_only_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let src = dir.path().join("profile");
    write_profile(&src, 0, 10_000);
    let (mut profiles, _) = Profiles::load(&repo).unwrap();
    let mut p = Profile::new("app", &src).unwrap();
    p.auto = true;
    p.interval = Dur::from_secs(1).unwrap();
    profiles.add(p).unwrap();
    profiles.save(&repo).unwrap();

    let child = Command::new(snap_bin())
        .arg("--repo")
        .arg(&repo)
        .args(["--json", "auto"])
        .env("SNAP_AUTO_DEBOUNCE_MS", "300")
        .env("SNAP_AUTO_MIN_GAP_MS", "0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || snapshot_count(&repo) == 1),
        "no first snapshot"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(snapshot_count(&repo), 1, "a snapshot without a change");
    write_profile(&src, 1, 10_000);
    let changed = Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || snapshot_count(&repo) == 2),
        "no snapshot after a change"
    );
    eprintln!("snapshot {:?} after the change", changed.elapsed());
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("\"event\":\"snapshot\""), "{log}");
    assert!(log.contains("\"event\":\"stopped\""), "{log}");
    snap_ok(&repo, &["check", "--read-data"], &[]);
    let all = restore_all(&repo, &dir.path().join("out"));
    assert!(all.values().any(|t| t == &read_tree(&src)));
}

/// `--once` runs one round and exits 0.
#[test]
fn auto_once_runs_one_round() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let src = dir.path().join("profile");
    write_profile(&src, 0, 1_000);
    let (mut profiles, _) = Profiles::load(&repo).unwrap();
    profiles.add(Profile::new("app", &src).unwrap()).unwrap();
    profiles.save(&repo).unwrap();
    snap_ok(&repo, &["auto", "--once"], &[]);
    assert_eq!(snapshot_count(&repo), 1);
    snap_ok(&repo, &["auto", "--once", "--profile", "app"], &[]);
    assert_eq!(snapshot_count(&repo), 1, "unchanged: no new snapshot");
}
