//! Key slots: several passwords, removing and changing them, and the
//! atomicity of every change under kill -9 and injected I/O faults.
//!
//! The invariant after any interrupted `key add | remove | passwd`: the
//! passwords that open the repository are exactly the old set or exactly
//! the new set, never another set and never none.
//!
//! Knobs: `SNAP_KEY_CRASH_POINTS` (kill -9 points per operation, default
//! 100); `SNAP_FAULT_QUICK=1` injects faults at fewer points (as the main
//! sweep does).

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use super::{enc_env, write_secret, PW, PW2};
use crate::util::{copy_into, make_profile, remove_tree, Env, Gen, Run};

/// `snap --password-file <pw> ARGS`, without `$SNAP_PASSWORD`.
fn with_pw(env: &Env, pw: &str, args: &[&str]) -> Run {
    let f = write_secret(
        env,
        &format!("pw-{}", blake3::hash(pw.as_bytes()).to_hex()),
        pw,
    );
    let mut all: Vec<String> = vec!["--password-file".into(), f.to_string_lossy().into_owned()];
    all.extend(args.iter().map(|s| s.to_string()));
    let mut c = env.cmd(&all);
    c.env_remove("SNAP_PASSWORD");
    let os: Vec<std::ffi::OsString> = all.iter().map(Into::into).collect();
    env.run(c, &os)
}

/// `key add|passwd` with the new password from a file.
fn new_pw_args(env: &Env, op: &str, new: &str) -> Vec<String> {
    let f = write_secret(
        env,
        &format!("new-{}", blake3::hash(new.as_bytes()).to_hex()),
        new,
    );
    vec![
        "key".into(),
        op.into(),
        "--new-password-file".into(),
        f.to_string_lossy().into_owned(),
    ]
}

fn opens(env: &Env, pw: &str) -> bool {
    let r = with_pw(env, pw, &["list"]);
    assert!(
        r.code == 0 || r.code == 12,
        "neither open nor wrong password\n{}",
        r.dump()
    );
    r.code == 0
}

