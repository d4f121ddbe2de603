//! Pin and unpin after the fact (issue 17): `snap tag ID --add keep` /
//! `--remove keep` write the tag record (FORMAT.md §8.1), and `forget` by
//! id and by policy honour it exactly as a `keep` written at create time.

use chrono::{Duration, TimeZone, Utc};

use crate::util::*;

/// Three snapshots of one profile, a day apart; returns their ids, oldest first.
fn three(dir: &std::path::Path, repo: &std::path::Path, first_tags: &[&str]) -> Vec<String> {
    let src = dir.join("profile");
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    (0..3u64)
        .map(|i| {
            write_profile(&src, i, 1000);
            let tags = if i == 0 { first_tags } else { &[] };
            snapshot_at(repo, "app", &src, Some(t0 + Duration::days(i as i64)), tags)
        })
        .collect()
}

fn tags_of(repo: &std::path::Path, id: &str) -> Vec<String> {
    let list: serde_json::Value =
        serde_json::from_str(&snap_ok(repo, &["--json", "list"], &[])).unwrap();
    let s = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {list}"));
    s["manifest"]["tags"]
        .as_array()
        .or(s["tags"].as_array())
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_pin_added_later_is_honoured_by_forget_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let ids = three(dir.path(), &repo, &[]);
    let out = snap_ok(
        &repo,
        &["--json", "tag", &ids[0][..8], "--add", "keep"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["before"], serde_json::json!([]), "{out}");
    assert_eq!(v["tags"], serde_json::json!(["keep"]), "{out}");
    assert_eq!(v["changed"], true);
    assert!(repo.join("tags").join(&ids[0]).exists());
    assert_eq!(tags_of(&repo, &ids[0]), ["keep"]);
    // Pinning again changes nothing.
    let again = snap_ok(&repo, &["tag", &ids[0], "--add", "keep"], &[]);
    assert!(again.contains("unchanged"), "{again}");
    // forget by id refuses it without --force.
    let out = snap(&repo, &["forget", &ids[0][..8]], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pinned"));
    // Retention keeps it.
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    assert!(
        repo.join("snapshots").join(&ids[0]).exists(),
        "pinned stays"
    );
    assert!(!repo.join("snapshots").join(&ids[1]).exists());
    // Unpinned, the same policy removes it, and its record goes with it.
    snap_ok(&repo, &["tag", &ids[0], "--remove", "keep"], &[]);
    assert!(
        !repo.join("tags").join(&ids[0]).exists(),
        "empty record deleted"
    );
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    assert!(!repo.join("snapshots").join(&ids[0]).exists());
    assert!(repo.join("snapshots").join(&ids[2]).exists());
    snap_ok(&repo, &["check"], &[]);
}

#[test]
fn unpinning_a_keep_written_at_create_time_lets_rotation_remove_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let ids = three(dir.path(), &repo, &["keep", "mine"]);
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    assert!(repo.join("snapshots").join(&ids[0]).exists());
    let out = snap_ok(&repo, &["--json", "tag", &ids[0], "--remove", "keep"], &[]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["before"], serde_json::json!(["keep", "mine"]), "{out}");
    assert_eq!(v["tags"], serde_json::json!(["mine"]), "{out}");
    let record = std::fs::read_to_string(repo.join("tags").join(&ids[0])).unwrap();
    assert!(record.contains(r#""removed":["keep"]"#), "{record}");
    assert_eq!(tags_of(&repo, &ids[0]), ["mine"]);
    // Pinned again: the record has nothing left to say and is deleted.
    snap_ok(&repo, &["tag", &ids[0], "--add", "keep"], &[]);
    assert!(!repo.join("tags").join(&ids[0]).exists());
    assert_eq!(tags_of(&repo, &ids[0]), ["keep", "mine"]);
    snap_ok(&repo, &["tag", &ids[0], "--remove", "keep"], &[]);
    snap_ok(&repo, &["forget", &ids[0][..8]], &[]);
    assert!(!repo.join("snapshots").join(&ids[0]).exists());
    assert!(!repo.join("tags").join(&ids[0]).exists());
}

#[test]
fn tag_refuses_bad_tags_and_unknown_snapshots_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let ids = three(dir.path(), &repo, &[]);
    for (args, words) in [
        (vec!["tag", &ids[0][..], "--add", "a b"], "spaces"),
        (
            vec!["tag", &ids[0][..], "--add", "x", "--remove", "x"],
            "both added and removed",
        ),
        (vec!["tag", "ffffffff", "--add", "keep"], "ffffffff"),
    ] {
        let out = snap(&repo, &args, &[]);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(words), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(!repo.join("tags").exists(), "nothing written");
    let out = snap(&repo, &["tag", &ids[0]], &[]);
    assert_eq!(out.status.code(), Some(2), "--add or --remove is required");
}

/// In an encrypted repository the record is sealed: nothing readable lands
/// in `tags/`, and the pin still holds.
#[test]
fn a_pin_in_an_encrypted_repository_is_sealed_and_honoured() {
    let env = crate::encryption::enc_env();
    env.snap(["init", "--encrypt"]).ok();
    let src = env.path("app");
    write_profile(&src, 0, 1000);
    let first = env.create(&src, &[]).id();
    write_profile(&src, 1, 1000);
    env.create(&src, &[]).id();
    env.snap(["tag", &first, "--add", "keep"]).ok();
    let record = std::fs::read(env.repo.join("tags").join(&first)).unwrap();
    let text = String::from_utf8_lossy(&record);
    assert!(!text.contains("keep") && !text.contains(&first), "{text}");
    env.snap(["forget", &first]).code(1);
    env.snap(["forget", "--keep-last", "1"]).ok();
    let listed = env.snap(["list"]).ok().stdout;
    assert!(
        listed.contains(&first[..8]) && listed.contains("keep"),
        "{listed}"
    );
    env.snap(["tag", &first, "--remove", "keep"]).ok();
    env.snap(["forget", &first]).ok();
}

/// `snap check` records when it ran and what it found; `snap stats` shows
/// it; in an encrypted repository the record is sealed.
#[test]
fn check_records_its_outcome_for_stats_and_the_page() {
    let env = crate::encryption::enc_env();
    env.snap(["init", "--encrypt"]).ok();
    let src = env.path("app");
    write_profile(&src, 0, 1000);
    env.create(&src, &[]).id();
    let stats = env.snap(["--json", "stats"]).ok().json();
    assert_eq!(stats["last_check"], serde_json::Value::Null, "{stats}");
    env.snap(["stats"]).ok().expect_contains(true, "never");
    let mut c = env.cmd(["--json", "check", "--read-data"]);
    c.env("SNAP_NOW", "2026-03-04T05:06:07Z");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked["last_check"]["ok"], true, "{checked}");
    assert_eq!(checked["last_check"]["read_data"], true);
    assert!(checked["problems"].is_array(), "the report is still there");
    let stats = env.snap(["--json", "stats"]).ok().json();
    assert_eq!(
        stats["last_check"]["time_ms"], 1_772_600_767_000i64,
        "{stats}"
    );
    assert_eq!(stats["last_check"]["problems"], 0);
    env.snap(["stats"])
        .ok()
        .expect_contains(true, "with --read-data: no problems");
    let raw = std::fs::read(env.repo.join("last-check.json")).unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("read_data"),
        "sealed"
    );
    // A problem found is recorded as such.
    let pack = walk_files(&env.repo.join("packs"))[0].clone();
    let mut bytes = std::fs::read(&pack).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&pack, bytes).unwrap();
    env.snap(["check", "--read-data"]).code(1);
    let stats = env.snap(["--json", "stats"]).ok().json();
    assert_eq!(stats["last_check"]["ok"], false, "{stats}");
    assert!(stats["last_check"]["problems"].as_u64().unwrap() >= 1);
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
