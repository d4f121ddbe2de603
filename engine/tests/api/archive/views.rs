//! Tests of the views on real files: ZIP round trips, determinism, other
//! readers (`unzip`, Python's `zipfile`), vault round trips, faults and
//! interoperability with the Python reference implementation.

use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use snap_engine::export::*;
use snap_engine::Error;

pub(crate) const PW: &str = "correct horse battery";
pub(crate) const IT: u32 = MIN_ITERATIONS;

/// Reads files of a directory.
pub(crate) struct DirSource(pub PathBuf);

impl ContentSource for DirSource {
    fn open(&self, entry: &ExportEntry) -> snap_engine::Result<Box<dyn Read + '_>> {
        let p = self.0.join(std::ffi::OsStr::from_bytes(&entry.path));
        Ok(Box::new(fs::File::open(&p).map_err(|e| Error::io(&p, e))?))
    }
}

use std::os::unix::ffi::OsStrExt;

/// Describes every entry below `root`.
pub(crate) fn scan(root: &Path) -> Vec<ExportEntry> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let m = fs::symlink_metadata(e.path()).unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        let kind = if m.file_type().is_symlink() {
            ExportKind::Symlink
        } else if m.is_dir() {
            ExportKind::Dir
        } else {
            ExportKind::File
        };
        out.push(ExportEntry {
            path: rel,
            kind,
            mode: m.mode() & 0o7777,
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            size: if kind == ExportKind::File { m.len() } else { 0 },
            link_target: (kind == ExportKind::Symlink).then(|| {
                fs::read_link(e.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            }),
        });
    }
    out
}

