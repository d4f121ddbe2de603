//! One scenario run against a local directory and against SeaweedFS
//! (`--repo s3://BUCKET/PREFIX`), unencrypted and encrypted: the same
//! commands give the same results. Needs SeaweedFS
//! (`bash tests/seaweedfs.sh start` and `eval "$(bash tests/seaweedfs.sh env)"`;
//! `.ci/run` does both).

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::listing;
use crate::util::Env;

/// `s3://BUCKET/<name>-<pid>-<random>`, on a fresh prefix, after checking
/// that the test's object store is configured.
pub(crate) fn s3_repo(name: &str) -> PathBuf {
    let (Ok(bucket), Ok(_)) = (
        std::env::var("SNAP_TEST_S3_BUCKET"),
        std::env::var("AWS_ENDPOINT_URL"),
    ) else {
        panic!(
            "SNAP_TEST_S3_BUCKET and AWS_ENDPOINT_URL are not set: start SeaweedFS with \
             `bash tests/seaweedfs.sh start` and `eval \"$(bash tests/seaweedfs.sh env)\"`"
        );
    };
    PathBuf::from(format!(
        "s3://{bucket}/{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

fn write(p: &Path, text: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// The commands of the end-to-end suite; returns what they showed, with
/// nothing that depends on where the repository is (ids of encrypted
/// repositories are keyed, so they are left out too).
fn scenario(env: &Env, encrypt: bool) -> Vec<String> {
    let mut seen = Vec::new();
    let prof = env.path("prof");
    write(&prof.join("a.txt"), "first version\n");
    write(&prof.join("sub/b.bin"), &"0123456789abcdef".repeat(40_000));
    let init = match encrypt {
        true => env.snap(["init", "--encrypt"]),
        false => env.snap(["init"]),
    };
    init.ok();
    let first = env.create(&prof, &["--profile", "p"]).id();
    let again = env.create(&prof, &["--profile", "p"]);
    assert_eq!(again.id(), first, "a no-change create made a new snapshot");
    seen.push(format!("no-change: {}", again.stdout.contains("unchanged")));
    write(&prof.join("a.txt"), "second version\n");
    let second = env.create(&prof, &["--profile", "p"]).id();
    let list = env.snap(["--json", "list"]).ok().json();
    seen.push(format!("listed: {}", list.as_array().map_or(0, Vec::len)));
    env.snap(["show", "latest", "--profile", "p"]).ok();
    let ls = env.snap(["ls", "latest", "--profile", "p"]).ok();
    seen.push(format!("ls shows a.txt: {}", ls.stdout.contains("a.txt")));
    let cat = env.snap(["cat", "latest", "a.txt", "--profile", "p"]).ok();
    seen.push(format!("cat: {}", cat.stdout.trim()));
    let diff = env.snap(["diff", &first, &second]).ok();
    seen.push(format!(
        "diff names a.txt: {}",
        diff.stdout.contains("a.txt")
    ));
    let out1 = env.path("out1");
    env.restore_to(&first, &out1);
    seen.push(format!(
        "restore of the first: {}",
        fs::read_to_string(out1.join("a.txt")).unwrap().trim()
    ));
    let zip = env.path("first.zip");
    env.snap(["export", &first, "--zip", zip.to_str().unwrap()])
        .ok();
    env.snap(["import", zip.to_str().unwrap(), "--profile", "q"])
        .ok();
    let list = env.snap(["--json", "list"]).ok().json();
    seen.push(format!(
        "after import: {}",
        list.as_array().map_or(0, Vec::len)
    ));
    env.snap(["forget", &first]).ok();
    env.snap(["gc"]).ok();
    let check = env.snap(["check", "--read-data"]).ok();
    seen.push(format!("check: {}", check.stdout.contains("no problems")));
    env.snap(["repair"]).ok();
    // Index rebuild from nothing: the index (in the repository, or in the
    // cache for an encrypted or remote one) is deleted.
    let _ = fs::remove_file(env.repo.join("index.sqlite"));
    let _ = fs::remove_dir_all(env.path("cache"));
    let list = env.snap(["--json", "list"]).ok();
    seen.push(format!(
        "after losing the index: {} ({})",
        list.json().as_array().map_or(0, Vec::len),
        list.stderr.contains("rebuilt")
    ));
    env.snap(["index", "rebuild"]).ok();
    let out2 = env.path("out2");
    env.snap([
        "restore",
        "latest",
        "--profile",
        "p",
        "--target",
        out2.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(listing(&out2), listing(&prof), "restored tree differs");
    assert_eq!(
        fs::read(out2.join("sub/b.bin")).unwrap(),
        fs::read(prof.join("sub/b.bin")).unwrap()
    );
    seen.push("restore of the latest: byte for byte".into());
    seen
}

fn run_both(encrypt: bool) {
    let mut local = Env::new();
    let mut remote = Env::new();
    remote.repo = s3_repo("e2e");
    for e in [&mut local, &mut remote] {
        if encrypt {
            e.env("SNAP_PASSWORD", "correct horse battery");
            e.env("SNAP_ARGON2", crate::encryption::TEST_ARGON2);
        }
    }
    let here = scenario(&local, encrypt);
    let there = scenario(&remote, encrypt);
    assert_eq!(here, there, "local and S3 repositories differ");
    assert!(here.iter().any(|l| l == "check: true"), "{here:?}");
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn the_suite_gives_the_same_results_on_seaweedfs_and_in_a_directory() {
    run_both(false);
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn an_encrypted_repository_gives_the_same_results_on_seaweedfs() {
    run_both(true);
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn a_bucket_copied_to_a_folder_opens_locally_and_back() {
    use snap_store::backend::local::LocalBackend;
    use snap_store::backend::s3::{S3Backend, S3Location};
    use snap_store::backend::Backend;
    let mut remote = Env::new();
    remote.repo = s3_repo("copy");
    let prof = remote.path("prof");
    write(&prof.join("x.txt"), "in the bucket\n");
    let id = remote.create(&prof, &["--profile", "p"]).id();
    // Copy every object to a folder with nothing but list + read + write.
    let bucket =
        S3Backend::new(&S3Location::parse(remote.repo.to_str().unwrap()).unwrap()).unwrap();
    let local = Env::new();
    fs::create_dir_all(local.repo.join("tmp")).unwrap();
    let folder = LocalBackend::new(&local.repo);
    let objects = bucket.list("").unwrap();
    assert!(
        objects.iter().any(|o| o.key == "config.json"),
        "{objects:?}"
    );
    for o in objects.iter().filter(|o| !o.key.starts_with("locks/")) {
        folder
            .create(&o.key, &bucket.read(&o.key).unwrap())
            .unwrap();
    }
    local.snap(["check", "--read-data"]).ok();
    let out = local.path("out");
    local.restore_to(&id, &out);
    assert_eq!(
        fs::read_to_string(out.join("x.txt")).unwrap(),
        "in the bucket\n"
    );
    // And back: a new snapshot made locally, the folder copied to a fresh prefix.
    write(&prof.join("x.txt"), "made locally\n");
    let id2 = local.create(&prof, &["--profile", "p"]).id();
    let mut back = Env::new();
    back.repo = s3_repo("back");
    let bucket2 = S3Backend::new(&S3Location::parse(back.repo.to_str().unwrap()).unwrap()).unwrap();
    for o in folder.list("").unwrap() {
        let skip = ["index.sqlite", "lock", "reserve"];
        if skip.iter().any(|s| o.key.starts_with(s)) || o.key.starts_with("locks/") {
            continue;
        }
        bucket2
            .create(&o.key, &folder.read(&o.key).unwrap())
            .unwrap();
    }
    back.snap(["check", "--read-data"]).ok();
    let out2 = back.path("out2");
    back.restore_to(&id2, &out2);
    assert_eq!(
        fs::read_to_string(out2.join("x.txt")).unwrap(),
        "made locally\n"
    );
}
