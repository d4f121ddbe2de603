//! `snap copy` (issue 15 items 5 and 6): copies between plain and
//! encrypted repositories, local and on SeaweedFS (`roundtrip`); bytes
//! sent and network faults measured and injected by a TCP proxy
//! (`network`, [`crate::util::proxy`]); kill -9 of `create` and `copy`
//! against SeaweedFS (`kill`). The SeaweedFS tests need it running:
//! `bash tests/seaweedfs.sh start` and `eval "$(bash tests/seaweedfs.sh env)"`
//! (`.ci/run` does both).

mod kill;
mod network;
mod roundtrip;

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{tree_image, Env, TreeImage};

pub(crate) use crate::remote_repo::s3_repo;

/// `--repo REPO ARGS…` as strings.
pub fn at<'a>(repo: &'a Path, args: &[&'a str]) -> Vec<String> {
    let mut v = vec!["--repo".to_string(), repo.display().to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// Snapshots of `repo` by name: (id, tags).
pub fn listed(env: &Env, repo: &Path, extra: &[&str]) -> BTreeMap<String, (String, Vec<String>)> {
    let mut args = at(repo, &["--json", "list"]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let list = env.snap(&args).ok().json();
    list.as_array()
        .expect("list is an array")
        .iter()
        .map(|s| {
            let tags = s["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            (
                s["name"].as_str().unwrap().to_string(),
                (s["id"].as_str().unwrap().to_string(), tags),
            )
        })
        .collect()
}

/// Restores snapshot `id` of `repo` into a fresh folder and returns its image.
pub fn restored(env: &Env, repo: &Path, id: &str, extra: &[&str]) -> TreeImage {
    let target = env.path(&format!("restored-{}", rand::random::<u64>()));
    let mut args = at(repo, &["restore", id, "--target", target.to_str().unwrap()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    env.snap(&args).ok();
    let image = tree_image(&target);
    crate::util::remove_tree(&target);
    image
}

/// The statuses of a `copy --json` report: (copied, skipped).
pub fn counts(report: &serde_json::Value) -> (usize, usize) {
    let all = report["snapshots"].as_array().expect("snapshots");
    let copied = all.iter().filter(|s| s["status"] == "copied").count();
    (copied, all.len() - copied)
}

/// The lines of `stderr` that are not warnings.
pub fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with("snap: warning:"))
        .collect()
}
