//! `create` on a nearly full filesystem: it warns, runs gc first when there
//! is garbage, and a snapshot that cannot fit fails cleanly. Needs root to
//! mount a small tmpfs; says so and returns otherwise.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// A tmpfs of `mib` MiB mounted on `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn free_bytes(p: &Path) -> u64 {
    let st = rustix::fs::statvfs(p).unwrap();
    st.f_bavail * st.f_frsize
}

#[test]
fn create_on_a_nearly_full_disk_collects_garbage_first_and_fails_cleanly() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&scratch.path().join("fs"), 16) else {
        eprintln!("SKIPPED (not counted as passed): cannot mount a tmpfs here (needs root)");
        return;
    };
    let repo = fs.0.join("repo");
    let profile = scratch.path().join("profile");
    std::fs::create_dir_all(&profile).unwrap();
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

/// Fills the filesystem holding `dir` completely, with `dir/filler`.
fn fill_completely(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&block[..512]).is_ok() {}
    let _ = f.sync_all();
}

/// The repository's truth: snapshot files and pack files, by name.
fn truth(repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in ["snapshots", "packs"] {
        for e in walk(&repo.join(d)) {
            out.push(e.strip_prefix(repo).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn forget_and_gc_on_a_full_disk_succeed_or_change_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&scratch.path().join("fs"), 16) else {
        eprintln!("SKIPPED (not counted as passed): cannot mount a tmpfs here (needs root)");
        return;
    };
    let repo = fs.0.join("repo");
    let profile = scratch.path().join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    for round in 0..3 {
        std::fs::write(profile.join("big.bin"), noise(10 + round, 2 << 20)).unwrap();
        snap_ok(&repo, &["create", profile.to_str().unwrap()], &[]);
    }
    fill_completely(&fs.0);
    assert!(free_bytes(&fs.0) < 64 * 1024, "the disk should be full");
    for args in [&["forget", "--keep-last", "1"][..], &["gc"][..]] {
        let before = truth(&repo);
        let out = snap(&repo, args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        println!(
            "snap {args:?} on a full disk: exit {:?} {}",
            out.status.code(),
            err.trim()
        );
        if !out.status.success() {
            assert_eq!(
                truth(&repo),
                before,
                "snap {args:?} failed on a full disk ({err}) but changed the repository"
            );
        }
    }
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    snap_ok(&repo, &["check", "--read-data"], &[]);
    let listed = snap_ok(&repo, &["--json", "list"], &[]);
    let n = serde_json::from_str::<serde_json::Value>(&listed)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert!((1..=3).contains(&n), "{n} snapshots listed");
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
