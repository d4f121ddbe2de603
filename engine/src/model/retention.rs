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

use crate::error::{Error, Result};
use crate::model::duration::Duration;

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
