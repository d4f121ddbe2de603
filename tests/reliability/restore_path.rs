//! Issue 11: in-place `restore --path` is all or nothing, under kill -9 at
//! random moments and under an injected fault at every I/O call.
//!
//! The profile has, in state X: `a` a file, `b` a directory, `db.sqlite` a
//! database, `big/` 60 files; in state Y: `a` a directory, `b` a file, the
//! database and `big/` different. `keep.txt` is never selected. Before each
//! run a stale `db.sqlite-wal` is put beside the database. One restore
//! selects `a`, `b`, `db.sqlite` and `big`, so it swaps a directory in for
//! a file, a file for a directory, and a database whose stale WAL must go.
//!
//! After the run and a reopen (which finishes interrupted restores) the
//! profile must be exactly the state before (with its stale WAL) or
//! exactly the restored one (without it), and it must be the restored one
//! if and only if the command reported success (killed runs report
//! nothing); no journal or staging folder may remain.
//!
//! `SNAP_CRASH_POINTS` sets the kill points (default 100). The fault sweep
//! injects at every call of every operation in both modes
//! (`SNAP_FAULT_QUICK=1`: 12 points per operation).

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::oracle::{run_interrupted, snap_env, World};
use crate::util::{
    copy_into, env_or, image_diff, noise, remove_tree, tree_image, write, Gen, TreeImage,
};

const PATHS: [&str; 4] = ["a", "b", "db.sqlite", "big"];

fn make_db(path: &Path, rows: i64, seed: u64) {
    let _ = fs::remove_file(path);
    let c = rusqlite::Connection::open(path).expect("db");
    c.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
        .expect("table");
    for i in 0..rows {
        c.execute(
            "INSERT INTO t(v) VALUES (?1)",
            [noise(seed * 10_000 + i as u64, 500)],
        )
        .expect("row");
    }
}

/// Puts `profile` in state X (`y` false) or Y.
fn set_state(profile: &Path, y: bool) {
    for p in PATHS {
        let full = profile.join(p);
        if full.is_dir() {
            fs::remove_dir_all(&full).expect("rm dir");
        } else if full.exists() {
            fs::remove_file(&full).expect("rm file");
        }
    }
    let seed = if y { 2 } else { 1 };
    if y {
        write(profile, "a/inner.txt", b"a is a directory in Y");
        write(profile, "b", b"b is a file in Y");
    } else {
        write(profile, "a", b"a is a file in X");
        write(profile, "b/one.txt", b"b is a directory in X");
        write(profile, "b/sub/two.txt", b"nested");
    }
    for i in 0..60u64 {
        write(
            profile,
            &format!("big/f{i}.bin"),
            &noise(seed * 1000 + i, 10_000 + (i as usize * 37) % 5_000),
        );
    }
    make_db(&profile.join("db.sqlite"), 200 + seed as i64 * 50, seed);
    write(profile, "keep.txt", b"never selected");
}

fn add_stale_wal(profile: &Path) {
    write(profile, "db.sqlite-wal", &noise(99, 4096));
}

/// A world with snapshots of X and Y; returns it, their ids and the images
/// a successful restore to X and to Y leaves.
struct Base {
    world: World,
    ids: [String; 2],
    restored: [TreeImage; 2],
}

fn restore_args(id: &str) -> Vec<String> {
    let mut v = vec!["restore".to_string(), id.to_string()];
    for p in PATHS {
        v.push("--path".into());
        v.push(p.into());
    }
    v
}

fn run_restore(w: &World, id: &str, env: &[(&str, &str)]) -> crate::util::Run {
    let args = restore_args(id);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    snap_env(&w.repo, &args, env)
}

fn build() -> Base {
    let world = World::in_ram(256 << 20);
    let p = world.profile.to_str().expect("utf-8").to_string();
    let mut ids = [String::new(), String::new()];
    for (i, y) in [false, true].into_iter().enumerate() {
        set_state(&world.profile, y);
        let run = snap_env(&world.repo, &["create", &p], &[]);
        assert_eq!(run.code, 0, "create\n{}", run.dump());
        ids[i] = run.id();
    }
    // From Y (with a stale WAL) to X, then back to Y: the images of success.
    let mut restored = [TreeImage::new(), TreeImage::new()];
    for i in [0, 1] {
        add_stale_wal(&world.profile);
        let run = run_restore(&world, &ids[i], &[]);
        assert_eq!(run.code, 0, "clean restore\n{}", run.dump());
        assert!(!world.profile.join("db.sqlite-wal").exists());
        restored[i] = image(&world.profile);
        let kind_a = fs::symlink_metadata(world.profile.join("a")).unwrap();
        assert_eq!(kind_a.is_dir(), i == 1, "a is a file in X, a dir in Y");
    }
    Base {
        world,
        ids,
        restored,
    }
}

