//! `snap auto --sync REPO` end to end: device A runs the real scheduler
//! (short intervals through `SNAP_AUTO_DEBOUNCE_MS`, `SNAP_AUTO_MIN_GAP_MS`
//! and `SNAP_AUTO_SYNC_POLL_MS`) against a shared folder while device B
//! uses `snap sync push|pull` by hand:
//!
//! - the first push is by hand (auto does not create the shared
//!   repository); then an edit on A is snapshotted and pushed by A's auto; B's pull gets it;
//! - B pushes while A is idle: A's auto pulls it (remote moved, local not);
//! - the shared repository disappears: A's auto logs the failure with a
//!   growing backoff, and pushes A's edit once it is back;
//! - both sides changed: A's auto reports the conflict (a `sync-conflict`
//!   event naming B's device) again and again, and never resolves it: A's
//!   files and the head stay as they were.
//!
//! The scheduler is stopped with SIGTERM at the end (exit 0), and killed
//! by the guard if the test fails on the way, so no process is leaked.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{folder_shared, Device};

/// A running `snap auto`, its stderr lines collected by a thread; killed
/// when dropped.
struct Auto {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Auto {
    fn start(d: &Device, shared: &str) -> Self {
        let mut c = d
            .env
            .cmd(["--json", "auto", "--profile", "app", "--sync", shared]);
        c.env("SNAP_AUTO_DEBOUNCE_MS", "200")
            .env("SNAP_AUTO_MIN_GAP_MS", "0")
            .env("SNAP_AUTO_SYNC_POLL_MS", "300")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn snap auto");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Auto {
            child: Some(child),
            lines,
            reader: Some(reader),
        }
    }

    /// The lines logged so far.
    fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Lines logged so far that contain every one of `parts`.
    fn count(&self, parts: &[&str]) -> usize {
        self.log()
            .iter()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    }

    /// Waits up to `limit` for `f`; panics with the log and `what` after.
    fn wait(&self, what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "auto --sync: {what} within {limit:?}\nlog:\n{}",
            self.log().join("\n")
        );
    }

    /// SIGTERM, then the exit code and the whole log.
    fn stop(mut self) -> (Option<i32>, Vec<String>) {
        let mut child = self.child.take().expect("running");
        let st = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let code = child.wait().unwrap().code();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        (code, self.log())
    }
}

impl Drop for Auto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The head's snapshot id, or `None` while there is none (or no shared
/// repository yet, or it cannot be reached).
fn head_of(d: &Device) -> Option<String> {
    let run = d.env.snap([
        "--json",
        "sync",
        "status",
        "--with",
        &d.shared,
        "--profile",
        "app",
    ]);
    if run.code != 0 {
        return None;
    }
    run.json()[0]["head"]["snapshot"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn sync_auto_pushes_pulls_backs_off_and_reports_conflicts() {
    let env = crate::util::Env::new();
    let shared = folder_shared(&env);
    let away = format!("{shared}.away");
    let a = Device::new("device-a", &shared);
    let b = Device::new("device-b", &shared);
    a.write("settings.json", "{\"theme\":\"dark\"}\n");
    a.write("data/items.txt", &"row\n".repeat(2000));
    a.start();
    a.env
        .snap(["profile", "set", "app", "--auto", "on", "--interval", "1h"])
        .ok();
    // auto never creates the shared repository (a mistyped location would
    // otherwise become one): the first push is by hand.
    a.push(&[]).ok();
    let auto = Auto::start(&a, &shared);
    let limit = Duration::from_secs(20);
    b.pull(&[]).ok();
    assert_eq!(b.files(), a.files());

    // An edit on A: auto snapshots it and pushes; B's pull gets it.
    let head0 = head_of(&a);
    a.write("settings.json", "{\"theme\":\"light\"}\n");
    auto.wait("the edit on A was not pushed", limit, || {
        head_of(&a) != head0
    });
    let pulled = b.pull(&[]).ok().json();
    assert_eq!(pulled["action"], "restored", "{pulled}");
    assert_eq!(b.files(), a.files(), "B did not get A's edit");

    // B pushes while A is idle: A's auto pulls it.
    b.write("notes.txt", "from B\n");
    assert_eq!(b.push(&[]).ok().json()["action"], "pushed");
    let pulls = auto.count(&["\"event\":\"synced\"", "\"action\":\"pulled\""]);
    auto.wait("A's auto did not pull B's push", limit, || {
        a.files() == b.files()
    });
    auto.wait("no log line for the pull", limit, || {
        auto.count(&["\"event\":\"synced\"", "\"action\":\"pulled\""]) > pulls
    });

    // The shared repository goes away: A's auto backs off (2 s, then 4 s)
    // and pushes A's edit once it is back.
    let head1 = head_of(&b);
    std::fs::rename(&shared, &away).unwrap();
    a.write("notes.txt", "from A, offline\n");
    auto.wait("no backoff", limit, || {
        auto.count(&["\"event\":\"failed\"", "trying again in 2 s"]) >= 1
            && auto.count(&["\"event\":\"failed\"", "trying again in 4 s"]) >= 1
    });
    let failures = auto.count(&["\"event\":\"failed\"", "sync: "]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        auto.count(&["\"event\":\"failed\"", "sync: "]) <= failures + 1,
        "no backoff: retried more than once in 1.5 s\n{}",
        auto.log().join("\n")
    );
    std::fs::rename(&away, &shared).unwrap();
    auto.wait("A's edit was not pushed after the outage", limit, || {
        head_of(&b) != head1
    });
    b.pull(&[]).ok();
    assert_eq!(b.files()["notes.txt"], b"from A, offline\n");

    // Both change while A cannot reach the shared repository: B pushes
    // (through the folder's other name), A edits. Back: A's auto reports
    // the conflict, twice at least, and resolves nothing.
    std::fs::rename(&shared, &away).unwrap();
    b.write("notes.txt", "from B, while A was away\n");
    let pushed = b
        .env
        .snap(["--json", "sync", "push", "--to", &away, "--profile", "app"])
        .ok()
        .json();
    assert_eq!(pushed["action"], "pushed", "{pushed}");
    let snapshots = auto.count(&["\"event\":\"snapshot\""]);
    a.write("notes.txt", "from A, while away\n");
    auto.wait("A's edit was not snapshotted", limit, || {
        auto.count(&["\"event\":\"snapshot\""]) > snapshots
    });
    std::fs::rename(&away, &shared).unwrap();
    let b_head = head_of(&b).expect("B's head");
    auto.wait("no conflict reported twice", limit, || {
        auto.count(&["\"event\":\"sync-conflict\"", "device-b"]) >= 2
    });
    assert_eq!(
        a.files()["notes.txt"],
        b"from A, while away\n",
        "A's auto overwrote A's edit"
    );
    assert_eq!(
        head_of(&a).as_deref(),
        Some(b_head.as_str()),
        "A's auto moved the head"
    );
    let st = a
        .env
        .snap(["--json", "sync", "status", "--with", &shared])
        .ok()
        .json();
    assert_eq!(st[0]["would"], "conflict", "{st}");

    let (code, log) = auto.stop();
    assert_eq!(code, Some(0), "{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("\"event\":\"stopped\"")),
        "{}",
        log.join("\n")
    );
    // The user resolves it: A takes B's state.
    a.pull(&["--theirs"]).ok();
    assert_eq!(a.files(), b.files());
    a.env.snap(["--repo", &shared, "check"]).ok();
}
