//! The harness: the `snap` binary, temporary repositories and profiles,
//! snapshot creation at a given time, tree comparison.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use snap_engine::backup::{create, CreateOptions, CreateStatus};
use snap_engine::restore::{restore, RestoreOptions};
use snap_engine::Repo;
use snap_store::OpenOptions;

/// The `snap` binary, built once (next to this test binary) if needed.
pub fn snap_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let debug = exe.parent().unwrap().parent().unwrap();
        let target = debug.parent().unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "snap-cli",
                "--bin",
                "snap",
                "--target-dir",
            ])
            .arg(target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build");
        assert!(st.success(), "building snap failed");
        debug.join("snap")
    })
}

/// `snap --repo REPO args...` with extra environment.
pub fn snap(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(snap_bin());
    c.arg("--repo").arg(repo).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running snap")
}

/// Like [`snap`], failing the test with stdout and stderr unless it exits 0.
pub fn snap_ok(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = snap(repo, args, env);
    assert!(
        out.status.success(),
        "snap {args:?} on {} failed ({}):\nstdout: {}\nstderr: {}",
        repo.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh repository at `dir/repo`.
pub fn init_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    Repo::init(&repo).unwrap();
    repo
}

/// Takes a snapshot of `src` as `profile` at time `t` (`None`: now).
pub fn snapshot_at(
    repo: &Path,
    profile: &str,
    src: &Path,
    t: Option<DateTime<Utc>>,
    tags: &[&str],
) -> String {
    let r = Repo::open(repo, &OpenOptions::shared("test")).unwrap();
    let mut o = CreateOptions::new(profile, src);
    o.now = t;
    o.tags = tags.iter().map(|s| s.to_string()).collect();
    let out = create(&r, &o).unwrap();
    assert_eq!(out.status, CreateStatus::Created);
    out.id.to_hex()
}

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every file under `dir` with its bytes, by relative path.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir(dir) {
        let rel = e.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        out.insert(rel, std::fs::read(&e).unwrap());
    }
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Restores every snapshot into `scratch/<id>` and returns their trees.
pub fn restore_all(repo: &Path, scratch: &Path) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let r = Repo::open(repo, &OpenOptions::shared("test")).unwrap();
    let mut out = BTreeMap::new();
    for s in r.snapshots().unwrap() {
        let target = scratch.join(s.id.to_hex());
        let _ = std::fs::remove_dir_all(&target);
        restore(
            &r,
            &s,
            &RestoreOptions {
                target: Some(target.clone()),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("restoring {} from {}: {e}", s.id, repo.display()));
        out.insert(s.id.to_hex(), read_tree(&target));
    }
    out
}

/// Bytes of every pack file.
pub fn pack_bytes(repo: &Path) -> u64 {
    walkdir(&repo.join("packs"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// Number of snapshot files.
pub fn snapshot_count(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("snapshots")).unwrap().count()
}

/// Copies a directory tree (files and folders only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A profile of constant files plus `changing.bin` whose content depends on `round`.
pub fn write_profile(dir: &Path, round: u64, changing_len: usize) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("settings.json"), br#"{"theme":"dark"}"#).unwrap();
    std::fs::write(dir.join("sub/constant.bin"), noise(7, 150_000)).unwrap();
    std::fs::write(dir.join("changing.bin"), noise(1000 + round, changing_len)).unwrap();
}
