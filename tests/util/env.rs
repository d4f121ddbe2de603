//! A test's world: a temporary directory with a repository path and the
//! profiles a test makes, and `snap` runs inside it.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{snap_bin, Run};

/// A test's world: a temporary directory holding a repository path and
/// whatever profiles the test makes.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    envs: Vec<(OsString, OsString)>,
}

impl Env {
    /// A fresh directory; the repository is created by the first `create`.
    pub fn new() -> Self {
        // Build the binary now, not in the middle of a timed scenario.
        snap_bin();
        let dir = tempfile::Builder::new()
            .prefix("snaptest-")
            .tempdir()
            .expect("temp dir");
        let repo = dir.path().join("repo");
        Self {
            dir,
            repo,
            envs: Vec::new(),
        }
    }

    /// A path inside the test directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Sets an environment variable for every later command.
    pub fn env(&mut self, k: &str, v: &str) {
        self.envs.push((k.into(), v.into()));
    }

    /// A `snap` command with `SNAP_REPO` set.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(snap_bin());
        c.args(args)
            .env("SNAP_REPO", &self.repo)
            .env_remove("SNAP_NOW")
            .env_remove("SNAP_FREE_SPACE_LIMIT")
            .env_remove("SNAP_PASSWORD")
            .env_remove("SNAP_NEW_PASSWORD")
            // No `snap key cache` of the machine's session: a test that
            // wants one sets its own runtime directory.
            .env_remove("XDG_RUNTIME_DIR")
            // An encrypted repository's index goes to the cache directory:
            // keep it inside the test's directory.
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .stdin(Stdio::null());
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// Runs `snap ARGS` to completion.
    pub fn snap<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
        self.run(self.cmd(&args), &args)
    }

    /// Runs a prepared command to completion.
    pub fn run(&self, mut c: Command, args: &[OsString]) -> Run {
        let cmdline = format!(
            "snap {} (in {})",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            self.dir.path().display()
        );
        let out = c.output().expect("spawning snap");
        Run::from_output(cmdline, out)
    }

    /// `snap create DIR [extra]` expecting success; returns the run.
    #[track_caller]
    pub fn create(&self, dir: &Path, extra: &[&str]) -> Run {
        let mut args: Vec<OsString> = vec!["create".into(), dir.into()];
        args.extend(extra.iter().map(OsString::from));
        self.snap(&args).ok()
    }

    /// `snap restore ID --target DIR` expecting success.
    #[track_caller]
    pub fn restore_to(&self, id: &str, dir: &Path) -> Run {
        self.snap([
            OsStr::new("restore"),
            OsStr::new(id),
            OsStr::new("--target"),
            dir.as_os_str(),
        ])
        .ok()
    }

    /// `snap --json create DIR` expecting success; returns the JSON.
    #[track_caller]
    pub fn create_json(&self, dir: &Path) -> serde_json::Value {
        self.snap([OsStr::new("--json"), OsStr::new("create"), dir.as_os_str()])
            .ok()
            .json()
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}
