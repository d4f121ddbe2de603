//! `profiles.json` through the public API: round trip and `.bak`,
//! defaults, recovery from a damaged file, refused versions, name rules.

use std::fs;
use std::path::{Path, PathBuf};

use snap_engine::model::profile::*;
use snap_engine::model::retention::Policy;
use snap_engine::Error;
fn repo() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn sample() -> Profiles {
    let mut all = Profiles::default();
    let mut a = Profile::new("Default User", "/home/u/.config/app").unwrap();
    a.excludes = vec!["Cache/**".into()];
    a.scopes.insert(
        "share".into(),
        Scope {
            exclude: vec!["secrets/**".into()],
            redact_keys: vec!["*token*".into()],
        },
    );
    all.add(a).unwrap();
    all.add(Profile::new("b", "/srv/b").unwrap()).unwrap();
    all
}

fn write(dir: &Path, file: &str, text: &str) {
    fs::write(dir.join(file), text).unwrap();
}

#[test]
fn round_trip_and_bak_kept() {
    let r = repo();
    let (empty, w) = Profiles::load(r.path()).unwrap();
    assert!(empty.is_empty() && w.is_empty(), "fresh repo: {w:?}");

    let all = sample();
    all.save(r.path()).unwrap();
    assert!(
        !r.path().join(PROFILES_BAK).exists(),
        "nothing to back up yet"
    );
    let (back, w) = Profiles::load(r.path()).unwrap();
    assert_eq!(back, all);
    assert!(w.is_empty());

    let mut changed = back.clone();
    changed.set("b", |p| p.auto = false).unwrap();
    changed.save(r.path()).unwrap();
    let bak = fs::read_to_string(r.path().join(PROFILES_BAK)).unwrap();
    let main = fs::read_to_string(r.path().join(PROFILES_FILE)).unwrap();
    assert!(bak.contains("\"auto\": true") && !bak.contains("\"auto\": false"));
    assert!(main.contains("\"version\": 1") && main.contains("\"auto\": false"));
    assert_eq!(Profiles::load(r.path()).unwrap().0, changed);
    assert_eq!(fs::read_dir(r.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn defaults_fill_missing_settings() {
    let r = repo();
    write(
        r.path(),
        PROFILES_FILE,
        r#"{"version":1,"profiles":[{"name":"x","path":"/x"}]}"#,
    );
    let (all, w) = Profiles::load(r.path()).unwrap();
    assert!(w.is_empty());
    let x = all.get("x").unwrap();
    assert!(x.auto);
    assert_eq!(x.interval.to_string(), "30m");
    assert_eq!(x.retention, Policy::default());
    assert_eq!(x.retention.max_count, Some(25));
    assert_eq!(x.retention.max_age.to_string(), "30d");
}

#[test]
fn corrupt_main_recovers_from_bak() {
    let r = repo();
    let all = sample();
    all.save(r.path()).unwrap();
    all.save(r.path()).unwrap(); // now .bak holds a good copy
    for bad in [
        "{\"version\":1,\"profiles\":[",
        "",
        "\0\0\0",
        r#"{"version":1}"#,
        r#"{"version":1,"profiles":[{"name":"../x","path":"/x"}]}"#,
        r#"{"version":1,"profiles":[{"name":"x","path":"/x","autoo":true}]}"#,
    ] {
        write(r.path(), PROFILES_FILE, bad);
        let (got, w) = Profiles::load(r.path()).unwrap();
        assert_eq!(got, all, "{bad:?}");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("recovered 2 profile(s)"), "{w:?}");
    }
    // Saving now must not overwrite the good .bak with the corrupt file.
    let mut next = all.clone();
    next.remove("b").unwrap();
    next.save(r.path()).unwrap();
    assert_eq!(Profiles::load(r.path()).unwrap().0, next);
    fs::remove_file(r.path().join(PROFILES_FILE)).unwrap();
    let (got, w) = Profiles::load(r.path()).unwrap();
    assert_eq!(got, all, ".bak still holds the last good file");
    assert!(w[0].contains("is missing"), "{w:?}");
}

#[test]
fn both_unusable_gives_empty_and_a_warning() {
    let r = repo();
    write(r.path(), PROFILES_FILE, "not json");
    write(r.path(), PROFILES_BAK, "{\"version\":1,\"profiles\":[{}]}");
    let (got, w) = Profiles::load(r.path()).unwrap();
    assert!(got.is_empty());
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("starting with no profiles"), "{w:?}");
    // Corrupt main and no .bak at all.
    fs::remove_file(r.path().join(PROFILES_BAK)).unwrap();
    let (got, w) = Profiles::load(r.path()).unwrap();
    assert!(got.is_empty() && w.len() == 1, "{w:?}");

    let mut rec = Profiles::recover_from([
        ("app", PathBuf::from("/new/app")),
        ("app", PathBuf::from("/old/app")),
        ("we/ird", PathBuf::from("/w")),
        ("rel", PathBuf::from("relative")),
    ]);
    assert_eq!(rec.get("app").unwrap().path, Path::new("/new/app"));
    assert!(rec.get("we_ird").is_some());
    assert!(rec.get("rel").is_none());
    assert_eq!(rec.len(), 2);
    let added = rec.merge_recovered([("app", "/x"), ("other", "/o")]);
    assert_eq!(added, ["other"]);
}

#[test]
fn unknown_version_is_refused() {
    let r = repo();
    write(
        r.path(),
        PROFILES_FILE,
        r#"{"version":2,"profiles":[],"new":1}"#,
    );
    sample().save(r.path()).unwrap_err();
    let err = Profiles::load(r.path()).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("version 2"), "{err}");
    // Also when it is the .bak that recovery would use.
    write(r.path(), PROFILES_FILE, "garbage");
    write(r.path(), PROFILES_BAK, r#"{"version":7}"#);
    assert!(Profiles::load(r.path()).is_err());
}

#[test]
fn names_are_sanitised() {
    let good = [
        ("app", "app"),
        ("Default User", "Default User"),
        ("  padded  ", "padded"),
        ("Profil é", "Profil é"),
        ("a.b", "a.b"),
        ("...", "..."),
        ("x-y_z", "x-y_z"),
    ];
    for (raw, want) in good {
        assert_eq!(sanitize_name(raw).unwrap(), want, "{raw:?}");
    }
    let long = "é".repeat(51); // 102 bytes
    let bad = [
        ("", "empty"),
        ("   ", "empty"),
        (".", "not names"),
        ("..", "not names"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("/", "path separator"),
        ("a\nb", "control"),
        ("a\tb", "control"),
        ("a\u{7f}", "control"),
        ("a\u{202e}b", "direction"),
        ("-rf", "start with"),
        (long.as_str(), "longer than 100"),
    ];
    for (raw, why) in bad {
        match sanitize_name(raw) {
            Err(Error::Invalid { what, reason, .. }) => {
                assert_eq!(what, "profile name");
                assert!(reason.contains(why), "{raw:?}: {reason}");
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }
    assert!(sanitize_name(&"a".repeat(100)).is_ok());
}

#[test]
fn default_names_from_paths() {
    let cases = [
        ("/home/u/.config/My App", "My App"),
        ("/home/u/a\\b", "a_b"),
        ("/tmp/x\ny", "x_y"),
        ("/tmp/--opt", "opt"),
        ("/", "profile"),
        ("/tmp/-", "profile"),
    ];
    for (path, want) in cases {
        assert_eq!(default_name_for(Path::new(path)), want, "{path:?}");
    }
    let long = format!("/x/{}", "é".repeat(80));
    let n = default_name_for(Path::new(&long));
    assert!(n.len() <= MAX_NAME_BYTES && sanitize_name(&n).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9"));
        assert_eq!(default_name_for(p), "caf\u{fffd}");
    }
}

#[test]
fn add_remove_set() {
    let mut all = sample();
    let err = all.add(Profile::new("b", "/other").unwrap()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(Profile::new("c", "relative/path").is_err());
    assert!(all.set("b", |p| p.retention.keep_last = Some(0)).is_err());
    assert_eq!(all.get("b").unwrap().retention.keep_last, None, "unchanged");
    assert!(all.set("b", |p| p.name = "Default User".into()).is_err());
    all.set("b", |p| p.name = "c".into()).unwrap();
    assert!(all.get("b").is_none() && all.get("c").is_some());
    assert_eq!(all.find_by_path(Path::new("/srv/b")).unwrap().name, "c");
    assert_eq!(all.remove("c").unwrap().name, "c");
    assert!(all.remove("c").is_err());
    assert!(all.require("c").is_err());
    let json = serde_json::to_value(&all).unwrap();
    assert_eq!(json[0]["name"], "Default User");
    let back: Profiles = serde_json::from_value(json).unwrap();
    assert_eq!(back, all);
}
