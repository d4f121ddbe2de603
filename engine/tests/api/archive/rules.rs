//! The archive rules of issue 10 on hand-built archives: symlinks are data
//! (with warnings), privilege bits are dropped (with warnings), honest
//! compression ratios pass while overlaps still refuse, hostile
//! `path_hex`/`target_hex` in a manifest refuse, StakTrakr payloads.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use snap_engine::export::testing::*;
use snap_engine::export::*;
use snap_engine::Error;

fn open(t: &Path, name: &str, bytes: &[u8]) -> snap_engine::Result<Archive> {
    let z = t.join(name);
    fs::write(&z, bytes).unwrap();
    open_archive(&z, &ArchiveOptions::default())
}

#[test]
fn symlinks_are_data_whatever_their_target() {
    let t = tempfile::tempdir().unwrap();
    let a = open(
        t.path(),
        "links.zip",
        &build(&[
            file(b"d/", b""),
            file(b"d/f", b"x"),
            link(b"abs", b"/etc/passwd"),
            link(b"up", b"../../outside"),
            link(b"d/dangling", b"nothing-here"),
            link(b"d/inside", b"../d/f"),
            link(b"chain", b"d/inside/.."),
            link(b"ctl", b"a\nb"),
        ]),
    )
    .unwrap();
    let w = a.warnings().join("\n");
    assert!(w.contains("abs: symlink to /etc/passwd is absolute"), "{w}");
    assert!(
        w.contains("up: symlink to ../../outside leaves the tree"),
        "{w}"
    );
    assert!(
        w.contains("d/dangling: symlink to nothing-here points at nothing"),
        "{w}"
    );
    assert!(!w.contains("d/inside"), "{w}");
    let out = t.path().join("out");
    extract_to(&a, &out).unwrap();
    for (l, target) in [
        ("abs", &b"/etc/passwd"[..]),
        ("up", b"../../outside"),
        ("d/dangling", b"nothing-here"),
        ("chain", b"d/inside/.."),
        ("ctl", b"a\nb"),
    ] {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            fs::read_link(out.join(l)).unwrap().as_os_str().as_bytes(),
            target,
            "{l}"
        );
    }
    assert_eq!(fs::read(out.join("d/inside")).unwrap(), b"x");
    assert!(!t.path().join("outside").exists());
}

