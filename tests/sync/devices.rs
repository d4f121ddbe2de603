//! Two devices through one shared repository: edits arrive byte for byte;
//! edits on both sides give exit 15 on the second pusher and on a pull,
//! never a silent overwrite; `--theirs` and `--ours` do what they say; the
//! undo point restores the replaced state. One scenario, run against a
//! shared folder and against a SeaweedFS bucket.

use super::{folder_shared, s3_shared, Device};

fn scenario(shared: &str) {
    let a = Device::new("device-a", shared);
    let b = Device::new("device-b", shared);
    a.write("settings.json", "{\"theme\":\"dark\"}\n");
    a.write("data/items.db", &"row\n".repeat(5000));
    a.start();

    // A pushes; B (a new machine, empty folder) pulls: byte for byte.
    let pushed = a.push(&[]).ok().json();
    assert_eq!(pushed["action"], "pushed", "{pushed}");
    assert_eq!(pushed["device"], "device-a");
    let pulled = b.pull(&[]).ok().json();
    assert_eq!(pulled["action"], "restored", "{pulled}");
    assert_eq!(b.files(), a.files(), "B does not have A's files");
    // Nothing moved: both are up to date.
    assert_eq!(b.pull(&[]).ok().json()["action"], "up-to-date");
    assert_eq!(a.push(&[]).ok().json()["action"], "up-to-date");

    // An edit on B travels back to A.
    b.write("settings.json", "{\"theme\":\"light\"}\n");
    assert_eq!(b.push(&[]).ok().json()["action"], "pushed");
    let st = a
        .env
        .snap(["--json", "sync", "status", "--with", shared])
        .ok()
        .json();
    assert_eq!(st[0]["would"], "pull", "{st}");
    assert_eq!(st[0]["head"]["device"], "device-b");
    a.pull(&[]).ok();
    assert_eq!(a.files(), b.files());

    // Both edit: the second pusher gets exit 15 naming the other device.
    a.write("notes.txt", "from A\n");
    b.write("notes.txt", "from B\n");
    assert_eq!(a.push(&[]).ok().json()["action"], "pushed");
    let lost = b.push(&[]).code(15);
    // The error is one line (after any warning of the store's).
    let line = lost.stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("snap: ") && line.contains("device-a") && line.contains("conflict"),
        "{}",
        lost.dump()
    );
    assert_eq!(
        b.files()["notes.txt"],
        b"from B\n",
        "B's edit was overwritten"
    );
    // A pull is a conflict too, with both sides' changes; nothing changes.
    let st = b
        .env
        .snap(["--json", "sync", "status", "--with", shared])
        .ok()
        .json();
    assert_eq!(st[0]["would"], "conflict", "{st}");
    let before_b = b.files();
    let c = b.pull(&[]).code(15);
    assert!(
        c.stderr.contains("local changes +1") && c.stderr.contains("their changes +1"),
        "{}",
        c.dump()
    );
    assert_eq!(
        b.files(),
        before_b,
        "a conflicting pull changed the profile"
    );

    // --theirs: B takes A's state; the undo point gives B's back.
    let theirs = b.pull(&["--theirs"]).ok().json();
    assert_eq!(theirs["action"], "restored");
    assert_eq!(b.files(), a.files());
    let undo = theirs["undo_point"]
        .as_str()
        .expect("an undo point")
        .to_string();
    b.env.snap(["restore", &undo]).ok();
    assert_eq!(
        b.files(),
        before_b,
        "the undo point is not B's replaced state"
    );

    // A edits again while B has its restored edit: --ours pushes B's state
    // over A's head, which stays in history.
    a.write("notes.txt", "from A again\n");
    assert_eq!(a.push(&[]).ok().json()["action"], "pushed");
    let a_head = super::head_of(&a).expect("a head");
    b.pull(&[]).code(15);
    let ours = b.pull(&["--ours"]).ok().json();
    assert_eq!(ours["action"], "pushed", "{ours}");
    assert_eq!(ours["push"]["previous"].as_str(), Some(a_head.as_str()));
    a.pull(&[]).ok();
    assert_eq!(a.files()["notes.txt"], b"from B\n");
    assert_eq!(a.files(), b.files());
    a.env.snap(["--repo", shared, "check"]).ok();
}

#[test]
fn sync_two_devices_through_a_shared_folder() {
    let env = crate::util::Env::new();
    scenario(&folder_shared(&env));
}

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn sync_two_devices_through_seaweedfs() {
    scenario(&s3_shared("devices"));
}
