//! Live SQLite: a writer keeps moving money between accounts (the sum is
//! constant) while `snap create` runs; the restored database is intact and
//! keeps the invariant, in rollback-journal and in WAL mode.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::Env;

const ACCOUNTS: i64 = 200;
const START: i64 = 1_000;

/// Creates `db` (about 20 MB of filler so a capture takes a while) in
/// `mode`, then transfers between accounts until `stop` exists.
const WRITER: &str = r#"
import os, random, sqlite3, sys, time
db, mode, stop, ready = sys.argv[1:5]
c = sqlite3.connect(db, timeout=60, isolation_level=None)
c.execute(f"PRAGMA journal_mode={mode}")
c.execute("CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
c.execute("CREATE TABLE filler(id INTEGER PRIMARY KEY, data BLOB)")
c.execute("BEGIN")
c.executemany("INSERT INTO accounts VALUES (?, ?)", [(i, 1000) for i in range(200)])
c.executemany("INSERT INTO filler(data) VALUES (?)", [(os.urandom(4000),) for _ in range(5000)])
c.execute("COMMIT")
open(ready, "w").close()
n = 0
while not os.path.exists(stop):
    a, b = random.sample(range(200), 2)
    amt = random.randint(1, 50)
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amt, a))
    c.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amt, b))
    c.execute("UPDATE filler SET data = ? WHERE id = ?", (os.urandom(4000), random.randint(1, 5000)))
    c.execute("COMMIT")
    n += 1
    # An application pauses between transactions; a writer that never does
    # can starve a rollback-mode reader past BUSY_WAIT under heavy load.
    time.sleep(0.001)
print(n)
"#;

const CHECK: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("PRAGMA integrity_check").fetchone()[0])
print(c.execute("SELECT count(*), sum(balance) FROM accounts").fetchone())
"#;

/// `python3` with its `sqlite3` module; panics when it is missing (the tests
/// that call it are `#[ignore]`d, and run with `--include-ignored` by `.ci/run`).
pub(super) fn python() -> &'static str {
    let ok = Command::new("python3")
        .args(["-c", "import sqlite3"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "needs python3 with its sqlite3 module (apt-get install python3)"
    );
    "python3"
}

fn start_writer(py: &str, dir: &Path, mode: &str) -> Child {
    let (stop, ready) = (dir.join("../stop"), dir.join("../ready"));
    let mut child = Command::new(py)
        .args(["-c", WRITER])
        .arg(dir.join("app.db"))
        .arg(mode)
        .arg(&stop)
        .arg(&ready)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if ready.exists() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the SQLite writer did not start");
}

fn live_database_is_captured_consistently(mode: &str) {
    let py = python();
    let env = Env::new();
    let p = env.path("profile");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("prefs.json"), b"{}").unwrap();
    let writer = start_writer(py, &p, mode);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = env.create(&p, &["--force"]);
        ids.push(run.id());
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::write(env.path("stop"), b"").unwrap();
    let out = writer.wait_with_output().unwrap();
    let txns: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(txns > 10, "the writer made only {txns} transactions");
    println!("{mode}: {txns} transactions during the snapshots");

    for (i, id) in ids.iter().enumerate() {
        let ls = env.snap(["ls", id.as_str()]).ok();
        assert!(ls.stdout.contains("app.db"), "{}", ls.dump());
        for side in ["app.db-wal", "app.db-shm", "app.db-journal"] {
            assert!(
                !ls.stdout.contains(side),
                "{side} was stored\n{}",
                ls.dump()
            );
        }
        let target = env.path(&format!("restored-{i}"));
        env.snap([
            "restore".as_ref(),
            id.as_ref(),
            "--target".as_ref(),
            target.as_os_str(),
        ])
        .ok();
        let check = Command::new(py)
            .args(["-c", CHECK])
            .arg(target.join("app.db"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert_eq!(
            text.trim(),
            format!("ok\n({ACCOUNTS}, {})", ACCOUNTS * START),
            "{mode} snapshot {id}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
#[ignore = "needs python3; .ci/run runs it with --include-ignored"]
fn live_database_in_rollback_journal_mode() {
    live_database_is_captured_consistently("DELETE");
}

#[test]
#[ignore = "needs python3; .ci/run runs it with --include-ignored"]
fn live_database_in_wal_mode() {
    live_database_is_captured_consistently("WAL");
}