#[test]
fn privilege_bits_are_dropped_with_warnings() {
    let t = tempfile::tempdir().unwrap();
    let with_mode = |name: &[u8], mode: u32| Raw {
        mode,
        ..file(name, b"#!/bin/sh\n")
    };
    let dir = |name: &[u8], mode: u32| Raw {
        mode,
        ..file(name, b"")
    };
    let a = open(
        t.path(),
        "suid.zip",
        &build(&[
            with_mode(b"suid", 0o104755),
            with_mode(b"sgid", 0o102755),
            dir(b"sticky/", 0o041777),
            with_mode(b"plain", 0o100750),
        ]),
    )
    .unwrap();
    let w = a.warnings().join("\n");
    for (name, mode) in [("suid", "4755"), ("sgid", "2755"), ("sticky", "1777")] {
        assert!(
            w.contains(&format!("{name}: dropped")) && w.contains(mode),
            "{w}"
        );
    }
    assert!(!w.contains("plain"), "{w}");
    let out = t.path().join("out");
    extract_to(&a, &out).unwrap();
    let mode = |p: &str| {
        fs::symlink_metadata(out.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("suid"), 0o755);
    assert_eq!(mode("sgid"), 0o755);
    assert_eq!(mode("sticky"), 0o777);
    assert_eq!(mode("plain"), 0o750);
}

#[test]
fn honest_ratios_pass_and_overlaps_still_refuse() {
    let t = tempfile::tempdir().unwrap();
    // 8 MiB of zeros deflate about 1030:1: data, not a bomb.
    let zeros = vec![0u8; 8 << 20];
    let a = open(
        t.path(),
        "zeros.zip",
        &build(&[deflated(b"zeros.img", &zeros)]),
    )
    .unwrap();
    assert!(a.entries()[0].size == zeros.len() as u64);
    let out = t.path().join("out");
    extract_to(&a, &out).unwrap();
    assert_eq!(fs::read(out.join("zeros.img")).unwrap(), zeros);
    // Two stored entries (ratio 1:1) sharing their data: refused.
    let x = file(b"x", &[b'a'; 8192]);
    let y = file(b"y", &[b'a'; 4096]);
    let mut bytes = local_header(&x);
    let data_at = bytes.len();
    bytes.extend_from_slice(&x.data);
    // y's local header sits inside x's data.
    let yh = local_header(&y);
    bytes[data_at..data_at + yh.len()].copy_from_slice(&yh);
    let cd = [central(&x, 0), central(&y, data_at as u32)].concat();
    let off = bytes.len() as u32;
    bytes.extend_from_slice(&cd);
    bytes.extend(eocd(2, cd.len() as u32, off));
    let err = open(t.path(), "overlap.zip", &bytes).unwrap_err();
    assert!(
        matches!(&err, Error::Unsafe { entry, reason, .. } if entry == "y" && reason.contains("overlaps")),
        "{err}"
    );
    // The total limit can be raised or lowered.
    let z = t.path().join("zeros.zip");
    let small = ArchiveOptions {
        max_total: 1 << 20,
        ..Default::default()
    };
    let err = open_archive(&z, &small).unwrap_err();
    assert!(err.to_string().contains("--max-size"), "{err}");
}

/// A snap ZIP whose manifest is written by hand.
fn snap_zip(files_json: &str, entries: Vec<Raw>) -> Vec<u8> {
    let m = format!(
        r#"{{"format_version":2,"tool":"snap","tool_version":"0","platform":"linux","snapshot":{{"id":"x","name":"n","profile":"p","time":"t","time_ms":0}},"summary":{{"files":0,"dirs":0,"symlinks":0,"bytes":0}},"files":[{files_json}]}}"#
    );
    let mut all = vec![file(b"manifest.json", m.as_bytes())];
    all.extend(entries);
    build(&all)
}

#[test]
fn hostile_manifest_names_refuse() {
    let t = tempfile::tempdir().unwrap();
    let h = blake3::hash(b"x").to_hex();
    let f = |path: &str, hex: &str| {
        format!(
            r#"{{"path":"{path}","path_hex":"{hex}","kind":"file","mode":420,"mtime_ns":0,"size":1,"blake3":"{h}"}}"#
        )
    };
    for (files, name, why) in [
        // path_hex that is not the name's bytes.
        (f("a", "62"), "files/a", "path_hex disagrees"),
        // path_hex escaping the tree, under a name that escapes to it.
        (
            f("..%2Fx", "2e2e2f78"),
            "files/..%2Fx",
            "path_hex disagrees",
        ),
        (f("%2E%2E", "2e2e"), "files/%2E%2E", "path_hex disagrees"),
        (f("x%00", "7800"), "files/x%00", "not a clean relative path"),
    ] {
        let bytes = snap_zip(&files, vec![file(name.as_bytes(), b"x")]);
        let err = open(t.path(), "m.zip", &bytes).unwrap_err();
        assert!(
            matches!(&err, Error::Unsafe { entry, reason, .. } if entry == name && reason.contains(why)),
            "{files}: {err}"
        );
    }
    let l = r#"{"path":"l","kind":"symlink","mode":511,"mtime_ns":0,"target":"t","target_hex":"2f6574632f706173737764"}"#;
    let bytes = snap_zip(l, vec![link(b"files/l", b"t")]);
    let err = open(t.path(), "l.zip", &bytes).unwrap_err();
    assert!(err.to_string().contains("target_hex disagrees"), "{err}");
}

#[test]
fn profile_names_lose_their_date_stamps() {
    use snap_engine::commands::import::strip_date_stamp as s;
    for (stem, want) in [
        ("mahpastes-backup-2026-02-04", "mahpastes-backup"),
        ("precious_metals_backup_20260204", "precious_metals_backup"),
        ("backup-2026-02-04T15-30-00-000Z", "backup"),
        ("app 2026-02-04 15.30", "app"),
        ("app-2026-02-04_153000", "app"),
        ("app-2026-02-04T15:30:00Z", "app"),
        ("app.2026.02.04", "app"),
        ("2026-02-04", "2026-02-04"),
        ("app-v2", "app-v2"),
        ("app-2026-13-04", "app-2026-13-04"),
        ("app-20260204-extra", "app-20260204-extra"),
        ("app-12345678", "app-12345678"),
        ("staktrakr", "staktrakr"),
    ] {
        assert_eq!(s(stem), want, "{stem}");
    }
}

#[test]
fn staktrakr_payload_decodes_and_encodes() {
    let json = r#"{"_meta":{"appVersion":"3.33.19","exportTimestamp":"2026-02-04T15:30:00.000Z","scope":"full","checksum":"sh:0"},"data":{"metalInventory":"[{\"n\":1}]","a/b":"slash","..":"dots","100%":"pct"}}"#;
    let d = staktrakr::decode(json.as_bytes(), Path::new("v.stvault")).unwrap();
    let names: Vec<&[u8]> = d.entries.iter().map(|e| e.path.as_slice()).collect();
    assert_eq!(
        names,
        [
            &b"metalInventory"[..],
            b"a%2Fb",
            b"%2E%2E",
            b"100%25",
            b".staktrakr-meta.json"
        ]
    );
    assert_eq!(d.contents[0], br#"[{"n":1}]"#);
    assert_eq!(d.time_ms, 1_770_219_000_000);
    assert!(
        d.warnings[0].contains("checksum sh:0 differs"),
        "{:?}",
        d.warnings
    );
    let out = staktrakr::encode(&ExportedSnapshot::default(), &d.entries, &d).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let data = staktrakr::data_json(&[
        ("..".into(), "dots".into()),
        ("100%".into(), "pct".into()),
        ("a/b".into(), "slash".into()),
        ("metalInventory".into(), r#"[{"n":1}]"#.into()),
    ]);
    assert!(String::from_utf8_lossy(&out).ends_with(&format!(r#","data":{data}}}"#)));
    assert_eq!(
        v["_meta"]["checksum"],
        staktrakr::simple_hash(&data).as_str()
    );
    assert_eq!(v["_meta"]["appVersion"], "3.33.19");
    assert_eq!(v["_meta"]["exportTimestamp"], "2026-02-04T15:30:00.000Z");
    for bad in [
        r#"{"data":{"k":1}}"#,
        r#"{"data":{"":"x"}}"#,
        r#"{"_meta":{}}"#,
        r#"{"_meta":[],"data":{}}"#,
        r#"{"data":{".staktrakr-meta.json":"x"}}"#,
    ] {
        assert!(
            matches!(
                staktrakr::decode(bad.as_bytes(), Path::new("v")),
                Err(Error::Format { .. })
            ),
            "{bad}"
        );
    }
    let dir = ExportEntry {
        path: b"sub".to_vec(),
        kind: ExportKind::Dir,
        mode: 0o755,
        mtime_ns: 0,
        size: 0,
        link_target: None,
    };
    let err = staktrakr::encode(&ExportedSnapshot::default(), &[dir], &d).unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");
}
