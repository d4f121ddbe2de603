//! Retention: which snapshots of one profile to keep, and why.
//!
//! [`apply`] is pure: it takes the snapshots of **one** profile (the caller
//! groups by profile; mixing profiles would measure one profile's age limit
//! from another's newest snapshot) and a [`Policy`], and returns a
//! [`Decision`] with its [`Reason`]s for every snapshot. Removing the
//! snapshots is the caller's job.
//!
//! # The rules
//! - **Pins.** A snapshot tagged [`TAG_KEEP`] is always kept, forever. The
//!   profile's newest snapshot is always kept.
//! - **Limits** (the seed's): `max_count` keeps the newest N snapshots and
//!   `max_age` removes snapshots older than the limit. The age is measured
//!   from the profile's newest snapshot, not from the clock, so a machine
//!   that was off for two months loses nothing when it starts again.
//! - **Keep rules** (restic's): keep-last N, keep-within DURATION (from the
//!   newest snapshot), keep-hourly/daily/weekly/monthly/yearly N (calendar
//!   buckets in UTC, weeks are ISO weeks; the newest snapshot of each of the
//!   N newest buckets that have snapshots), keep-tag TAG. A snapshot is kept
//!   when any keep rule keeps it. When any keep rule is set, the keep rules
//!   replace `max_count`; `max_age` still applies to them.
//! - **Safety snapshots.** Snapshots tagged [`TAG_PRE_RESTORE`] are outside
//!   the rotation: they are not counted by `max_count` or by any keep rule
//!   (so they never push an ordinary snapshot out), and they stay until the
//!   age limit.
//! - Pins override the age limit; nothing else does.
//!
//! Boundaries are inclusive: a snapshot exactly `max_age` older than the
//! newest is kept, and so is one exactly `keep_within` older (restic's
//! keep-within is exclusive there; snap uses one rule for both).
//!
//! Input order does not matter: snapshots are ordered newest first, ties
//! broken by id, and the decisions come back in that order.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::error::{Error, Result};

/// The tag that pins a snapshot: it is never removed by a policy.
pub const TAG_KEEP: &str = "keep";

/// The tag of the safety snapshot taken before an in-place restore: not
/// counted by count rules, kept until the age limit.
pub const TAG_PRE_RESTORE: &str = "pre-restore";

/// What retention needs to know about a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The snapshot's id (any unique string; reported back as is).
    pub id: String,
    /// When it was taken: milliseconds since the Unix epoch, UTC.
    pub time_ms: i64,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl SnapshotMeta {
    /// Whether it carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Whether it is pinned with [`TAG_KEEP`].
    pub fn is_pinned(&self) -> bool {
        self.has_tag(TAG_KEEP)
    }
}

/// A retention policy. The default is the seed's: keep the newest 25
/// snapshots and none older than 30 days (measured from the newest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Keep at most this many (not counting pinned and `pre-restore`
    /// ones); `None` is no count limit. Ignored when a keep rule is set.
    pub max_count: Option<u32>,
    /// Remove snapshots older than this, measured from the newest;
    /// [`Duration::NEVER`] is no age limit.
    pub max_age: Duration,
    /// Keep the newest N.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep those taken within this duration before the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<Duration>,
    /// Keep the newest of each of the N newest hours that have snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest of each of the N newest days that have snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest of each of the N newest ISO weeks with snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest of each of the N newest months with snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest of each of the N newest years with snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Keep snapshots carrying any of these tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keep_tags: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::limits(Some(25), Duration::days(30))
    }
}

impl Policy {
    /// The seed's policy with the given limits and no keep rules.
    pub fn limits(max_count: Option<u32>, max_age: Duration) -> Self {
        Policy {
            max_count,
            max_age,
            keep_last: None,
            keep_within: None,
            keep_hourly: None,
            keep_daily: None,
            keep_weekly: None,
            keep_monthly: None,
            keep_yearly: None,
            keep_tags: Vec::new(),
        }
    }

    /// Whether any keep rule is set (then they replace `max_count`).
    pub fn has_keep_rules(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_within.is_some()
            || self.calendar_rules().iter().any(|(_, n)| n.is_some())
            || !self.keep_tags.is_empty()
    }

    /// Checks the values: counts must be at least 1 and `keep_within` must
    /// not be `never`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        let counts = [
            ("max-count", self.max_count),
            ("keep-last", self.keep_last),
            ("keep-hourly", self.keep_hourly),
            ("keep-daily", self.keep_daily),
            ("keep-weekly", self.keep_weekly),
            ("keep-monthly", self.keep_monthly),
            ("keep-yearly", self.keep_yearly),
        ];
        for (what, n) in counts {
            if n == Some(0) {
                return Err(Error::Invalid {
                    what: "retention count",
                    value: format!("{what} 0"),
                    reason: "must be at least 1 (leave it unset for no limit)".into(),
                });
            }
        }
        if self.keep_within.is_some_and(|d| d.is_never()) {
            return Err(Error::Invalid {
                what: "retention duration",
                value: "keep-within never".into(),
                reason: "use keep-tag or the keep tag to keep snapshots forever".into(),
            });
        }
        if let Some(t) = self.keep_tags.iter().find(|t| t.is_empty()) {
            return Err(Error::Invalid {
                what: "retention tag",
                value: t.clone(),
                reason: "keep-tag needs a non-empty tag".into(),
            });
        }
        Ok(())
    }

    fn calendar_rules(&self) -> [(Period, Option<u32>); 5] {
        [
            (Period::Hourly, self.keep_hourly),
            (Period::Daily, self.keep_daily),
            (Period::Weekly, self.keep_weekly),
            (Period::Monthly, self.keep_monthly),
            (Period::Yearly, self.keep_yearly),
        ]
    }
}

