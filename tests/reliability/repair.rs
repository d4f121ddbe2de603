//! `snap repair` (issue 6, part 4): after a pack is lost, `check` names the
//! broken snapshot; `repair --dry-run` changes nothing; `repair` rebuilds the
//! index and clears the stat cache, so the next `create` of the unchanged
//! profile stores the lost chunks and trees again and the old snapshot is
//! whole again; `repair --drop-broken` forgets what cannot be recovered.

use std::fs;

use super::oracle::{created_id, snap_env};
use super::zoo::Zoo;
use crate::util::{image_diff, tree_image};

#[test]
fn repair_restores_missing_chunks_from_a_later_create() {
    let z = Zoo::new();
    // Snapshot B1 (index 1) has a pack of its own; lose it.
    let b1 = z.snaps[1].0;
    let pack = z.own_pack(1);
    fs::remove_file(z.pack_path(&pack)).unwrap();
    let r = snap_env(&z.repo, &["check"], &[]);
    assert_eq!(r.code, 1, "{}", r.dump());
    assert!(r.stdout.contains(&b1.to_hex()), "{}", r.dump());

    let before = z.truth_hash();
    let dry = snap_env(&z.repo, &["repair", "--dry-run"], &[]);
    assert_eq!(dry.code, 0, "{}", dry.dump());
    assert!(dry.stdout.contains("would"), "{}", dry.dump());
    assert_eq!(before, z.truth_hash(), "dry run changed the repository");

    let rep = snap_env(&z.repo, &["repair"], &[]);
    assert_eq!(rep.code, 0, "{}", rep.dump());
    assert!(rep.stdout.contains("rebuilt the index"), "{}", rep.dump());
    assert!(
        rep.stdout.contains("clear the stat cache"),
        "{}",
        rep.dump()
    );

    // Profile B still has the data: a create stores it again.
    let b = z.repo.parent().unwrap().join("b");
    let c = snap_env(&z.repo, &["create", b.to_str().unwrap()], &[]);
    assert_eq!(c.code, 0, "{}", c.dump());
    let ok = snap_env(&z.repo, &["check", "--read-data"], &[]);
    assert_eq!(
        ok.code,
        0,
        "old snapshot still broken after repair + create\n{}",
        ok.dump()
    );
    let t = z.scratch.join("b1");
    let run = snap_env(
        &z.repo,
        &["restore", &b1.to_hex(), "--target", t.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(image_diff(&z.snaps[1].1, &tree_image(&t)), None);
}

#[test]
fn repair_drop_broken_forgets_only_broken_snapshots() {
    let z = Zoo::new();
    let b1 = z.snaps[1].0;
    fs::remove_file(z.pack_path(&z.own_pack(1))).unwrap();
    let rep = snap_env(&z.repo, &["--json", "repair", "--drop-broken"], &[]);
    assert_eq!(rep.code, 0, "{}", rep.dump());
    let v = rep.json();
    assert_eq!(
        v["dropped"],
        serde_json::json!([b1.to_hex()]),
        "{}",
        rep.dump()
    );
    let ok = snap_env(&z.repo, &["check", "--read-data"], &[]);
    assert_eq!(ok.code, 0, "{}", ok.dump());
    assert!(z.restore_unaffected(&[b1].into()).unwrap() == 2);
    // And a create after it is complete (no reuse of chunks that are gone).
    let b = z.repo.parent().unwrap().join("b");
    let c = snap_env(&z.repo, &["create", b.to_str().unwrap()], &[]);
    assert!(created_id(&c).is_some(), "{}", c.dump());
    let ok = snap_env(&z.repo, &["check", "--read-data"], &[]);
    assert_eq!(ok.code, 0, "{}", ok.dump());
}
