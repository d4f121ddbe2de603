//! The push race: both devices push at the same instant, round after
//! round. Exactly one head wins each round, the loser gets exit 15, and
//! no push is lost from history: each round's new head has the previous
//! round's winner as its `previous`.
//!
//! `SNAP_SYNC_RACE_ROUNDS` (default 20; the figure is 200:
//! `SNAP_SYNC_RACE_ROUNDS=200 cargo test --release --test tests -- race`)
//! for the shared folder, `SNAP_SYNC_RACE_S3_ROUNDS` (default 10) for
//! SeaweedFS.

use std::process::Stdio;

use super::{env_or, folder_shared, s3_shared, Device};

fn race(shared: &str, rounds: u64) {
    let a = Device::new("device-a", shared);
    let b = Device::new("device-b", shared);
    a.write("n.txt", "start\n");
    a.start();
    a.push(&[]).ok();
    b.pull(&[]).ok();
    let mut last_winner = super::head_of(&a).expect("a head");
    let (mut wins_a, mut wins_b) = (0, 0);
    for round in 0..rounds {
        a.write("n.txt", &format!("A {round}\n"));
        b.write("n.txt", &format!("B {round}\n"));
        let args = |d: &Device| {
            let mut c = d.env.cmd([
                "--json",
                "sync",
                "push",
                "--to",
                &d.shared,
                "--profile",
                "app",
            ]);
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c
        };
        let (mut ca, mut cb) = (args(&a), args(&b));
        let (pa, pb) = (ca.spawn().unwrap(), cb.spawn().unwrap());
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        let (ea, eb) = (oa.status.code(), ob.status.code());
        let dump = || {
            format!(
                "round {round}: A {ea:?} {} {}\nB {eb:?} {} {}",
                String::from_utf8_lossy(&oa.stdout),
                String::from_utf8_lossy(&oa.stderr),
                String::from_utf8_lossy(&ob.stdout),
                String::from_utf8_lossy(&ob.stderr)
            )
        };
        let (winner, loser, out) = match (ea, eb) {
            (Some(0), Some(15)) => (&a, &b, &oa),
            (Some(15), Some(0)) => (&b, &a, &ob),
            _ => panic!("not exactly one winner and one exit 15\n{}", dump()),
        };
        if std::ptr::eq(winner, &a) {
            wins_a += 1;
        } else {
            wins_b += 1;
        }
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["action"], "pushed", "{}", dump());
        assert_eq!(
            report["previous"].as_str(),
            Some(last_winner.as_str()),
            "a push was lost from history\n{}",
            dump()
        );
        let head = report["head"].as_str().unwrap().to_string();
        assert_eq!(super::head_of(&a).as_deref(), Some(head.as_str()));
        last_winner = head;
        // The loser takes the winner's state and both are in step again.
        loser.pull(&["--theirs"]).ok();
        assert_eq!(loser.files(), winner.files(), "{}", dump());
    }
    eprintln!("push race through {shared}: {rounds} rounds, A won {wins_a}, B won {wins_b}");
}

#[test]
fn sync_push_race_has_one_winner_per_round_in_a_shared_folder() {
    let env = crate::util::Env::new();
    race(&folder_shared(&env), env_or("SNAP_SYNC_RACE_ROUNDS", 20));
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn sync_push_race_has_one_winner_per_round_on_seaweedfs() {
    race(&s3_shared("race"), env_or("SNAP_SYNC_RACE_S3_ROUNDS", 10));
}
