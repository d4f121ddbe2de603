//! `create` with `changed_paths` hints (library API): paths outside the
//! hints are taken from the parent without a walk; a full walk still
//! happens every `FULL_WALK_EVERY`-th create.

use std::path::{Path, PathBuf};

use snap_engine::commands::backup::{create, CreateOptions, CreateStatus, FULL_WALK_EVERY};
use snap_engine::{commands::browse, Repo};
use snap_store::OpenOptions;

use crate::util::write;

fn cat(repo: &Repo, id: &snap_store::SnapshotId, path: &str) -> Option<String> {
    let s = repo.resolve(&id.to_string(), None).unwrap();
    let mut out = Vec::new();
    browse::cat(repo, &s.manifest.tree, path, &mut out).ok()?;
    Some(String::from_utf8(out).unwrap())
}

fn hinted(repo: &Repo, p: &Path, hints: &[&str]) -> snap_engine::commands::backup::CreateOutcome {
    let mut o = CreateOptions::new("app", p);
    o.changed_paths = Some(hints.iter().map(PathBuf::from).collect());
    create(repo, &o).unwrap()
}

#[test]
fn hinted_create_skips_the_walk_outside_the_hints() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("profile");
    write(&p, "a/x.txt", b"x1");
    write(&p, "b/y.txt", b"y1");
    write(&p, "top.txt", b"t1");
    let repo = Repo::open_or_init(&dir.path().join("repo"), &OpenOptions::shared("t")).unwrap();
    create(&repo, &CreateOptions::new("app", &p)).unwrap();

    write(&p, "a/x.txt", b"x2");
    write(&p, "b/y.txt", b"y2");
    write(&p, "c/new.txt", b"n");
    std::fs::remove_file(p.join("top.txt")).unwrap();
    let out = hinted(&repo, &p, &["a/x.txt", "top.txt"]);
    assert_eq!(out.status, CreateStatus::Created);
    assert_eq!(cat(&repo, &out.id, "a/x.txt").as_deref(), Some("x2"));
    assert_eq!(
        cat(&repo, &out.id, "b/y.txt").as_deref(),
        Some("y1"),
        "b/ was walked"
    );
    assert_eq!(cat(&repo, &out.id, "c/new.txt"), None, "c/ was walked");
    assert_eq!(
        cat(&repo, &out.id, "top.txt"),
        None,
        "a hinted removal was missed"
    );
    assert_eq!(out.manifest.summary.files, 2);
    assert_eq!(out.stats.files_new + out.stats.files_changed, 1);

    // Nothing hinted changed: unchanged, even though b/ and c/ did.
    assert_eq!(hinted(&repo, &p, &["a"]).status, CreateStatus::Unchanged);

    // A full create sees everything.
    let full = create(&repo, &CreateOptions::new("app", &p)).unwrap();
    assert_eq!(cat(&repo, &full.id, "b/y.txt").as_deref(), Some("y2"));
    assert_eq!(cat(&repo, &full.id, "c/new.txt").as_deref(), Some("n"));

    // Hinted creates walk everything again every FULL_WALK_EVERY-th time.
    write(&p, "b/y.txt", b"y3");
    for i in 1..FULL_WALK_EVERY {
        write(&p, "a/x.txt", format!("x-{i}").as_bytes());
        let out = hinted(&repo, &p, &["a/x.txt"]);
        assert_eq!(
            cat(&repo, &out.id, "b/y.txt").as_deref(),
            Some("y2"),
            "create {i}"
        );
    }
    write(&p, "a/x.txt", b"x-last");
    let out = hinted(&repo, &p, &["a/x.txt"]);
    assert_eq!(
        cat(&repo, &out.id, "b/y.txt").as_deref(),
        Some("y3"),
        "no full walk"
    );
}
