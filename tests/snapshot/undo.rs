//! Issue 11: every in-place restore leaves an undo point that rotation by
//! count never removes, names the command that undoes it, and refuses to
//! run under a program holding a file of the profile open (exit 14).

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{assert_same_tree, copy_tree, staging_dirs, tree_image, write, Env};

fn list(env: &Env) -> Vec<serde_json::Value> {
    env.snap(["--json", "list"])
        .ok()
        .json()
        .as_array()
        .expect("list is an array")
        .clone()
}

fn tags_of(env: &Env, id: &str) -> Vec<String> {
    list(env)
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("snapshot {id} not listed"))["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t.as_str().expect("tag").to_string())
        .collect()
}

/// Runs the undo command a restore printed (`snap --repo R restore ID`).
fn run_undo(env: &Env, undo: &str) -> crate::util::Run {
    let words: Vec<&str> = undo.split_whitespace().collect();
    assert_eq!(words[0], "snap", "{undo}");
    assert_eq!(words[1], "--repo", "{undo}");
    assert_eq!(Path::new(words[2]), env.repo, "{undo}");
    env.snap(&words[1..])
}

#[test]
fn unchanged_in_place_restore_tags_the_undo_point_which_survives_max_count() {
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "a.txt", b"alpha");
    write(&p, "d/c.txt", b"charlie");
    let id1 = env.create_json(&p)["id"].as_str().unwrap().to_string();
    write(&p, "a.txt", b"ALPHA, changed");
    write(&p, "d/new.txt", b"new");
    let id2 = env.create_json(&p)["id"].as_str().unwrap().to_string();
    let live = env.path("live-before");
    copy_tree(&p, &live);

    // The live folder equals id2: no new snapshot, id2 becomes the undo point.
    let report = env.snap(["--json", "restore", &id1]).ok().json();
    assert_eq!(
        report["pre_restore"].as_str(),
        Some(id2.as_str()),
        "{report:#}"
    );
    let undo = report["undo_command"].as_str().expect("undo_command");
    assert!(undo.ends_with(&format!("restore {}", &id2[..8])), "{undo}");
    assert_eq!(report["warnings"], serde_json::json!([]));
    assert_eq!(
        list(&env).len(),
        2,
        "no duplicate snapshot of the same state"
    );
    assert_eq!(tags_of(&env, &id2), ["pre-restore"]);

    // Rotation by count keeps it: a newer snapshot, then max-count 1.
    write(&p, "later.txt", b"a later change");
    let id3 = env.create_json(&p)["id"].as_str().unwrap().to_string();
    env.snap(["forget", "--max-count", "1"]).ok();
    let left: Vec<String> = list(&env)
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(left.contains(&id3), "{left:?}");
    assert!(
        left.contains(&id2),
        "the undo point was rotated away: {left:?}"
    );
    assert!(
        !left.contains(&id1),
        "max-count 1 removed nothing: {left:?}"
    );

    // The undo command brings back exactly the state the restore replaced
    // (and, being a restore, names its own undo point).
    let run = run_undo(&env, undo).ok();
    assert!(
        run.stdout.contains("to undo: snap --repo"),
        "{}",
        run.dump()
    );
    assert_same_tree(&live, &p);
    assert!(staging_dirs(&p).is_empty());
}

#[test]
fn path_restore_leaves_an_undo_point_too() {
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "a.txt", b"one");
    write(&p, "b.txt", b"bee");
    let id1 = env.create(&p, &[]).id();
    write(&p, "a.txt", b"two");
    let live = env.path("live-before");
    copy_tree(&p, &live);
    // Changed since id1: a new pre-restore snapshot.
    let report = env
        .snap(["--json", "restore", &id1, "--path", "a.txt"])
        .ok()
        .json();
    let pre = report["pre_restore"].as_str().expect("pre_restore");
    assert_eq!(tags_of(&env, pre), ["pre-restore"]);
    assert_eq!(fs::read(p.join("a.txt")).unwrap(), b"one");
    run_undo(&env, report["undo_command"].as_str().unwrap()).ok();
    assert_same_tree(&live, &p);
}

/// A program that opens `app.db` in WAL mode, writes, prints "ready" and
/// then holds the connection open (idle) until `stop` exists.
const HOLDER: &str = r#"
import os, sqlite3, sys, time
db, stop = sys.argv[1:3]
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=wal")
c.execute("CREATE TABLE IF NOT EXISTS t(x)")
c.execute("INSERT INTO t VALUES (1)")
print("ready", flush=True)
while not os.path.exists(stop):
    time.sleep(0.02)
c.close()
"#;

fn start_holder(db: &Path, stop: &Path) -> Child {
    let mut child = Command::new(super::sqlite::python())
        .args(["-c", HOLDER])
        .arg(db)
        .arg(stop)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn python3");
    let mut out = child.stdout.take().expect("stdout");
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).expect("holder ready");
    assert_eq!(&buf, b"ready\n");
    child
}

fn stop_holder(mut child: Child, stop: &Path) {
    fs::write(stop, b"").unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(10), "holder did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[ignore = "needs python3; .ci/run runs it with --include-ignored"]
fn restore_under_a_program_holding_the_database_is_refused_unless_forced() {
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "settings.json", b"{\"theme\":\"dark\"}");
    let stop = env.path("stop");
    let db = p.join("app.db");
    let holder = start_holder(&db, &stop);
    let pid = holder.id();
    let id1 = env.create(&p, &[]).id();
    write(&p, "settings.json", b"{\"theme\":\"light\"}");

    // The library names the file and the process, through /proc and
    // through SQLite's own locks (the fallback elsewhere).
    let open = snap_engine::commands::restore::open_by_others(&p).unwrap();
    assert!(
        open.iter()
            .any(|f| f.path == Path::new("app.db") && f.pid == pid && f.command == "python3"),
        "{open:?}"
    );
    assert_eq!(
        snap_engine::commands::restore::sqlite_lock_holder(&db),
        Some(pid)
    );

    let before = tree_image(&p);
    let snapshots = list(&env).len();
    let run = env.snap(["restore", &id1]).code(14).one_line_error(&[
        &format!("app.db is open in pid {pid} (python3)"),
        "close it first, or pass --force",
    ]);
    assert!(run.stdout.is_empty(), "{}", run.dump());
    assert_eq!(
        tree_image(&p),
        before,
        "a refused restore changed the profile"
    );
    assert_eq!(
        list(&env).len(),
        snapshots,
        "a refused restore took a snapshot"
    );
    assert!(staging_dirs(&p).is_empty());
    // --path of another file is not blocked by it.
    env.snap(["restore", &id1, "--path", "settings.json"]).ok();
    assert_eq!(
        fs::read(p.join("settings.json")).unwrap(),
        b"{\"theme\":\"dark\"}"
    );
    write(&p, "settings.json", b"{\"theme\":\"light\"}");
    env.snap(["restore", &id1, "--path", "app.db"]).code(14);

    // Forced: restored, with a warning naming the process.
    let run = env.snap(["restore", &id1, "--force"]).ok();
    assert!(
        run.stderr
            .contains(&format!("app.db is open in pid {pid} (python3)")),
        "{}",
        run.dump()
    );
    let want = env.path("want");
    env.restore_to(&id1, &want);
    assert_same_tree(&want, &p);
    stop_holder(holder, &stop);
}
