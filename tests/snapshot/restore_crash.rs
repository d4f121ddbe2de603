//! In-place restore killed with SIGKILL at random moments: the profile is
//! always exactly the old or exactly the restored state, and the next `snap`
//! command removes the staging directory.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::{compare_trees, noise, staging_dirs, write, Env};

const KILLS: usize = 12;

fn make_state(p: &Path, seed: u64) {
    for i in 0..300u64 {
        // About 48 MB in all; every file differs between the two states.
        let len = 100_000 + (i as usize * 797) % 120_000;
        write(
            p,
            &format!("d{}/f{i}.bin", i % 12),
            &noise(seed * 1000 + i, len),
        );
    }
}

fn restore_to(env: &Env, id: &str, dir: &Path) {
    env.snap([
        "restore".as_ref(),
        id.as_ref(),
        "--target".as_ref(),
        dir.as_os_str(),
    ])
    .ok();
}

/// Which reference state `p` is in, or a panic naming both differences.
fn state_of(p: &Path, a: &Path, b: &Path, note: &str) -> char {
    match (compare_trees(p, a), compare_trees(p, b)) {
        (Ok(()), _) => 'A',
        (_, Ok(())) => 'B',
        (Err(ea), Err(eb)) => panic!("{note}: profile is a mix\n vs A: {ea}\n vs B: {eb}"),
    }
}

#[test]
fn in_place_restore_killed_at_random_moments_is_all_or_nothing() {
    let env = Env::new();
    let p = env.path("profile");
    make_state(&p, 1);
    let id_a = env.create(&p, &[]).id();
    std::fs::remove_dir_all(&p).unwrap();
    make_state(&p, 2);
    let id_b = env.create(&p, &[]).id();
    let (ref_a, ref_b) = (env.path("ref-a"), env.path("ref-b"));
    restore_to(&env, &id_a, &ref_a);
    restore_to(&env, &id_b, &ref_b);

    // One uninterrupted restore to learn how long it takes.
    let t = Instant::now();
    env.snap(["restore", id_a.as_str()]).ok();
    let full = t.elapsed();
    assert_eq!(state_of(&p, &ref_a, &ref_b, "after a full restore"), 'A');

    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    println!("full restore took {full:?}; kill seed {seed}");
    let mut state = 'A';
    let mut outcomes = String::new();
    for round in 0..KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % (full.as_micros() as u64 + 1));
        let (id, to) = if state == 'A' {
            (&id_b, 'B')
        } else {
            (&id_a, 'A')
        };
        let mut child = env.cmd(["restore", id.as_str()]).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let note = format!("round {round}: restore to {to} killed after {delay:?} ({status})");
        state = state_of(&p, &ref_a, &ref_b, &note);
        outcomes.push(state);
        // The next command, whatever it is, finishes the interrupted restore.
        env.snap(["list"]).ok();
        assert!(
            staging_dirs(&p).is_empty(),
            "{note}: staging left after `snap list`: {:?}",
            staging_dirs(&p)
        );
        assert_eq!(state_of(&p, &ref_a, &ref_b, &note), state);
    }
    println!("states after each kill: {outcomes}");
    env.snap(["check"]).ok();
}
