//! Trees on disk: generators (every kind of entry), ages, comparison that
//! names the first difference, copies, and what a restore leaves behind.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use super::noise;

/// Writes `data` to `root/rel`, creating parent directories.
pub fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, data).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
}

/// Sets the mtime of `p` (file or directory, not following symlinks for
/// files) to `secs_ago` seconds before now, with a non-zero nanosecond part.
pub fn set_mtime_ago(p: &Path, secs_ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs_ago) + Duration::from_nanos(123_456_789);
    let f = File::open(p).unwrap_or_else(|e| panic!("opening {}: {e}", p.display()));
    f.set_modified(t)
        .unwrap_or_else(|e| panic!("setting mtime of {}: {e}", p.display()));
}

/// Sets every file's and directory's mtime under `root` (not symlinks) to
/// `secs_ago` in the past, children before parents.
pub fn age_tree(root: &Path, secs_ago: u64) {
    for ent in fs::read_dir(root).expect("read_dir").flatten() {
        let ft = ent.file_type().expect("file type");
        if ft.is_dir() {
            age_tree(&ent.path(), secs_ago);
        } else if ft.is_file() {
            set_mtime_ago(&ent.path(), secs_ago);
        }
    }
    set_mtime_ago(root, secs_ago);
}

/// Builds a tree with every kind of entry: empty files, a 5 MB file (far
/// larger than the biggest chunk), empty directories, nested and dangling
/// symlinks, modes 0600/0755/0700, a non-UTF-8 name, and `small` small files.
pub fn every_kind_tree(root: &Path, small: usize) {
    fs::create_dir_all(root).expect("mkdir root");
    write(root, "empty", b"");
    write(root, "a/b/c/empty-deep", b"");
    write(root, "big.bin", &noise(1, 5 * 1024 * 1024));
    let mut text = Vec::new();
    for i in 0..20_000 {
        writeln!(text, "{{\"key{i}\": {i}}}").expect("vec write");
    }
    write(root, "settings.json", &text);
    fs::create_dir_all(root.join("empty-dir")).expect("mkdir");
    fs::create_dir_all(root.join("a/empty-nested")).expect("mkdir");
    std::os::unix::fs::symlink("../settings.json", root.join("a/link-up")).expect("symlink");
    std::os::unix::fs::symlink("b/c", root.join("a/link-dir")).expect("symlink");
    std::os::unix::fs::symlink("link-dir/empty-deep", root.join("a/link-to-link"))
        .expect("symlink");
    std::os::unix::fs::symlink("does/not/exist", root.join("dangling")).expect("symlink");
    write(root, "secret", b"0600");
    fs::set_permissions(root.join("secret"), fs::Permissions::from_mode(0o600)).expect("chmod");
    write(root, "tool.sh", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(root.join("tool.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    write(root, "private/key", b"k");
    fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o700)).expect("chmod");
    let latin1 = root.join(OsStr::from_bytes(b"caf\xe9"));
    fs::write(&latin1, b"latin-1 name").expect("non-UTF-8 name");
    fs::create_dir(root.join(OsStr::from_bytes(b"dir-\xff\xfe"))).expect("non-UTF-8 dir");
    fs::write(
        root.join(OsStr::from_bytes(b"dir-\xff\xfe")).join("inside"),
        b"x",
    )
    .expect("write");
    for i in 0..small {
        write(
            root,
            &format!("many/{:02}/f{i}.txt", i % 50),
            format!("small file {i}\n").as_bytes(),
        );
    }
}

/// Compares two trees entry by entry: kind, permission bits, mtime (ns),
/// size and content of files, symlink targets. The roots' own metadata is
/// not compared. Returns the first difference, naming the path.
pub fn compare_trees(a: &Path, b: &Path) -> Result<(), String> {
    compare_dir(a, b, Path::new(""))
}

fn compare_dir(a: &Path, b: &Path, rel: &Path) -> Result<(), String> {
    let names = |d: &Path| -> Result<Vec<OsString>, String> {
        let mut v: Vec<OsString> = fs::read_dir(d)
            .map_err(|e| format!("cannot list {}: {e}", d.display()))?
            .map(|e| e.map(|e| e.file_name()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        v.sort();
        Ok(v)
    };
    let (na, nb) = (names(a)?, names(b)?);
    if na != nb {
        let only_a: Vec<_> = na.iter().filter(|n| !nb.contains(n)).collect();
        let only_b: Vec<_> = nb.iter().filter(|n| !na.contains(n)).collect();
        return Err(format!(
            "{}: entries differ; only in {}: {only_a:?}; only in {}: {only_b:?}",
            rel.display(),
            a.display(),
            b.display()
        ));
    }
    for n in &na {
        let (pa, pb, r) = (a.join(n), b.join(n), rel.join(n));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).map_err(|e| format!("{}: {e}", pa.display()))?,
            fs::symlink_metadata(&pb).map_err(|e| format!("{}: {e}", pb.display()))?,
        );
        let diff = |what: &str, x: String, y: String| {
            Err(format!("{}: {what} differs: {x} vs {y}", r.display()))
        };
        if ma.file_type() != mb.file_type() {
            return diff(
                "kind",
                format!("{:?}", ma.file_type()),
                format!("{:?}", mb.file_type()),
            );
        }
        if ma.file_type().is_symlink() {
            let (ta, tb) = (fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
            if ta != tb {
                return diff(
                    "link target",
                    ta.display().to_string(),
                    tb.display().to_string(),
                );
            }
        } else if (ma.mode() & 0o7777) != (mb.mode() & 0o7777) {
            return diff(
                "mode",
                format!("{:o}", ma.mode() & 0o7777),
                format!("{:o}", mb.mode() & 0o7777),
            );
        }
        let (ta, tb) = (
            ma.mtime() as i128 * 1_000_000_000 + ma.mtime_nsec() as i128,
            mb.mtime() as i128 * 1_000_000_000 + mb.mtime_nsec() as i128,
        );
        if ta != tb {
            return diff("mtime (ns)", ta.to_string(), tb.to_string());
        }
        if ma.is_file() {
            if ma.len() != mb.len() {
                return diff("size", ma.len().to_string(), mb.len().to_string());
            }
            let (ca, cb) = (fs::read(&pa).unwrap(), fs::read(&pb).unwrap());
            if let Some(i) = ca.iter().zip(&cb).position(|(x, y)| x != y) {
                return Err(format!("{}: content differs at byte {i}", r.display()));
            }
        } else if ma.is_dir() {
            compare_dir(&pa, &pb, &r)?;
        }
    }
    Ok(())
}

/// Panics with the first difference between two trees.
#[track_caller]
pub fn assert_same_tree(a: &Path, b: &Path) {
    if let Err(e) = compare_trees(a, b) {
        panic!(
            "trees differ: {} vs {}\nfirst difference: {e}",
            a.display(),
            b.display()
        );
    }
}

/// Copies a tree with its modes, mtimes and symlinks (`cp -a`).
pub fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp -a");
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// The staging directories (`.NAME.snap-staging-*`) beside `profile`.
pub fn staging_dirs(profile: &Path) -> Vec<PathBuf> {
    let name = profile.file_name().expect("name").to_string_lossy();
    let prefix = format!(".{name}.snap-staging-");
    fs::read_dir(profile.parent().expect("parent"))
        .expect("read_dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Whether the tests run as root (where permission bits do not stop reads).
pub fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Every file under `dir` (recursively), as paths relative to it.
pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten() {
                let r = rel.join(e.file_name());
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), &r, out);
                } else {
                    out.push(r);
                }
            }
        }
    }
    walk(dir, Path::new(""), &mut out);
    out.sort();
    out
}
