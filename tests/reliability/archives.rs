//! Archives the fault sweep and the power cuts write and check outside a
//! repository: a vault with StakTrakr's JSON payload, and whether a file
//! extracts (`snap restore FILE --target`, no repository) to a given tree.

use std::fs;
use std::path::{Path, PathBuf};

use super::oracle::{snap_env, PASSWORD};
use crate::util::{image_diff, remove_tree, tree_image, TreeImage};

/// Why the archive `file` does not extract to exactly `want`, if it does
/// not; `scratch` holds the extraction for the time of the check. Vaults
/// are opened with [`PASSWORD`].
pub fn archive_problem(
    repo: &Path,
    scratch: &Path,
    file: &Path,
    want: &TreeImage,
) -> Option<String> {
    let target = scratch.join("archive-check");
    remove_tree(&target);
    let (f, t) = (file.to_str()?, target.to_str()?);
    let run = snap_env(
        repo,
        &["restore", f, "--target", t],
        &[("SNAP_PASSWORD", PASSWORD)],
    );
    let problem = if run.code != 0 {
        Some(format!("restore from the file failed\n{}", run.dump()))
    } else {
        image_diff(want, &tree_image(&target))
    };
    remove_tree(&target);
    problem
}

/// Writes `dir/staktrakr.stvault`, a StakTrakr vault (password
/// [`PASSWORD`]) of 40 keys, about 400 KB of JSON text, and returns it
/// with the tree it extracts to (found by extracting it into `scratch`).
pub fn staktrakr_vault(repo: &Path, scratch: &Path, dir: &Path) -> (PathBuf, TreeImage) {
    let mut data = serde_json::Map::new();
    for i in 0..40u32 {
        let value: String = (0..10_000u32)
            .map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8))
            .collect();
        data.insert(format!("key{i}"), serde_json::Value::String(value));
    }
    let payload = serde_json::json!({
        "_meta": {"appVersion": "3.33.19", "exportTimestamp": "2026-02-04T15:30:00.000Z", "scope": "full"},
        "data": data,
    });
    let vault = dir.join("staktrakr.stvault");
    snap_engine::export::encrypt_vault(
        payload.to_string().as_bytes(),
        fs::File::create(&vault).expect("staktrakr.stvault"),
        PASSWORD,
        snap_engine::export::VaultVersion::V1,
        snap_engine::export::MIN_ITERATIONS,
    )
    .expect("vault");
    let target = scratch.join("staktrakr-check");
    remove_tree(&target);
    let run = snap_env(
        repo,
        &[
            "restore",
            vault.to_str().expect("utf-8"),
            "--target",
            target.to_str().expect("utf-8"),
        ],
        &[("SNAP_PASSWORD", PASSWORD)],
    );
    assert_eq!(
        run.code,
        0,
        "restore of the StakTrakr vault\n{}",
        run.dump()
    );
    let image = tree_image(&target);
    remove_tree(&target);
    (vault, image)
}
