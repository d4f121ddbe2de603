//! `snap key cache`: the keys kept in `$XDG_RUNTIME_DIR/snap/keys` for a
//! while, so commands given no password source run without one; expiry,
//! `--clear`, an explicit password winning, a damaged or foreign entry
//! ignored, no runtime directory refused, mode 0600, and still nothing in
//! the repository directory that names a file. `key cache` writes, so it
//! is killed (`SNAP_KEY_CACHE_CRASH_POINTS`, default 30) and has faults
//! injected into every write, fsync, rename, dirsync and unlink it makes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::marker::{hits, MARKER};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{env_or, run_killed_after, write_secret, PW, TEST_ARGON2};
use crate::util::{image_diff, make_profile, tree_image, Env, Gen, Run};

/// A world with cheap Argon2, no `$SNAP_PASSWORD`, and a fresh private
/// runtime directory as `$XDG_RUNTIME_DIR`; returns it with the password
/// file and the runtime directory.
fn cache_env() -> (Env, PathBuf, PathBuf) {
    let mut env = Env::new();
    env.env("SNAP_ARGON2", TEST_ARGON2);
    let runtime = env.path("run");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    env.env("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    let pw = write_secret(&env, "pw", PW);
    (env, pw, runtime)
}

/// `snap --password-file FILE ARGS`.
fn with_file(env: &Env, file: &std::path::Path, args: &[&str]) -> Run {
    let mut all = vec!["--password-file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    env.snap(&all)
}

/// An encrypted repository with one snapshot of a marked profile.
fn encrypted_with_snapshot(env: &Env, pw: &std::path::Path) -> PathBuf {
    with_file(env, pw, &["init", "--encrypt"]).ok();
    let src = env.path(&format!("{MARKER}-app"));
    make_profile(&src, 10, 100_000, 2);
    fs::write(src.join(format!("{MARKER}.json")), MARKER).unwrap();
    with_file(env, pw, &["create", src.to_str().unwrap()]).ok();
    src
}

/// The line a command prints when it needs a password and has none.
fn needs_password(r: Run) {
    assert_eq!(r.code, 12, "{}", r.dump());
    r.one_line_error(&["password is needed"]);
}

#[test]
fn key_cache_unlocks_commands_without_a_password_until_cleared() {
    let (env, pw, runtime) = cache_env();
    let src = encrypted_with_snapshot(&env, &pw);
    needs_password(env.snap(["list"]));

    let out = with_file(&env, &pw, &["--json", "key", "cache"])
        .ok()
        .json();
    assert_eq!(out["action"], "cached", "{out}");
    let repo_id = out["repository"].as_str().unwrap().to_string();
    let file = runtime.join("snap").join("keys").join(&repo_id);
    assert_eq!(PathBuf::from(out["path"].as_str().unwrap()), file);
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&runtime.join("snap")), 0o700);
    assert_eq!(mode(&runtime.join("snap").join("keys")), 0o700);

    // No password source: the cache unlocks create, no-change create and
    // restore.
    let image = tree_image(&src);
    fs::write(src.join("new.json"), b"{\"n\": 2}").unwrap();
    let id = env.create(&src, &[]).id();
    env.create(&src, &[]).expect_contains(true, "unchanged");
    let target = env.path("restored");
    env.restore_to("latest~1", &target);
    assert_eq!(image_diff(&image, &tree_image(&target)), None);
    env.snap(["show", &id]).ok();

    // An explicit wrong password still wins, and fails with exit 12.
    let wrong = write_secret(&env, "wrong", "not the password at all");
    let r = with_file(&env, &wrong, &["list"]);
    assert_eq!(r.code, 12, "{}", r.dump());
    assert_eq!(r.stderr.trim(), "snap: wrong password", "{}", r.dump());

    // The repository directory still names nothing; the cache file holds
    // only ids and the key.
    let found = hits(&env.repo);
    assert!(found.is_empty(), "marker in the repository: {found:?}");
    assert!(hits(&runtime).is_empty());

    let out = env.snap(["--json", "key", "cache", "--clear"]).ok().json();
    assert_eq!(out["removed"], true, "{out}");
    assert!(!file.exists());
    needs_password(env.snap(["list"]));
    let out = env.snap(["--json", "key", "cache", "--clear"]).ok().json();
    assert_eq!(out["removed"], false, "{out}");
}

#[test]
fn key_cache_expires() {
    let (env, pw, runtime) = cache_env();
    encrypted_with_snapshot(&env, &pw);
    with_file(&env, &pw, &["key", "cache", "--for", "1s"]).ok();
    let keys = runtime.join("snap").join("keys");
    assert_eq!(fs::read_dir(&keys).unwrap().count(), 1);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    needs_password(env.snap(["list"]));
    // The expired entry was deleted.
    assert_eq!(fs::read_dir(&keys).unwrap().count(), 0);
    let r = with_file(&env, &pw, &["key", "cache", "--for", "soon"]);
    r.code(1).one_line_error(&["--for", "soon"]);
}

