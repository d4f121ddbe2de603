//! Encryption at rest (issue 14): an encrypted repository works like a
//! plain one, tells a thief nothing (the marker test), detects tampering,
//! and keeps its passwords through crashes and faults. FORMAT.md section 15
//! is the specification; the known-answer tests are the unit tests of
//! `snap_store::crypto` and `snap_store::keyslot`.

mod cache;
mod commands;
mod keys;
mod marker;
mod tamper;

use std::path::Path;

use crate::util::{mutate_profile, Env};

/// The first password of every test repository.
pub const PW: &str = "correct horse battery";
/// A second password.
pub const PW2: &str = "recovery password kept offline";

/// Argon2id parameters for tests (8 MiB, 1 pass): the cheapest a reader
/// accepts, so that the hundreds of opens here stay fast. The default
/// parameters are measured in README ("Encryption").
pub const TEST_ARGON2: &str = "8192,1,1";

/// A test world whose `snap` runs use cheap Argon2 parameters and `PW`
/// from `$SNAP_PASSWORD`.
pub fn enc_env() -> Env {
    let mut env = Env::new();
    env.env("SNAP_ARGON2", TEST_ARGON2);
    env.env("SNAP_PASSWORD", PW);
    env
}

/// Writes `text` to `name` in the test directory and returns its path.
pub fn write_secret(env: &Env, name: &str, text: &str) -> std::path::PathBuf {
    let p = env.path(name);
    std::fs::write(&p, format!("{text}\n")).expect("password file");
    p
}

pub use crate::util::env_or;

/// A history on the (filled) profile folder `src` under profile `name`:
/// a snapshot, an unchanged create, a change and a second snapshot, the
/// profile's settings saved again (so `profiles.json.bak` exists) and an
/// `--if-changed` ZIP export to `zip` (so `exports.json` exists). Returns
/// the second snapshot's id.
pub fn history(env: &Env, src: &Path, name: &str, zip: &Path) -> String {
    env.create(src, &["--profile", name]);
    env.create(src, &["--profile", name])
        .expect_contains(true, "unchanged");
    mutate_profile(src, 0.3, 4);
    let s2 = env.create(src, &["--profile", name]).id();
    env.snap(["profile", "set", name, "--auto", "on"]).ok();
    env.snap([
        "export",
        &s2,
        "--zip",
        zip.to_str().unwrap(),
        "--if-changed",
    ])
    .ok();
    s2
}

/// Every regular file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

/// Runs `c` and kills it with SIGKILL after a random delay of 0 to 1.2
/// times `longest` (the longest clean run seen, raised when this one ends
/// by itself). Returns whether it exited successfully and whether it was
/// killed.
pub fn run_killed_after(
    mut c: std::process::Command,
    longest: &mut std::time::Duration,
    g: &mut crate::util::Gen,
) -> (bool, bool) {
    use std::time::{Duration, Instant};
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let delay = longest.mul_f64(g.below(1200) as f64 / 1000.0);
    let start = Instant::now();
    let mut child = c.spawn().expect("spawn snap");
    while start.elapsed() < delay {
        if let Some(s) = child.try_wait().expect("wait for snap") {
            *longest = (*longest).max(start.elapsed());
            return (s.success(), false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().expect("kill snap");
    (child.wait().expect("wait for snap").success(), true)
}
