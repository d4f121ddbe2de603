//! Bad input: each a clear one-line error (or, for an unreadable file, a
//! warning and exit 3), and nothing lost.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::util::{list_files, noise, write, Env};

fn snapshot_count(env: &Env) -> usize {
    env.snap(["--json", "list"])
        .ok()
        .json()
        .as_array()
        .expect("list is an array")
        .len()
}

#[test]
fn missing_source_is_one_line_error() {
    let env = Env::new();
    let missing = env.path("no-such-profile");
    env.snap(["create".as_ref(), missing.as_os_str()])
        .one_line_error(&["no-such-profile", "does not exist"]);
}

/// Root reads files whatever their mode, so as root the `snap` child is run
/// as user `nobody` (uid 65534) over a tree it owns; as anyone else it runs
/// as itself. Either way the file's read really fails with EACCES.
#[test]
fn unreadable_file_is_a_warning_and_exit_3() {
    const NOBODY: u32 = 65_534;
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "ok.txt", b"fine");
    write(&p, "locked.txt", b"secret");
    let root = crate::util::is_root();
    if root {
        chown_tree(env.dir.path(), NOBODY);
    }
    fs::set_permissions(p.join("locked.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    let as_user = |args: &[&std::ffi::OsStr]| {
        let mut c = env.cmd(args);
        if root {
            c.uid(NOBODY).gid(NOBODY).env("HOME", env.dir.path());
        }
        env.run(c, &args.iter().map(|a| a.into()).collect::<Vec<_>>())
    };
    let run = as_user(&["create".as_ref(), p.as_os_str()]).code(3);
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("locked.txt"),
        "{}",
        run.dump()
    );
    let ls = as_user(&["ls".as_ref(), "latest".as_ref()]).ok();
    assert!(ls.stdout.contains("ok.txt"), "{}", ls.dump());
    assert!(!ls.stdout.contains("locked.txt"), "{}", ls.dump());
}

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path(), uid);
        }
    }
}

#[test]
fn no_space_fails_cleanly_leaving_nothing() {
    let mut env = Env::new();
    let p = env.path("profile");
    write(&p, "small.txt", b"small");
    env.create(&p, &[]);
    let packs_before = list_files(&env.repo.join("packs"));
    write(&p, "big.bin", &noise(3, 2 << 20));
    env.env("SNAP_FREE_SPACE_LIMIT", "1000");
    env.snap(["create".as_ref(), p.as_os_str()])
        .one_line_error(&["space"]);
    assert_eq!(snapshot_count(&env), 1);
    assert_eq!(list_files(&env.repo.join("packs")), packs_before);
    assert_eq!(
        list_files(&env.repo.join("tmp")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(fs::read(p.join("big.bin")).unwrap().len(), 2 << 20);
}

#[test]
fn ambiguous_and_unknown_ids_are_one_line_errors() {
    let mut env = Env::new();
    let (a, b) = (env.path("a"), env.path("b"));
    write(&a, "x", b"a");
    write(&b, "x", b"b");
    env.env("SNAP_NOW", "2024-05-01T10:00:00Z");
    env.create(&a, &["--profile", "pa"]);
    env.create(&b, &["--profile", "pb"]);
    let list = env.snap(["--json", "list"]).ok().json();
    let name = list[0]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no name in {list:#}"))
        .to_string();
    assert_eq!(list[1]["name"], name.as_str());
    // The same name in two profiles: the error lists both.
    let run = env
        .snap(["show", name.as_str()])
        .one_line_error(&["ambiguous"]);
    for s in list.as_array().unwrap() {
        let short = s["short_id"].as_str().unwrap();
        assert!(run.stderr.contains(short), "{}", run.dump());
    }
    // Scoped by profile it resolves.
    env.snap(["show", name.as_str(), "--profile", "pa"]).ok();
    env.snap(["show", "deadbeef"]).one_line_error(&["deadbeef"]);
    env.snap(["restore", "deadbeef", "--target", "/nonexistent-dir"])
        .one_line_error(&["deadbeef"]);
    env.snap(["show", "latest~7", "--profile", "pa"])
        .one_line_error(&["latest~7"]);
}

#[test]
fn restore_into_non_empty_target_is_refused() {
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "f", b"snapshot content");
    let id = env.create(&p, &[]).id();
    let target = env.path("busy");
    write(&target, "keep.txt", b"mine");
    env.snap([
        "restore".as_ref(),
        id.as_ref(),
        "--target".as_ref(),
        target.as_os_str(),
    ])
    .one_line_error(&["busy", "not an empty directory"]);
    assert_eq!(fs::read(target.join("keep.txt")).unwrap(), b"mine");
    assert_eq!(list_files(&target).len(), 1);
}
