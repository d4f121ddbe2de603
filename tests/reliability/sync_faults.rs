//! Fault injection into `sync push` and `sync pull` through a local shared
//! folder (issue 16), with the rules of the sweep in [`super::faults`]:
//! count the I/O calls of a clean run, then inject at points spread over
//! each operation kind (write, fsync, rename, dirsync, unlink, read, sql),
//! once and persistent, from the same saved state, and check:
//!
//! - no panic, no success when a fault was injected, and a failed command
//!   reports one error line (never exit 15: a fault is no conflict);
//! - the head names the old or the new pushed state, complete (restored
//!   from the shared repository and compared); after a successful push, the
//!   new one; both repositories pass `snap check`;
//! - the pulling device's profile is its old state or the head's, never a
//!   mix; after a successful pull, the head's;
//! - with the fault cleared, a retry succeeds and brings the new state.
//!
//! The I/O of the whole process is faulted: the local repository's (the
//! snapshot taken first, `last_synced`, the restore) and the shared
//! folder's (packs, snapshot, head). `SNAP_SYNC_FAULT_POINTS` (default 1:
//! the first call of each kind, about 25 runs, for CI's time) sets the
//! points per operation kind; `SNAP_SYNC_FAULT_POINTS=12` spreads 12 over
//! each kind, and `SNAP_SYNC_FAULT_POINTS=1000` injects at every call.

use std::fs;
use std::path::{Path, PathBuf};

use snap_store::fault::{Mode, Op, Spec};

use super::faults::{kind_for, parse_counts};
use super::oracle::{ram_tempdir, snap_env};
use crate::util::{copy_into, make_profile, mutate_profile, remove_tree, tree_image, TreeImage};

/// Two devices and a shared folder in one directory; `saved` holds the
/// states runs start from.
struct World {
    dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    pa: PathBuf,
    pb: PathBuf,
    shared: PathBuf,
    scratch: PathBuf,
    /// The state pushed first (B's profile holds it).
    s0: TreeImage,
    /// A's edited state.
    s1: TreeImage,
}

impl World {
    fn build() -> Self {
        let dir = ram_tempdir(128 << 20);
        let p = |n: &str| dir.path().join(n);
        let (a, b, pa, pb, shared, scratch) =
            (p("a"), p("b"), p("pa"), p("pb"), p("shared"), p("scratch"));
        fs::create_dir_all(&pb).unwrap();
        make_profile(&pa, 30, 200_000, 61);
        let s0 = tree_image(&pa);
        let w = World {
            a,
            b,
            pa,
            pb,
            shared,
            scratch,
            s0,
            s1: TreeImage::new(),
            dir,
        };
        let pa = w.pa.to_str().unwrap().to_string();
        ok(snap_env(&w.a, &["create", &pa, "--profile", "app"], &[]));
        ok(w.push(&[]));
        ok(w.pull(&[]));
        mutate_profile(&w.pa, 0.3, 62);
        let s1 = tree_image(&w.pa);
        let w = World { s1, ..w };
        w.save("before-push");
        ok(w.push(&[]));
        w.save("before-pull");
        w
    }

    fn parts(&self) -> [&Path; 5] {
        [&self.a, &self.b, &self.pa, &self.pb, &self.shared]
    }

    fn save(&self, name: &str) {
        let to = self.dir.path().join(name);
        for p in self.parts() {
            copy_into(p, &to.join(p.file_name().unwrap()));
        }
    }

    fn reset(&self, name: &str) {
        let from = self.dir.path().join(name);
        for p in self.parts() {
            remove_tree(p);
            copy_into(&from.join(p.file_name().unwrap()), p);
        }
        remove_tree(&self.scratch);
        fs::create_dir_all(&self.scratch).unwrap();
    }

    fn push(&self, env: &[(&str, &str)]) -> crate::util::Run {
        let shared = self.shared.to_str().unwrap();
        let mut e = vec![("SNAP_DEVICE_ID", "device-a")];
        e.extend_from_slice(env);
        snap_env(
            &self.a,
            &["sync", "push", "--to", shared, "--profile", "app"],
            &e,
        )
    }

    fn pull(&self, env: &[(&str, &str)]) -> crate::util::Run {
        let shared = self.shared.to_str().unwrap();
        let pb = self.pb.to_str().unwrap();
        let mut e = vec![("SNAP_DEVICE_ID", "device-b")];
        e.extend_from_slice(env);
        snap_env(
            &self.b,
            &[
                "sync",
                "pull",
                "--from",
                shared,
                "--profile",
                "app",
                "--path",
                pb,
            ],
            &e,
        )
    }

    /// The head's snapshot restored from the shared folder.
    fn head(&self) -> Result<TreeImage, String> {
        let shared = self.shared.to_str().unwrap();
        let st = snap_env(
            &self.a,
            &[
                "--json",
                "sync",
                "status",
                "--with",
                shared,
                "--profile",
                "app",
            ],
            &[],
        );
        if st.code != 0 {
            return Err(format!("sync status failed\n{}", st.dump()));
        }
        let v: serde_json::Value = serde_json::from_str(&st.stdout).map_err(|e| e.to_string())?;
        let id = v[0]["head"]["snapshot"]
            .as_str()
            .ok_or_else(|| format!("no head: {v}"))?
            .to_string();
        let out = self.scratch.join("head");
        remove_tree(&out);
        let run = snap_env(
            &self.shared,
            &["restore", &id, "--target", out.to_str().unwrap()],
            &[],
        );
        if run.code != 0 {
            return Err(format!("the head {id} does not restore\n{}", run.dump()));
        }
        let t = tree_image(&out);
        remove_tree(&out);
        Ok(t)
    }
}