#[test]
fn a_damaged_or_foreign_cache_entry_is_not_used() {
    let (env, pw, runtime) = cache_env();
    encrypted_with_snapshot(&env, &pw);
    let out = with_file(&env, &pw, &["--json", "key", "cache"])
        .ok()
        .json();
    let file = PathBuf::from(out["path"].as_str().unwrap());
    let good = fs::read_to_string(&file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let key = v["master_key"].as_str().unwrap();

    // One changed digit of the key (checksum fixed up by an attacker or
    // not): the key does not authenticate config.json, so no unlock.
    let flipped = format!(
        "{}{}",
        if key.starts_with('0') { '1' } else { '0' },
        &key[1..]
    );
    fs::write(&file, good.replace(key, &flipped)).unwrap();
    needs_password(env.snap(["list"]));
    let mut forged: serde_json::Value = serde_json::from_str(&good).unwrap();
    forged["master_key"] = flipped.clone().into();
    fix_checksum(&mut forged);
    fs::write(&file, serde_json::to_vec(&forged).unwrap()).unwrap();
    needs_password(env.snap(["list"]));

    // The intact entry works again; readable by others, it is not used.
    fs::write(&file, &good).unwrap();
    env.snap(["list"]).ok();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    needs_password(env.snap(["list"]));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();

    // A second repository does not use the first one's entry, even when
    // it is copied under the second's id.
    let mut other = Env::new();
    other.env("SNAP_ARGON2", TEST_ARGON2);
    other.env("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    with_file(&other, &pw, &["init", "--encrypt"]).ok();
    needs_password(other.snap(["list"]));
    let cfg: serde_json::Value =
        serde_json::from_slice(&fs::read(other.repo.join("config.json")).unwrap()).unwrap();
    let other_id = cfg["id"].as_str().unwrap();
    let mut copied: serde_json::Value = serde_json::from_str(&good).unwrap();
    copied["repository"] = other_id.into();
    fix_checksum(&mut copied);
    let dest = runtime.join("snap").join("keys").join(other_id);
    fs::write(&dest, serde_json::to_vec(&copied).unwrap()).unwrap();
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o600)).unwrap();
    needs_password(other.snap(["list"]));
    // The first repository still opens from its own entry.
    env.snap(["list"]).ok();
}

/// Sets a cache file's checksum to match its fields (FORMAT.md 16.5), as
/// someone who edits it on purpose would.
fn fix_checksum(v: &mut serde_json::Value) {
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        v["format"].as_str().unwrap(),
        v["version"],
        v["repository"].as_str().unwrap(),
        v["created"],
        v["expires"],
        v["master_key"].as_str().unwrap()
    );
    v["checksum"] = blake3::hash(text.as_bytes()).to_hex().to_string().into();
}

#[test]
fn key_cache_is_refused_without_a_private_runtime_dir() {
    let (mut env, pw, runtime) = cache_env();
    encrypted_with_snapshot(&env, &pw);
    // World-readable runtime directory: refused, naming it and the mode.
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o755)).unwrap();
    with_file(&env, &pw, &["key", "cache"])
        .code(1)
        .one_line_error(&["run", "0700"]);
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    // No XDG_RUNTIME_DIR at all: refused, no fallback anywhere.
    env.env("XDG_RUNTIME_DIR", "");
    with_file(&env, &pw, &["key", "cache"])
        .code(1)
        .one_line_error(&["XDG_RUNTIME_DIR is not set"]);
    assert!(!runtime.join("snap").exists());
    assert!(!env.path("cache").join("snap").join("keys").exists());
    // On a plain repository there is nothing to cache.
    let plain = Env::new();
    plain.snap(["init"]).ok();
    let mut plain_cmd = plain.cmd(["key", "cache"]);
    plain_cmd.env("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    let r = plain.run(plain_cmd, &["key".into(), "cache".into()]);
    r.code(1).one_line_error(&["not encrypted"]);
}

/// After an interrupted or failed `key cache`: a command without a
/// password opens the repository (a whole entry) or asks for the password
/// (none), nothing else; when `key cache` succeeded, it opens.
fn cache_verdict(env: &Env, acknowledged: bool) -> Result<(), String> {
    let r = env.snap(["list"]);
    let asks = r.code == 12 && r.stderr.contains("password is needed");
    match (r.code == 0, asks, acknowledged) {
        (true, _, _) | (false, true, false) => Ok(()),
        _ => Err(format!(
            "after `key cache` (acknowledged: {acknowledged}):\n{}",
            r.dump()
        )),
    }
}

