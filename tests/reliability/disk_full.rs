//! Real disk-full runs (issue 6, part 3): the repository on a tmpfs swept
//! from a size that fits only its metadata to one that fits everything.
//!
//! At each size: `init`; a first `create` of the profile; three times, 30%
//! of the files changed and another `create` while a second writer fills
//! the disk to its last block after a random delay (so `ENOSPC` lands
//! wherever it lands, not only at the pre-write space check); then, on the
//! 100% full disk,
//! `forget --keep-last 1` and `gc`. Every command must succeed or fail with
//! one error line that names the problem and leave the repository as it
//! was; after the filler is removed, the oracle ([`super::oracle`]) holds
//! for the snapshots that were acknowledged. Needs root (to mount a tmpfs):
//! `#[ignore]`d, run by `.ci/run` as root with `--include-ignored`; it
//! fails when it cannot mount.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::oracle::{self, created_id, snap_env, Acked};
use crate::util::{
    fill_completely, free_bytes, list_files, make_profile, mutate_profile, snap_bin, tree_image,
    Gen, Run, Tmpfs,
};

/// Snapshot and pack files, by name: what "the repository is unchanged"
/// compares.
fn truth(repo: &Path) -> Vec<std::path::PathBuf> {
    let mut v = list_files(&repo.join("snapshots"));
    v.extend(list_files(&repo.join("packs")));
    v
}

/// Checks a failed command: one error line, and nothing stored changed.
fn failed_cleanly(what: &str, run: &Run, before: &[std::path::PathBuf], repo: &Path) -> String {
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.contains("warning"))
        .collect();
    assert_eq!(errors.len(), 1, "{what}: one error line\n{}", run.dump());
    let e = errors[0];
    assert!(
        e.contains("space") || e.contains("full"),
        "{what}: the error should say the disk is full\n{}",
        run.dump()
    );
    let after = truth(repo);
    // A failed create may leave nothing; a failed forget/gc must leave all.
    assert!(
        before.iter().all(|f| after.contains(f)),
        "{what} failed but removed stored files\n{}",
        run.dump()
    );
    format!(
        "fail ({})",
        if e.contains("not enough") {
            "pre-check"
        } else {
            "ENOSPC"
        }
    )
}

/// `snap create` while the disk is filled to the last block after `delay`.
fn create_while_filling(repo: &Path, mnt: &Path, profile: &str, delay: Duration) -> Run {
    let mut cmd = Command::new(snap_bin());
    cmd.arg("--repo")
        .arg(repo)
        .args(["create", profile])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("SNAP_FAULT");
    let child = cmd.spawn().expect("spawn snap");
    let start = Instant::now();
    while start.elapsed() < delay {
        std::thread::sleep(Duration::from_millis(1));
    }
    fill_completely(mnt);
    Run::from_output(format!("{cmd:?}"), child.wait_with_output().expect("wait"))
}

/// Creates per size while another writer fills the disk.
const FILL_TRIALS: usize = 3;

