//! `create` on a nearly full filesystem: it warns, runs gc first when there
//! is garbage, and a snapshot that cannot fit fails cleanly. Needs root to
//! mount a small tmpfs: `#[ignore]`d, run by `.ci/run` as root with
//! `--include-ignored`; they fail when the tmpfs cannot be mounted.

use std::path::PathBuf;

use crate::util::*;

/// A 16 MiB tmpfs holding `repo`, and a `profile` folder beside it.
struct SmallDisk {
    scratch: tempfile::TempDir,
    fs: Tmpfs,
    repo: PathBuf,
    profile: PathBuf,
}

impl SmallDisk {
    /// Panics where a tmpfs cannot be mounted (needs root).
    fn new() -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let fs = Tmpfs::mount(&scratch.path().join("fs"), 16)
            .expect("cannot mount a tmpfs here (needs root)");
        let repo = fs.0.join("repo");
        let profile = scratch.path().join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        Self {
            scratch,
            fs,
            repo,
            profile,
        }
    }
}

#[test]
#[ignore = "needs root (tmpfs mounts); .ci/run runs it with --include-ignored"]
fn create_on_a_nearly_full_disk_collects_garbage_first_and_fails_cleanly() {
    let SmallDisk {
        scratch: _scratch,
        fs,
        repo,
        profile,
    } = SmallDisk::new();
    std::fs::write(profile.join("big.bin"), noise(1, 4 << 20)).unwrap();
    snap_ok(&repo, &["create", profile.to_str().unwrap()], &[]);
    std::fs::write(profile.join("big.bin"), noise(2, 4 << 20)).unwrap();
    // Out of the racy window, so the stat cache lets the next create skip it.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    snap_ok(&repo, &["create", profile.to_str().unwrap()], &[]);
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);

    // Fill the filesystem until less than 10% is free.
    let filler = fs.0.join("filler");
    let leave = 1 << 20;
    std::fs::write(&filler, vec![0u8; (free_bytes(&fs.0) - leave) as usize]).unwrap();
    std::fs::write(profile.join("small.json"), b"{\"x\":1}").unwrap();
    let out = snap(&repo, &["create", profile.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "create failed: {err}");
    assert!(
        err.contains("free of") && err.contains("gc reclaimed"),
        "expected a low-space warning and a gc: {err}"
    );
    assert!(
        free_bytes(&fs.0) > leave + (3 << 20),
        "gc should have given back the forgotten 4 MiB"
    );

    // A change that cannot fit fails before writing anything.
    std::fs::write(
        &filler,
        vec![0u8; (free_bytes(&fs.0) + std::fs::metadata(&filler).unwrap().len() - leave) as usize],
    )
    .unwrap();
    std::fs::write(profile.join("big.bin"), noise(3, 4 << 20)).unwrap();
    let before = snapshot_count(&repo);
    let out = snap(&repo, &["create", profile.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a clean failure: {err}"
    );
    assert!(err.contains("not enough space"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| !l.contains("warning"))
            .count(),
        1,
        "one error line: {err}"
    );
    assert_eq!(snapshot_count(&repo), before);
    assert!(
        std::fs::read_dir(repo.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "tmp/ must be empty"
    );
    std::fs::remove_file(&filler).unwrap();
    snap_ok(&repo, &["check", "--read-data"], &[]);
}

/// On a 100% full disk, `forget` releases the space reserve so the index
/// can open, `gc` deletes the dead packs and puts the reserve back.
#[test]
#[ignore = "needs root (tmpfs mounts); .ci/run runs it with --include-ignored"]
fn forget_and_gc_on_a_full_disk_use_the_reserve_and_free_space() {
    let SmallDisk {
        scratch,
        fs,
        repo,
        profile,
    } = SmallDisk::new();
    for round in 0..3 {
        std::fs::write(profile.join("big.bin"), noise(10 + round, 2 << 20)).unwrap();
        snap_ok(&repo, &["create", profile.to_str().unwrap()], &[]);
    }
    assert!(repo.join("reserve").exists(), "init/create keep a reserve");
    fill_completely(&fs.0);
    assert!(free_bytes(&fs.0) < 64 * 1024, "the disk should be full");
    let out = snap(&repo, &["forget", "--keep-last", "1"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "forget on a full disk: {err}");
    assert!(err.contains("released the 2 MiB space reserve"), "{err}");
    assert_eq!(snapshot_count(&repo), 1);
    let before = free_bytes(&fs.0);
    let out = snap(&repo, &["gc"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gc on a full disk: {err}");
    assert!(
        free_bytes(&fs.0) > before + (1 << 20),
        "gc should free the two forgotten 2 MiB files"
    );
    assert!(repo.join("reserve").exists(), "gc puts the reserve back");
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    snap_ok(&repo, &["check", "--read-data"], &[]);
    let target = scratch.path().join("restored");
    snap_ok(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
        &[],
    );
    assert_eq!(
        std::fs::read(target.join("big.bin")).unwrap(),
        noise(12, 2 << 20)
    );
}

/// On a full disk gc does not start a repack it has no room for: it says
/// so, succeeds, and repacks once there is room.
#[test]
#[ignore = "needs root (tmpfs mounts); .ci/run runs it with --include-ignored"]
fn gc_on_a_full_disk_skips_a_repack_it_has_no_room_for() {
    let SmallDisk {
        scratch,
        fs,
        repo,
        profile,
    } = SmallDisk::new();
    // One pack: 1 MiB that stays live, 3 MiB that the next snapshot drops.
    std::fs::write(profile.join("keep.bin"), noise(20, 1 << 20)).unwrap();
    std::fs::write(profile.join("drop.bin"), noise(21, 3 << 20)).unwrap();
    snap_ok(&repo, &["create", profile.to_str().unwrap()], &[]);
    std::fs::remove_file(profile.join("drop.bin")).unwrap();
    snap_ok(&repo, &["create", profile.to_str().unwrap()], &[]);
    fill_completely(&fs.0);
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    let out = snap_ok(&repo, &["gc"], &[]);
    assert!(
        out.contains("deleted 0 pack(s), repacked 0") && out.contains("1 pack(s) not repacked"),
        "{out}"
    );
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    let out = snap_ok(&repo, &["gc"], &[]);
    assert!(out.contains("repacked 1 into 1"), "{out}");
    snap_ok(&repo, &["check", "--read-data"], &[]);
    let target = scratch.path().join("restored");
    snap_ok(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
        &[],
    );
    assert_eq!(
        std::fs::read(target.join("keep.bin")).unwrap(),
        noise(20, 1 << 20)
    );
}
