//! Retention: the seed scenario, a table of policies, reasons, clocks that
//! jump, and properties of `apply` (proptest), through the public API.

use proptest::prelude::*;
use snap_engine::model::duration::Duration;
use snap_engine::model::retention::*;

const H: i64 = 3_600_000;
const D: i64 = 24 * H;
/// 2026-11-03T12:00:00Z, a Tuesday.
const T0: i64 = 1_793_707_200_000;

fn snap(id: &str, time_ms: i64, tags: &[&str]) -> SnapshotMeta {
    SnapshotMeta {
        id: id.into(),
        time_ms,
        tags: tags
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| t.to_string())
            .collect(),
    }
}

/// `n` snapshots `step` apart, the newest at `T0`, named `s00` (newest),
/// `s01`, …
fn series(n: usize, step: i64) -> Vec<SnapshotMeta> {
    (0..n)
        .map(|i| snap(&format!("s{i:02}"), T0 - i as i64 * step, &[]))
        .collect()
}

fn kept(d: &[Decision]) -> Vec<String> {
    d.iter().filter(|d| d.keep).map(|d| d.id.clone()).collect()
}

fn dur(s: &str) -> Duration {
    s.parse().unwrap()
}

fn texts(d: &Decision) -> Vec<String> {
    d.reasons.iter().map(|r| r.to_string()).collect()
}

#[test]
fn seed_scenario_default_policy() {
    // 40 snapshots 36 hours apart: the count keeps 25, the age limit
    // (30 days from the newest) removes four of those.
    let snaps = series(40, 36 * H);
    let d = apply(&snaps, &Policy::default(), T0);
    let newest21: Vec<String> = (0..21).map(|i| format!("s{i:02}")).collect();
    assert_eq!(kept(&d), newest21);
    assert_eq!(
        texts(&d[0]),
        ["newest", "within max-count 25", "within max-age 30d"]
    );
    assert_eq!(texts(&d[20]), ["within max-count 25", "within max-age 30d"]);
    assert_eq!(texts(&d[21]), ["older than max-age 30d"]);
    assert_eq!(
        texts(&d[30]),
        ["older than max-age 30d", "beyond max-count 25"]
    );

    // Sixty days later, nothing new: nothing more goes.
    let rest: Vec<_> = snaps.into_iter().take(21).collect();
    let again = apply(&rest, &Policy::default(), T0 + 60 * D);
    assert!(again.iter().all(|d| d.keep), "{again:?}");
}

/// A policy from `key=value` words, starting from no limits at all:
/// `count`, `age`, `last`, `within`, `hourly` … `yearly`, `tag`.
fn pol(spec: &str) -> Policy {
    let mut p = Policy::limits(None, Duration::NEVER);
    for word in spec.split_whitespace() {
        let (k, v) = word.split_once('=').unwrap();
        let n = || Some(v.parse::<u32>().unwrap());
        match k {
            "count" => p.max_count = n(),
            "age" => p.max_age = dur(v),
            "last" => p.keep_last = n(),
            "within" => p.keep_within = Some(dur(v)),
            "hourly" => p.keep_hourly = n(),
            "daily" => p.keep_daily = n(),
            "weekly" => p.keep_weekly = n(),
            "monthly" => p.keep_monthly = n(),
            "yearly" => p.keep_yearly = n(),
            "tag" => p.keep_tags.push(v.into()),
            _ => panic!("{k}"),
        }
    }
    p
}

/// Snapshots from `(id, offset from T0, tag or "")`.
fn snaps(list: &[(&str, i64, &str)]) -> Vec<SnapshotMeta> {
    list.iter()
        .map(|(id, off, t)| snap(id, T0 + off, &[t]))
        .collect()
}

