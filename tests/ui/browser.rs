//! The page in a real browser: `browser.py` drives Debian's Chromium with
//! Playwright for Python against a `snap ui` started here, then this test
//! checks the folder on disk and the repository.
//!
//! Needs `/usr/bin/chromium` (or `$SNAP_CHROMIUM`) and `python3 -m pip
//! install playwright` (never `playwright install`: nothing is downloaded at
//! run time). `.ci/run` installs both and runs it with `--include-ignored`.
//! `SNAP_UI_SCREENSHOTS=DIR` keeps the screenshots (the README's come from
//! `SNAP_UI_SCREENSHOTS=$PWD/docs/ui`).

use std::process::Command;

use super::{checkout, world, Ui};
use crate::util::Env;

fn chromium() -> String {
    let path = std::env::var("SNAP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: apt-get install chromium (or set SNAP_CHROMIUM); .ci/run installs it"
    );
    let pw = Command::new("python3")
        .args(["-c", "import playwright"])
        .status();
    assert!(
        pw.is_ok_and(|s| s.success()),
        "Playwright for Python is missing: pip install playwright (no `playwright install` needed)"
    );
    path
}

#[test]
#[ignore = "needs chromium and playwright; .ci/run runs it with --include-ignored"]
fn ui_in_a_real_browser() {
    let chromium = chromium();
    let env = Env::new();
    let (first, second) = world(&env);
    let ui = Ui::start(&env);
    let shots = std::env::var("SNAP_UI_SCREENSHOTS")
        .unwrap_or_else(|_| env.path("shots").display().to_string());
    let out = Command::new("python3")
        .arg(checkout().join("tests/ui/browser.py"))
        .args([&ui.url, &first, &second])
        .arg(env.path("app"))
        .arg(crate::util::snap_bin())
        .arg(&shots)
        .env("SNAP_REPO", &env.repo)
        .env("SNAP_CHROMIUM", &chromium)
        .env_remove("SNAP_NOW")
        .output()
        .expect("python3");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser.py failed:\n{log}");
    // What the page did is on disk: the first snapshot's settings are back,
    // the junk the live folder had gained is gone, and the undo point holds it.
    let app = env.path("app");
    assert_eq!(
        std::fs::read_to_string(app.join("settings.json")).unwrap(),
        r#"{"theme":"dark","font":{"size":12,"family":"serif"}}"#
    );
    assert!(!app.join("new.txt").exists());
    let list = env.cmd(["--json", "list"]).output().unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    let undo = list
        .iter()
        .find(|s| s.to_string().contains("pre-restore"))
        .unwrap_or_else(|| panic!("no pre-restore snapshot in {list:?}"));
    let id = undo["id"].as_str().unwrap();
    let cat = env.cmd(["cat", id, "junk.txt"]).output().unwrap();
    assert_eq!(
        cat.stdout, b"junk\n",
        "the undo point holds the state before the restore"
    );
    println!("{log}");
}
