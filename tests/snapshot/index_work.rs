//! Issue 13: a command's index work is a fixed number of SQLite
//! transactions whatever the profile's size (counted by the store, see
//! `store/src/index/session.rs`), and the parallel restore is exact.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use snap_engine::commands::restore::{restore, RestoreOptions};
use snap_engine::Repo;
use snap_store::OpenOptions;

use crate::util::{age_tree, assert_same_tree, every_kind_tree, write, Env};

/// The most transactions a no-change `create` may take: one read
/// transaction for everything it reads.
const NO_CHANGE_MAX: u64 = 1;
/// With changes: the reads, new packs, the snapshot record, the stat cache,
/// and the reads in between.
const CHANGED_MAX: u64 = 6;

fn profile(env: &Env, files: usize) -> PathBuf {
    let p = env.path(&format!("profile-{files}"));
    for i in 0..files {
        write(
            &p,
            &format!("d{}/s{}/f{i}.json", i % 13, i % 3),
            format!("{{\"value\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 500)).as_bytes(),
        );
    }
    age_tree(&p, 3600);
    p
}

/// `index_transactions` of a create's `--json` output.
fn transactions(out: &serde_json::Value) -> u64 {
    out["stats"]["index_transactions"]
        .as_u64()
        .unwrap_or_else(|| panic!("no stats.index_transactions in {out:#}"))
}

#[test]
fn no_change_create_takes_a_fixed_number_of_index_transactions() {
    let mut seen = Vec::new();
    for files in [30, 600] {
        let env = Env::new();
        let p = profile(&env, files);
        // Out of the racy window, so the no-change create reuses everything.
        std::thread::sleep(Duration::from_millis(2_100));
        let first = env.create_json(&p);
        assert_eq!(first["status"], "created", "{first:#}");
        assert!(transactions(&first) <= CHANGED_MAX, "{first:#}");
        let again = env.create_json(&p);
        assert_eq!(again["status"], "unchanged", "{again:#}");
        assert_eq!(again["stats"]["files_unchanged"], files as u64, "{again:#}");
        let n = transactions(&again);
        assert!(
            (1..=NO_CHANGE_MAX).contains(&n),
            "{files} files: a no-change create took {n} transactions: {again:#}"
        );
        // A change to a tenth of the files: still a fixed number.
        for i in (0..files).step_by(10) {
            write(
                &p,
                &format!("d{}/s{}/f{i}.json", i % 13, i % 3),
                b"{\"changed\":true}",
            );
        }
        let changed = env.create_json(&p);
        assert_eq!(changed["status"], "created", "{changed:#}");
        let c = transactions(&changed);
        assert!(
            c <= CHANGED_MAX,
            "{files} files: {c} transactions: {changed:#}"
        );
        seen.push((files, n, c));
    }
    assert_eq!(
        seen[0].1, seen[1].1,
        "no-change counts differ by size: {seen:?}"
    );
    assert_eq!(
        seen[0].2, seen[1].2,
        "changed counts differ by size: {seen:?}"
    );
}

fn restore_transactions(env: &Env, target: &Path) -> u64 {
    let repo = Repo::open(&env.repo, &OpenOptions::shared("test")).expect("open");
    let snap = repo.resolve("latest", None).expect("latest");
    let before = repo.store().index_transactions();
    let opts = RestoreOptions {
        target: Some(target.to_path_buf()),
        ..RestoreOptions::default()
    };
    restore(&repo, &snap, &opts).expect("restore");
    repo.store().index_transactions() - before
}

#[test]
fn restore_takes_a_fixed_number_of_index_transactions() {
    let mut counts = Vec::new();
    for files in [30, 600] {
        let env = Env::new();
        let p = profile(&env, files);
        env.create(&p, &[]).ok();
        let target = env.path("restored");
        counts.push(restore_transactions(&env, &target));
        assert_same_tree(&p, &target);
    }
    assert!(counts[0] <= 2, "{counts:?}");
    assert_eq!(
        counts[0], counts[1],
        "restore counts differ by size: {counts:?}"
    );
}

#[test]
fn parallel_restore_is_exact_for_modes_mtimes_symlinks_and_read_only_dirs() {
    let env = Env::new();
    let p = profile(&env, 300);
    every_kind_tree(&p.join("kinds"), 200);
    // More files than two fetch batches hold (1 024 files each), most with
    // the content of another, so later batches need chunks earlier ones
    // wrote.
    for i in 0..2600 {
        let body = format!("same {}", i % 7).repeat(1 + i % 3);
        write(&p, &format!("many/{}/{i}.txt", i % 40), body.as_bytes());
    }
    write(&p, "ro/inner/file.txt", b"inside a read-only directory");
    write(&p, "exec.sh", b"#!/bin/sh\n");
    std::fs::set_permissions(p.join("exec.sh"), std::fs::Permissions::from_mode(0o751)).unwrap();
    symlink("d1/s1/f1.json", p.join("link-to-file")).unwrap();
    symlink("d2", p.join("link-to-dir")).unwrap();
    age_tree(&p, 7200);
    std::fs::set_permissions(p.join("ro/inner"), std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(p.join("ro"), std::fs::Permissions::from_mode(0o500)).unwrap();
    let id = env.create(&p, &[]).ok().id();
    let target = env.path("restored");
    env.snap(["restore", &id, "--target", target.to_str().unwrap()])
        .ok();
    // Kinds, modes, mtimes (directories' too), contents, link targets.
    let same = crate::util::compare_trees(&p, &target);
    for d in [&p, &target] {
        std::fs::set_permissions(d.join("ro"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(d.join("ro/inner"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
    }
    same.unwrap();
}