/// The id of the slot `pw` opens.
fn slot_of(env: &Env, pw: &str) -> String {
    let list = with_pw(env, pw, &["--json", "key", "list"]).ok().json();
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn two_passwords_open_one_repository_and_either_can_go() {
    let env = enc_env();
    env.snap(["init", "--encrypt"]).ok();
    let src = env.path("app");
    make_profile(&src, 5, 20_000, 4);
    env.create(&src, &[]);
    let args = new_pw_args(&env, "add", PW2);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    with_pw(&env, PW, &args).ok();
    assert!(env.repo.join("config.json.bak").exists());
    assert!(opens(&env, PW) && opens(&env, PW2));
    let list = with_pw(&env, PW2, &["--json", "key", "list"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    // Remove the first password's slot, opened with the second.
    let first = slot_of(&env, PW);
    with_pw(&env, PW2, &["key", "remove", &first[..6]]).ok();
    assert!(!opens(&env, PW));
    assert!(opens(&env, PW2));
    with_pw(
        &env,
        PW2,
        &[
            "restore",
            "latest",
            "--target",
            env.path("t").to_str().unwrap(),
        ],
    )
    .ok();
    // The last slot cannot go.
    let last = slot_of(&env, PW2);
    with_pw(&env, PW2, &["key", "remove", &last]).one_line_error(&["only key slot"]);
    assert!(opens(&env, PW2));
    // passwd replaces the slot that opened the repository.
    let args = new_pw_args(&env, "passwd", "a brand new password");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    with_pw(&env, PW2, &args).ok();
    assert!(!opens(&env, PW2));
    assert!(opens(&env, "a brand new password"));
    // Too short, and the key commands on a plain repository.
    let args = new_pw_args(&env, "add", "short");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    with_pw(&env, "a brand new password", &args).one_line_error(&["shorter than 8"]);
    let plain = env.path("plain");
    env.snap(["--repo", plain.to_str().unwrap(), "init"]).ok();
    env.snap(["--repo", plain.to_str().unwrap(), "key", "list"])
        .one_line_error(&["not encrypted"]);
}

/// One key operation to interrupt: its arguments (opened with `by`) and
/// the password set it leads to.
struct Step {
    by: String,
    args: Vec<String>,
    old: BTreeSet<String>,
    new: BTreeSet<String>,
}

fn next_step(env: &Env, set: &BTreeSet<String>, i: u64, g: &mut Gen) -> Step {
    let pws: Vec<&String> = set.iter().collect();
    let by = pws[g.below(pws.len() as u64) as usize].clone();
    let fresh = format!("password number {i}");
    let mut new = set.clone();
    let args = match i % 3 {
        0 => {
            new.insert(fresh.clone());
            new_pw_args(env, "add", &fresh)
        }
        1 if set.len() > 1 => {
            let victim = pws.iter().find(|p| ***p != by).unwrap().to_string();
            new.remove(&victim);
            vec!["key".into(), "remove".into(), slot_of(env, &victim)]
        }
        _ => {
            new.remove(&by);
            new.insert(fresh.clone());
            new_pw_args(env, "passwd", &fresh)
        }
    };
    Step {
        by,
        args,
        old: set.clone(),
        new,
    }
}

/// The passwords among `candidates` that open the repository.
fn opening(env: &Env, candidates: &BTreeSet<String>) -> BTreeSet<String> {
    candidates
        .iter()
        .filter(|p| opens(env, p))
        .cloned()
        .collect()
}

fn verdict(env: &Env, step: &Step, succeeded: bool) -> Result<BTreeSet<String>, String> {
    let all: BTreeSet<String> = step.old.union(&step.new).cloned().collect();
    let open = opening(env, &all);
    if open == step.new || (!succeeded && open == step.old) {
        Ok(open)
    } else {
        Err(format!(
            "{:?} (acknowledged: {succeeded}): opens with {open:?}, expected {:?}{}",
            step.args,
            step.new,
            if succeeded {
                String::new()
            } else {
                format!(" or {:?}", step.old)
            }
        ))
    }
}

fn setup() -> Env {
    let env = enc_env();
    env.snap(["init", "--encrypt"]).ok();
    let src = env.path("app");
    make_profile(&src, 3, 5_000, 6);
    env.create(&src, &[]);
    env
}

#[test]
fn kill_9_during_key_changes_leaves_the_old_or_the_new_passwords() {
    let points = super::env_or("SNAP_KEY_CRASH_POINTS", 100);
    let env = setup();
    let mut set: BTreeSet<String> = [PW.to_string()].into();
    let mut g = Gen(0x14_c0de);
    // The longest clean run of each operation seen so far: kills land in 0..1.2×.
    let mut longest = [Duration::from_millis(60); 3];
    let (mut killed, mut failures) = (0u64, Vec::new());
    for i in 0..points * 3 {
        let step = next_step(&env, &set, i, &mut g);
        let op = (i % 3) as usize;
        let f = write_secret(&env, "by", &step.by);
        let mut all = vec![
            "--password-file".to_string(),
            f.to_string_lossy().into_owned(),
        ];
        all.extend(step.args.iter().cloned());
        let mut c = env.cmd(&all);
        c.env_remove("SNAP_PASSWORD");
        let (succeeded, was_killed) = super::run_killed_after(c, &mut longest[op], &mut g);
        killed += u64::from(was_killed);
        match verdict(&env, &step, succeeded) {
            Ok(open) => set = open,
            Err(e) => {
                failures.push(format!("point {i}: {e}"));
                set = opening(&env, &step.old.union(&step.new).cloned().collect());
                if set.is_empty() {
                    break;
                }
            }
        }
    }
    eprintln!(
        "key crash loop: {} points, {killed} killed, {} failures",
        points * 3,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    with_pw(&env, set.iter().next().unwrap(), &["check"]).ok();
}

/// `op=count` lines written by `SNAP_FAULT_COUNTS`.
fn read_counts(p: &std::path::Path) -> Vec<(String, u64)> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.starts_with("injected"))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

#[test]
fn injected_faults_during_key_changes_leave_the_old_or_the_new_passwords() {
    let quick = std::env::var_os("SNAP_FAULT_QUICK").is_some();
    let env = setup();
    let saved = env.path("saved");
    copy_into(&env.repo, &saved);
    let two: BTreeSet<String> = [PW.to_string(), PW2.to_string()].into();
    let (mut runs, mut failures) = (0u64, Vec::new());
    for op in ["add", "remove", "passwd"] {
        let reset = || {
            remove_tree(&env.repo);
            remove_tree(&env.path("cache"));
            copy_into(&saved, &env.repo);
            // `remove` needs a second slot to remove.
            if op == "remove" {
                let a = new_pw_args(&env, "add", PW2);
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                with_pw(&env, PW, &a).ok();
            }
        };
        reset();
        let (args, new): (Vec<String>, BTreeSet<String>) = match op {
            "add" => (new_pw_args(&env, "add", PW2), two.clone()),
            "remove" => (
                vec!["key".into(), "remove".into(), slot_of(&env, PW2)],
                [PW.to_string()].into(),
            ),
            _ => (
                new_pw_args(&env, "passwd", "the new password"),
                ["the new password".to_string()].into(),
            ),
        };
        let old: BTreeSet<String> = if op == "remove" {
            two.clone()
        } else {
            [PW.to_string()].into()
        };
        let step = Step {
            by: PW.into(),
            args,
            old,
            new,
        };
        let pwf = write_secret(&env, "by", PW);
        let mut all = vec![
            "--password-file".to_string(),
            pwf.to_string_lossy().into_owned(),
        ];
        all.extend(step.args.iter().cloned());
        let counts_file = env.path("counts");
        let mut c = env.cmd(&all);
        c.env_remove("SNAP_PASSWORD")
            .env("SNAP_FAULT_COUNTS", &counts_file);
        let clean = env.run(c, &[]);
        assert_eq!(clean.code, 0, "clean {op}\n{}", clean.dump());
        let counts = read_counts(&counts_file);
        for (kind_op, n) in counts {
            let ks: Vec<u64> = if quick {
                (1..=n)
                    .filter(|k| *k == 1 || *k == n || k % (n / 4).max(1) == 0)
                    .collect()
            } else {
                (1..=n).collect()
            };
            for k in ks {
                for (kind, mode) in [("eio", "once"), ("enospc", "persistent"), ("short", "once")] {
                    reset();
                    let mut c = env.cmd(&all);
                    c.env_remove("SNAP_PASSWORD")
                        .env("SNAP_FAULT", format!("{kind_op}:{k}:{kind}:{mode}"));
                    let r = env.run(c, &[]);
                    runs += 1;
                    if r.stderr.contains("panicked") {
                        failures.push(format!(
                            "{op} {kind_op}:{k}:{kind}:{mode}: panic\n{}",
                            r.dump()
                        ));
                    }
                    if let Err(e) = verdict(&env, &step, r.code == 0) {
                        failures.push(format!(
                            "{op} {kind_op}:{k}:{kind}:{mode}: {e}\n{}",
                            r.dump()
                        ));
                    }
                }
            }
        }
    }
    eprintln!("key fault sweep: {runs} runs, {} failures", failures.len());
    assert!(runs > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
