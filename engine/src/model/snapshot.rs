//! Snapshot manifests: what a snapshot file holds, how snapshots are named,
//! and how an id given by a user (hex prefix, name, `latest~N`) is resolved.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use snap_store::{BlobId, SnapshotId};

use crate::error::{Error, Result};

/// The manifest version this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Counts describing a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Regular files.
    pub files: u64,
    /// Directories (the root not counted).
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// Bytes of blobs this snapshot added to the repository (after dedup, before compression).
    pub new_bytes: u64,
    /// Paths new since the parent.
    pub added: u64,
    /// Paths whose content, kind or mode changed since the parent.
    pub changed: u64,
    /// Paths gone since the parent.
    pub removed: u64,
}

/// Where a snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The profile directory (lossy UTF-8 for display).
    pub path: String,
    /// The host name.
    pub host: String,
}

/// The content of a snapshot file (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The profile's name.
    pub profile: String,
    /// `backup-YYYY-MM-DDTHH-MM-SS-sssZ` or `pre-restore-…`.
    pub name: String,
    /// UTC time in milliseconds since the epoch.
    pub time_ms: i64,
    /// The root tree.
    pub tree: BlobId,
    /// The previous snapshot of the profile, if any.
    pub parent: Option<SnapshotId>,
    /// Tags (`keep` pins, `pre-restore`, `import`).
    pub tags: Vec<String>,
    /// Where it was taken.
    pub source: Source,
    /// Counts.
    pub summary: Summary,
    /// blake3 over paths, kinds, modes, contents and link targets (not
    /// times): equal digests mean equal content.
    pub content_digest: String,
    /// The snap version that wrote it.
    pub tool_version: String,
    /// Files that could not be read or changed while read.
    pub warnings: Vec<String>,
    /// The snapshot this one is a copy of, in the repository it was copied
    /// from, when the copy could not keep its id (`snap copy` between
    /// repositories with different keys; FORMAT.md section 8). Absent
    /// otherwise; readers that do not know it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<SnapshotId>,
}

impl Manifest {
    /// Serialises to the bytes stored in the snapshot file.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifests serialise")
    }

    /// Parses a snapshot file's bytes, refusing versions this build does not read.
    ///
    /// # Errors
    /// [`Error::Format`] naming the snapshot.
    pub fn from_bytes(id: &SnapshotId, bytes: &[u8]) -> Result<Self> {
        let bad = |detail: String| Error::Format {
            path: format!("snapshot {}", id.short()).into(),
            detail,
        };
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("manifest does not parse: {e}")))?;
        let found = v.get("version").and_then(|x| x.as_u64()).unwrap_or(0);
        if found != MANIFEST_VERSION as u64 {
            return Err(bad(format!("manifest version {found} is not supported (this build reads version {MANIFEST_VERSION})")));
        }
        serde_json::from_value(v).map_err(|e| bad(format!("manifest does not parse: {e}")))
    }

    /// The snapshot time.
    pub fn time(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.time_ms)
            .single()
            .unwrap_or_default()
    }
}

/// A snapshot as listed: its id and manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// Full id.
    pub id: SnapshotId,
    /// Short id (8 hex digits).
    pub short_id: String,
    /// The manifest.
    #[serde(flatten)]
    pub manifest: Manifest,
}

/// The name of a snapshot taken at `t`: `{prefix}-YYYY-MM-DDTHH-MM-SS-sssZ`.
pub fn snapshot_name(prefix: &str, t: DateTime<Utc>) -> String {
    format!("{prefix}-{}", t.format("%Y-%m-%dT%H-%M-%S-%3fZ"))
}

/// Resolves what a user typed (full or short hex, a name, `latest`,
/// `latest~N`) among `snapshots`, optionally restricted to one profile.
///
/// # Errors
/// [`Error::Store`] with `NotFound` or `Ambiguous` (listing the candidates).
pub fn resolve<'a>(
    snapshots: &'a [SnapshotInfo],
    text: &str,
    profile: Option<&str>,
) -> Result<&'a SnapshotInfo> {
    let mut pool: Vec<&SnapshotInfo> = snapshots
        .iter()
        .filter(|s| profile.is_none_or(|p| s.manifest.profile == p))
        .collect();
    pool.sort_by(|a, b| {
        b.manifest
            .time_ms
            .cmp(&a.manifest.time_ms)
            .then(b.id.cmp(&a.id))
    });
    let not_found = || {
        Error::Store(snap_store::Error::NotFound {
            what: "snapshot",
            id: text.to_string(),
        })
    };
    if let Some(rest) = text.strip_prefix("latest") {
        let n: usize = match rest.strip_prefix('~') {
            Some(n) => n.parse().map_err(|_| not_found())?,
            None if rest.is_empty() => 0,
            None => return Err(not_found()),
        };
        let profiles: std::collections::BTreeSet<&str> =
            pool.iter().map(|s| s.manifest.profile.as_str()).collect();
        if profiles.len() > 1 {
            return Err(Error::Invalid {
                what: "snapshot id",
                value: text.into(),
                reason: format!(
                    "several profiles have snapshots ({}); name one with --profile",
                    profiles.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        return pool.get(n).copied().ok_or_else(not_found);
    }
    let by_name: Vec<&SnapshotInfo> = pool
        .iter()
        .copied()
        .filter(|s| s.manifest.name == text)
        .collect();
    match by_name.len() {
        1 => return Ok(by_name[0]),
        n if n > 1 => {
            return Err(Error::Store(snap_store::Error::Ambiguous {
                what: "snapshot",
                prefix: text.into(),
                candidates: by_name
                    .iter()
                    .map(|s| format!("{} ({})", s.short_id, s.manifest.profile))
                    .collect(),
            }))
        }
        _ => {}
    }
    let id = snap_store::resolve_prefix("snapshot", text, pool.iter().map(|s| s.id))?;
    pool.into_iter().find(|s| s.id == id).ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(profile: &str, t: i64, seed: u8) -> SnapshotInfo {
        let id = SnapshotId::of(&[seed]);
        SnapshotInfo {
            id,
            short_id: id.short(),
            manifest: Manifest {
                version: 1,
                profile: profile.into(),
                name: snapshot_name("backup", Utc.timestamp_millis_opt(t).unwrap()),
                time_ms: t,
                tree: BlobId::of(b"t"),
                parent: None,
                tags: vec![],
                source: Source {
                    path: "/p".into(),
                    host: "h".into(),
                },
                summary: Summary::default(),
                content_digest: String::new(),
                tool_version: "0".into(),
                warnings: vec![],
                copied_from: None,
            },
        }
    }

    #[test]
    fn resolves_latest_names_and_prefixes() {
        let s = vec![info("a", 1000, 1), info("a", 2000, 2), info("b", 3000, 3)];
        assert_eq!(
            resolve(&s, "latest", Some("a")).unwrap().manifest.time_ms,
            2000
        );
        assert_eq!(
            resolve(&s, "latest~1", Some("a")).unwrap().manifest.time_ms,
            1000
        );
        assert!(resolve(&s, "latest~2", Some("a")).is_err());
        assert!(
            resolve(&s, "latest", None).is_err(),
            "two profiles: ambiguous"
        );
        assert_eq!(resolve(&s, &s[2].manifest.name, None).unwrap().id, s[2].id);
        assert_eq!(
            resolve(&s, &s[0].id.to_hex()[..6], None).unwrap().id,
            s[0].id
        );
        assert_eq!(
            snapshot_name("backup", Utc.timestamp_millis_opt(1705329045456).unwrap()),
            "backup-2024-01-15T14-30-45-456Z"
        );
    }
}
