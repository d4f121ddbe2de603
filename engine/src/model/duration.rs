//! Durations of policies and intervals as users write them: `30s`, `15m`,
//! `2h`, `30d`, `1w`, combinations such as `1h30m`, and `never`.
//!
//! [`Duration`] is what profile settings (`interval`, `max-age`,
//! `keep-within`) hold. It is stored in `profiles.json` and printed as its
//! canonical text, so a value reads the same everywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The units accepted, largest first, with their length in seconds.
const UNITS: [(char, u64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// The longest duration accepted: one whose milliseconds still fit in an
/// `i64` (about 292 million years).
const MAX_SECS: u64 = (i64::MAX / 1000) as u64;

/// A whole number of seconds, or `never` (no limit).
///
/// Parsed from one or more `<number><unit>` parts, largest unit first and
/// each unit at most once, with units `w` (7 days), `d`, `h`, `m`, `s`:
/// `30s`, `15m`, `2h`, `30d`, `1w`, `1h30m`, `1d12h`. Zero is refused (a
/// limit of zero would remove everything; an interval of zero would spin);
/// `never` means no limit.
///
/// Display gives the canonical form: days, hours, minutes and seconds,
/// largest first, zero parts left out (`1w` displays as `7d`, `90m` as
/// `1h30m`), or `never`. Serde uses that same string.
///
/// ```
/// use snap_engine::model::duration::Duration;
/// let d: Duration = "1h30m".parse().unwrap();
/// assert_eq!(d.as_secs(), Some(5400));
/// assert_eq!(d.to_string(), "1h30m");
/// assert_eq!("1w".parse::<Duration>().unwrap().to_string(), "7d");
/// assert!("never".parse::<Duration>().unwrap().is_never());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration {
    /// `None` is `never`. Ordering puts `never` first; compare with
    /// [`Duration::as_secs`] when that matters.
    secs: Option<u64>,
}

impl Duration {
    /// No limit.
    pub const NEVER: Duration = Duration { secs: None };

    /// A duration of `secs` seconds.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `secs` is zero or too large for milliseconds
    /// in an `i64`.
    pub fn from_secs(secs: u64) -> Result<Self> {
        if secs == 0 {
            return Err(invalid(
                &secs.to_string(),
                "must be positive (use `never` for no limit)",
            ));
        }
        if secs > MAX_SECS {
            return Err(invalid(&secs.to_string(), "too long"));
        }
        Ok(Duration { secs: Some(secs) })
    }

    /// Minutes, for constants and defaults (`Duration::minutes(30)`).
    ///
    /// # Panics
    /// When `n` is zero: this is for literals, use [`Duration::from_secs`]
    /// for values that come from elsewhere.
    pub const fn minutes(n: u32) -> Self {
        assert!(n > 0, "zero duration");
        Duration {
            secs: Some(n as u64 * 60),
        }
    }

    /// Days, for constants and defaults (`Duration::days(30)`).
    ///
    /// # Panics
    /// When `n` is zero (see [`Duration::minutes`]).
    pub const fn days(n: u32) -> Self {
        assert!(n > 0, "zero duration");
        Duration {
            secs: Some(n as u64 * 86_400),
        }
    }

    /// Whether this is `never`.
    pub fn is_never(&self) -> bool {
        self.secs.is_none()
    }

    /// The number of seconds, or `None` for `never`.
    pub fn as_secs(&self) -> Option<u64> {
        self.secs
    }

    /// The number of milliseconds, or `None` for `never` (always fits: see
    /// [`Duration::from_secs`]).
    pub fn as_millis(&self) -> Option<i64> {
        self.secs.map(|s| s as i64 * 1000)
    }

    /// As a standard library duration, or `None` for `never`.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        self.secs.map(std::time::Duration::from_secs)
    }
}

