//! Concurrency without OS locks on a real object store (FORMAT.md 17.3):
//! several "machines" (separate state directories, so no local lock is
//! shared) create into one SeaweedFS bucket at the same time, two of them
//! into the same profile, while another forgets and collects garbage in a
//! loop. Every acknowledged snapshot that was not forgotten must restore
//! byte for byte afterwards, from a machine that never saw the bucket.
//!
//! Rounds: `SNAP_REMOTE_RACE_ROUNDS` (CI default 6, about 30 s; the
//! issue's full run is `SNAP_REMOTE_RACE_ROUNDS=200`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::remote_repo::s3_repo;
use crate::util::{noise, read_tree, Env, Run};

type Tree = BTreeMap<String, Vec<u8>>;

fn rounds() -> u64 {
    std::env::var("SNAP_REMOTE_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// A machine: its own directory and cache (state directory), the shared
/// repository.
fn machine(repo: &Path) -> Env {
    let mut e = Env::new();
    e.repo = repo.to_path_buf();
    e.env("SNAP_LOCK_WAIT", "90");
    e
}

/// Writes a profile's content for a round: a 200 KB file whose bytes
/// depend on `seed` only, and a small file naming the round.
fn fill(dir: &Path, seed: u64, label: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("big.bin"), noise(seed, 200_000)).unwrap();
    std::fs::write(dir.join("label.txt"), label).unwrap();
}

/// `snap --json create`: the new snapshot's id, or `None` when the
/// repository lock could not be had in time (exit 11, not acknowledged).
fn create(m: &Env, dir: &Path, profile: &str) -> Option<String> {
    let run = m.snap([
        "--json".as_ref(),
        "create".as_ref(),
        dir.as_os_str(),
        "--profile".as_ref(),
        profile.as_ref(),
    ]);
    match run.code {
        0 => Some(
            run.json()["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no id\n{}", run.dump()))
                .to_string(),
        ),
        11 => None,
        _ => panic!("create failed\n{}", run.dump()),
    }
}

/// One writer thread: each round, `keep` gets fresh content (the bytes the
/// previous round's `tmp` snapshot stored first, which the collector may
/// be deleting meanwhile), created from every machine in `ms` at once;
/// then `tmp` gets the next round's content.
fn writer(
    ms: &[&Env],
    base: &Path,
    keep: &str,
    tmp: &str,
    seed0: u64,
    acked: &Mutex<Vec<(String, Tree)>>,
    refused: &AtomicU64,
) {
    let (keep_dir, tmp_dir) = (base.join(keep), base.join(tmp));
    for r in 0..rounds() {
        fill(&keep_dir, seed0 + r, &format!("{keep} {r}"));
        let tree = read_tree(&keep_dir);
        let ids: Vec<Option<String>> = std::thread::scope(|s| {
            let hs: Vec<_> = ms
                .iter()
                .map(|m| s.spawn(|| create(m, &keep_dir, keep)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for id in ids {
            match id {
                Some(id) => acked.lock().unwrap().push((id, tree.clone())),
                None => _ = refused.fetch_add(1, Ordering::Relaxed),
            }
        }
        fill(&tmp_dir, seed0 + r + 1, &format!("{tmp} {r}"));
        if create(ms[0], &tmp_dir, tmp).is_none() {
            refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One collection: forget every snapshot of the `tmp` profiles, then gc.
/// Returns the packs gc deleted, or `None` when it could not have the lock
/// in time.
fn collect(m: &Env) -> Option<u64> {
    let list = m.snap(["--json", "list"]);
    if list.code == 11 {
        return None;
    }
    let list = list.ok().json();
    let tmp: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["profile"].as_str().is_some_and(|p| p.ends_with("-tmp")))
        .filter_map(|s| s["id"].as_str())
        .collect();
    if !tmp.is_empty() {
        let run = m.snap(std::iter::once("forget").chain(tmp));
        match run.code {
            0 => {}
            11 => return None,
            _ => panic!("forget failed\n{}", run.dump()),
        }
    }
    let run: Run = m.snap(["--json", "gc"]);
    match run.code {
        0 => Some(run.json()["report"]["packs_deleted"].as_u64().unwrap_or(0)),
        11 => None,
        _ => panic!("gc failed\n{}", run.dump()),
    }
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn concurrent_creates_with_forget_and_gc_in_a_loop_lose_no_acknowledged_snapshot() {
    let repo: PathBuf = s3_repo("race");
    let (a, b, c, g) = (
        machine(&repo),
        machine(&repo),
        machine(&repo),
        machine(&repo),
    );
    a.snap(["init"]).ok();
    let acked = Mutex::new(Vec::new());
    let refused = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let (mut gcs, mut gc_refused, mut deleted) = (0u64, 0u64, 0u64);
    std::thread::scope(|s| {
        let alpha = s.spawn(|| {
            // Two machines into the same profile at once, a and c.
            writer(
                &[&a, &c],
                &a.path("src"),
                "alpha",
                "alpha-tmp",
                1_000,
                &acked,
                &refused,
            )
        });
        let beta = s.spawn(|| {
            writer(
                &[&b],
                &b.path("src"),
                "beta",
                "beta-tmp",
                5_000,
                &acked,
                &refused,
            )
        });
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                match collect(&g) {
                    Some(n) => (gcs, deleted) = (gcs + 1, deleted + n),
                    None => gc_refused += 1,
                }
            }
            // Once more with the writers gone, so the last tmp snapshots'
            // data is collected for sure.
            let n = collect(&g).expect("gc with nobody else running");
            (gcs, deleted) = (gcs + 1, deleted + n);
        });
        alpha.join().unwrap();
        beta.join().unwrap();
        done.store(true, Ordering::Relaxed);
    });
    let acked = acked.into_inner().unwrap();
    let refused = refused.into_inner();
    eprintln!(
        "{} rounds: {} snapshots acknowledged, {refused} creates refused the lock; \
         {gcs} gc runs ({gc_refused} refused the lock) deleted {deleted} packs",
        rounds(),
        acked.len()
    );
    assert!(
        deleted > 0,
        "gc never deleted a pack: the race was not exercised"
    );
    assert!(
        acked.len() as u64 >= 3 * rounds() / 2,
        "too few creates succeeded to mean anything"
    );
    // A machine that never saw the bucket: its index is rebuilt from the
    // pack headers.
    let v = machine(&repo);
    v.snap(["check", "--read-data"]).ok();
    let listed = v.snap(["--json", "list"]).ok().json();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for (i, (id, tree)) in acked.iter().enumerate() {
        assert!(
            listed.contains(&id.as_str()),
            "acknowledged snapshot {id} is gone"
        );
        let out = v.path(&format!("out{i}"));
        v.restore_to(id, &out);
        assert!(
            read_tree(&out) == *tree,
            "snapshot {id} restores different bytes"
        );
    }
}