#[test]
#[ignore = "needs root (tmpfs mounts); .ci/run runs it with --include-ignored"]
fn disk_full_size_sweep() {
    let probe = tempfile::tempdir().expect("temp dir");
    assert!(
        Tmpfs::mount(&probe.path().join("fs"), 1).is_some(),
        "cannot mount a tmpfs here (needs root)"
    );
    let mut g = Gen(0xd15c);
    let mut rows = Vec::new();
    let mut outcomes = std::collections::BTreeMap::new();
    let (mut first_failed, mut first_fit, mut reclaimed) = (0, 0, 0);
    // 512 KiB (the index and config only) to 12 MiB (everything, twice).
    let sizes: Vec<u64> = (0..16).map(|i| 512 + i * 768).collect();
    for kib in sizes {
        let t = tempfile::tempdir().expect("temp dir");
        let fs = Tmpfs::mount_kib(&t.path().join("fs"), kib).expect("tmpfs");
        let repo = fs.0.join("repo");
        let profile = t.path().join("profile");
        let scratch = t.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch");
        make_profile(&profile, 60, 4_000_000, 5);
        let p = profile.to_str().expect("utf-8").to_string();
        let init = snap_env(&repo, &["init"], &[]);
        if init.code != 0 {
            failed_cleanly("init", &init, &[], &repo);
            rows.push(format!("| {kib} KiB | init fails cleanly | | | |"));
            continue;
        }
        let mut acked: Vec<Acked> = Vec::new();
        // 1. The first snapshot: fits or fails cleanly.
        let before = truth(&repo);
        let t0 = Instant::now();
        let run = snap_env(&repo, &["create", &p], &[]);
        let took = t0.elapsed();
        let c1 = match created_id(&run) {
            Some(id) => {
                first_fit += 1;
                acked.push(Acked {
                    id,
                    image: tree_image(&profile),
                });
                "ok".to_string()
            }
            None => {
                first_failed += 1;
                failed_cleanly("first create", &run, &before, &repo)
            }
        };
        // 2. More snapshots while another writer fills the disk; the last
        // filler stays, so step 3 runs on a 100% full disk.
        let mut c2 = Vec::new();
        for trial in 0..FILL_TRIALS {
            if trial > 0 {
                std::fs::remove_file(fs.0.join("filler")).expect("filler");
            }
            mutate_profile(&profile, 0.3, g.next_u64());
            let image = tree_image(&profile);
            let before = truth(&repo);
            // The first create is longer than these (it read everything):
            // a delay within its length lands in their write phase often
            // enough (6 to 15 of the 48 creates in three runs here).
            let delay = Duration::from_micros(g.below(took.as_micros() as u64 + 1));
            let run = create_while_filling(&repo, &fs.0, &p, delay);
            c2.push(match created_id(&run) {
                Some(id) => {
                    acked.push(Acked { id, image });
                    "ok".to_string()
                }
                None => failed_cleanly("create while filling", &run, &before, &repo),
            });
        }
        for c in &c2 {
            *outcomes.entry(c.clone()).or_insert(0u32) += 1;
        }
        // A create that failed removed its temporary pack file, which
        // filled as chunks arrived: top the filler up again.
        fill_completely(&fs.0);
        assert!(free_bytes(&fs.0) < 64 << 10, "the disk should be full");
        // 3. forget + gc on the full disk.
        let mut freeing = Vec::new();
        for args in [&["forget", "--keep-last", "1"][..], &["gc"][..]] {
            let before = truth(&repo);
            let run = snap_env(&repo, args, &[]);
            if run.code == 0 {
                freeing.push("ok".to_string());
            } else {
                assert_eq!(
                    truth(&repo),
                    before,
                    "snap {args:?} failed and changed the repository"
                );
                freeing.push(failed_cleanly(&format!("{args:?}"), &run, &before, &repo));
            }
        }
        if freeing.iter().all(|f| f == "ok") {
            // forget kept only the newest snapshot.
            if acked.len() > 1 {
                reclaimed += 1;
            }
            acked.drain(..acked.len().saturating_sub(1));
        }
        // 4. Room again: the oracle.
        std::fs::remove_file(fs.0.join("filler")).expect("filler");
        if let Err(e) = oracle::check(&repo, &acked, &profile, &scratch) {
            panic!("{kib} KiB: oracle: {e}");
        }
        rows.push(format!(
            "| {kib} KiB | {c1} | {} | {} | {} |",
            c2.join(", "),
            freeing[0],
            freeing[1]
        ));
    }
    eprintln!("| tmpfs size | first create | {FILL_TRIALS} creates, disk filling | forget on full disk | gc on full disk |");
    for r in &rows {
        eprintln!("{r}");
    }
    assert!(
        first_failed > 0,
        "no size was too small: the sweep misses the low end"
    );
    assert!(
        first_fit > 0,
        "no size fitted: the sweep misses the high end"
    );
    eprintln!("creates while the disk filled: {outcomes:?}");
    eprintln!("sizes where forget + gc freed snapshots on a full disk: {reclaimed}");
    assert!(
        outcomes.contains_key("fail (ENOSPC)"),
        "no create hit ENOSPC while writing: the filler timing misses the write phase"
    );
}
