//! Crash test: a child process writes blobs in batches and is killed with
//! SIGKILL at random moments; after every kill the repository opens, checks
//! clean with `read_data`, every batch the child reported is readable, and
//! an exclusive open empties `tmp/`.
//!
//! `SNAP_CRASH_ROUNDS` (default 24) sets the number of kills and
//! `SNAP_CRASH_SEED` replays a run (the seed is printed on failure).
//!
//! This runs on whatever filesystem holds the temporary directory; a
//! missing fsync only shows on ext4 mounted `noauto_da_alloc,commit=1` or
//! with power loss, which a kill does not simulate: this test proves the
//! write order and the repairs on open, not durability.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use snap_store::{BlobId, BlobKind, CheckOptions, OpenOptions, Repository};

use crate::util::{child, data, Gen, TestRepo};

const CHILD_ENV: &str = "SNAP_TEST_CRASH_CHILD_REPO";
/// Kills before starting over with a fresh repository.
const ROUNDS_PER_REPO: usize = 6;

/// The blobs of batch `seed`: a few sizes, some shared with other batches
/// (so deduplication is exercised across sessions), some compressible.
fn batch(seed: u64) -> Vec<(u64, usize)> {
    let mut g = Gen(seed);
    (0..8)
        .map(|_| {
            let s = if g.below(4) == 0 {
                g.below(16)
            } else {
                g.next_u64()
            };
            (s, g.below(32 * 1024) as usize)
        })
        .collect()
}

/// The child: writes batches forever, printing `BATCH <seed> <snapshot>`
/// after each batch's `finish` and snapshot record.
#[test]
fn crash_child() {
    let Some(repo) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let repo = Repository::open(Path::new(&repo), &OpenOptions::shared("crash-child"))
        .expect("child: open");
    let mut g = Gen(u64::from(std::process::id()) << 20 ^ now_nanos());
    let stdout = std::io::stdout();
    loop {
        let seed = g.next_u64();
        let w = repo.writer();
        let mut ids = Vec::new();
        for (s, len) in batch(seed) {
            ids.push(w.put(BlobKind::Data, &data(s, len)).expect("child: put").0);
        }
        w.finish().expect("child: finish");
        let record: String = ids.iter().map(|i| i.to_hex() + "\n").collect();
        let snap = repo
            .put_snapshot(record.as_bytes())
            .expect("child: snapshot");
        let mut out = stdout.lock();
        writeln!(out, "BATCH {seed} {snap}").expect("child: stdout");
        out.flush().expect("child: flush");
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed() {
    let rounds: usize = std::env::var("SNAP_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("SNAP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(now_nanos);
    let mut g = Gen(seed);
    let mut t = TestRepo::with_pack_size(Some(128 * 1024));
    let mut committed: Vec<(u64, String)> = Vec::new();
    let (mut tmp_leftovers, mut batches) = (0, 0);
    let started = Instant::now();
    for round in 0..rounds {
        if round % ROUNDS_PER_REPO == 0 && round > 0 {
            // A fresh repository now and then keeps `check --read-data`
            // (which reads everything after every kill) from growing
            // quadratically.
            t = TestRepo::with_pack_size(Some(128 * 1024));
            committed.clear();
        }
        let ctx = format!("round {round} of SNAP_CRASH_SEED={seed}");
        let path = t.path();
        let mut c = child(
            "store_crash::crash_child",
            &[(CHILD_ENV, path.to_str().unwrap())],
        )
        .spawn()
        .expect("spawn child");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            let out = c.stdout.take().unwrap();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(l);
                }
            })
        };
        std::thread::sleep(Duration::from_millis(10 + g.below(250)));
        c.kill().expect("SIGKILL");
        let status = c.wait().unwrap();
        assert!(
            status.code().is_none(),
            "{ctx}: child exited by itself: {status}"
        );
        reader.join().unwrap();
        for l in lines.lock().unwrap().iter() {
            if let Some(rest) = l.strip_prefix("BATCH ") {
                let (s, snap) = rest.split_once(' ').expect("BATCH line");
                committed.push((s.parse().expect("seed"), snap.to_string()));
                batches += 1;
            }
        }

        let repo = Repository::open(&path, &OpenOptions::shared("test"))
            .unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
        let report = snap_store::check(&repo, CheckOptions { read_data: true }).unwrap();
        assert!(report.problems.is_empty(), "{ctx}: {:?}", report.problems);
        let snaps: Vec<String> = repo
            .snapshots()
            .unwrap()
            .iter()
            .map(|(id, _)| id.to_hex())
            .collect();
        for (s, snap) in &committed {
            assert!(snaps.contains(snap), "{ctx}: snapshot {snap} lost");
            for (id, (bs, len)) in ids_of(&repo, snap).iter().zip(batch(*s)) {
                let got = repo
                    .read_blob(id)
                    .unwrap_or_else(|e| panic!("{ctx}: batch {s}: {e}"));
                assert!(got == data(bs, len), "{ctx}: batch {s}: blob {id} differs");
            }
        }
        drop(repo);
        if !t.tmp_entries().is_empty() {
            tmp_leftovers += 1;
        }
        let repo = Repository::open(&path, &OpenOptions::exclusive("test")).unwrap();
        assert!(t.tmp_entries().is_empty(), "{ctx}: tmp/ not swept");
        drop(repo);
    }
    // Typically over ten per kill; only a badly overloaded machine commits
    // none, and then the test proved nothing.
    assert!(batches > 0, "no batch committed in {rounds} rounds");
    eprintln!(
        "crash test: {rounds} kills, {batches} batches committed, {tmp_leftovers} kills left files in tmp/, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The blob ids a child recorded in snapshot `snap`.
fn ids_of(repo: &Repository, snap: &str) -> Vec<BlobId> {
    let bytes = repo
        .read_snapshot(&snap.parse().expect("snapshot id"))
        .expect("snapshot");
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| l.parse().expect("blob id"))
        .collect()
}
