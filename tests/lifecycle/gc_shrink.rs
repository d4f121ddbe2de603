//! gc reclaims the space of forgotten snapshots and keeps the rest intact.

use crate::util::*;

/// 20 changing snapshots, forget all but the newest, gc: the packs shrink
/// to within 10% of a fresh repository holding only that snapshot; it
/// restores byte-identically and `check --read-data` passes.
#[test]
fn gc_shrinks_to_one_snapshot_and_keeps_it_identical() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let src = dir.path().join("profile");
    for i in 0..20u64 {
        write_profile(&src, i, 200_000);
        snapshot_at(&repo, "app", &src, None, &[]);
    }
    let before = pack_bytes(&repo);
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    assert_eq!(snapshot_count(&repo), 1);
    let dry = snap_ok(&repo, &["gc", "--dry-run"], &[]);
    assert!(dry.contains("would delete"), "{dry}");
    assert_eq!(pack_bytes(&repo), before, "dry run changed packs");
    let stats = snap_ok(&repo, &["--json", "stats"], &[]);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert!(v["garbage_bytes"].as_u64().unwrap() > 0, "{stats}");
    snap_ok(&repo, &["gc"], &[]);
    let after = pack_bytes(&repo);

    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = init_repo(fresh_dir.path());
    snapshot_at(&fresh, "app", &src, None, &[]);
    let reference = pack_bytes(&fresh);
    assert!(
        (after as f64) <= reference as f64 * 1.10,
        "after gc {after} bytes, fresh repository {reference} bytes (before gc {before})"
    );
    snap_ok(&repo, &["check", "--read-data"], &[]);
    let restored = restore_all(&repo, &dir.path().join("out"));
    assert_eq!(restored.len(), 1);
    assert_eq!(restored.values().next().unwrap(), &read_tree(&src));
    // A second gc has nothing left to do, and stats see no garbage.
    let again = snap_ok(&repo, &["--json", "gc"], &[]);
    let v: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(v["report"]["bytes_reclaimed"], 0, "{again}");
    // create after gc (stat cache was cleared) still works and checks clean.
    write_profile(&src, 99, 200_000);
    snapshot_at(&repo, "app", &src, None, &[]);
    snap_ok(&repo, &["check", "--read-data"], &[]);
}
