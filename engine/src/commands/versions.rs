//! Every version of one file across a profile's snapshots: the file-first
//! view ("when did `settings.json` change, and what did it hold then?").

use serde::Serialize;

use crate::commands::browse;
use crate::error::Result;
use crate::model::tree::NodeKind;
use crate::repo::Repo;

/// The file at one path in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileVersion {
    /// The snapshot's full id (hex).
    pub snapshot: String,
    /// Its short id.
    pub short_id: String,
    /// Its name (`backup-…`).
    pub name: String,
    /// Its time (ms since the epoch, UTC).
    pub time_ms: i64,
    /// What the path is in that snapshot.
    pub kind: NodeKind,
    /// Size in bytes.
    pub size: u64,
    /// The file's modification time (ns since the epoch).
    pub mtime_ns: i64,
    /// A digest of the content (equal digests, equal bytes): the blake3 of
    /// the chunk ids, which are themselves content hashes.
    pub content: String,
    /// Whether the content differs from the next older version listed
    /// (true for the oldest).
    pub changed: bool,
}

/// Every snapshot of `profile` that holds `rel`, newest first, each with
/// whether the content changed since the older one. Snapshots without the
/// path are left out.
///
/// # Errors
/// Repository errors reading snapshots or trees.
pub fn file_versions(repo: &Repo, profile: &str, rel: &str) -> Result<Vec<FileVersion>> {
    let rel = rel.trim_matches('/');
    let mut out = Vec::new();
    for s in repo.snapshots()? {
        if s.manifest.profile != profile {
            continue;
        }
        let Some(node) = browse::find(repo, &s.manifest.tree, rel)? else {
            continue;
        };
        let mut h = blake3::Hasher::new();
        for id in &node.content {
            h.update(id.to_hex().as_bytes());
        }
        h.update(&node.link_target);
        if let Some(sub) = node.subtree {
            h.update(sub.to_hex().as_bytes());
        }
        out.push(FileVersion {
            snapshot: s.id.to_hex(),
            short_id: s.short_id.clone(),
            name: s.manifest.name.clone(),
            time_ms: s.manifest.time_ms,
            kind: node.kind,
            size: node.size,
            mtime_ns: node.mtime_ns,
            content: h.finalize().to_hex().to_string(),
            changed: true,
        });
    }
    for i in 0..out.len().saturating_sub(1) {
        out[i].changed = out[i].content != out[i + 1].content || out[i].kind != out[i + 1].kind;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::backup::{create, CreateOptions};
    use chrono::{TimeZone, Utc};
    use snap_store::OpenOptions;

    #[test]
    fn versions_are_newest_first_and_mark_changes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let repo = Repo::open_or_init(&dir.path().join("repo"), &OpenOptions::shared("t")).unwrap();
        let snap = |content: Option<&str>, extra: &str, minute: u32| {
            match content {
                Some(c) => std::fs::write(src.join("a.json"), c).unwrap(),
                None => {
                    let _ = std::fs::remove_file(src.join("a.json"));
                }
            }
            std::fs::write(src.join("other"), extra).unwrap();
            let mut o = CreateOptions::new("p", &src);
            o.now = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap());
            create(&repo, &o).unwrap().id
        };
        let s1 = snap(Some("1"), "x", 1);
        let s2 = snap(Some("1"), "y", 2); // a.json unchanged
        let _s3 = snap(None, "z", 3); // a.json gone
        let s4 = snap(Some("22"), "w", 4);
        let v = file_versions(&repo, "p", "/a.json").unwrap();
        let ids: Vec<&str> = v.iter().map(|v| v.snapshot.as_str()).collect();
        assert_eq!(ids, [s4.to_hex(), s2.to_hex(), s1.to_hex()]);
        assert_eq!(
            v.iter().map(|v| v.changed).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert_eq!(v[0].size, 2);
        assert_eq!(v[1].content, v[2].content);
        assert!(file_versions(&repo, "other-profile", "a.json")
            .unwrap()
            .is_empty());
    }
}