fn ok(run: crate::util::Run) {
    assert_eq!(run.code, 0, "{}", run.dump());
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Action {
    Push,
    Pull,
}

/// The problem with the state after `action` ended with `code`, if any.
fn problem(w: &World, action: Action, code: i32) -> Option<String> {
    let head = match w.head() {
        Ok(h) => h,
        Err(e) => return Some(e),
    };
    let (pushed, profile_ok) = match action {
        Action::Push => (
            head == w.s1 || (code != 0 && head == w.s0),
            tree_image(&w.pa) == w.s1,
        ),
        Action::Pull => {
            let pb = tree_image(&w.pb);
            (head == w.s1, pb == w.s1 || (code != 0 && pb == w.s0))
        }
    };
    if !pushed {
        return Some(format!(
            "the head names neither the old nor the new state (exit {code})"
        ));
    }
    if !profile_ok {
        return Some(format!("the profile is a mix or wrong (exit {code})"));
    }
    let local = match action {
        Action::Push => &w.a,
        Action::Pull => &w.b,
    };
    for repo in [local, &w.shared] {
        let run = snap_env(repo, &["check"], &[]);
        if run.code != 0 {
            return Some(format!(
                "check of {} failed\n{}",
                repo.display(),
                run.dump()
            ));
        }
    }
    None
}

/// The error lines of a run (warnings left out).
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with("snap: warning:"))
        .collect()
}

/// `max` points spread evenly over 1..=n (all of them when n <= max).
fn spread(n: u64, max: u64) -> Vec<u64> {
    if n <= max {
        return (1..=n).collect();
    }
    if max < 2 {
        return vec![1];
    }
    let mut v: Vec<u64> = (0..max).map(|i| 1 + i * (n - 1) / (max - 1)).collect();
    v.dedup();
    v
}

#[test]
fn sync_fault_sweep_push_and_pull_through_a_shared_folder() {
    let max = crate::sync::env_or("SNAP_SYNC_FAULT_POINTS", 1);
    let w = World::build();
    let mut failures = Vec::new();
    for (action, start) in [(Action::Push, "before-push"), (Action::Pull, "before-pull")] {
        let run = |env: &[(&str, &str)]| match action {
            Action::Push => w.push(env),
            Action::Pull => w.pull(env),
        };
        let counts = w.dir.path().join("counts");
        let counts_s = counts.to_str().unwrap().to_string();
        w.reset(start);
        ok(run(&[("SNAP_FAULT_COUNTS", &counts_s)]));
        let (clean, _, _) = parse_counts(&counts);
        let (mut runs, mut injected_runs, mut failed, mut retries) = (0, 0, 0, 0);
        for (i, op) in Op::ALL.into_iter().enumerate() {
            for k in spread(clean[i], max) {
                for mode in [Mode::Once, Mode::Persistent] {
                    let spec = Spec {
                        op,
                        n: k,
                        kind: kind_for(op, k),
                        mode,
                    }
                    .to_env();
                    w.reset(start);
                    let _ = fs::remove_file(&counts);
                    let r = run(&[("SNAP_FAULT", &spec), ("SNAP_FAULT_COUNTS", &counts_s)]);
                    runs += 1;
                    let (_, injected, cleanup) = parse_counts(&counts);
                    injected_runs += u64::from(injected + cleanup > 0);
                    let what = format!("sync {action:?} with SNAP_FAULT={spec}");
                    let mut p = None;
                    if r.code == 101 || r.stderr.contains("panicked") {
                        p = Some("panic".to_string());
                    } else if injected > 0 && r.code == 0 {
                        p = Some("success despite a fault".into());
                    } else if r.code != 0 {
                        failed += 1;
                        let lines = error_lines(&r.stderr);
                        if r.code == 15 || lines.len() != 1 || !lines[0].starts_with("snap: ") {
                            p = Some(format!("exit {}: not one error line", r.code));
                        }
                    }
                    if p.is_none() {
                        p = problem(&w, action, r.code);
                    }
                    if p.is_none() {
                        let again = run(&[]);
                        if again.code != 0 {
                            p = Some(format!("retry failed\n{}", again.dump()));
                        } else {
                            retries += 1;
                            p = problem(&w, action, 0);
                        }
                    }
                    if let Some(p) = p {
                        failures.push(format!("{what}: {p}\n{}", r.dump()));
                    }
                }
            }
        }
        let c = clean.map(|n| n.to_string()).join("/");
        eprintln!(
            "| sync {action:?} | calls w/f/r/d/u/rd/sql {c} | runs {runs} | injections {injected_runs} | failed with one line {failed} | retries ok {retries}/{runs} |"
        );
    }
    for f in &failures {
        eprintln!("FAILED: {}", f.lines().next().unwrap_or_default());
    }
    assert!(
        failures.is_empty(),
        "{} failure(s); first:\n{}",
        failures.len(),
        failures[0]
    );
}
