//! The `export`, `import` and `restore FILE` commands through the binary.

use std::process::Command;

use super::{check, make_profile, stdout_json, Env, PASSWORD};

/// A repository with one snapshot of profile `app`.
fn env_with_snapshot() -> Env {
    let env = Env::new();
    make_profile(&env.path("app"));
    env.expect(&["create", "app"], 0);
    env
}

#[test]
#[ignore = "needs unzip and python3; .ci/run runs it with --include-ignored"]
fn views_cli_zip_readable_by_unzip_and_python_and_deterministic() {
    let env = env_with_snapshot();
    env.expect(&["export", "latest", "--zip", "a.zip"], 0);
    env.expect(&["export", "latest", "--zip", "b.zip"], 0);
    assert_eq!(
        std::fs::read(env.path("a.zip")).unwrap(),
        std::fs::read(env.path("b.zip")).unwrap(),
        "two exports of one snapshot are byte-identical"
    );
    let t = Command::new("unzip")
        .arg("-t")
        .arg(env.path("a.zip"))
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stdout));
    assert!(String::from_utf8_lossy(&t.stdout).contains("No errors detected"));
    let py = r#"
import sys, zipfile, json, os
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
m = json.loads(z.read("manifest.json"))
for f in m["files"]:
    if f["kind"] == "file":
        data = z.read("files/" + f["path"])
        disk = open(os.path.join(sys.argv[2], f["path"]), "rb").read()
        assert data == disk, f["path"]
