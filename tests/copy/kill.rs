//! kill -9 of `create` and `copy` against SeaweedFS, at random points in
//! their run: after each kill, every listed snapshot restores exactly (a
//! killed command left no new snapshot or a complete one), and the next
//! run completes.
//!
//! `SNAP_REMOTE_KILL_POINTS` sets the points per command (default 20, as
//! in CI; the figure is 100:
//! `SNAP_REMOTE_KILL_POINTS=100 cargo test --release --test tests -- --include-ignored kill_9`).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{at, listed, restored, s3_repo};
use crate::util::{make_profile, mutate_profile, tree_image, Env, Gen, TreeImage};

fn points() -> u64 {
    std::env::var("SNAP_REMOTE_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Runs `snap ARGS`, killing it with SIGKILL after `delay` unless it ended
/// first; returns whether it was killed.
fn run_and_kill(env: &Env, args: &[String], delay: Duration) -> bool {
    let mut child = env
        .cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn snap");
    let start = Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().expect("wait").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = child.try_wait().expect("wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    killed
}

/// The oracle: every snapshot of `repo` not seen before restores to one of
/// `allowed` (it is complete); returns the new ones' ids.
fn new_snapshots_whole(
    env: &Env,
    repo: &std::path::Path,
    seen: &mut BTreeMap<String, String>,
    allowed: &dyn Fn(&str) -> Vec<TreeImage>,
) -> Result<usize, String> {
    let mut fresh = 0;
    for (name, (id, _)) in listed(env, repo, &[]) {
        if seen.contains_key(&id) {
            continue;
        }
        let got = restored(env, repo, &id, &[]);
        if !allowed(&id).contains(&got) {
            return Err(format!(
                "snapshot {name} ({id}) restores to a state never written"
            ));
        }
        seen.insert(id, name);
        fresh += 1;
    }
    Ok(fresh)
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn kill_9_of_create_and_copy_against_seaweedfs() {
    let n = points();
    let env = Env::new();
    let prof = env.path("prof");
    make_profile(&prof, 80, 1 << 20, 41);
    let mut g = Gen(0x5eed);
    let (mut failures, mut killed) = (Vec::new(), [0u64; 2]);

    // create into the bucket
    let r = s3_repo("kill-create");
    let create = at(&r, &["create", prof.to_str().unwrap(), "--profile", "p"]);
    let started = Instant::now();
    env.snap(&create).ok();
    let full = started.elapsed();
    let mut seen = BTreeMap::new();
    let first = tree_image(&prof);
    new_snapshots_whole(&env, &r, &mut seen, &|_| vec![first.clone()]).unwrap();
    for point in 0..n {
        mutate_profile(&prof, 0.3, 1000 + point);
        let image = tree_image(&prof);
        let delay = Duration::from_micros(g.below(full.as_micros() as u64 + 1));
        killed[0] += u64::from(run_and_kill(&env, &create, delay));
        let allowed = |_: &str| vec![image.clone()];
        if let Err(e) = new_snapshots_whole(&env, &r, &mut seen, &allowed) {
            failures.push(format!("create point {point}: {e}"));
        }
        // The next run completes, and what it made is whole.
        env.snap(&create).ok();
        if let Err(e) = new_snapshots_whole(&env, &r, &mut seen, &allowed) {
            failures.push(format!("create point {point}, next run: {e}"));
        }
    }
    env.snap(at(&r, &["check", "--read-data"])).ok();

    // copy a local repository into the bucket
    let dst = s3_repo("kill-copy");
    env.snap(at(&dst, &["init"])).ok();
    let a = env.repo.display().to_string();
    let copy: Vec<String> = ["copy", "--from", &a, "--to", dst.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut images: BTreeMap<String, TreeImage> = BTreeMap::new();
    let mut seen = BTreeMap::new();
    let mut full = Duration::from_millis(200);
    for point in 0..n {
        mutate_profile(&prof, 0.3, 5000 + point);
        let id = env.create(&prof, &["--profile", "p"]).id();
        images.insert(id, tree_image(&prof));
        let delay = Duration::from_micros(g.below(full.as_micros() as u64 + 1));
        killed[1] += u64::from(run_and_kill(&env, &copy, delay));
        // A copy keeps ids: each snapshot must restore as its source.
        let allowed = |id: &str| images.get(id).cloned().into_iter().collect();
        if let Err(e) = new_snapshots_whole(&env, &dst, &mut seen, &allowed) {
            failures.push(format!("copy point {point}: {e}"));
        }
        let started = Instant::now();
        env.snap(&copy).ok();
        full = full.max(started.elapsed());
        if let Err(e) = new_snapshots_whole(&env, &dst, &mut seen, &allowed) {
            failures.push(format!("copy point {point}, next run: {e}"));
        }
        let missing: Vec<&String> = images.keys().filter(|id| !seen.contains_key(*id)).collect();
        if !missing.is_empty() {
            failures.push(format!(
                "copy point {point}: the next run left {missing:?} out"
            ));
        }
    }
    env.snap(at(&dst, &["check", "--read-data"])).ok();
    eprintln!(
        "kill -9 against SeaweedFS: create {n} points ({} killed mid-run), copy {n} points ({} killed mid-run), {} oracle failures",
        killed[0],
        killed[1],
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
