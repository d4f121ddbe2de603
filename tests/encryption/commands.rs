//! Every command on an encrypted repository, as on a plain one; where
//! passwords come from; a wrong password.

use std::fs;

use super::{enc_env, write_secret, PW, TEST_ARGON2};
use crate::util::{image_diff, make_profile, mutate_profile, tree_image, Env};

#[test]
fn every_command_works_on_an_encrypted_repository() {
    let env = enc_env();
    let out = env.snap(["--json", "init", "--encrypt"]).ok().json();
    assert_eq!(out["encrypted"], true);
    let src = env.path("app");
    make_profile(&src, 40, 400_000, 3);
    fs::write(src.join("settings.json"), b"{\"api_key\": \"k\"}\n").unwrap();
    let s1_image = tree_image(&src);
    let s1 = env.create(&src, &[]).id();
    // No change: no snapshot.
    env.create(&src, &[]).expect_contains(true, "unchanged");
    mutate_profile(&src, 0.3, 9);
    let s2_image = tree_image(&src);
    let s2 = env.create(&src, &[]).id();
    assert_ne!(s1, s2);

    let list = env.snap(["--json", "list"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    env.snap(["show", &s1]).ok().expect_contains(true, "app");
    env.snap(["ls", &s1])
        .ok()
        .expect_contains(true, "settings.json");
    let cat = env.snap(["cat", &s1, "settings.json"]).ok();
    assert_eq!(cat.stdout, "{\"api_key\": \"k\"}\n");
    env.snap(["diff", &s1, &s2]).ok();
    env.snap(["diff", &s2]).ok();
    env.snap(["stats"]).ok();

    // Restore into a new directory, then in place (journal, pre-restore).
    let t = env.path("restored");
    env.snap(["restore", &s1, "--target", t.to_str().unwrap()])
        .ok();
    assert_eq!(image_diff(&s1_image, &tree_image(&t)), None);
    env.snap(["restore", &s1]).ok();
    assert_eq!(image_diff(&s1_image, &tree_image(&src)), None);
    assert!(
        !env.repo.join("journal").exists()
            || fs::read_dir(env.repo.join("journal"))
                .unwrap()
                .next()
                .is_none(),
        "journal left behind"
    );

    // Export (ZIP, vault with the same password), import, restore FILE.
    let zip = env.path("s2.zip");
    env.snap(["export", &s2, "--zip", zip.to_str().unwrap()])
        .ok();
    let vault = env.path("s2.stvault");
    env.snap(["export", &s2, "--vault", vault.to_str().unwrap()])
        .ok();
    let from_vault = env.path("from-vault");
    env.snap([
        "restore",
        vault.to_str().unwrap(),
        "--target",
        from_vault.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(image_diff(&s2_image, &tree_image(&from_vault)), None);
    // A vault under its own password.
    let vpw = write_secret(&env, "vault-pw", "another vault password");
    let vault2 = env.path("s2-own.stvault");
    env.snap([
        "export",
        &s2,
        "--vault",
        vault2.to_str().unwrap(),
        "--vault-password-file",
        vpw.to_str().unwrap(),
    ])
    .ok();
    env.snap([
        "import",
        vault2.to_str().unwrap(),
        "--profile",
        "fromvault",
        "--vault-password-file",
        vpw.to_str().unwrap(),
    ])
    .ok();
    env.snap(["import", zip.to_str().unwrap(), "--profile", "fromzip"])
        .ok();

    // Retention, gc, check --read-data, index rebuild, repair.
    env.snap(["forget", "--profile", "app", "--keep-last", "1"])
        .ok();
    env.snap(["gc"]).ok();
    let check = env.snap(["--json", "check", "--read-data"]).ok().json();
    assert!(check["blobs_read"].as_u64().unwrap() > 0, "{check}");
    env.snap(["index", "rebuild"]).ok();
    env.snap(["repair"]).ok();
    // Losing the cache loses nothing: it is rebuilt.
    fs::remove_dir_all(env.path("cache")).unwrap();
    // s1 kept by --keep-last 1, s2 as the undo point of the in-place
    // restore (tagged pre-restore: rotation by count never removes it),
    // and the two imports.
    let list = env.snap(["--json", "list"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(4), "{list}");
    env.snap(["check", "--read-data"]).ok();

    // auto, unattended from a password file.
    let pwf = write_secret(&env, "pw", PW);
    env.snap(["profile", "set", "app", "--auto", "on"]).ok();
    mutate_profile(&src, 0.3, 10);
    let mut c = env.cmd(["--password-file", pwf.to_str().unwrap(), "auto", "--once"]);
    c.env_remove("SNAP_PASSWORD");
    let run = env.run(c, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    // s1, the undo point and the automatic snapshot.
    let list = env.snap(["--json", "list", "--profile", "app"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");
}

/// `snap` without `$SNAP_PASSWORD`, the cheap KDF set.
fn bare(env: &Env, args: &[&str]) -> crate::util::Run {
    let mut c = env.cmd(args);
    c.env_remove("SNAP_PASSWORD");
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    env.run(c, &args)
}

#[test]
fn passwords_come_from_a_file_a_command_or_the_environment() {
    let mut env = Env::new();
    env.env("SNAP_ARGON2", TEST_ARGON2);
    let short = write_secret(&env, "short", "seven77");
    bare(
        &env,
        &[
            "--password-file",
            short.to_str().unwrap(),
            "init",
            "--encrypt",
        ],
    )
    .one_line_error(&["shorter than 8"]);
    assert!(!env.repo.join("config.json").exists());
    // No password at all, and no terminal: exit 12, saying what to pass.
    bare(&env, &["init", "--encrypt"]).one_line_error(&["--password-file"]);

    let pwf = write_secret(&env, "pw", PW);
    bare(
        &env,
        &[
            "--password-file",
            pwf.to_str().unwrap(),
            "init",
            "--encrypt",
        ],
    )
    .ok();
    let src = env.path("app");
    make_profile(&src, 5, 10_000, 1);
    let p = src.to_str().unwrap();
    bare(
        &env,
        &["--password-file", pwf.to_str().unwrap(), "create", p],
    )
    .ok();
    let cmd = format!("printf '%s\\n' '{PW}'");
    bare(&env, &["--password-command", &cmd, "list"]).ok();
    let mut c = env.cmd(["list"]);
    c.env("SNAP_PASSWORD", PW);
    assert_eq!(env.run(c, &[]).code, 0);

    // Wrong password: exit 12 and exactly "wrong password".
    let wrong = write_secret(&env, "wrong", "not the password");
    for args in [
        vec!["--password-file", wrong.to_str().unwrap(), "list"],
        vec!["--password-command", "echo not-the-password", "check"],
    ] {
        let run = bare(&env, &args);
        assert_eq!(run.code, 12, "{}", run.dump());
        assert_eq!(run.stderr, "snap: wrong password\n", "{}", run.dump());
    }
    // A failing command: exit 12, naming the command, not its output.
    let run = bare(
        &env,
        &[
            "--password-command",
            "printf 'secret%s' -out; exit 3",
            "list",
        ],
    );
    assert_eq!(run.code, 12, "{}", run.dump());
    assert!(run.stderr.contains("--password-command"), "{}", run.dump());
    assert!(!run.stderr.contains("secret-out"), "{}", run.dump());
    // No password: exit 12.
    let run = bare(&env, &["list"]);
    assert_eq!(run.code, 12, "{}", run.dump());
    // A plain repository never asks.
    let plain = env.path("plain");
    bare(&env, &["--repo", plain.to_str().unwrap(), "create", p]).ok();
}

#[test]
fn create_initialises_an_encrypted_repository_with_encrypt() {
    let env = enc_env();
    let src = env.path("app");
    make_profile(&src, 5, 10_000, 2);
    env.create(&src, &["--encrypt"]);
    let cfg: serde_json::Value =
        serde_json::from_slice(&fs::read(env.repo.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["encryption"]["slots"].as_array().map(Vec::len), Some(1));
    assert!(!env.repo.join("index.sqlite").exists());
    // An existing repository stays as it is: --encrypt does not matter then.
    let plain = env.path("plain");
    env.snap(["--repo", plain.to_str().unwrap(), "init"]).ok();
    env.snap([
        "--repo",
        plain.to_str().unwrap(),
        "create",
        src.to_str().unwrap(),
        "--encrypt",
    ])
    .ok();
    let cfg: serde_json::Value =
        serde_json::from_slice(&fs::read(plain.join("config.json")).unwrap()).unwrap();
    assert!(cfg["encryption"].is_null());
}