fn set_mtime(p: &Path, secs: i64, nsec: i64) {
    use rustix::fs::{utimensat, AtFlags, Timespec, Timestamps, CWD};
    let ts = Timespec {
        tv_sec: secs,
        tv_nsec: nsec as _,
    };
    utimensat(
        CWD,
        p,
        &Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A profile-like tree: JSON settings with secrets, a compressible text, an
/// incompressible blob, an empty directory, a symlink, an executable.
pub(crate) fn make_profile(root: &Path) {
    fs::create_dir_all(root.join("user_images/empty")).unwrap();
    fs::create_dir_all(root.join("cache")).unwrap();
    fs::write(
        root.join("settings.json"),
        br#"{"theme":"dark","fal_api_key":"s3cret","sync":{"oauth_token":"t","n":1}}"#,
    )
    .unwrap();
    fs::write(root.join("notes.txt"), "hello world\n".repeat(5000)).unwrap();
    let mut noise = vec![0u8; 200_000];
    rand::fill(&mut noise[..]);
    fs::write(root.join("user_images/a.bin"), &noise).unwrap();
    fs::write(root.join("cache/tmp.dat"), b"cached").unwrap();
    fs::write(root.join("run.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("empty.txt"), b"").unwrap();
    std::os::unix::fs::symlink("user_images/a.bin", root.join("link")).unwrap();
    for (i, e) in scan(root).iter().enumerate() {
        let p = root.join(std::ffi::OsStr::from_bytes(&e.path));
        set_mtime(&p, 1_700_000_000 + i as i64 * 7, 123_456_789);
    }
}

fn info() -> ExportedSnapshot {
    ExportedSnapshot {
        id: "ab".repeat(32),
        name: "backup-2024-01-01T00-00-00-000Z".into(),
        profile: "prof".into(),
        time_ms: 1_704_067_200_000,
    }
}

pub(crate) fn export_to(root: &Path, opts: &ExportOptions, out: &Path) -> ExportSummary {
    let entries = scan(root);
    let f = fs::File::create(out).unwrap();
    export_zip(&info(), &entries, &DirSource(root.into()), opts, f).unwrap()
}

fn read_all(a: &Archive, e: &ArchiveEntry) -> Vec<u8> {
    let mut v = Vec::new();
    a.read_file(e).read_to_end(&mut v).unwrap();
    v
}

#[test]
fn export_zip_round_trip_and_determinism() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_profile(&src);
    let (z1, z2) = (t.path().join("1.zip"), t.path().join("2.zip"));
    let s = export_to(&src, &ExportOptions::default(), &z1);
    export_to(&src, &ExportOptions::default(), &z2);
    assert_eq!(
        fs::read(&z1).unwrap(),
        fs::read(&z2).unwrap(),
        "exports must be byte-identical"
    );
    assert_eq!(s.summary.files, 6);
    assert_eq!(s.summary.symlinks, 1);
    assert_eq!(s.summary.dirs, 3);

    let a = open_archive(&z1, &ArchiveOptions::default()).unwrap();
    assert_eq!(a.manifest().unwrap().format_version, 1);
    let mut want = scan(&src);
    want.sort_by(|x, y| x.path.cmp(&y.path));
    assert_eq!(a.entries().len(), want.len());
    for (g, w) in a.entries().iter().zip(&want) {
        assert_eq!(g.path, w.path);
        assert_eq!(g.kind, w.kind);
        assert_eq!(g.mtime_ns, w.mtime_ns, "exact mtimes from the manifest");
        assert_eq!(g.link_target, w.link_target);
        if w.kind != ExportKind::Symlink {
            assert_eq!(g.mode, w.mode);
        }
        if w.kind == ExportKind::File {
            assert_eq!(
                read_all(&a, g),
                fs::read(src.join(std::ffi::OsStr::from_bytes(&w.path))).unwrap()
            );
        }
    }
    // Extraction reproduces the tree.
    let dst = t.path().join("dst");
    extract_to(&a, &dst).unwrap();
    let mut got = scan(&dst);
    got.sort_by(|x, y| x.path.cmp(&y.path));
    assert_eq!(got, want);
    // The ZIP's own times are DOS times (2 s precision, UTC).
    let raw = zip::ZipArchive::new(fs::File::open(&z1).unwrap()).unwrap();
    assert_eq!(raw.name_for_index(0).unwrap().unwrap(), "manifest.json");
}

#[test]
fn export_zip_scopes_exclude_and_redact() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_profile(&src);
    let z = t.path().join("s.zip");
    let opts = ExportOptions {
        exclude: vec!["cache".into(), "*.sh".into()],
        redact_keys: vec!["*api_key*".into(), "*token*".into()],
    };
    let s = export_to(&src, &opts, &z);
    assert_eq!(s.excluded, vec!["cache", "cache/tmp.dat", "run.sh"]);
    assert_eq!(
        s.redacted
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        vec!["fal_api_key", "sync/oauth_token"]
    );
    let a = open_archive(&z, &ArchiveOptions::default()).unwrap();
    let m = a.manifest().unwrap();
    assert_eq!(m.excluded, s.excluded);
    assert_eq!(m.redacted, s.redacted);
    let e = a
        .entries()
        .iter()
        .find(|e| e.path == b"settings.json")
        .unwrap();
    let bytes = read_all(&a, e);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v, serde_json::json!({"theme":"dark","sync":{"n":1}}));
    let me = m.files.iter().find(|f| f.path == "settings.json").unwrap();
    assert_eq!(me.size, Some(bytes.len() as u64));
    assert_eq!(
        me.blake3.as_deref(),
        Some(blake3::hash(&bytes).to_hex().as_str())
    );
    assert!(a
        .entries()
        .iter()
        .all(|e| !e.path.starts_with(b"cache") && e.path != b"run.sh"));
}

#[test]
fn export_zip_escapes_names_and_refuses_unclean_paths() {
    let entry = |path: &[u8]| ExportEntry {
        path: path.to_vec(),
        kind: ExportKind::Dir,
        mode: 0o755,
        mtime_ns: 0,
        size: 0,
        link_target: None,
    };
    let mut out = Cursor::new(Vec::new());
    export_zip(
        &info(),
        &[entry(b"bad\xff"), entry(b"a\nb"), entry(b"50%")],
        &DirSource("/nonexistent".into()),
        &ExportOptions::default(),
        &mut out,
    )
    .unwrap();
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("n.zip");
    fs::write(&z, out.into_inner()).unwrap();
    let a = open_archive(&z, &ArchiveOptions::default()).unwrap();
    let m = a.manifest().unwrap();
    assert_eq!(m.format_version, 2, "escaped names need format 2");
    let names: Vec<(&str, Option<&str>)> = m
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.path_hex.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("50%25", Some("353025")),
            ("a%0Ab", Some("610a62")),
            ("bad%FF", Some("626164ff")),
        ]
    );
    let paths: Vec<&[u8]> = a.entries().iter().map(|e| e.path.as_slice()).collect();
    assert_eq!(paths, [&b"50%"[..], b"a\nb", b"bad\xff"]);
    for bad in [&b"a/../b"[..], b"", b"a//b", b"x\0y", b"./x"] {
        let err = export_zip(
            &info(),
            &[entry(bad)],
            &DirSource("/nonexistent".into()),
            &ExportOptions::default(),
            Cursor::new(Vec::new()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{bad:?}: {err}");
    }
}

#[test]
#[ignore = "needs unzip and python3; .ci/run runs it with --include-ignored"]
fn export_zip_read_by_unzip_and_python() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_profile(&src);
    let z = t.path().join("x.zip");
    export_to(&src, &ExportOptions::default(), &z);
    let o = Command::new("unzip")
        .arg("-t")
        .arg(&z)
        .output()
        .expect("needs unzip (apt-get install unzip)");
    assert!(
        o.status.success(),
        "unzip -t: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let script = r#"
import sys, zipfile, hashlib, json, stat
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
out = {}
for i in z.infolist():
    mode = i.external_attr >> 16
    if stat.S_ISLNK(mode):
        out[i.filename] = "link:" + z.read(i).decode()
    elif i.is_dir():
        out[i.filename] = "dir"
    else:
        out[i.filename] = hashlib.sha256(z.read(i)).hexdigest()
print(json.dumps(out, sort_keys=True))
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&z)
        .output()
        .expect("needs python3 (apt-get install python3)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&o.stdout).unwrap();
    use sha2::Digest;
    for e in scan(&src) {
        let p = String::from_utf8(e.path.clone()).unwrap();
        let want = match e.kind {
            ExportKind::Dir => "dir".to_string(),
            ExportKind::Symlink => format!(
                "link:{}",
                String::from_utf8(e.link_target.unwrap()).unwrap()
            ),
            ExportKind::File => hex::encode(sha2::Sha256::digest(fs::read(src.join(&p)).unwrap())),
        };
        let key = if e.kind == ExportKind::Dir {
            format!("files/{p}/")
        } else {
            format!("files/{p}")
        };
        assert_eq!(got.get(&key), Some(&want), "{key}");
    }
    assert!(got.contains_key("manifest.json"));
}

#[test]
fn import_foreign_zip_and_newer_manifest() {
    let t = tempfile::tempdir().unwrap();
    // A foreign ZIP (files at the root, like the seeds' app backups).
    let z = t.path().join("app.zip");
    {
        let mut w = zip::ZipWriter::new(fs::File::create(&z).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        w.start_file("inventory_data.json", o).unwrap();
        std::io::Write::write_all(&mut w, b"[1,2,3]").unwrap();
        w.add_directory("user_images/", o).unwrap();
        w.start_file("user_images/x.png", o).unwrap();
        std::io::Write::write_all(&mut w, b"PNG").unwrap();
        w.finish().unwrap();
    }
    let a = open_archive(&z, &ArchiveOptions::default()).unwrap();
    assert!(a.manifest().is_none());
    let paths: Vec<_> = a.entries().iter().map(|e| e.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            b"inventory_data.json".to_vec(),
            b"user_images".to_vec(),
            b"user_images/x.png".to_vec()
        ]
    );
    assert_eq!(read_all(&a, &a.entries()[0]), b"[1,2,3]");
    // A manifest from the future.
    let z2 = t.path().join("future.zip");
    {
        let mut w = zip::ZipWriter::new(fs::File::create(&z2).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        w.start_file("manifest.json", o).unwrap();
        let m = r#"{"format_version":3,"tool":"snap","tool_version":"9","platform":"linux","snapshot":{"id":"x","name":"n","profile":"p","time":"t","time_ms":0},"summary":{"files":0,"dirs":0,"symlinks":0,"bytes":0},"files":[],"new_stuff":[1]}"#;
        std::io::Write::write_all(&mut w, m.as_bytes()).unwrap();
        w.start_file("extra/thing", o).unwrap();
        w.finish().unwrap();
    }
    let err = open_archive(&z2, &ArchiveOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Format { detail, .. } if detail.contains("format_version 3 is newer")),
        "{err}"
    );
    let a = open_archive(
        &z2,
        &ArchiveOptions {
            force: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(a.skipped(), ["extra/thing"]);
}

#[test]
fn export_zip_methods_times_and_no_clock() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_profile(&src);
    let z = t.path().join("m.zip");
    export_to(&src, &ExportOptions::default(), &z);
    let mut raw = zip::ZipArchive::new(fs::File::open(&z).unwrap()).unwrap();
    let method =
        |raw: &mut zip::ZipArchive<fs::File>, n: &str| raw.by_name(n).unwrap().compression();
    assert_eq!(
        method(&mut raw, "files/notes.txt"),
        zip::CompressionMethod::Deflated
    );
    assert_eq!(
        method(&mut raw, "files/user_images/a.bin"),
        zip::CompressionMethod::Stored
    );
    assert_eq!(
        method(&mut raw, "files/link"),
        zip::CompressionMethod::Stored
    );
}

/// No extra fields (no extended timestamps that could carry a clock), as
/// Python's `zipfile` reads them.
#[test]
#[ignore = "needs python3; .ci/run runs it with --include-ignored"]
fn export_zip_has_no_extra_fields_per_python() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_profile(&src);
    let z = t.path().join("m.zip");
    export_to(&src, &ExportOptions::default(), &z);
    let o = Command::new("python3")
        .args(["-c", "import sys,zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.date_time, len(i.extra))"])
        .arg(&z)
        .output()
        .expect("needs python3 (apt-get install python3)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.lines().all(|l| l.ends_with(" 0")), "{s}");
    // The manifest has the snapshot's time; files their own (1_700_000_000 s
    // is 2023-11-14 22:13:20 UTC; DOS keeps even seconds).
    assert!(s.contains("manifest.json (2024, 1, 1, 0, 0, 0) 0"), "{s}");
    assert!(
        s.lines()
            .skip(1)
            .all(|l| l.contains("(2023, 11, 14, 22, 1")),
        "{s}"
    );
}

#[test]
#[ignore = "needs zip and python3; .ci/run runs it with --include-ignored"]
fn import_zips_made_by_other_tools() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("app");
    fs::create_dir_all(src.join("user_images/été")).unwrap();
    fs::write(src.join("settings.json"), b"{\"a\":1}").unwrap();
    fs::write(src.join("user_images/été/x.png"), vec![9u8; 70_000]).unwrap();
    std::os::unix::fs::symlink("settings.json", src.join("ln")).unwrap();
    let mut made = Vec::new();
    // Info-ZIP (extended timestamps, unix extra fields, symlinks kept).
    let z1 = t.path().join("infozip.zip");
    let o = Command::new("zip")
        .current_dir(&src)
        .args(["-q", "-r", "-y"])
        .arg(&z1)
        .arg(".")
        .output()
        .expect("needs zip (apt-get install zip)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    made.push(z1);
    // Python's zipfile (deflate, no symlinks).
    let z2 = t.path().join("py.zip");
    let script = "import sys,zipfile,os\nz=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED)\nfor p in ['settings.json','user_images/été/x.png']: z.write(os.path.join(sys.argv[2],p),p)\nz.close()";
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&z2)
        .arg(&src)
        .output()
        .expect("needs python3 (apt-get install python3)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    made.push(z2);
    for z in made {
        let a = open_archive(&z, &ArchiveOptions::default()).unwrap();
        let png = a
            .entries()
            .iter()
            .find(|e| e.path == "user_images/été/x.png".as_bytes())
            .unwrap();
        assert_eq!(read_all(&a, png), vec![9u8; 70_000]);
        let dst = t
            .path()
            .join(format!("out-{}", z.file_name().unwrap().to_string_lossy()));
        extract_to(&a, &dst).unwrap();
        assert_eq!(fs::read(dst.join("settings.json")).unwrap(), b"{\"a\":1}");
        if let Some(l) = a.entries().iter().find(|e| e.path == b"ln") {
            assert_eq!(l.kind, ExportKind::Symlink);
            assert_eq!(
                fs::read_link(dst.join("ln")).unwrap(),
                Path::new("settings.json")
            );
        }
    }
}

/// Empty file content (the 1 GiB peak-memory measurement is
/// `examples/export_memory.rs`).
struct Empty;

impl ContentSource for Empty {
    fn open(&self, _: &ExportEntry) -> snap_engine::Result<Box<dyn Read + '_>> {
        Ok(Box::new(std::io::empty()))
    }
}

#[test]
fn import_reads_zip64_records() {
    let t = tempfile::tempdir().unwrap();
    // 70 000 entries: the entry count needs the ZIP64 end record.
    let entries: Vec<ExportEntry> = (0..70_000)
        .map(|i| ExportEntry {
            path: format!("d/{i:05}").into_bytes(),
            kind: ExportKind::File,
            mode: 0o600,
            mtime_ns: 0,
            size: 0,
            link_target: None,
        })
        .collect();
    let z = t.path().join("many.zip");
    export_zip(
        &info(),
        &entries,
        &Empty,
        &ExportOptions::default(),
        fs::File::create(&z).unwrap(),
    )
    .unwrap();
    let bytes = fs::read(&z).unwrap();
    assert_eq!(
        &bytes[bytes.len() - 12..bytes.len() - 10],
        &[0xff, 0xff],
        "ZIP64 end record used"
    );
    let a = open_archive(&z, &ArchiveOptions::default()).unwrap();
    assert_eq!(a.entries().len(), 70_000);
    assert_eq!(a.entries()[69_999].path, b"d/69999");
    // ZIP64 extra fields on a small file (what a >= 4 GiB file gets).
    let z2 = t.path().join("z64.zip");
    let mut w = zip::ZipWriter::new(fs::File::create(&z2).unwrap());
    w.start_file(
        "f",
        zip::write::SimpleFileOptions::default().large_file(true),
    )
    .unwrap();
    std::io::Write::write_all(&mut w, b"zip64 sizes").unwrap();
    w.finish().unwrap();
    let a = open_archive(&z2, &ArchiveOptions::default()).unwrap();
    assert_eq!(read_all(&a, &a.entries()[0]), b"zip64 sizes");
}

#[test]
fn import_verifies_files_against_manifest() {
    let t = tempfile::tempdir().unwrap();
    let make = |name: &str, hash: &str, size: u64, extra: Option<&str>| {
        let z = t.path().join(name);
        let mut w = zip::ZipWriter::new(fs::File::create(&z).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        let m = format!(
            r#"{{"format_version":1,"tool":"snap","tool_version":"0","platform":"linux","snapshot":{{"id":"x","name":"n","profile":"p","time":"t","time_ms":0}},"summary":{{"files":1,"dirs":0,"symlinks":0,"bytes":{size}}},"files":[{{"path":"a","kind":"file","mode":420,"mtime_ns":5,"size":{size},"blake3":"{hash}"}}{}]}}"#,
            extra.unwrap_or("")
        );
        w.start_file("manifest.json", o).unwrap();
        std::io::Write::write_all(&mut w, m.as_bytes()).unwrap();
        w.start_file("files/a", o).unwrap();
        std::io::Write::write_all(&mut w, b"hello").unwrap();
        w.finish().unwrap();
        z
    };
    let good = blake3::hash(b"hello").to_hex().to_string();
    let a = open_archive(&make("ok.zip", &good, 5, None), &ArchiveOptions::default()).unwrap();
    assert_eq!(a.entries()[0].mtime_ns, 5);
    assert_eq!(read_all(&a, &a.entries()[0]), b"hello");
    // Wrong blake3: refused at the end of the stream, and by extract_to.
    let a = open_archive(
        &make("bad.zip", &blake3::hash(b"x").to_hex(), 5, None),
        &ArchiveOptions::default(),
    )
    .unwrap();
    let err = a
        .read_file(&a.entries()[0])
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert!(
        matches!(a.map_read_error(&a.entries()[0], err), Error::Unsafe { ref reason, .. } if reason.contains("blake3"))
    );
    let dst = t.path().join("dst");
    assert!(matches!(extract_to(&a, &dst), Err(Error::Unsafe { .. })));
    assert!(!dst.exists());
    // Size disagreeing with the manifest; listed file missing from the ZIP.
    let err = open_archive(
        &make("size.zip", &good, 6, None),
        &ArchiveOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Unsafe { entry, .. } if entry == "files/a"),
        "{err}"
    );
    let missing = r#",{"path":"b","kind":"file","mode":420,"mtime_ns":0,"size":1,"blake3":"00"}"#;
    let err = open_archive(
        &make("missing.zip", &good, 5, Some(missing)),
        &ArchiveOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Format { detail, .. } if detail.contains("\"b\"")),
        "{err}"
    );
}