fn invalid(value: &str, reason: &str) -> Error {
    Error::Invalid {
        what: "duration",
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl FromStr for Duration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s == "never" {
            return Ok(Duration::NEVER);
        }
        if s.is_empty() {
            return Err(invalid(
                s,
                "empty; expected e.g. 30s, 15m, 2h, 30d, 1w, 1h30m or never",
            ));
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        // Index into UNITS of the last unit seen, to enforce largest first.
        let mut last_unit: Option<usize> = None;
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let Some(pos) = UNITS.iter().position(|(u, _)| *u == c) else {
                return Err(invalid(
                    s,
                    &format!("unknown unit {c:?}; units are w, d, h, m, s (or `never`)"),
                ));
            };
            if digits.is_empty() {
                return Err(invalid(s, &format!("a number must come before {c:?}")));
            }
            if last_unit.is_some_and(|l| pos <= l) {
                return Err(invalid(
                    s,
                    "units must go from largest to smallest, each at most once (e.g. 1h30m)",
                ));
            }
            last_unit = Some(pos);
            let n: u64 = digits.parse().map_err(|_| invalid(s, "too long"))?;
            digits.clear();
            total = n
                .checked_mul(UNITS[pos].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| invalid(s, "too long"))?;
        }
        if !digits.is_empty() {
            return Err(invalid(
                s,
                "a number needs a unit: w, d, h, m or s (e.g. 30m)",
            ));
        }
        Duration::from_secs(total).map_err(|e| match e {
            Error::Invalid { reason, .. } => invalid(s, &reason),
            other => other,
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(mut rest) = self.secs else {
            return f.write_str("never");
        };
        // Canonical form skips weeks: "30d" stays "30d" instead of "4w2d".
        for (unit, len) in &UNITS[1..] {
            let n = rest / len;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                rest %= len;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_canonically() {
        let cases = [
            ("30s", 30, "30s"),
            ("15m", 900, "15m"),
            ("2h", 7200, "2h"),
            ("30d", 30 * 86_400, "30d"),
            ("1w", 7 * 86_400, "7d"),
            ("1h30m", 5400, "1h30m"),
            ("90m", 5400, "1h30m"),
            ("1w1d", 8 * 86_400, "8d"),
            ("1d12h", 129_600, "1d12h"),
            ("2h0m5s", 7205, "2h5s"),
            ("3600s", 3600, "1h"),
            ("0h1s", 1, "1s"),
        ];
        for (text, secs, canon) in cases {
            let d: Duration = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d.as_secs(), Some(secs), "{text}");
            assert_eq!(d.to_string(), canon, "{text}");
            assert_eq!(canon.parse::<Duration>().unwrap(), d, "{canon} round trip");
        }
        let never: Duration = "never".parse().unwrap();
        assert!(never.is_never());
        assert_eq!(never.to_string(), "never");
        assert_eq!(never.as_millis(), None);
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        let bad = [
            ("", "empty"),
            ("30", "needs a unit"),
            ("m", "number must come before"),
            ("0s", "positive"),
            ("0d0h", "positive"),
            ("30x", "unknown unit"),
            ("1.5h", "unknown unit"),
            ("-1h", "unknown unit"),
            (" 1h", "unknown unit"),
            ("1H", "unknown unit"),
            ("30m1h", "largest to smallest"),
            ("1h1h", "largest to smallest"),
            ("Never", "unknown unit"),
            ("99999999999999999999s", "too long"),
            ("9999999999999999w", "too long"),
            ("300000000000000000s", "too long"),
        ];
        for (text, why) in bad {
            match text.parse::<Duration>() {
                Err(Error::Invalid {
                    what,
                    value,
                    reason,
                }) => {
                    assert_eq!(what, "duration");
                    assert_eq!(value, text);
                    assert!(reason.contains(why), "{text:?}: {reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn serde_is_the_canonical_string() {
        let d: Duration = "1w".parse().unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"7d\"");
        assert_eq!(
            serde_json::from_str::<Duration>("\"90m\"")
                .unwrap()
                .to_string(),
            "1h30m"
        );
        assert_eq!(
            serde_json::to_string(&Duration::NEVER).unwrap(),
            "\"never\""
        );
        let err = serde_json::from_str::<Duration>("\"5 minutes\"").unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
        assert!(serde_json::from_str::<Duration>("1800").is_err());
    }

    #[test]
    fn constructors() {
        assert_eq!(Duration::minutes(30).to_string(), "30m");
        assert_eq!(Duration::days(30).as_millis(), Some(2_592_000_000));
        assert_eq!(
            Duration::minutes(30).to_std(),
            Some(std::time::Duration::from_secs(1800))
        );
        assert!(Duration::from_secs(0).is_err());
        assert!(Duration::from_secs(MAX_SECS).is_ok());
        assert!(Duration::from_secs(MAX_SECS + 1).is_err());
    }
}
