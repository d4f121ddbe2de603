//! Typed 32-byte ids ([`BlobId`], [`PackId`], [`SnapshotId`]) with hex display
//! and short-prefix parsing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// What this id names, for messages ("blob", "pack", "snapshot").
            pub const WHAT: &'static str = $what;

            /// The id as 64 lowercase hex digits.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first `n` hex digits (for display; `short()` uses 8).
            pub fn short(&self) -> String {
                let mut s = self.to_hex();
                s.truncate(8);
                s
            }

            /// The id of `bytes` under unkeyed blake3.
            pub fn of(bytes: &[u8]) -> Self {
                Self(*blake3::hash(bytes).as_bytes())
            }

            /// Parses exactly 64 hex digits.
            ///
            /// # Errors
            /// [`Error::BadId`] when the text is not 64 hex digits.
            pub fn from_hex(s: &str) -> Result<Self, Error> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| Error::BadId {
                    what: $what,
                    text: s.to_string(),
                })?;
                Ok(Self(out))
            }

            /// Builds an id from a byte slice of length 32.
            ///
            /// # Errors
            /// [`Error::BadId`] when the slice is not 32 bytes long.
            pub fn from_slice(b: &[u8]) -> Result<Self, Error> {
                let arr: [u8; 32] = b.try_into().map_err(|_| Error::BadId {
                    what: $what,
                    text: hex::encode(b),
                })?;
                Ok(Self(arr))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_hex())
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    Self::from_hex(&s).map_err(serde::de::Error::custom)
                } else {
                    let b: [u8; 32] = Deserialize::deserialize(d)?;
                    Ok(Self(b))
                }
            }
        }
    };
}

id_type!(
    /// The id of a blob: blake3 of its plaintext.
    BlobId,
    "blob"
);
id_type!(
    /// The id of a pack: blake3 of the pack file's bytes (its file name).
    PackId,
    "pack"
);
id_type!(
    /// The id of a snapshot: blake3 of the snapshot file's bytes (its file name).
    SnapshotId,
    "snapshot"
);

/// Finds the one id among `candidates` that starts with the hex `prefix`.
///
/// # Errors
/// [`Error::BadId`] for a prefix shorter than 4 or not hex,
/// [`Error::NotFound`] when none matches, [`Error::Ambiguous`] (listing the
/// candidates) when more than one does.
pub fn resolve_prefix<T: Copy + fmt::Display>(
    what: &'static str,
    prefix: &str,
    candidates: impl IntoIterator<Item = T>,
) -> Result<T, Error> {
    let p = prefix.to_ascii_lowercase();
    if p.len() < 4 || p.len() > 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::BadId {
            what,
            text: prefix.to_string(),
        });
    }
    let matches: Vec<T> = candidates
        .into_iter()
        .filter(|c| c.to_string().starts_with(&p))
        .collect();
    match matches.len() {
        0 => Err(Error::NotFound {
            what,
            id: prefix.to_string(),
        }),
        1 => Ok(matches[0]),
        _ => Err(Error::Ambiguous {
            what,
            prefix: prefix.to_string(),
            candidates: matches.iter().map(|m| m.to_string()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_prefix() {
        let a = BlobId::of(b"a");
        let b = BlobId::of(b"b");
        assert_eq!(BlobId::from_hex(&a.to_hex()).unwrap(), a);
        let found = resolve_prefix("blob", &a.to_hex()[..6], [a, b]).unwrap();
        assert_eq!(found, a);
        assert!(matches!(
            resolve_prefix("blob", "abc", [a]),
            Err(Error::BadId { .. })
        ));
        assert!(matches!(
            resolve_prefix("blob", "0000000", [a, b]),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn ambiguous_prefix_lists_candidates() {
        let mut a = [0u8; 32];
        a[0] = 0xab;
        a[1] = 0xcd;
        let mut b = a;
        b[31] = 1;
        match resolve_prefix("blob", "abcd", [BlobId(a), BlobId(b)]) {
            Err(Error::Ambiguous { candidates, .. }) => assert_eq!(candidates.len(), 2),
            other => panic!("expected ambiguity, got {other:?}"),
        }
    }
}
