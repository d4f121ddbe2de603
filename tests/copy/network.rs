//! Through the TCP proxy ([`crate::util::proxy`]) to SeaweedFS: the bytes a
//! copy sends, and `create`, `restore` and `copy` under dropped
//! connections, delays and `503 Slow Down` answers.
//!
//! `SNAP_NET_FAULT_ROUNDS` (default 6) sets the rounds of the fault test.

use std::collections::BTreeMap;

use super::{at, counts, error_lines, listed, restored, s3_repo};
use crate::util::proxy::{Faults, Proxy};
use crate::util::{data, make_profile, mutate_profile, tree_image, Env, TreeImage};

fn via(proxy: &Proxy, args: Vec<String>) -> Vec<String> {
    let mut v = vec!["--s3-endpoint".to_string(), proxy.endpoint()];
    v.extend(args);
    v
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn a_second_copy_sends_about_the_new_data_and_a_third_no_pack() {
    let env = Env::new();
    let prof = env.path("prof");
    make_profile(&prof, 300, 6 << 20, 21);
    env.create(&prof, &["--profile", "p"]);
    let s3 = s3_repo("bytes");
    env.snap(at(&s3, &["init"])).ok();
    let proxy = Proxy::to_s3(Faults::default());
    let a = env.repo.display().to_string();
    let copy = || {
        let before = proxy.bytes_up();
        let args = ["--json", "copy", "--from", &a, "--to", s3.to_str().unwrap()];
        let report = env
            .snap(via(&proxy, args.iter().map(|s| s.to_string()).collect()))
            .ok()
            .json();
        (report, proxy.bytes_up() - before)
    };
    let (first, sent1) = copy();
    assert_eq!(counts(&first), (1, 0));
    // A small change: 1 MiB of new incompressible data, one file edited.
    let new_data = 1 << 20;
    std::fs::write(prof.join("images/new.bin"), data(77, new_data)).unwrap();
    mutate_profile(&prof, 0.01, 22);
    env.create(&prof, &["--profile", "p"]);
    let (second, sent2) = copy();
    assert_eq!(counts(&second), (1, 1), "{second:#}");
    let limit = new_data as u64 * 12 / 10;
    eprintln!(
        "copy bytes sent: first {sent1}, second {sent2} for {new_data} new bytes (limit {limit}), \
         second stored {} bytes in {} packs",
        second["stored_bytes"], second["packs"]
    );
    assert!(
        sent2 <= limit,
        "the second copy sent {sent2} bytes for {new_data} new bytes"
    );
    let (third, sent3) = copy();
    assert_eq!(counts(&third), (0, 2));
    assert_eq!(third["packs"], 0, "{third:#}");
    eprintln!("third copy sent {sent3} bytes (no pack)");
    assert!(
        sent3 < 64 << 10,
        "a copy with nothing new sent {sent3} bytes"
    );
}

fn copy_args(from: &str, to: &std::path::Path) -> Vec<String> {
    ["copy", "--from", from, "--to", to.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Asserts a failed command printed one error line naming the endpoint.
fn one_line(run: &crate::util::Run, endpoint: &str) {
    let lines = error_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "not one error line\n{}", run.dump());
    assert!(
        lines[0].contains(endpoint) || lines[0].contains("s3://"),
        "the error does not name the endpoint {endpoint}\n{}",
        run.dump()
    );
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn create_restore_and_copy_through_a_faulty_network_leave_no_partial_snapshot() {
    let rounds: u64 = std::env::var("SNAP_NET_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let env = Env::new();
    let prof = env.path("prof");
    make_profile(&prof, 120, 2 << 20, 31);
    let (r1, r2) = (s3_repo("faults-create"), s3_repo("faults-copy"));
    env.snap(at(&r1, &["init"])).ok();
    env.snap(at(&r2, &["init"])).ok();
    let proxy = Proxy::to_s3(Faults {
        slow_down: 0.2,
        drop: 0.01,
        delay_ms: 20,
        cut_after: 0,
    });
    let endpoint = proxy.endpoint();
    let a = env.repo.display().to_string();
    let mut images: Vec<TreeImage> = Vec::new();
    let mut acked: BTreeMap<String, usize> = BTreeMap::new();
    let (mut failed, mut ok) = (0, 0);
    for round in 0..rounds {
        mutate_profile(&prof, 0.3, 100 + round);
        images.push(tree_image(&prof));
        // create into the bucket
        let run = env.snap(via(
            &proxy,
            at(&r1, &["create", prof.to_str().unwrap(), "--profile", "p"]),
        ));
        if run.code == 0 {
            ok += 1;
            acked.insert(run.id(), images.len() - 1);
        } else {
            failed += 1;
            one_line(&run, &endpoint);
        }
        // copy a local repository into the bucket
        env.create(&prof, &["--profile", "p"]);
        let run = env.snap(via(&proxy, copy_args(&a, &r2)));
        if run.code == 0 {
            ok += 1;
        } else {
            failed += 1;
            one_line(&run, &endpoint);
        }
        // restore from the bucket
        let target = env.path(&format!("net-restore-{round}"));
        let run = env.snap(via(
            &proxy,
            at(
                &r1,
                &[
                    "restore",
                    "latest",
                    "--profile",
                    "p",
                    "--target",
                    target.to_str().unwrap(),
                ],
            ),
        ));
        if run.code != 0 && !run.stderr.contains("no snapshot") {
            failed += 1;
            one_line(&run, &endpoint);
        }
    }
    let (slow, drops) = proxy.injected();
    eprintln!(
        "faulty network: {rounds} rounds, {ok} commands succeeded, {failed} failed with one line; \
         {slow} 503 answers and {drops} dropped connections injected"
    );
    // The network is back: the next runs complete.
    proxy.set_faults(Faults::default());
    env.snap(via(
        &proxy,
        at(&r1, &["create", prof.to_str().unwrap(), "--profile", "p"]),
    ))
    .ok();
    images.push(tree_image(&prof));
    env.snap(via(&proxy, copy_args(&a, &r2))).ok();
    for r in [&r1, &r2] {
        env.snap(at(r, &["check", "--read-data"])).ok();
    }
    // Every snapshot in the bucket is one of the states the test wrote,
    // whole; each acknowledged one is its own round's.
    for (name, (id, _)) in listed(&env, &r1, &[]) {
        let got = restored(&env, &r1, &id, &[]);
        match acked.get(&id) {
            Some(i) => assert!(
                images[*i] == got,
                "{name} ({id}) is not what round {i} wrote"
            ),
            None => assert!(
                images.contains(&got),
                "{name} ({id}) is none of the states written: partial"
            ),
        }
    }
    // The copies: everything of the source, each as in the source.
    let source = listed(&env, &env.repo, &[]);
    let copied = listed(&env, &r2, &[]);
    assert_eq!(
        source.keys().collect::<Vec<_>>(),
        copied.keys().collect::<Vec<_>>()
    );
    for (name, (id, _)) in &source {
        assert_eq!(&copied[name].0, id);
        assert!(
            restored(&env, &env.repo, id, &[]) == restored(&env, &r2, id, &[]),
            "{name} differs in the copy"
        );
    }
}
