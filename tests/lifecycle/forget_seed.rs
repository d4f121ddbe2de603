//! The seed's scenario through `snap forget`, and pinned snapshots.

use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;

use crate::util::*;

/// 40 snapshots 36 hours apart, default policy (25, 30 days from the
/// newest): exactly the newest 21 stay. 60 days later, with nothing new,
/// `forget` removes nothing.
#[test]
fn forget_seed_default_policy_keeps_newest_21_and_is_stable_later() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let src = dir.path().join("profile");
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut ids = Vec::new();
    for i in 0..40u64 {
        write_profile(&src, i, 2_000);
        let t = t0 + Duration::hours(36 * i as i64);
        ids.push(snapshot_at(&repo, "app", &src, Some(t), &[]));
    }
    let newest = t0 + Duration::hours(36 * 39);
    let now = newest.to_rfc3339();
    let dry = snap_ok(
        &repo,
        &["--json", "forget", "--dry-run"],
        &[("SNAP_NOW", &now)],
    );
    let v: Value = serde_json::from_str(&dry).unwrap();
    assert_eq!(v["removed"], 19);
    assert_eq!(snapshot_count(&repo), 40, "dry run removed something");
    let human = snap_ok(&repo, &["forget"], &[("SNAP_NOW", &now)]);
    assert!(human.contains("older than max-age 30d"), "{human}");
    assert_eq!(snapshot_count(&repo), 21);
    for id in &ids[19..] {
        assert!(
            repo.join("snapshots").join(id).exists(),
            "newest 21 must stay"
        );
    }
    let later = (newest + Duration::days(60)).to_rfc3339();
    let out = snap_ok(&repo, &["--json", "forget"], &[("SNAP_NOW", &later)]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["removed"], 0, "{out}");
    assert_eq!(snapshot_count(&repo), 21);
    snap_ok(&repo, &["check"], &[]);
}

/// `forget ID` refuses a `keep`-pinned snapshot without `--force`, removes
/// it with; a policy never removes it.
#[test]
fn forget_pinned_id_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let repo = init_repo(dir.path());
    let src = dir.path().join("profile");
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    write_profile(&src, 0, 1000);
    let pinned = snapshot_at(&repo, "app", &src, Some(t0), &["keep"]);
    write_profile(&src, 1, 1000);
    snapshot_at(&repo, "app", &src, Some(t0 + Duration::days(1)), &[]);
    write_profile(&src, 2, 1000);
    snapshot_at(&repo, "app", &src, Some(t0 + Duration::days(2)), &[]);
    snap_ok(&repo, &["forget", "--keep-last", "1"], &[]);
    assert_eq!(snapshot_count(&repo), 2, "pinned and newest stay");
    let out = snap(&repo, &["forget", &pinned[..8]], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(repo.join("snapshots").join(&pinned).exists());
    snap_ok(&repo, &["forget", "--force", &pinned[..8]], &[]);
    assert!(!repo.join("snapshots").join(&pinned).exists());
}