/// A calendar bucket size of the keep-hourly … keep-yearly rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    /// An hour, UTC.
    Hourly,
    /// A day, UTC.
    Daily,
    /// An ISO 8601 week (Monday to Sunday, UTC).
    Weekly,
    /// A calendar month, UTC.
    Monthly,
    /// A calendar year, UTC.
    Yearly,
}

impl Period {
    /// The bucket a time falls in, as text (`2026-11-03T14`, `2026-11-03`,
    /// `2026-W45`, `2026-11`, `2026`); `None` outside the calendar's range.
    pub fn bucket(self, time_ms: i64) -> Option<String> {
        let t: DateTime<Utc> = DateTime::from_timestamp_millis(time_ms)?;
        Some(match self {
            Period::Hourly => format!(
                "{:04}-{:02}-{:02}T{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour()
            ),
            Period::Daily => format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day()),
            Period::Weekly => {
                let w = t.iso_week();
                format!("{:04}-W{:02}", w.year(), w.week())
            }
            Period::Monthly => format!("{:04}-{:02}", t.year(), t.month()),
            Period::Yearly => format!("{:04}", t.year()),
        })
    }

    fn word(self) -> &'static str {
        match self {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }
}

/// Why a snapshot is kept or removed. Display gives the short text the CLI
/// prints; serde gives `{"kind": "...", ...}` for `--json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// Kept: the profile's newest snapshot is never removed.
    Newest,
    /// Kept: pinned with the `keep` tag.
    TagKeep,
    /// Kept: among the newest `max_count`.
    WithinMaxCount {
        /// The limit.
        max_count: u32,
    },
    /// Kept: not older than `max_age`.
    WithinMaxAge {
        /// The limit.
        max_age: Duration,
    },
    /// Kept: the policy sets neither a count nor an age limit.
    NoLimit,
    /// Kept: a `pre-restore` snapshot not older than the age limit.
    PreRestore {
        /// The age limit (`never` when there is none).
        max_age: Duration,
    },
    /// Kept by keep-last.
    KeepLast {
        /// The rule's count.
        n: u32,
    },
    /// Kept by keep-within.
    KeepWithin {
        /// The rule's duration.
        within: Duration,
    },
    /// Kept as the newest snapshot of a calendar bucket.
    Calendar {
        /// Which rule.
        period: Period,
        /// The bucket (`2026-11-03`, `2026-W45`…).
        bucket: String,
    },
    /// Kept by keep-tag.
    KeepTag {
        /// The tag that matched.
        tag: String,
    },
    /// Removed: not among the newest `max_count`.
    BeyondMaxCount {
        /// The limit.
        max_count: u32,
    },
    /// Removed: older than `max_age` (measured from the newest snapshot).
    OlderThanMaxAge {
        /// The limit.
        max_age: Duration,
    },
    /// Removed: keep rules are set and none of them keeps it.
    NoKeepRule,
}

impl Reason {
    /// Whether this reason keeps a snapshot (`false`: it removes one).
    pub fn keeps(&self) -> bool {
        !matches!(
            self,
            Reason::BeyondMaxCount { .. } | Reason::OlderThanMaxAge { .. } | Reason::NoKeepRule
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Newest => f.write_str("newest"),
            Reason::TagKeep => f.write_str("tag keep"),
            Reason::WithinMaxCount { max_count } => write!(f, "within max-count {max_count}"),
            Reason::WithinMaxAge { max_age } => write!(f, "within max-age {max_age}"),
            Reason::NoLimit => f.write_str("no max-count or max-age"),
            Reason::PreRestore { max_age } if max_age.is_never() => {
                f.write_str("pre-restore, no max-age")
            }
            Reason::PreRestore { max_age } => write!(f, "pre-restore within max-age {max_age}"),
            Reason::KeepLast { n } => write!(f, "within keep-last {n}"),
            Reason::KeepWithin { within } => write!(f, "within keep-within {within}"),
            Reason::Calendar { period, bucket } => {
                write!(f, "{} snapshot {bucket}", period.word())
            }
            Reason::KeepTag { tag } => write!(f, "keep-tag {tag}"),
            Reason::BeyondMaxCount { max_count } => write!(f, "beyond max-count {max_count}"),
            Reason::OlderThanMaxAge { max_age } => write!(f, "older than max-age {max_age}"),
            Reason::NoKeepRule => f.write_str("no keep rule matches"),
        }
    }
}

