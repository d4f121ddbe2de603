//! Awkward names through the real binary, read back by four independent
//! ZIP readers (Python's `zipfile`, Info-ZIP `unzip`, libarchive `bsdtar`,
//! 7-Zip `7z`): each lists the same names, kinds and bytes as the
//! manifest; and `import` / `restore FILE` bring the exact names back.
//!
//! The readers come from Debian packages (`unzip`, `libarchive-tools`,
//! `p7zip-full`) that `.ci/run` installs; the test fails when one is
//! missing.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use super::{python, stdout_json, Env};
use crate::util::assert_same_tree;

/// A profile whose names a ZIP cannot hold as they are.
fn awkward_tree(root: &Path) {
    let p = |n: &[u8]| root.join(OsStr::from_bytes(n));
    std::fs::create_dir_all(p(b"dir with space/sub\x01dir")).unwrap();
    std::fs::create_dir_all(p(b"empty\x7f")).unwrap();
    for (name, data) in [
        (&b"plain.txt"[..], &b"plain\n"[..]),
        ("caf\u{e9} \u{1F4B0}.json".as_bytes(), b"{\"k\":1}"),
        (b"line\nbreak", b"newline in the name"),
        (b"tab\there", b"tab"),
        (b"bad\xff\xfe", b"not UTF-8"),
        (b"100%.txt", b"percent"),
        (b"%41", b"looks escaped"),
        (b"back\\slash", b"backslash"),
        (
            b"dir with space/sub\x01dir/inner\x1b[31m",
            b"escape sequence",
        ),
        (b"empty-file", b""),
    ] {
        std::fs::write(p(name), data).unwrap();
    }
    std::fs::write(p(b"zeros.img"), vec![0u8; 3 << 20]).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p(b"abs-link")).unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"\xffno\ntarget"), p(b"odd-link")).unwrap();
    std::os::unix::fs::symlink("plain.txt", p(b"rel-link")).unwrap();
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Dir,
    File(Vec<u8>),
    Link(Vec<u8>),
}

/// What the manifest says the ZIP holds: every name (`files/` + escaped
/// path, `manifest.json`, `files`) with its kind and bytes, the bytes taken
/// from the original tree through the exact path (`path_hex`).
fn expected(manifest: &serde_json::Value, root: &Path) -> BTreeMap<Vec<u8>, Item> {
    let mut want = BTreeMap::new();
    want.insert(b"files".to_vec(), Item::Dir);
    for f in manifest["files"].as_array().unwrap() {
        let name = format!("files/{}", f["path"].as_str().unwrap()).into_bytes();
        let exact = match f["path_hex"].as_str() {
            Some(h) => hex_decode(h),
            None => f["path"].as_str().unwrap().as_bytes().to_vec(),
        };
        let orig = root.join(OsStr::from_bytes(&exact));
        let item = match f["kind"].as_str().unwrap() {
            "dir" => Item::Dir,
            "file" => Item::File(std::fs::read(&orig).unwrap()),
            _ => Item::Link(f["target"].as_str().unwrap().as_bytes().to_vec()),
        };
        want.insert(name, item);
    }
    want
}

fn hex_decode(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// Everything under `dir` (not following links), by relative path bytes.
fn walk(dir: &Path, rel: &[u8], out: &mut BTreeMap<Vec<u8>, Item>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let mut r = rel.to_vec();
        if !r.is_empty() {
            r.push(b'/');
        }
        r.extend_from_slice(e.file_name().as_bytes());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.insert(r.clone(), Item::Dir);
            walk(&e.path(), &r, out);
        } else if ft.is_symlink() {
            let t = std::fs::read_link(e.path()).unwrap();
            out.insert(r, Item::Link(t.as_os_str().as_bytes().to_vec()));
        } else {
            out.insert(r, Item::File(std::fs::read(e.path()).unwrap()));
        }
    }
}

