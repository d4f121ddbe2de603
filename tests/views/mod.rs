//! Portable views end to end: export, import and restore from a file,
//! through the real `snap` binary and through the engine API.

mod cli;
mod foreign;
mod hostile;
mod lossless;
mod readers;
mod roundtrip;
mod staktrakr;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PASSWORD: &str = "correct horse battery";

/// The `snap` binary (the shared harness builds it once).
pub fn snap_bin() -> PathBuf {
    crate::util::snap_bin().to_path_buf()
}

/// A temporary repository and working directory for CLI runs.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn repo(&self) -> PathBuf {
        self.path("repo")
    }

    /// Runs `snap --repo REPO args...` with SNAP_PASSWORD set.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[("SNAP_PASSWORD", PASSWORD)])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(snap_bin());
        cmd.current_dir(self.dir.path())
            .arg("--repo")
            .arg(self.repo())
            .args(args)
            .env_remove("SNAP_PASSWORD")
            .env_remove("SNAP_REPO")
            .env("SNAP_LOCK_WAIT", "5");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Runs and requires exit code `code`, printing everything otherwise.
    pub fn expect(&self, args: &[&str], code: i32) -> Output {
        let out = self.run(args);
        check(&out, code, args, self.dir.path());
        out
    }

    /// `snap --json list` as JSON values.
    pub fn snapshots(&self) -> Vec<serde_json::Value> {
        let out = self.expect(&["--json", "list"], 0);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        match v {
            serde_json::Value::Array(a) => a,
            other => other
                .get("snapshots")
                .and_then(|s| s.as_array().cloned())
                .unwrap_or_default(),
        }
    }
}

pub fn check(out: &Output, code: i32, args: &[&str], dir: &Path) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "snap {args:?} in {}\n--- stdout\n{}\n--- stderr\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small profile directory: JSON with secrets, a binary file, a nested
/// directory, an empty directory and a symlink.
pub fn make_profile(root: &Path) {
    std::fs::create_dir_all(root.join("cache/deep")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(
        root.join("settings.json"),
        br#"{"theme":"dark","fal_api_key":"sk-123","nested":{"oauth_token":"t","keep":1}}"#,
    )
    .unwrap();
    let mut bin = Vec::new();
    for i in 0u32..60_000 {
        bin.extend_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
    }
    std::fs::write(root.join("data.bin"), &bin).unwrap();
    std::fs::write(root.join("cache/deep/c.txt"), b"cached\n").unwrap();
    std::os::unix::fs::symlink("settings.json", root.join("link")).unwrap();
}

/// Runs `python3 -c script args...` and returns its stdout; panics (with
/// its stderr) when it fails or python3 is missing (`.ci/run` installs it).
pub fn python<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> Vec<u8> {
    let out = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .expect("python3 is not installed; .ci/run installs it");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