/// The check after a run: reopen, then the profile is the state before or
/// the restored one, matching the reported outcome, and nothing is left.
fn after_run(
    w: &World,
    before: &TreeImage,
    restored: &TreeImage,
    reported: Option<bool>,
) -> Result<(), String> {
    drop(
        snap_engine::Repo::open(&w.repo, &snap_store::OpenOptions::shared("oracle"))
            .map_err(|e| format!("reopen: {e}"))?,
    );
    let now = image(&w.profile);
    let is_before = image_diff(before, &now);
    let is_restored = image_diff(restored, &now);
    match (reported, &is_before, &is_restored) {
        (Some(true), _, None) | (Some(false), None, _) | (None, None, _) | (None, _, None) => {}
        (Some(true), _, Some(d)) => return Err(format!("reported success, but {d}")),
        (Some(false), Some(d), _) => return Err(format!("reported failure, but changed: {d}")),
        (None, Some(d1), Some(d2)) => {
            return Err(format!("a mix: vs before {d1}; vs restored {d2}"))
        }
    }
    if let Ok(rd) = fs::read_dir(w.repo.join(snap_engine::commands::restore::JOURNAL_DIR)) {
        let left: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        if !left.is_empty() {
            return Err(format!("journal left: {left:?}"));
        }
    }
    let parent = w.profile.parent().expect("parent");
    for e in fs::read_dir(parent).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().contains(".snap-staging-") {
            return Err(format!("staging left: {}", e.path().display()));
        }
    }
    Ok(())
}

/// The profile's image without `-shm` files: reading a database beside a
/// stale `-wal` (the pre-restore snapshot does) makes SQLite create one.
fn image(profile: &Path) -> TreeImage {
    let mut img = tree_image(profile);
    img.retain(|k, _| !k.ends_with("-shm"));
    img
}

#[test]
fn restore_path_killed_at_random_moments_is_all_or_nothing() {
    let base = build();
    let w = &base.world;
    let points = env_or("SNAP_CRASH_POINTS", 100);
    let mut g = Gen(env_or("SNAP_CRASH_SEED", 0x9a7) | 1);
    // The profile is in state Y (restored[1]); time a clean run to X.
    add_stale_wal(&w.profile);
    let t = std::time::Instant::now();
    assert_eq!(run_restore(w, &base.ids[0], &[]).code, 0);
    let mut took = t.elapsed();
    let mut at = 0usize;
    let (mut killed, mut failures) = (0u64, Vec::new());
    for point in 0..points {
        let to = 1 - at;
        add_stale_wal(&w.profile);
        let before = image(&w.profile);
        let window = (took.as_micros() as u64 * 12 / 10).max(2_000);
        let delay = Duration::from_micros(g.below(window));
        let args = restore_args(&base.ids[to]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, ended) = run_interrupted(&w.repo, &args, delay, |c| {
            let _ = c.kill();
        });
        let reported = ended.map(|_| code == 0);
        killed += u64::from(ended.is_none());
        if let Some(t) = ended {
            took = t;
        }
        if let Err(e) = after_run(w, &before, &base.restored[to], reported) {
            failures.push(format!("point {point} (delay {delay:?}): {e}"));
        }
        if image(&w.profile) == base.restored[to] {
            at = to;
        }
    }
    eprintln!(
        "| restore --path | crash points {points} | killed mid-run {killed} | oracle failures {} |",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn restore_path_fault_sweep() {
    let base = build();
    let w = &base.world;
    // Every run starts from state Y with a stale WAL and restores X.
    add_stale_wal(&w.profile);
    let saved = tempfile::tempdir().expect("saved");
    copy_into(&w.repo, &saved.path().join("repo"));
    copy_into(&w.profile, &saved.path().join("profile"));
    let before = image(&w.profile);
    let reset = || {
        remove_tree(&w.repo);
        remove_tree(&w.profile);
        copy_into(&saved.path().join("repo"), &w.repo);
        copy_into(&saved.path().join("profile"), &w.profile);
        let _ = fs::remove_file(w.repo.join("lock"));
    };
    let counts = w.scratch.join("counts");
    let c = counts.to_str().expect("utf-8");
    let clean = run_restore(w, &base.ids[0], &[("SNAP_FAULT_COUNTS", c)]);
    assert_eq!(clean.code, 0, "clean run\n{}", clean.dump());
    let (calls, _, _) = super::faults::parse_counts(&counts);
    let full = std::env::var_os("SNAP_FAULT_QUICK").is_none();
    let super::faults::Swept {
        runs,
        false_successes,
        failures,
    } = super::faults::sweep_calls(
        calls,
        full,
        &counts,
        |spec| {
            reset();
            run_restore(
                w,
                &base.ids[0],
                &[("SNAP_FAULT", spec), ("SNAP_FAULT_COUNTS", c)],
            )
        },
        |run| after_run(w, &before, &base.restored[0], Some(run.code == 0)).err(),
    );
    eprintln!(
        "| restore --path | calls w/f/r/d/u/rd/sql {} | runs {runs} | false successes {false_successes} | failures {} |",
        calls.map(|n| n.to_string()).join("/"),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
}