/// The first name whose presence, kind or bytes differ, readably.
fn first_difference(
    got: &BTreeMap<Vec<u8>, Item>,
    want: &BTreeMap<Vec<u8>, Item>,
) -> Option<String> {
    let show = |n: &[u8]| String::from_utf8_lossy(n).into_owned();
    let brief = |i: &Item| match i {
        Item::Dir => "dir".to_string(),
        Item::File(b) => format!("file of {} bytes", b.len()),
        Item::Link(t) => format!("symlink to {:?}", show(t)),
    };
    for (name, item) in want {
        match got.get(name) {
            None => return Some(format!("{:?} is missing", show(name))),
            Some(g) if g != item => {
                return Some(format!(
                    "{:?}: {} instead of {}",
                    show(name),
                    brief(g),
                    brief(item)
                ))
            }
            _ => {}
        }
    }
    got.keys()
        .find(|n| !want.contains_key(*n))
        .map(|n| format!("{:?} is not in the manifest", show(n)))
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("{what} is not installed ({e}); .ci/run installs it"));
    assert!(
        out.status.success(),
        "{what} failed\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Python's `zipfile`, listing instead of extracting (its `extractall`
/// writes symlinks as files): name → kind and bytes.
fn python_listing(zip: &Path) -> BTreeMap<Vec<u8>, Item> {
    let py = r#"
import sys, zipfile, json
out = []
for i in zipfile.ZipFile(sys.argv[1]).infolist():
    kind = (i.external_attr >> 16) & 0o170000
    data = b"" if i.is_dir() else zipfile.ZipFile(sys.argv[1]).read(i)
    k = "dir" if i.is_dir() else ("link" if kind == 0o120000 else "file")
    out.append([i.filename.rstrip("/"), k, data.hex()])
print(json.dumps(out))
"#;
    let out = python(py, &[zip]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut m = BTreeMap::new();
    for e in v.as_array().unwrap() {
        let data = hex_decode(e[2].as_str().unwrap());
        let item = match e[1].as_str().unwrap() {
            "dir" => Item::Dir,
            "link" => Item::Link(data),
            _ => Item::File(data),
        };
        m.insert(e[0].as_str().unwrap().as_bytes().to_vec(), item);
    }
    m
}

#[test]
fn views_four_readers_agree_with_the_manifest_on_awkward_names() {
    let env = Env::new();
    let root = env.path("app");
    awkward_tree(&root);
    env.expect(&["create", "app"], 0);
    let digest = env.snapshots()[0]["content_digest"].clone();
    env.expect(&["export", "latest", "--zip", "a.zip"], 0);
    let zip = env.path("a.zip");

    // The manifest, as Python reads it.
    let py = "import sys,zipfile;sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('manifest.json'))";
    let manifest_bytes = python(py, &[&zip]);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["format_version"], 2, "escaped names: format 2");
    let mut want = expected(&manifest, &root);
    assert!(!want.is_empty());
    assert!(want.contains_key(&b"files/line%0Abreak"[..]), "{want:?}");
    assert!(want.contains_key(&b"files/bad%FF%FE"[..]));
    assert!(want.contains_key(&b"files/%2541"[..]));
    assert_eq!(
        want.get(&b"files/odd-link"[..]),
        Some(&Item::Link(b"%FFno%0Atarget".to_vec()))
    );

    want.insert(b"manifest.json".to_vec(), Item::File(manifest_bytes));
    // Python lists entries; the extractors also make the implied `files`.
    let mut listed = python_listing(&zip);
    listed.insert(b"files".to_vec(), Item::Dir);
    if let Some(d) = first_difference(&listed, &want) {
        panic!("Python zipfile disagrees with the manifest: {d}");
    }

    let readers: [(&str, Vec<&OsStr>); 3] = [
        (
            "unzip",
            vec![OsStr::new("-q"), zip.as_os_str(), OsStr::new("-d")],
        ),
        (
            "bsdtar",
            vec![OsStr::new("-xf"), zip.as_os_str(), OsStr::new("-C")],
        ),
        (
            "7z",
            vec![OsStr::new("x"), OsStr::new("-y"), zip.as_os_str()],
        ),
    ];
    for (tool, args) in readers {
        let dir = env.path(&format!("x-{tool}"));
        std::fs::create_dir(&dir).unwrap();
        let mut cmd = Command::new(tool);
        cmd.args(args);
        if tool == "7z" {
            let mut o = std::ffi::OsString::from("-o");
            o.push(&dir);
            cmd.arg(o);
        } else {
            cmd.arg(&dir);
        }
        run(&mut cmd, tool);
        let mut got = BTreeMap::new();
        walk(&dir, b"", &mut got);
        if tool == "7z" {
            // 7-Zip rebases absolute symlink targets under the output
            // folder (its own safety rule): take that prefix off again.
            let prefix = dir.as_os_str().as_bytes();
            for item in got.values_mut() {
                if let Item::Link(t) = item {
                    if let Some(rest) = t.strip_prefix(prefix) {
                        *t = rest.to_vec();
                    }
                }
            }
        }
        if let Some(d) = first_difference(&got, &want) {
            panic!("{tool} disagrees with the manifest: {d}");
        }
    }

    // snap itself brings the exact names back.
    let out = env.expect(&["--json", "import", "a.zip", "--profile", "copy"], 0);
    assert_eq!(stdout_json(&out)["manifest"]["content_digest"], digest);
    let out = env.expect(&["--json", "restore", "a.zip", "--target", "back"], 0);
    let warnings = stdout_json(&out)["warnings"].to_string();
    assert!(
        warnings.contains("abs-link: symlink to /etc/passwd is absolute"),
        "{warnings}"
    );
    assert_same_tree(&root, &env.path("back"));
}
