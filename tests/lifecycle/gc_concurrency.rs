//! create and gc exclude each other through the repository lock.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use snap_engine::commands::backup::{create, CreateOptions};
use snap_engine::commands::gc::{gc, GcOptions};
use snap_engine::Repo;
use snap_store::OpenOptions;

use crate::util::*;

/// A create in progress (shared lock) makes `snap gc` wait; gc in progress
/// (exclusive lock) makes a create wait. No snapshot loses a blob.
#[test]
fn gc_and_create_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let src = dir.path().join("profile");
    for i in 0..4u64 {
        write_profile(&src, i, 200_000);
        snapshot_at(&repo, "app", &src, None, &[]);
    }
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    write_profile(&src, 50, 200_000);

    // 1. create holds the shared lock; gc started meanwhile waits.
    let (tx, rx) = mpsc::channel();
    let (r2, s2) = (repo.clone(), src.clone());
    let creator = std::thread::spawn(move || {
        let r = Repo::open(&r2, &OpenOptions::shared("create")).unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        create(&r, &CreateOptions::new("app", &s2)).unwrap();
        Instant::now()
    });
    rx.recv().unwrap();
    let out = snap_ok(&repo, &["gc"], &[]);
    let gc_done = Instant::now();
    let create_done = creator.join().unwrap();
    assert!(
        create_done <= gc_done,
        "gc ran while create held the lock: {out}"
    );

    // 2. gc holds the exclusive lock; a create started meanwhile waits.
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    write_profile(&src, 51, 200_000);
    let (tx, rx) = mpsc::channel();
    let r3 = repo.clone();
    let collector = std::thread::spawn(move || {
        let r = Repo::open(&r3, &OpenOptions::exclusive("gc")).unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        gc(&r, &GcOptions::default()).unwrap();
        Instant::now()
    });
    rx.recv().unwrap();
    let started = Instant::now();
    snapshot_at(&repo, "app", &src, None, &[]);
    let created = Instant::now();
    let gc_done = collector.join().unwrap();
    assert!(gc_done <= created, "create ran while gc held the lock");
    assert!(created - started >= Duration::from_millis(500));

    snap_ok(&repo, &["check", "--read-data"], &[]);
    let all = restore_all(&repo, &dir.path().join("out"));
    assert_eq!(
        all.len(),
        2,
        "the one kept before the second gc, and the new one"
    );
}