/// The verdict on one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The snapshot's id.
    pub id: String,
    /// The snapshot's time (ms since the epoch, UTC).
    pub time_ms: i64,
    /// Whether it stays.
    pub keep: bool,
    /// Why; never empty. For a kept snapshot, every rule that keeps it; for
    /// a removed one, every rule that removes it.
    pub reasons: Vec<Reason>,
}

/// Decides, for every snapshot of one profile, whether `policy` keeps it.
///
/// Returns one decision per input snapshot, newest first (ties by id).
///
/// `now_ms` never causes a removal. Ages are measured from the newest
/// snapshot; `now_ms` only guards against a snapshot dated in the future
/// (taken while the clock was wrong): the reference point is the newest
/// snapshot's time or `now_ms`, whichever is earlier, so a bogus future
/// date cannot push every real snapshot past the age limit. Pass the
/// current time (or `SNAP_NOW` in tests); passing `i64::MAX` disables the
/// guard.
pub fn apply(snapshots: &[SnapshotMeta], policy: &Policy, now_ms: i64) -> Vec<Decision> {
    let mut order: Vec<&SnapshotMeta> = snapshots.iter().collect();
    order.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then_with(|| a.id.cmp(&b.id)));
    let Some(newest) = order.first() else {
        return Vec::new();
    };
    let reference = newest.time_ms.min(now_ms);
    // i128: an age is a difference of two arbitrary i64 times.
    let age = |s: &SnapshotMeta| i128::from(reference) - i128::from(s.time_ms);
    let too_old = |s: &SnapshotMeta| {
        policy
            .max_age
            .as_millis()
            .is_some_and(|max| age(s) > i128::from(max))
    };

    let keep_rules = policy.has_keep_rules();
    // Counters for the count-based rules, over the ordinary snapshots only.
    let mut rank: u32 = 0;
    let mut buckets: HashMap<Period, (u32, Option<String>)> = HashMap::new();

    let mut out = Vec::with_capacity(order.len());
    for (i, s) in order.iter().enumerate() {
        let mut keep_reasons = Vec::new();
        let mut remove_reasons = Vec::new();
        if i == 0 {
            keep_reasons.push(Reason::Newest);
        }
        if s.is_pinned() {
            keep_reasons.push(Reason::TagKeep);
        }
        let old = too_old(s);
        if old {
            remove_reasons.push(Reason::OlderThanMaxAge {
                max_age: policy.max_age,
            });
        }

        if s.has_tag(TAG_PRE_RESTORE) {
            if !old {
                keep_reasons.push(Reason::PreRestore {
                    max_age: policy.max_age,
                });
            }
        } else if keep_rules {
            let mut rule_reasons = Vec::new();
            if let Some(n) = policy.keep_last {
                if rank < n {
                    rule_reasons.push(Reason::KeepLast { n });
                }
            }
            if let Some(within) = policy.keep_within {
                if within
                    .as_millis()
                    .is_some_and(|ms| age(s) <= i128::from(ms))
                {
                    rule_reasons.push(Reason::KeepWithin { within });
                }
            }
            for (period, n) in policy.calendar_rules() {
                let Some(n) = n else { continue };
                let Some(bucket) = period.bucket(s.time_ms) else {
                    continue;
                };
                let (used, last) = buckets.entry(period).or_insert((0, None));
                if *used < n && last.as_deref() != Some(bucket.as_str()) {
                    *used += 1;
                    *last = Some(bucket.clone());
                    rule_reasons.push(Reason::Calendar { period, bucket });
                }
            }
            for tag in &policy.keep_tags {
                if s.has_tag(tag) {
                    rule_reasons.push(Reason::KeepTag { tag: tag.clone() });
                }
            }
            if rule_reasons.is_empty() {
                remove_reasons.push(Reason::NoKeepRule);
            } else if !old {
                keep_reasons.extend(rule_reasons);
            }
            rank += 1;
        } else {
            match policy.max_count {
                Some(n) if rank >= n => {
                    remove_reasons.push(Reason::BeyondMaxCount { max_count: n })
                }
                Some(n) if !old => keep_reasons.push(Reason::WithinMaxCount { max_count: n }),
                _ => {}
            }
            if !old && remove_reasons.is_empty() {
                if !policy.max_age.is_never() {
                    keep_reasons.push(Reason::WithinMaxAge {
                        max_age: policy.max_age,
                    });
                } else if policy.max_count.is_none() {
                    keep_reasons.push(Reason::NoLimit);
                }
            }
            rank += 1;
        }

        // Pins (newest, tag keep) win over every removal reason; otherwise a
        // snapshot stays only when something keeps it and nothing removes it.
        let pinned = i == 0 || s.is_pinned();
        let keep = pinned || (remove_reasons.is_empty() && !keep_reasons.is_empty());
        let reasons = if keep {
            if !remove_reasons.is_empty() {
                // Kept against a removal rule: only the pins explain it.
                keep_reasons.retain(|r| matches!(r, Reason::Newest | Reason::TagKeep));
            }
            keep_reasons
        } else {
            remove_reasons
        };
        debug_assert!(!reasons.is_empty());
        out.push(Decision {
            id: s.id.clone(),
            time_ms: s.time_ms,
            keep,
            reasons,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
}