fn temporaries(runtime: &std::path::Path) -> Vec<String> {
    fs::read_dir(runtime.join("snap").join("keys"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn key_cache_survives_kill_9_and_injected_faults() {
    let points = env_or("SNAP_KEY_CACHE_CRASH_POINTS", 30);
    let (env, pw, runtime) = cache_env();
    encrypted_with_snapshot(&env, &pw);
    let pw_arg = pw.to_str().unwrap();
    let mut g = Gen(0x14_cac4e);
    let mut longest = Duration::from_millis(60);
    let (mut killed, mut failures) = (0u64, Vec::new());
    for i in 0..points {
        // Alternately over an existing entry and from none.
        if i % 2 == 0 {
            env.snap(["key", "cache", "--clear"]).ok();
        }
        let c = env.cmd(["--password-file", pw_arg, "key", "cache"]);
        let (ok, was_killed) = run_killed_after(c, &mut longest, &mut g);
        killed += u64::from(was_killed);
        if let Err(e) = cache_verdict(&env, ok) {
            failures.push(format!("point {i}: {e}"));
        }
    }
    // The next `key cache` leaves no temporary copy of a key behind.
    with_file(&env, &pw, &["key", "cache"]).ok();
    assert_eq!(temporaries(&runtime), Vec::<String>::new());

    // Faults: count the clean run's operations, then fail each in turn.
    env.snap(["key", "cache", "--clear"]).ok();
    let counts_file = env.path("counts");
    let mut c = env.cmd(["--password-file", pw_arg, "key", "cache"]);
    c.env("SNAP_FAULT_COUNTS", &counts_file);
    env.run(c, &[]).ok();
    let counts: Vec<(String, u64)> = fs::read_to_string(&counts_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| ["write", "fsync", "rename", "dirsync", "unlink"].contains(k))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect();
    let mut runs = 0;
    for (op, n) in &counts {
        for k in 1..=*n {
            for (kind, mode) in [("eio", "once"), ("enospc", "persistent"), ("short", "once")] {
                env.snap(["key", "cache", "--clear"]).ok();
                let mut c = env.cmd(["--password-file", pw_arg, "key", "cache"]);
                c.env("SNAP_FAULT", format!("{op}:{k}:{kind}:{mode}"));
                let r = env.run(c, &[]);
                runs += 1;
                let what = format!("{op}:{k}:{kind}:{mode}");
                if r.stderr.contains("panicked") {
                    failures.push(format!("{what}: panic\n{}", r.dump()));
                }
                if r.code != 0 && r.stderr.lines().count() != 1 {
                    failures.push(format!("{what}: not one error line\n{}", r.dump()));
                }
                if let Err(e) = cache_verdict(&env, r.code == 0) {
                    failures.push(format!("{what}: {e}"));
                }
                if !temporaries(&runtime).is_empty() {
                    failures.push(format!("{what}: a temporary key file was left"));
                }
            }
        }
    }
    eprintln!(
        "key cache: {points} kill points ({killed} killed), {runs} fault runs ({counts:?}), {} failures",
        failures.len()
    );
    assert!(runs > 0, "the clean run made no write: {counts:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `snap auto` unlocks once per process: started with only the key cache
/// (no password source), it keeps taking snapshots after the cache entry
/// is cleared; a process that unlocked again each round would need a
/// password from then on.
#[test]
fn auto_unlocks_once_per_process() {
    let (env, pw, _runtime) = cache_env();
    let src = encrypted_with_snapshot(&env, &pw);
    let name = src.file_name().unwrap().to_str().unwrap().to_string();
    with_file(
        &env,
        &pw,
        &["profile", "set", &name, "--auto", "on", "--interval", "1s"],
    )
    .ok();
    with_file(&env, &pw, &["key", "cache"]).ok();
    // Counted with the password, never through the cache.
    let count = || -> usize {
        with_file(&env, &pw, &["--json", "list"])
            .ok()
            .json()
            .as_array()
            .map_or(0, Vec::len)
    };
    let mut c = env.cmd(["--json", "auto"]);
    c.env("SNAP_AUTO_DEBOUNCE_MS", "200")
        .env("SNAP_AUTO_MIN_GAP_MS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("spawn snap auto");
    let wait_for = |n: usize| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    };
    fs::write(src.join("one.json"), b"{\"n\": 1}").unwrap();
    let first = wait_for(2);
    // From here on, nothing but the keys auto holds can unlock.
    env.snap(["key", "cache", "--clear"]).ok();
    needs_password(env.snap(["list"]));
    let before = count();
    fs::write(src.join("two.json"), b"{\"n\": 2}").unwrap();
    let second = wait_for(before + 1);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(killed.success());
    assert!(first, "no snapshot after the first change:\n{log}");
    assert!(second, "no snapshot after the cache was cleared:\n{log}");
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(!log.contains("password"), "auto asked again:\n{log}");
}
