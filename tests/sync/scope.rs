//! The sync scope: with a `sync` scope that redacts `*api_key*` and
//! excludes `cache/**`, no redacted value and no excluded file reaches the
//! shared repository (searched in the decrypted repository: every file of
//! every snapshot restored, and the raw bytes), and a pull leaves the
//! local secrets and cache in place.

use std::fs;

use super::{folder_shared, s3_shared, Device};
use crate::util::read_tree;

const SECRET_A: &str = "sk-SECRET-OF-A-0a1b2c";
const SECRET_B: &str = "sk-SECRET-OF-B-9z8y7x";
const CACHE_A: &str = "CACHE-BYTES-OF-A";

fn set_scope(d: &Device) {
    d.env
        .snap([
            "profile",
            "set",
            "app",
            "--scope",
            "sync=exclude:cache/**,redact:*api_key*",
        ])
        .ok();
}

fn scenario(shared: &str, encrypted: bool) {
    let mut a = Device::new("device-a", shared);
    let mut b = Device::new("device-b", shared);
    if encrypted {
        for d in [&mut a, &mut b] {
            d.env.env("SNAP_PASSWORD", "correct horse battery");
            d.env.env("SNAP_ARGON2", crate::encryption::TEST_ARGON2);
        }
    }
    a.write(
        "settings.json",
        &format!("{{\"theme\":\"dark\",\"fal_api_key\":\"{SECRET_A}\",\"n\":{{\"numista_api_key\":\"{SECRET_A}\"}}}}"),
    );
    a.write("cache/thumbs.bin", CACHE_A);
    a.write("inventory.json", "[{\"coin\":\"eagle\"}]");
    if encrypted {
        // The shared repository is created like A's: encrypted.
        a.env.snap(["init", "--encrypt"]).ok();
    }
    a.start();
    set_scope(&a);
    a.push(&["--scope", "sync"]).ok();

    b.write(
        "settings.json",
        &format!("{{\"theme\":\"x\",\"fal_api_key\":\"{SECRET_B}\"}}"),
    );
    b.write("cache/mine.bin", "B's cache");
    let pulled = b.pull(&["--theirs"]).ok().json();
    assert_eq!(pulled["action"], "restored", "{pulled}");
    // B keeps its own secret and cache; A's never arrive.
    let files = b.files();
    let settings: serde_json::Value = serde_json::from_slice(&files["settings.json"]).unwrap();
    assert_eq!(settings["theme"], "dark");
    assert_eq!(settings["fal_api_key"], SECRET_B);
    assert_eq!(files["cache/mine.bin"], b"B's cache");
    assert!(
        !files.contains_key("cache/thumbs.bin"),
        "A's cache reached B"
    );
    assert_eq!(files["inventory.json"], b"[{\"coin\":\"eagle\"}]");

    // B edits and pushes with its own scope; A pulls and keeps its secrets.
    set_scope(&b);
    b.write(
        "inventory.json",
        "[{\"coin\":\"eagle\"},{\"coin\":\"maple\"}]",
    );
    b.push(&["--scope", "sync"]).ok();
    a.pull(&[]).ok();
    let files = a.files();
    let settings: serde_json::Value = serde_json::from_slice(&files["settings.json"]).unwrap();
    assert_eq!(settings["fal_api_key"], SECRET_A);
    assert_eq!(settings["n"]["numista_api_key"], SECRET_A);
    assert_eq!(files["cache/thumbs.bin"], CACHE_A.as_bytes());
    assert!(!files.contains_key("cache/mine.bin"), "B's cache reached A");
    assert!(String::from_utf8_lossy(&files["inventory.json"]).contains("maple"));

    // Every snapshot of the shared repository, decrypted and restored:
    // no secret, no cache file.
    let list = a.env.snap(["--json", "--repo", shared, "list"]).ok().json();
    let ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 2, "{list}");
    for id in &ids {
        let out = a.env.path(&format!("restored-{id}"));
        a.env
            .snap([
                "--repo",
                shared,
                "restore",
                id,
                "--target",
                out.to_str().unwrap(),
            ])
            .ok();
        for (rel, bytes) in read_tree(&out) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !rel.starts_with("cache"),
                "{rel} of {id} reached the shared repository"
            );
            for s in [SECRET_A, SECRET_B, CACHE_A, "B's cache"] {
                assert!(!text.contains(s), "{s} in {rel} of {id}");
            }
        }
    }
    // And nothing in the raw bytes of a plain shared folder either.
    if !shared.starts_with("s3://") {
        for (rel, bytes) in read_tree(std::path::Path::new(shared)) {
            let text = String::from_utf8_lossy(&bytes);
            for s in [SECRET_A, SECRET_B, CACHE_A] {
                assert!(!text.contains(s), "{s} in the shared repository's {rel}");
            }
        }
    }
    let _ = fs::remove_dir_all(a.env.path("restored"));
}

#[test]
fn sync_scope_keeps_secrets_and_cache_local_in_a_shared_folder() {
    let env = crate::util::Env::new();
    scenario(&folder_shared(&env), false);
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn sync_scope_keeps_secrets_and_cache_local_on_an_encrypted_bucket() {
    scenario(&s3_shared("scope"), true);
}
