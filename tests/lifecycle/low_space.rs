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
