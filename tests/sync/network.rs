//! `sync push` and `sync pull` through the TCP fault proxy
//! ([`crate::util::proxy`]) to SeaweedFS.
//!
//! - Faults (`503 Slow Down`, delays, dropped connections): each failed
//!   command exits non-zero with one error line; the head always names a
//!   complete snapshot (restored and compared with the states pushed); the
//!   pulling device's profile is its old state or the head's, never a mix;
//!   a retry on a healthy network completes. Even rounds have faults the
//!   client's retries mostly absorb; odd rounds end in an outage after
//!   32 KiB, so their commands fail part-way. `SNAP_SYNC_NET_ROUNDS`
//!   (default 2) sets the rounds.
//! - Bytes: a second push after a small change sends about the new data
//!   (the unscoped push goes through `copy_snapshots`); the same push
//!   through the scoped ZIP path is measured beside it.

use std::collections::BTreeMap;

use super::crash::head_tree;
use super::{env_or, s3_shared, Device};
use crate::copy::error_lines;
use crate::util::proxy::{Faults, Proxy};
use crate::util::{data, make_profile, mutate_profile};

/// Faults the client's retries mostly absorb (even rounds).
const FAULTS: Faults = Faults {
    slow_down: 0.2,
    drop: 0.01,
    delay_ms: 20,
    cut_after: 0,
};

/// The same faults, then an outage no retry gets through after 32 KiB
/// (odd rounds): the commands fail part-way, every time.
const OUTAGE: Faults = Faults {
    delay_ms: 5,
    cut_after: 32 << 10,
    ..FAULTS
};

/// A device whose `snap` reaches the object store through `proxy`.
fn device(id: &str, shared: &str, proxy: &Proxy) -> Device {
    let mut d = Device::new(id, shared);
    d.env.env("AWS_ENDPOINT_URL", &proxy.endpoint());
    d
}

/// Asserts a failed run printed one error line and was no conflict.
fn one_line(run: &crate::util::Run, what: &str) {
    assert_ne!(
        run.code,
        15,
        "{what}: a network fault was reported as a conflict\n{}",
        run.dump()
    );
    let lines = error_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "{what}: not one error line\n{}", run.dump());
    assert!(lines[0].starts_with("snap: "), "{what}\n{}", run.dump());
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn sync_push_and_pull_through_a_faulty_network_keep_head_and_profile_whole() {
    let rounds = env_or("SNAP_SYNC_NET_ROUNDS", 2);
    let shared = s3_shared("net");
    let proxy = Proxy::to_s3(Faults::default());
    let a = device("device-a", &shared, &proxy);
    let b = device("device-b", &shared, &proxy);
    make_profile(&a.profile, 60, 1 << 20, 41);
    a.start();
    a.push(&[]).ok();
    b.pull(&[]).ok();
    let mut pushed: Vec<BTreeMap<String, Vec<u8>>> = vec![a.files()];
    let (mut push_failed, mut pull_failed, mut ok) = (0, 0, 0);
    for round in 0..rounds {
        let faults = if round % 2 == 0 { FAULTS } else { OUTAGE };
        mutate_profile(&a.profile, 0.3, 200 + round);
        pushed.push(a.files());
        proxy.set_faults(faults);
        let run = a.push(&[]);
        proxy.set_faults(Faults::default());
        let head = head_tree(&a);
        assert!(
            pushed.contains(&head),
            "round {round}: the head names none of the states pushed"
        );
        if run.code == 0 {
            ok += 1;
            assert_eq!(head, a.files(), "round {round}: pushed, but not the head");
        } else {
            push_failed += 1;
            one_line(&run, "push");
            let again = a.push(&[]).ok().json();
            assert!(
                again["action"] == "pushed" || again["action"] == "up-to-date",
                "{again}"
            );
            assert_eq!(head_tree(&a), a.files(), "round {round}: the retry");
        }
        a.env.snap(["--repo", &shared, "check"]).ok();

        let before = b.files();
        proxy.set_faults(faults);
        let run = b.pull(&[]);
        proxy.set_faults(Faults::default());
        let after = b.files();
        assert!(
            after == before || after == a.files(),
            "round {round}: B's profile is a mix of its old state and the head"
        );
        if run.code == 0 {
            ok += 1;
            assert_eq!(after, a.files(), "round {round}: pulled, but not the head");
        } else {
            pull_failed += 1;
            one_line(&run, "pull");
            let again = b.pull(&[]).ok().json();
            assert!(
                again["action"] == "restored" || again["action"] == "up-to-date",
                "{again}"
            );
            assert_eq!(b.files(), a.files(), "round {round}: the retry");
        }
    }
    let (slow, drops) = proxy.injected();
    eprintln!(
        "sync through a faulty network: {rounds} rounds, {ok} commands succeeded, \
         {push_failed} pushes and {pull_failed} pulls failed with one line and were retried; \
         {slow} 503 answers and {drops} dropped connections injected"
    );
    if rounds >= 2 {
        assert!(
            push_failed > 0 && pull_failed > 0,
            "the outage rounds made no push or no pull fail: the failure path was not tested"
        );
    }
    a.env.snap(["--repo", &shared, "check", "--read-data"]).ok();
}

/// Bytes up for a push of `d` through `proxy`, and its report.
fn push_bytes(d: &Device, proxy: &Proxy, extra: &[&str]) -> (u64, u64, serde_json::Value) {
    let (up, down) = (proxy.bytes_up(), proxy.bytes_down());
    let report = d.push(extra).ok().json();
    (proxy.bytes_up() - up, proxy.bytes_down() - down, report)
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn sync_second_push_sends_about_the_new_data() {
    let proxy = Proxy::to_s3(Faults::default());
    let new_data = 1 << 20;
    let mut figures = Vec::new();
    for (how, extra) in [("copy", &[][..]), ("scoped-zip", &["--scope", "sync"][..])] {
        let shared = s3_shared("bytes");
        let a = device("device-a", &shared, &proxy);
        make_profile(&a.profile, 200, 4 << 20, 51);
        a.start();
        a.env
            .snap([
                "profile",
                "set",
                "app",
                "--scope",
                "sync=exclude:nothing/**",
            ])
            .ok();
        let (up1, _, first) = push_bytes(&a, &proxy, extra);
        assert_eq!(first["transfer"], how, "{first}");
        // A small change: 1 MiB of new incompressible data, 1% of the
        // files edited.
        std::fs::write(a.profile.join("new.bin"), data(77, new_data)).unwrap();
        mutate_profile(&a.profile, 0.01, 52);
        let (up2, down2, second) = push_bytes(&a, &proxy, extra);
        assert_eq!(second["action"], "pushed", "{second}");
        assert_eq!(head_tree(&a), a.files());
        figures.push(format!(
            "{how}: first push {up1} bytes up; second push {up2} up, {down2} down, {} new blobs",
            second["chunks_new"]
        ));
        if how == "copy" {
            // Unscoped, plain to plain: the shared snapshot keeps its id.
            assert_eq!(second["head"], second["local_snapshot"], "{second}");
            let limit = new_data as u64 * 13 / 10;
            assert!(
                up2 <= limit,
                "the second push sent {up2} bytes for {new_data} new bytes"
            );
        }
    }
    eprintln!(
        "sync push bytes for {new_data} new bytes:\n{}",
        figures.join("\n")
    );
}