#[test]
fn table_of_policies() {
    let every20m = series(30, 20 * 60_000); // 10 h, on the hour and :40, :20
    let thrice_daily = series(30, 8 * H); // 12:00, 04:00, 20:00 …
    let pre = "pre-restore";
    // (name, snapshots, policy, expected kept ids)
    let cases: Vec<(&str, Vec<SnapshotMeta>, Policy, &str)> = vec![
        ("count", series(10, H), pol("count=3"), "s00 s01 s02"),
        ("count 1", series(5, H), pol("count=1"), "s00"),
        ("age", series(10, D), pol("age=3d"), "s00 s01 s02 s03"),
        (
            "age boundary inclusive",
            series(3, D),
            pol("age=1d"),
            "s00 s01",
        ),
        (
            "age tighter",
            series(10, D),
            pol("count=5 age=2d"),
            "s00 s01 s02",
        ),
        (
            "count tighter",
            series(10, D),
            pol("count=2 age=5d"),
            "s00 s01",
        ),
        ("no limits", series(3, D), pol(""), "s00 s01 s02"),
        (
            "age leaves newest",
            series(5, 10 * D),
            pol("count=5 age=1d"),
            "s00",
        ),
        ("keep-last", series(10, H), pol("last=4"), "s00 s01 s02 s03"),
        (
            "replaces count",
            series(10, H),
            pol("count=2 last=3"),
            "s00 s01 s02",
        ),
        (
            "keep-within",
            series(10, H),
            pol("within=3h"),
            "s00 s01 s02 s03",
        ),
        ("hourly", every20m, pol("hourly=3"), "s00 s01 s04"),
        ("daily", thrice_daily.clone(), pol("daily=3"), "s00 s02 s05"),
        // T0 is a Tuesday: the Sundays before are s02 and s09.
        ("weekly", series(30, D), pol("weekly=3"), "s00 s02 s09"),
        ("monthly", series(100, 5 * D), pol("monthly=2"), "s00 s01"),
        // 2026-11-03, 2026-04-17, 2025-09-29, 2025-03-13, 2024-08-25
        (
            "yearly",
            series(10, 200 * D),
            pol("yearly=3"),
            "s00 s02 s04",
        ),
        (
            "daily + last",
            thrice_daily,
            pol("daily=2 last=2"),
            "s00 s01 s02",
        ),
        (
            "rules + age",
            series(20, D),
            pol("daily=20 age=5d"),
            "s00 s01 s02 s03 s04 s05",
        ),
        (
            "keep-tag",
            snaps(&[("a", 0, ""), ("b", -D, "x"), ("c", -2 * D, "")]),
            pol("tag=x"),
            "a b",
        ),
        (
            "keep-tag under max-age",
            snaps(&[("a", 0, ""), ("b", -D, "x"), ("c", -9 * D, "x")]),
            pol("tag=x age=2d"),
            "a b",
        ),
        (
            "pin beats age and count",
            snaps(&[("new", 0, ""), ("mid", -D, ""), ("old", -90 * D, "keep")]),
            pol("count=1 age=30d"),
            "new old",
        ),
        (
            "pre-restore not counted",
            snaps(&[
                ("a", 0, ""),
                ("pr", -H, pre),
                ("b", -2 * H, ""),
                ("c", -3 * H, ""),
            ]),
            pol("count=2 age=30d"),
            "a pr b",
        ),
        (
            "pre-restore not counted by keep-last",
            snaps(&[("a", 0, ""), ("pr", -H, pre), ("b", -2 * H, "")]),
            pol("last=2"),
            "a pr b",
        ),
        (
            "pre-restore until the age limit",
            snaps(&[("a", 0, ""), ("p1", -10 * D, pre), ("p2", -40 * D, pre)]),
            Policy::default(),
            "a p1",
        ),
        (
            "newest pre-restore still newest",
            snaps(&[("pr", 0, pre), ("a", -H, ""), ("b", -2 * H, "")]),
            pol("count=1"),
            "pr a",
        ),
        (
            "ties broken by id",
            snaps(&[("b", 0, ""), ("a", 0, ""), ("c", 0, "")]),
            pol("count=2"),
            "a b",
        ),
    ];
    for (name, snaps, policy, want) in cases {
        policy.validate().unwrap();
        let got = apply(&snaps, &policy, T0);
        assert_eq!(kept(&got).join(" "), want, "case {name:?}: {got:#?}");
    }
}

#[test]
fn reasons_render_and_serialise() {
    let snaps = vec![
        snap("a", T0, &[]),
        snap("b", T0 - D, &["keep"]),
        snap("pr", T0 - 2 * D, &["pre-restore"]),
        snap("c", T0 - 3 * D, &["x"]),
        snap("d", T0 - 4 * D, &[]),
    ];
    let mut p = Policy::limits(Some(9), dur("30d"));
    p.keep_daily = Some(2);
    p.keep_tags = vec!["x".into()];
    let d = apply(&snaps, &p, T0);
    let t: Vec<_> = d.iter().map(texts).collect();
    assert_eq!(t[0], ["newest", "daily snapshot 2026-11-03"]);
    assert_eq!(t[1], ["tag keep", "daily snapshot 2026-11-02"]);
    assert_eq!(t[2], ["pre-restore within max-age 30d"]);
    assert_eq!(t[3], ["keep-tag x"]);
    assert_eq!(t[4], ["no keep rule matches"]);
    let json = serde_json::to_value(&d[0]).unwrap();
    assert_eq!(json["reasons"][1]["kind"], "calendar");
    assert_eq!(json["reasons"][1]["period"], "daily");
    assert_eq!(json["reasons"][1]["bucket"], "2026-11-03");
    let back: Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, d[0]);
    assert_eq!(Period::Weekly.bucket(T0).unwrap(), "2026-W45");
    assert_eq!(Period::Hourly.bucket(T0).unwrap(), "2026-11-03T12");
}

#[test]
fn machine_off_for_months_and_future_dates() {
    // Nothing new for 60 days: measuring from the newest keeps it all.
    let snaps = series(10, D);
    let d = apply(&snaps, &Policy::default(), T0 + 60 * D);
    assert!(d.iter().all(|d| d.keep));
    // A snapshot dated ten years ahead (a wrong clock) does not push the
    // real ones past the age limit.
    let mut snaps = series(10, D);
    snaps.push(snap("future", T0 + 3650 * D, &[]));
    let d = apply(&snaps, &Policy::default(), T0);
    assert!(d.iter().all(|d| d.keep), "{d:#?}");
    assert_eq!(d[0].id, "future");
}

