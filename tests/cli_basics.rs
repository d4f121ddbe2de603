//! The `snap` binary's contract: exit codes and `--json`.

use std::process::Command;

use crate::util::{put_all, snap_bin, Run, TestRepo};

#[test]
fn no_repository_exits_10_for_every_command() {
    let t = TestRepo::empty();
    for args in [
        &["stats"][..],
        &["check"],
        &["check", "--read-data"],
        &["index", "rebuild"],
    ] {
        t.snap(args)
            .expect_code(10)
            .expect_contains(false, "no repository at");
    }
}

#[test]
fn init_creates_then_refuses_an_existing_repository() {
    let t = TestRepo::empty();
    let r = t.snap(&["--json", "init"]);
    r.expect_code(0);
    assert_eq!(r.json()["format_version"], 1);
    assert!(r.stderr.is_empty(), "{}", r.dump());
    t.snap(&["init"])
        .expect_code(1)
        .expect_contains(false, "snap: a repository already exists at");
    t.snap(&["stats"]).expect_code(0);
}

#[test]
fn json_outputs_are_one_document_each() {
    let t = TestRepo::with_pack_size(Some(4096));
    let ids = put_all(&t.open(), &[(1, 10_000), (2, 20_000), (3, 0)]);
    let stats = t.snap(&["stats", "--json"]);
    let v = stats.expect_code(0).json();
    assert_eq!(v["blobs"], ids.len() as u64);
    assert!(v["packs"].as_u64().unwrap() >= 2, "{}", stats.dump());
    let check = t.snap(&["--json", "check", "--read-data"]);
    let v = check.expect_code(0).json();
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    assert_eq!(v["blobs_read"], 3);
    let rebuild = t.snap(&["--json", "index", "rebuild"]);
    assert_eq!(rebuild.expect_code(0).json()["blobs"], 3);
    // Human output names the totals.
    t.snap(&["stats"])
        .expect_code(0)
        .expect_contains(true, "blobs      3");
    t.snap(&["check"])
        .expect_code(0)
        .expect_contains(true, "no problems");
}

#[test]
fn repo_comes_from_snap_repo_and_usage_errors_exit_2() {
    let t = TestRepo::new();
    let mut cmd = Command::new(snap_bin());
    cmd.env("SNAP_REPO", t.path()).args(["stats", "--json"]);
    assert_eq!(Run::of(cmd, None).expect_code(0).json()["packs"], 0);
    t.snap(&["no-such-command"]).expect_code(2);
    t.snap(&["check", "--bogus"]).expect_code(2);
}

#[test]
fn a_missing_index_is_a_warning_on_stderr_not_stdout() {
    let t = TestRepo::new();
    put_all(&t.open(), &[(5, 1000)]);
    std::fs::remove_file(t.path().join("index.sqlite")).unwrap();
    let r = t.snap(&["--json", "stats"]);
    assert_eq!(r.expect_code(0).json()["blobs"], 1);
    r.expect_contains(false, "snap: warning: index was missing");
}

/// Bare relative names for the repository and the profile (`--repo r
/// create p`, run from their parent) work from the very first run, which
/// creates the repository, through forget, gc and restore.
#[test]
fn bare_relative_paths_work_from_the_first_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("p")).expect("profile");
    std::fs::write(dir.path().join("p/a.json"), b"{\"a\":1}").expect("write");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(snap_bin());
        cmd.current_dir(dir.path()).args(["--repo", "r"]).args(args);
        let r = Run::of(cmd, None);
        r.expect_code(0);
        r
    };
    run(&["create", "p"]);
    std::fs::write(dir.path().join("p/a.json"), b"{\"a\":2}").expect("write");
    run(&["create", "p", "--force"]);
    run(&["forget", "--keep-last", "1"]);
    run(&["gc"]);
    run(&["restore", "latest", "--target", "out"]);
    assert_eq!(
        std::fs::read(dir.path().join("out/a.json")).expect("restored"),
        b"{\"a\":2}"
    );
}
