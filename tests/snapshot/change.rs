//! Change detection: what a `create` reads, and when it writes a snapshot.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::{age_tree, noise, set_mtime_ago, write, Env};

/// Files are "racy" while their mtime or ctime is within the timestamp
/// granularity of the scan (100 ms here, 2 s on whole-second filesystems).
const RACY_WINDOW: Duration = Duration::from_millis(2_100);

fn small_profile(env: &Env) -> std::path::PathBuf {
    let p = env.path("profile");
    for i in 0..100 {
        write(
            &p,
            &format!("d{}/f{i}.json", i % 7),
            format!("{{\"v\":{i}}}").as_bytes(),
        );
    }
    write(&p, "big.bin", &noise(7, 1 << 20));
    p
}

#[test]
fn no_change_create_reads_no_file_contents() {
    let env = Env::new();
    let p = small_profile(&env);
    age_tree(&p, 3600);
    // Setting mtimes changes ctimes: wait until they are out of the racy window.
    std::thread::sleep(RACY_WINDOW);
    let first = env.create_json(&p);
    assert_eq!(first["status"], "created");
    assert!(first["stats"]["bytes_read"].as_u64().unwrap() > 1 << 20);
    let second = env.create_json(&p);
    assert_eq!(second["status"], "unchanged", "{second:#}");
    assert_eq!(second["stats"]["bytes_read"], 0, "{second:#}");
    assert_eq!(second["stats"]["files_unchanged"], 101, "{second:#}");
    assert_eq!(second["id"], first["id"]);
}

#[test]
fn racy_clean_files_are_read_again() {
    let env = Env::new();
    let p = env.path("profile");
    write(&p, "prefs.js", b"aaaa");
    // An mtime just ahead of the scan is racy however slow the machine is.
    fs::File::options()
        .write(true)
        .open(p.join("prefs.js"))
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    let first = env.create_json(&p);
    // Just written: the stat cache cannot be trusted yet, so it is re-read
    // even though nothing about it changed.
    let again = env.create_json(&p);
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["stats"]["bytes_read"], 4, "{again:#}");

    // Same size, same mtime, new content: must be noticed.
    let f = p.join("prefs.js");
    let mtime = fs::metadata(&f).unwrap().modified().unwrap();
    fs::write(&f, b"bbbb").unwrap();
    fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let m = fs::metadata(&f).unwrap();
    let secs = mtime.duration_since(UNIX_EPOCH).unwrap();
    assert_eq!(
        (m.mtime() as u64, m.mtime_nsec() as u32),
        (secs.as_secs(), secs.subsec_nanos())
    );
    let third = env.create_json(&p);
    assert_eq!(third["status"], "created", "{third:#}");
    assert_ne!(third["id"], first["id"]);
    let cat = env.snap(["cat", "latest", "prefs.js"]).ok();
    assert_eq!(cat.stdout, "bbbb");
}

#[test]
fn touch_makes_no_snapshot_but_force_does() {
    let env = Env::new();
    let p = small_profile(&env);
    let id = env.create(&p, &[]).id();
    set_mtime_ago(&p.join("d1/f1.json"), 0);
    fs::File::options()
        .write(true)
        .open(p.join("big.bin"))
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    let run = env.create(&p, &[]);
    assert_eq!(
        run.stdout.trim(),
        format!("unchanged {id}"),
        "{}",
        run.dump()
    );
    let forced = env.create(&p, &["--force"]).id();
    assert_ne!(forced, id);
    let list = env.snap(["--json", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list:#}");
}
