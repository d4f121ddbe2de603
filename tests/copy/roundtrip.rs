//! Copies that keep ids (plain to plain, `init --from`), copies that map
//! them (plain to encrypted, two passwords), tags and names kept, a second
//! copy that copies nothing, and local -> SeaweedFS -> local restoring
//! byte for byte.

use std::fs;

use super::{at, counts, listed, restored, s3_repo};
use crate::encryption::TEST_ARGON2;
use crate::util::{make_profile, mutate_profile, Env};

/// Three snapshots of profile `p` in `env.repo` (plain), the first pinned.
fn source(env: &Env) {
    let prof = env.path("prof");
    make_profile(&prof, 40, 300_000, 11);
    env.create(&prof, &["--profile", "p"]);
    mutate_profile(&prof, 0.3, 12);
    env.create(&prof, &["--profile", "p"]);
    mutate_profile(&prof, 0.3, 13);
    env.create(&prof, &["--profile", "p"]);
    env.snap(["tag", "latest~2", "--profile", "p", "--add", "keep"])
        .ok();
}

/// Every snapshot of `repo` (opened with `pw`) has the name, tags and
/// content of the source snapshot of the same name.
fn same_as_source(env: &Env, repo: &std::path::Path, pw: &[&str]) {
    let want = listed(env, &env.repo, &[]);
    let got = listed(env, repo, pw);
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "names differ in {}",
        repo.display()
    );
    for (name, (id, tags)) in &want {
        let (copy_id, copy_tags) = &got[name];
        assert_eq!(tags, copy_tags, "tags of {name} in {}", repo.display());
        assert_eq!(
            restored(env, &env.repo, id, &[]),
            restored(env, repo, copy_id, pw),
            "{name} restores differently from {}",
            repo.display()
        );
    }
}

/// `snap --json copy ARGS`, expecting success.
fn copy_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json", "copy"];
    all.extend(args);
    env.snap(&all).ok().json()
}

fn password(env: &Env, name: &str) -> String {
    let p = env.path(&format!("pw-{name}"));
    fs::write(&p, format!("{name} password\n")).unwrap();
    p.display().to_string()
}

#[test]
fn copies_map_ids_across_keys_and_init_from_keeps_them() {
    let mut env = Env::new();
    env.env("SNAP_ARGON2", TEST_ARGON2);
    source(&env);
    let a = env.repo.display().to_string();
    let (pb, pc, pd) = (
        password(&env, "b"),
        password(&env, "c"),
        password(&env, "d"),
    );
    let (b, c, d) = (env.path("b"), env.path("c"), env.path("d"));
    // Plain -> encrypted: new ids, copied_from names the source.
    env.snap(at(&b, &["--password-file", &pb, "init", "--encrypt"]))
        .ok();
    let to_b = |extra: &[&str]| {
        let mut args = vec!["--json", "copy", "--from", &a, "--to", b.to_str().unwrap()];
        args.extend(extra);
        args.extend(["--password-file", &pb]);
        env.snap(&args).ok().json()
    };
    let report = to_b(&[]);
    assert_eq!(counts(&report), (3, 0), "{report:#}");
    assert_eq!(report["ids_kept"], false);
    for s in report["snapshots"].as_array().unwrap() {
        assert_ne!(s["source"], s["destination"]);
        let show = env
            .snap(at(
                &b,
                &[
                    "--password-file",
                    &pb,
                    "--json",
                    "show",
                    s["destination"].as_str().unwrap(),
                ],
            ))
            .ok()
            .json();
        assert_eq!(show["copied_from"], s["source"], "{show:#}");
    }
    same_as_source(&env, &b, &["--password-file", &pb]);
    // Again: nothing to do, no pack.
    let again = to_b(&[]);
    assert_eq!(counts(&again), (0, 3), "{again:#}");
    assert_eq!(again["packs"], 0);
    // Encrypted -> encrypted with another password and key.
    env.snap(at(&c, &["--password-file", &pc, "init", "--encrypt"]))
        .ok();
    let report = copy_json(
        &env,
        &[
            "--from",
            b.to_str().unwrap(),
            "--from-password-file",
            &pb,
            "--to",
            c.to_str().unwrap(),
            "--password-file",
            &pc,
        ],
    );
    assert_eq!(counts(&report), (3, 0), "{report:#}");
    same_as_source(&env, &c, &["--password-file", &pc]);
    // init --from shares the key: the copy keeps the ids.
    env.snap(at(
        &d,
        &[
            "--password-file",
            &pd,
            "init",
            "--from",
            b.to_str().unwrap(),
            "--from-password-file",
            &pb,
        ],
    ))
    .ok();
    let report = copy_json(
        &env,
        &[
            "--from",
            b.to_str().unwrap(),
            "--to",
            d.to_str().unwrap(),
            "--password-file",
            &pd,
            "--from-password-file",
            &pb,
        ],
    );
    assert_eq!(counts(&report), (3, 0), "{report:#}");
    assert_eq!(report["ids_kept"], true);
    for s in report["snapshots"].as_array().unwrap() {
        assert_eq!(s["source"], s["destination"], "{report:#}");
    }
    same_as_source(&env, &d, &["--password-file", &pd]);
    // A snapshot copied back to where it came from is recognised.
    let back = copy_json(
        &env,
        &[
            "--from",
            b.to_str().unwrap(),
            "--from-password-file",
            &pb,
            "--to",
            &a,
        ],
    );
    assert_eq!(counts(&back), (0, 3), "{back:#}");
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn local_to_seaweedfs_and_back_keeps_ids_and_restores_byte_for_byte() {
    let env = Env::new();
    source(&env);
    let a = env.repo.display().to_string();
    let s3 = s3_repo("rt");
    env.snap(at(&s3, &["init"])).ok();
    let copy = |from: &str, to: &str| {
        env.snap(["--json", "copy", "--from", from, "--to", to])
            .ok()
            .json()
    };
    let up = copy(&a, s3.to_str().unwrap());
    assert_eq!(counts(&up), (3, 0), "{up:#}");
    assert_eq!(up["ids_kept"], true);
    let again = copy(&a, s3.to_str().unwrap());
    assert_eq!((counts(&again), &again["packs"]), ((0, 3), &0.into()));
    let e = env.path("e");
    env.snap(at(&e, &["init", "--from", s3.to_str().unwrap()]))
        .ok();
    let down = copy(s3.to_str().unwrap(), e.to_str().unwrap());
    assert_eq!(counts(&down), (3, 0), "{down:#}");
    for (name, (id, _)) in listed(&env, &env.repo, &[]) {
        assert_eq!(listed(&env, &e, &[])[&name].0, id, "{name}: id not kept");
    }
    same_as_source(&env, &s3, &[]);
    same_as_source(&env, &e, &[]);
    env.snap(at(&s3, &["check", "--read-data"])).ok();
    // The profile came along.
    let profiles = env.snap(at(&e, &["--json", "profile", "list"])).ok();
    assert!(profiles.stdout.contains("\"p\""), "{}", profiles.dump());
}
