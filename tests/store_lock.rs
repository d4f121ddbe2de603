//! Two processes: an exclusive holder makes another process wait, then fail
//! with exit 11 naming the holder's pid; once the holder is SIGKILLed the
//! lock is free at once.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use snap_store::{OpenOptions, Repository};

use crate::util::{child, TestRepo};

const CHILD_ENV: &str = "SNAP_TEST_LOCK_CHILD_REPO";

/// The child: holds the exclusive lock, says so, and sleeps.
#[test]
fn lock_holder_child() {
    let Some(repo) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let _repo = Repository::open(Path::new(&repo), &OpenOptions::exclusive("lock-holder"))
        .expect("child: open");
    println!("LOCKED");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn second_process_waits_then_names_the_holder_and_the_lock_frees_on_kill() {
    let t = TestRepo::new();
    let path = t.path();
    let mut holder = child(
        "store_lock::lock_holder_child",
        &[(CHILD_ENV, path.to_str().unwrap())],
    )
    .spawn()
    .unwrap();
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "holder exited early");
        if line.trim() == "LOCKED" {
            break;
        }
    }

    let start = Instant::now();
    let r = t.snap(&["stats", "--lock-wait", "1"]);
    let waited = start.elapsed();
    r.expect_code(11)
        .expect_contains(false, &format!("pid {}", holder.id()))
        .expect_contains(false, "lock-holder");
    assert!(
        waited >= Duration::from_millis(900),
        "did not wait: {waited:?}"
    );
    // The same through the environment variable, and from the library.
    let mut cmd = std::process::Command::new(crate::util::snap_bin());
    cmd.env("SNAP_LOCK_WAIT", "0.2")
        .arg("--repo")
        .arg(&path)
        .arg("check");
    crate::util::Run::of(cmd, None).expect_code(11);
    let mut opts = OpenOptions::shared("test");
    opts.wait = Duration::from_millis(100);
    let err = Repository::open(&path, &opts).err().expect("locked");
    assert!(matches!(err, snap_store::Error::Locked { .. }), "{err}");

    holder.kill().unwrap();
    holder.wait().unwrap();
    let start = Instant::now();
    t.snap(&["stats", "--lock-wait", "0"]).expect_code(0);
    let mut opts = OpenOptions::exclusive("test");
    opts.wait = Duration::ZERO;
    Repository::open(&path, &opts).expect("lock free after SIGKILL");
    assert!(start.elapsed() < Duration::from_secs(5));
}
