//! `diff`, `restore --dry-run`, `restore --path`, the pre-restore snapshot,
//! a corrupt chunk, and profile recovery.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{assert_same_tree, copy_tree, list_files, noise, staging_dirs, write, Env};

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn three_files(env: &Env) -> PathBuf {
    let p = env.path("profile");
    write(&p, "a.txt", b"alpha");
    write(&p, "b.txt", b"bravo");
    write(&p, "d/c.txt", b"charlie");
    p
}

fn change_three(p: &Path) {
    write(p, "a.txt", b"ALPHA");
    fs::remove_file(p.join("b.txt")).unwrap();
    write(p, "d/new.txt", b"new");
}

#[test]
fn diff_against_live_and_between_snapshots() {
    let env = Env::new();
    let p = three_files(&env);
    let id1 = env.create(&p, &[]).id();
    change_three(&p);
    let want = vec!["+ d/new.txt", "- b.txt", "M a.txt"];
    let live = env.snap(["diff", id1.as_str()]).ok();
    assert_eq!(lines(&live.stdout), want, "{}", live.dump());
    let id2 = env.create(&p, &[]).id();
    let between = env.snap(["diff", id1.as_str(), id2.as_str()]).ok();
    assert_eq!(lines(&between.stdout), want, "{}", between.dump());
    let json = env.snap(["--json", "diff", &id1, &id2]).ok().json();
    let mut got: Vec<(String, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let expected = [
        ("added", "d/new.txt"),
        ("modified", "a.txt"),
        ("removed", "b.txt"),
    ];
    assert_eq!(
        got,
        expected
            .map(|(k, p)| (k.to_string(), p.to_string()))
            .to_vec()
    );
    // No difference: no lines.
    assert_eq!(env.snap(["diff", id2.as_str()]).ok().stdout, "");
}

#[test]
fn dry_run_lists_changes_and_writes_nothing() {
    let env = Env::new();
    let p = three_files(&env);
    let id1 = env.create(&p, &[]).id();
    change_three(&p);
    let before = env.path("before");
    copy_tree(&p, &before);
    let run = env.snap(["restore", id1.as_str(), "--dry-run"]).ok();
    let out: Vec<String> = lines(&run.stdout)
        .into_iter()
        .filter(|l| !l.starts_with("dry run"))
        .collect();
    assert_eq!(
        out,
        vec!["+ b.txt", "- d/new.txt", "M a.txt"],
        "{}",
        run.dump()
    );
    assert_same_tree(&before, &p);
    assert!(staging_dirs(&p).is_empty());
    let list = env.snap(["--json", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1, "dry run made a snapshot");
}

#[test]
fn restore_path_in_place_restores_only_that_path_and_drops_sidecars() {
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "db.sqlite", b"version one");
    write(&p, "other.txt", b"other one");
    let id1 = env.create(&p, &[]).id();
    write(&p, "db.sqlite", b"version two, longer");
    write(&p, "db.sqlite-wal", b"stale wal");
    write(&p, "db.sqlite-shm", b"stale shm");
    write(&p, "other.txt", b"other two");
    env.snap(["restore", id1.as_str(), "--path", "db.sqlite"])
        .ok();
    assert_eq!(fs::read(p.join("db.sqlite")).unwrap(), b"version one");
    assert_eq!(fs::read(p.join("other.txt")).unwrap(), b"other two");
    assert!(!p.join("db.sqlite-wal").exists());
    assert!(!p.join("db.sqlite-shm").exists());
    assert!(staging_dirs(&p).is_empty());
}

#[test]
fn in_place_restore_takes_a_pre_restore_snapshot_unless_unchanged() {
    let env = Env::new();
    let p = three_files(&env);
    let id1 = env.create(&p, &[]).id();
    // Nothing changed since id1: no new snapshot; id1 is the undo point
    // (tests/snapshot/undo.rs).
    let run = env.snap(["restore", id1.as_str()]).ok();
    assert!(run.stdout.contains("tagged pre-restore"), "{}", run.dump());
    assert_eq!(
        env.snap(["--json", "list"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    change_three(&p);
    let changed = env.path("changed");
    copy_tree(&p, &changed);
    let run = env.snap(["restore", id1.as_str()]).ok();
    assert!(run.stdout.contains("pre-restore"), "{}", run.dump());
    let list = env.snap(["--json", "list"]).ok().json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let pre = &list[0];
    assert_eq!(list[1]["tags"], serde_json::json!(["pre-restore"]));
    assert!(
        pre["name"].as_str().unwrap().starts_with("pre-restore"),
        "{pre:#}"
    );
    assert_eq!(pre["tags"], serde_json::json!(["pre-restore"]));
    // The profile is id1 again; the pre-restore snapshot holds what was there.
    let want = env.path("want");
    env.snap([
        "restore".as_ref(),
        id1.as_ref(),
        "--target".as_ref(),
        want.as_os_str(),
    ])
    .ok();
    assert_same_tree(&want, &p);
    let saved = env.path("saved");
    let pre_id = pre["id"].as_str().unwrap();
    env.snap([
        "restore".as_ref(),
        pre_id.as_ref(),
        "--target".as_ref(),
        saved.as_os_str(),
    ])
    .ok();
    assert_same_tree(&changed, &saved);
}

#[test]
fn corrupt_chunk_fails_restore_before_the_profile_is_touched() {
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "big.bin", &noise(11, 3 << 20));
    write(&p, "small.txt", b"small");
    let id1 = env.create(&p, &[]).id();
    // The big file differs live, so the restore must read its chunks.
    write(&p, "big.bin", &noise(12, 1 << 20));
    let before = env.path("before");
    copy_tree(&p, &before);

    let packs = list_files(&env.repo.join("packs"));
    let biggest = packs
        .iter()
        .map(|r| env.repo.join("packs").join(r))
        .max_by_key(|f| fs::metadata(f).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&biggest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    fs::write(&biggest, &bytes).unwrap();
    let pack = biggest.file_name().unwrap().to_string_lossy().into_owned();

    let run = env
        .snap(["restore", id1.as_str()])
        .one_line_error(&["big.bin", &pack[..8]]);
    assert_same_tree(&before, &p);
    assert!(staging_dirs(&p).is_empty(), "{}", run.dump());

    let target = env.path("target");
    env.snap([
        "restore".as_ref(),
        id1.as_ref(),
        "--target".as_ref(),
        target.as_os_str(),
    ])
    .one_line_error(&["big.bin", &pack[..8]]);
    assert!(!target.exists());
    assert!(staging_dirs(&target).is_empty());
}

#[test]
fn profiles_json_is_recovered_from_bak_then_from_snapshots() {
    let env = Env::new();
    let p = three_files(&env);
    env.create(&p, &["--profile", "app"]);
    let other = env.path("other");
    fs::create_dir_all(&other).unwrap();
    env.snap([
        "profile".as_ref(),
        "add".as_ref(),
        "other".as_ref(),
        other.as_os_str(),
    ])
    .ok();
    let main = env.repo.join("profiles.json");
    assert!(env.repo.join("profiles.json.bak").exists());
    fs::write(&main, b"{ not json").unwrap();
    let run = env.snap(["profile", "list"]).ok();
    assert!(run.stdout.contains("app"), "{}", run.dump());
    assert!(
        run.stderr.contains("warning") && run.stderr.contains(".bak"),
        "{}",
        run.dump()
    );

    fs::remove_file(&main).unwrap();
    fs::remove_file(env.repo.join("profiles.json.bak")).unwrap();
    let run = env.snap(["profile", "list"]).ok();
    assert!(run.stdout.contains("app"), "{}", run.dump());
    assert!(
        run.stderr.contains("recovered profile app"),
        "{}",
        run.dump()
    );
    // Recovered for good: a create by name works again.
    env.snap(["create", "--profile", "app"]).ok();
}