print(len(m["files"]))
"#;
    let out = Command::new("python3")
        .args(["-c", py])
        .arg(env.path("a.zip"))
        .arg(env.path("app"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
}

#[test]
fn views_cli_zip_import_same_digest_and_tagged() {
    let env = env_with_snapshot();
    let original = env.snapshots()[0]["content_digest"].clone();
    env.expect(&["export", "latest", "--zip", "a.zip"], 0);
    let out = env.expect(&["--json", "import", "a.zip", "--profile", "copy"], 0);
    let j = stdout_json(&out);
    assert_eq!(j["manifest"]["content_digest"], original);
    assert_eq!(j["manifest"]["tags"][0], "import");
    assert_eq!(j["manifest"]["profile"], "copy");
    // Without --profile: the manifest's profile.
    let out = env.expect(&["--json", "import", "a.zip"], 0);
    assert_eq!(stdout_json(&out)["manifest"]["profile"], "app");
    assert_eq!(env.snapshots().len(), 3);
}

#[test]
fn views_cli_vault_v1_v2_import_and_wrong_password() {
    let env = env_with_snapshot();
    let original = env.snapshots()[0]["content_digest"].clone();
    for v in ["1", "2"] {
        let file = format!("v{v}.stvault");
        let out = env.expect(
            &[
                "--json",
                "export",
                "latest",
                "--profile",
                "app",
                "--vault",
                &file,
                "--vault-version",
                v,
            ],
            0,
        );
        assert_eq!(stdout_json(&out)["vault_version"].to_string(), v);
        let out = env.expect(
            &["--json", "import", &file, "--profile", &format!("v{v}")],
            0,
        );
        assert_eq!(stdout_json(&out)["manifest"]["content_digest"], original);
    }
    let before = env.snapshots().len();
    let out = env.run_env(
        &["import", "v2.stvault"],
        &[("SNAP_PASSWORD", "not the password")],
    );
    check(&out, 12, &["import", "v2.stvault"], env.dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("wrong password or damaged vault"), "{err}");
    assert_eq!(env.snapshots().len(), before);
    // Short passwords are refused before anything else.
    let out = env.run_env(
        &[
            "export",
            "latest",
            "--profile",
            "app",
            "--vault",
            "s.stvault",
        ],
        &[("SNAP_PASSWORD", "short")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!env.path("s.stvault").exists());
    // --password-file works too.
    std::fs::write(env.path("pw"), format!("{PASSWORD}\n")).unwrap();
    let out = env.run_env(
        &[
            "--password-file",
            "pw",
            "restore",
            "v1.stvault",
            "--target",
            "r",
        ],
        &[],
    );
    check(&out, 0, &["restore", "v1.stvault"], env.dir.path());
    assert_eq!(
        std::fs::read(env.path("r/data.bin")).unwrap(),
        std::fs::read(env.path("app/data.bin")).unwrap()
    );
}

#[test]
#[ignore = "needs python3; .ci/run runs it with --include-ignored"]
fn views_cli_exclude_redact_and_scope() {
    let env = env_with_snapshot();
    env.expect(
        &[
            "export",
            "latest",
            "--zip",
            "s.zip",
            "--exclude",
            "cache",
            "--redact-keys",
            "*api_key*",
            "--redact-keys",
            "*token*",
        ],
        0,
    );
    env.expect(&["restore", "s.zip", "--target", "s"], 0);
    let settings = std::fs::read_to_string(env.path("s/settings.json")).unwrap();
    assert!(!settings.contains("fal_api_key") && !settings.contains("oauth_token"));
    assert!(settings.contains("dark"));
    assert!(!env.path("s/cache").exists());
    let py = "import zipfile,sys,json;m=json.loads(zipfile.ZipFile(sys.argv[1]).read('manifest.json'));print(json.dumps([m['excluded'],m['redacted']]))";
    let out = Command::new("python3")
        .args(["-c", py])
        .arg(env.path("s.zip"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v[0],
        serde_json::json!(["cache", "cache/deep", "cache/deep/c.txt"])
    );
    assert_eq!(
        v[1],
        serde_json::json!([{"path":"settings.json","key":"fal_api_key"},{"path":"settings.json","key":"nested/oauth_token"}])
    );
    // The same through a saved scope.
    env.expect(
        &[
            "profile",
            "set",
            "app",
            "--scope",
            "sync=exclude:cache,redact:*api_key*,redact:*token*",
        ],
        0,
    );
    env.expect(
        &["export", "latest", "--zip", "scope.zip", "--scope", "sync"],
        0,
    );
    assert_eq!(
        std::fs::read(env.path("scope.zip")).unwrap(),
        std::fs::read(env.path("s.zip")).unwrap()
    );
    let out = env.run(&["export", "latest", "--zip", "x.zip", "--scope", "nope"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn views_cli_if_changed() {
    let env = env_with_snapshot();
    let args = [
        "--json",
        "export",
        "latest",
        "--vault",
        "sync.stvault",
        "--scope",
        "sync",
        "--if-changed",
    ];
    env.expect(
        &["profile", "set", "app", "--scope", "sync=exclude:cache"],
        0,
    );
    assert_eq!(stdout_json(&env.expect(&args, 0))["status"], "written");
    let first = std::fs::read(env.path("sync.stvault")).unwrap();
    assert_eq!(stdout_json(&env.expect(&args, 0))["status"], "unchanged");
    assert_eq!(std::fs::read(env.path("sync.stvault")).unwrap(), first);
    // A change outside the scope: still unchanged.
    std::fs::write(env.path("app/cache/deep/c.txt"), b"other\n").unwrap();
    env.expect(&["create", "app"], 0);
    assert_eq!(stdout_json(&env.expect(&args, 0))["status"], "unchanged");
    // A change inside it: written again.
    std::fs::write(env.path("app/new.txt"), b"new\n").unwrap();
    env.expect(&["create", "app"], 0);
    assert_eq!(stdout_json(&env.expect(&args, 0))["status"], "written");
    // Another scope key (no --scope) to the same path is tracked apart.
    let plain = [
        "--json",
        "export",
        "latest",
        "--vault",
        "sync.stvault",
        "--if-changed",
    ];
    assert_eq!(stdout_json(&env.expect(&plain, 0))["status"], "written");
    // ...but the file now holds the plain export, so the scope's record is
    // stale and its next --if-changed export must write again.
    assert_eq!(stdout_json(&env.expect(&args, 0))["status"], "written");
    assert_eq!(stdout_json(&env.expect(&args, 0))["status"], "unchanged");
}

#[test]
#[ignore = "needs python3; .ci/run runs it with --include-ignored"]
fn views_cli_foreign_zip_import_and_restore() {
    let env = Env::new();
    // An app's own backup, as the seeds' apps make them: no snap manifest.
    let py = r#"
import zipfile, sys
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("manifest.json", '{"format_version": 1, "app_version": "1.2.3"}')
    z.writestr("database.sql", "CREATE TABLE clips(id);\n" * 100)
    z.writestr("plugins/my-plugin.lua", "print('hi')\n")
"#;
    let st = Command::new("python3")
        .args(["-c", py])
        .arg(env.path("mahpastes-backup-2026-02-04.zip"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = env.expect(&["--json", "import", "mahpastes-backup-2026-02-04.zip"], 0);
    let j = stdout_json(&out);
    // The profile is named after the file without its date stamp, so the
    // next day's backup lands in the same profile.
    assert_eq!(j["manifest"]["profile"], "mahpastes-backup");
    assert_eq!(j["profile"], "mahpastes-backup");
    assert_eq!(j["profile_from"], "file-name");
    assert_eq!(j["registered"], true);
    std::fs::copy(
        env.path("mahpastes-backup-2026-02-04.zip"),
        env.path("mahpastes-backup-2026-02-05.zip"),
    )
    .unwrap();
    let out = env.expect(&["import", "mahpastes-backup-2026-02-05.zip"], 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("of profile mahpastes-backup (from the file name)"),
        "{text}"
    );
    assert!(!text.contains("registered profile"), "{text}");
    assert_eq!(j["manifest"]["summary"]["files"], 3);
    env.expect(
        &[
            "restore",
            "mahpastes-backup-2026-02-04.zip",
            "--target",
            "out",
        ],
        0,
    );
    assert_eq!(
        std::fs::read_to_string(env.path("out/plugins/my-plugin.lua")).unwrap(),
        "print('hi')\n"
    );
    let out = env.expect(&["cat", "latest", "database.sql"], 0);
    assert_eq!(out.stdout.len(), 2400);
    // Restore from a file needs --target, and an empty one.
    assert_eq!(
        env.run(&["restore", "mahpastes-backup-2026-02-04.zip"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        env.run(&[
            "restore",
            "mahpastes-backup-2026-02-04.zip",
            "--target",
            "out"
        ])
        .status
        .code(),
        Some(1)
    );
}
