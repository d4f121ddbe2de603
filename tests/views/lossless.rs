//! Issue 10's rule, as a property: whatever `create` stores, the ZIP view
//! and both vault versions bring back exactly. Random trees (random byte
//! names with non-UTF-8 and control bytes, `%` and `\`, empty files,
//! zero-filled files up to 4 MiB, absolute, relative and dangling symlinks,
//! empty directories, modes, nanosecond mtimes) → snapshot → ZIP / vault
//! v1 / vault v2 → import gives the snapshot's content digest, and
//! extraction (`restore FILE --target`) gives an identical tree.
//!
//! 16 cases by default (about a second each: four PBKDF2 runs); run more
//! with `PROPTEST_CASES=256 cargo test --release --test tests -- views_lossless`.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use snap_engine::commands::backup::{create, CreateOptions};
use snap_engine::commands::import::{self, ImportOptions};
use snap_engine::export::{
    export_snapshot_vault, export_snapshot_zip, extract_to, ArchiveOptions, ExportOptions,
    VaultVersion,
};
use snap_engine::Repo;
use snap_store::OpenOptions;

use super::PASSWORD;
use crate::util::compare_trees;

#[derive(Debug, Clone)]
enum Kind {
    Text(Vec<u8>),
    Zeros(usize),
    Dir,
    Link(Vec<u8>),
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z%. \\\\]{1,8}".prop_map(String::into_bytes),
        vec(1u8..=255, 1..10),
    ]
    .prop_filter("a file name", |n| {
        !n.contains(&b'/') && n.as_slice() != b"." && n.as_slice() != b".."
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    let target = prop_oneof![
        name(),
        Just(b"/etc/passwd".to_vec()),
        Just(b"../../outside".to_vec()),
        Just(b"/nowhere/\n\xff".to_vec()),
    ];
    prop_oneof![
        4 => vec(any::<u8>(), 0..300).prop_map(Kind::Text),
        1 => prop_oneof![Just(0usize), 0usize..(4 << 20)].prop_map(Kind::Zeros),
        2 => Just(Kind::Dir),
        2 => target.prop_map(Kind::Link),
    ]
}

type Spec = Vec<(Index, Vec<u8>, Kind, usize, i64)>;

fn tree() -> impl Strategy<Value = Spec> {
    vec(
        (
            any::<Index>(),
            name(),
            kind(),
            0usize..4,
            0i64..4_000_000_000_000_000_000,
        ),
        0..14,
    )
}

/// Writes the tree of `spec` under `root`; modes and mtimes last,
/// directories after their contents.
fn build(root: &Path, spec: &Spec) {
    std::fs::create_dir(root).unwrap();
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut stamped: Vec<(PathBuf, u32, i64, bool)> = Vec::new();
    for (parent, name, kind, mode, mtime) in spec {
        let parent = dirs[parent.index(dirs.len())].clone();
        let p = parent.join(std::ffi::OsStr::from_bytes(name));
        if std::fs::symlink_metadata(&p).is_ok() {
            continue;
        }
        let file_mode = [0o644, 0o600, 0o755, 0o440][*mode];
        match kind {
            Kind::Text(b) => std::fs::write(&p, b).unwrap(),
            Kind::Zeros(n) => std::fs::write(&p, vec![0u8; *n]).unwrap(),
            Kind::Dir => {
                std::fs::create_dir(&p).unwrap();
                dirs.push(p.clone());
            }
            Kind::Link(t) => {
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(t), &p).unwrap()
            }
        }
        let mode = match kind {
            Kind::Dir => [0o755, 0o700, 0o750, 0o775][*mode],
            _ => file_mode,
        };
        stamped.push((p, mode, *mtime, matches!(kind, Kind::Link(_))));
    }
    for (p, mode, mtime, link) in stamped.iter().rev() {
        if !link {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        let ts = rustix::fs::Timespec {
            tv_sec: mtime.div_euclid(1_000_000_000),
            tv_nsec: mtime.rem_euclid(1_000_000_000) as _,
        };
        let times = rustix::fs::Timestamps {
            last_access: ts,
            last_modification: ts,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            p,
            &times,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// Imports `file` as profile `profile` and extracts it into `out`; returns
/// the import's content digest.
fn import_and_extract(repo: &Repo, file: &Path, password: Option<&str>, out: &Path) -> String {
    let archive = import::open(file, password, &ArchiveOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let profile = file.file_stem().unwrap().to_string_lossy().into_owned();
    let outcome = import::import(
        repo,
        &archive,
        &profile,
        &ImportOptions {
            source_path: "/nowhere".into(),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("import {}: {e}", file.display()));
    extract_to(&archive, out).unwrap_or_else(|e| panic!("extract {}: {e}", file.display()));
    outcome.manifest.content_digest
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn views_lossless_property_zip_and_vaults(spec in tree()) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("src");
        build(&root, &spec);
        let repo = Repo::open_or_init(&t.path().join("repo"), &OpenOptions::shared("test")).unwrap();
        create(&repo, &CreateOptions::new("app", &root)).unwrap();
        let snap = repo.latest("app").unwrap().unwrap();
        let want = snap.manifest.content_digest.clone();

        let zip = t.path().join("z.zip");
        export_snapshot_zip(&repo, &snap, &ExportOptions::default(), File::create(&zip).unwrap()).unwrap();
        let out = t.path().join("out-zip");
        prop_assert_eq!(&import_and_extract(&repo, &zip, None, &out), &want);
        if let Err(e) = compare_trees(&root, &out) {
            return Err(TestCaseError::fail(format!("ZIP: {e}")));
        }
        for (v, name) in [(VaultVersion::V1, "v1"), (VaultVersion::V2, "v2")] {
            let vault = t.path().join(format!("{name}.stvault"));
            export_snapshot_vault(&repo, &snap, &ExportOptions::default(), PASSWORD, Some(v), File::create(&vault).unwrap()).unwrap();
            let out = t.path().join(format!("out-{name}"));
            prop_assert_eq!(&import_and_extract(&repo, &vault, Some(PASSWORD), &out), &want);
            if let Err(e) = compare_trees(&root, &out) {
                return Err(TestCaseError::fail(format!("vault {name}: {e}")));
            }
        }
    }
}