#[test]
fn policy_serde_and_validation() {
    let p = Policy::default();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(json, r#"{"max_count":25,"max_age":"30d"}"#);
    assert_eq!(serde_json::from_str::<Policy>("{}").unwrap(), p);
    let p: Policy =
        serde_json::from_str(r#"{"max_count":null,"max_age":"never","keep_daily":7}"#).unwrap();
    assert_eq!(p.max_count, None);
    assert!(p.has_keep_rules() && !Policy::default().has_keep_rules());
    assert!(serde_json::from_str::<Policy>(r#"{"keep_dialy":7}"#).is_err());
    let bad = Policy {
        keep_daily: Some(0),
        ..Policy::default()
    };
    assert!(bad.validate().is_err());
    let bad = Policy {
        keep_within: Some(Duration::NEVER),
        ..Policy::default()
    };
    assert!(bad.validate().is_err());
    assert!(apply(&[], &Policy::default(), T0).is_empty());
}

fn arb_snapshots() -> impl Strategy<Value = Vec<SnapshotMeta>> {
    let tag = prop_oneof![
        6 => Just(None),
        1 => Just(Some("keep")),
        1 => Just(Some("pre-restore")),
        1 => Just(Some("x")),
    ];
    // Times within ~3 years, often colliding (hours, minutes).
    prop::collection::vec((0i64..1_000_000, tag, 0u8..4), 0..60).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (t, tag, scale))| {
                let unit = [60_000, H, D / 4, D][scale as usize];
                let time = T0 - (t % 1000) * unit;
                snap(&format!("id{i}"), time, tag.as_slice())
            })
            .collect()
    })
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    let n = || prop::option::of(1u32..30);
    let hours = |max| (1u64..max).prop_map(|h| Duration::from_secs(h * 3600).unwrap());
    let age = prop_oneof![Just(Duration::NEVER), hours(2000)];
    let within = prop::option::of(hours(500));
    let rules = (n(), n(), n(), n(), n(), n(), within, any::<bool>());
    (n(), age, prop::option::of(rules)).prop_map(|(max_count, max_age, rules)| {
        let p = Policy::limits(max_count, max_age);
        let Some((l, h, d, w, m, y, within, tag)) = rules else {
            return p;
        };
        Policy {
            keep_last: l,
            keep_hourly: h,
            keep_daily: d,
            keep_weekly: w,
            keep_monthly: m,
            keep_yearly: y,
            keep_within: within,
            keep_tags: if tag { vec!["x".into()] } else { vec![] },
            ..p
        }
    })
}

proptest! {
    #[test]
    fn invariants(snaps in arb_snapshots(), policy in arb_policy(), skew in -100i64..100) {
        let now = T0 + skew * D;
        let d = apply(&snaps, &policy, now);
        // One decision per snapshot: kept + removed = all, disjoint.
        prop_assert_eq!(d.len(), snaps.len());
        let mut got: Vec<_> = d.iter().map(|d| d.id.clone()).collect();
        let mut want: Vec<_> = snaps.iter().map(|s| s.id.clone()).collect();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
        // Every decision has a reason, and the reasons say keep for a
        // kept snapshot and remove for a removed one.
        prop_assert!(d.iter().all(|d| !d.reasons.is_empty()));
        prop_assert!(d.iter().all(|d| d.reasons.iter().all(|r| r.keeps() == d.keep)));
        // Nothing older than max-age survives unless pinned.
        let newest = snaps.iter().map(|s| s.time_ms).max().unwrap_or(0);
        if let Some(max) = policy.max_age.as_millis() {
            let reference = i128::from(newest.min(now));
            for (s, d) in d.iter().enumerate().filter(|(_, d)| d.keep) {
                let pinned = s == 0 || d.reasons.contains(&Reason::TagKeep);
                prop_assert!(pinned || reference - i128::from(d.time_ms) <= i128::from(max));
            }
        }
        if let Some(first) = d.first() {
            // The newest is kept.
            prop_assert_eq!(first.time_ms, newest);
            prop_assert!(first.keep);
        }
        // Pinned snapshots are kept.
        for s in snaps.iter().filter(|s| s.is_pinned()) {
            prop_assert!(d.iter().any(|d| d.id == s.id && d.keep));
        }
        // Input order does not matter.
        let mut rev = snaps.clone();
        rev.reverse();
        prop_assert_eq!(&apply(&rev, &policy, now), &d);
        // Applying the policy to what it kept removes nothing.
        let kept: Vec<_> = snaps
            .iter()
            .filter(|s| d.iter().any(|d| d.id == s.id && d.keep))
            .cloned()
            .collect();
        let again = apply(&kept, &policy, now);
        prop_assert!(again.iter().all(|d| d.keep), "not idempotent: {:#?}", again);
    }
}
