//! `snap sync` (issue 16): two "devices" on one machine (two profile
//! folders, two local repositories, two device ids) syncing through one
//! shared repository, a local folder and a SeaweedFS bucket; the push race;
//! kill -9 of push and pull; the sync scope.

mod auto;
mod crash;
mod devices;
mod network;
mod race;
mod scope;

use std::fs;
use std::path::{Path, PathBuf};

pub use crate::util::env_or;
use crate::util::{read_tree, Env, Run};

/// A device: its own repository, profile folder and device id.
pub struct Device {
    pub env: Env,
    pub profile: PathBuf,
    pub shared: String,
}

impl Device {
    /// A device named `id` syncing through `shared`.
    pub fn new(id: &str, shared: &str) -> Self {
        let mut env = Env::new();
        env.env("SNAP_DEVICE_ID", id);
        let profile = env.path("profile");
        fs::create_dir_all(&profile).unwrap();
        Device {
            env,
            profile,
            shared: shared.to_string(),
        }
    }

    /// `snap --json sync push --to SHARED --profile app [extra]`.
    pub fn push(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "--json",
            "sync",
            "push",
            "--to",
            &self.shared,
            "--profile",
            "app",
        ];
        args.extend_from_slice(extra);
        self.env.snap(&args)
    }

    /// `snap --json sync pull --from SHARED --profile app --path PROFILE [extra]`.
    pub fn pull(&self, extra: &[&str]) -> Run {
        let path = self.profile.to_str().unwrap().to_string();
        let mut args = vec![
            "--json",
            "sync",
            "pull",
            "--from",
            &self.shared,
            "--profile",
            "app",
            "--path",
            &path,
        ];
        args.extend_from_slice(extra);
        self.env.snap(&args)
    }

    /// Registers the profile `app` with a first snapshot.
    pub fn start(&self) {
        self.env.create(&self.profile, &["--profile", "app"]);
    }

    /// Every file of the profile with its bytes.
    pub fn files(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        read_tree(&self.profile)
    }

    /// Writes `rel` in the profile.
    pub fn write(&self, rel: &str, text: &str) {
        write(&self.profile.join(rel), text);
    }
}

/// Writes a file, creating its folder.
pub fn write(p: &Path, text: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// `s3://BUCKET/sync-<name>-<pid>-<random>` after checking that SeaweedFS
/// is configured (panics with how to start it otherwise).
pub fn s3_shared(name: &str) -> String {
    crate::remote_repo::s3_repo(&format!("sync-{name}"))
        .to_str()
        .expect("utf-8")
        .to_string()
}

/// A shared folder inside `env`'s directory.
pub fn folder_shared(env: &Env) -> String {
    env.path("shared").to_str().unwrap().to_string()
}

/// The head record of `app` in a plain shared repository, through
/// `snap sync status` of `dev` (the head's snapshot id).
pub fn head_of(dev: &Device) -> Option<String> {
    let st = dev
        .env
        .snap([
            "--json",
            "sync",
            "status",
            "--with",
            &dev.shared,
            "--profile",
            "app",
        ])
        .ok()
        .json();
    st[0]["head"]["snapshot"].as_str().map(str::to_string)
}
