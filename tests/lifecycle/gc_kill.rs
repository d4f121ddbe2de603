//! gc killed with SIGKILL at random moments loses nothing.

use std::time::{Duration, Instant};

use crate::util::*;

/// At least 10 kills (12 by default, `SNAP_GC_KILLS`) at random delays during `snap gc` on copies of a
/// prepared repository: afterwards `check --read-data` passes and every
/// kept snapshot restores byte-identically.
#[test]
fn gc_kill9_at_random_moments_keeps_every_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let src = dir.path().join("profile");
    for i in 0..12u64 {
        write_profile(&src, i, 300_000);
        snapshot_at(&repo, "app", &src, None, &[]);
    }
    snap_ok(&repo, &["forget", "--keep-last", "3"], &[]);
    let expected = restore_all(&repo, &dir.path().join("expected"));
    assert_eq!(expected.len(), 3);

    // How long a clean gc takes bounds the random delays.
    let probe = dir.path().join("probe");
    copy_dir(&repo, &probe);
    let t = Instant::now();
    snap_ok(&probe, &["gc"], &[]);
    let clean_ms = (t.elapsed().as_millis() as u64).max(5);

    let kills = std::env::var("SNAP_GC_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12u64);
    let mut seed = 0x5eed_u64 ^ std::process::id() as u64;
    let mut finished = 0;
    let mut interrupted = 0;
    let mut k = 0;
    while interrupted < kills && k < kills * 4 {
        k += 1;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = seed % (clean_ms * 3 / 4 + 1);
        let copy = dir.path().join(format!("copy{k}"));
        copy_dir(&repo, &copy);
        let mut child = std::process::Command::new(snap_bin())
            .arg("--repo")
            .arg(&copy)
            .arg("--quiet")
            .arg("gc")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_some() {
            finished += 1;
        } else {
            interrupted += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        snap_ok(&copy, &["check", "--read-data"], &[]);
        let got = restore_all(&copy, &dir.path().join(format!("out{k}")));
        assert_eq!(
            got, expected,
            "kill {k} after {delay} ms changed a snapshot"
        );
        // A later gc completes and leaves the repository sound.
        snap_ok(&copy, &["gc"], &[]);
        snap_ok(&copy, &["check", "--read-data"], &[]);
        std::fs::remove_dir_all(&copy).unwrap();
    }
    eprintln!(
        "{k} runs, {interrupted} killed mid-gc, {finished} finished first; clean gc {clean_ms} ms"
    );
    assert!(
        interrupted >= kills,
        "only {interrupted} of {k} runs were killed mid-gc"
    );
}
