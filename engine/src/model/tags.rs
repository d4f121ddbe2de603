//! Tags changed on a committed snapshot after the fact: pins (`keep`)
//! added and removed from the page or `snap tag`, and the `pre-restore`
//! tag an in-place restore gives an existing snapshot that equals the live
//! profile.
//!
//! A snapshot file is immutable and named by the blake3 of its bytes, so a
//! tag cannot be written into it. Tags added later live in a side record
//! `tags/<snapshot hex>`, which may also list manifest tags that were
//! removed (`removed`; an older snap ignores that field and keeps the tag:
//! the safe direction for a pin). The record is sealed like
//! `profiles.json` in an encrypted repository and written with the one
//! atomic write (temp file, `fsync`, rename, directory `fsync`): after a
//! crash it is either the old record or the new one. Read-modify-write of
//! a record happens under the repository's named lock `tags`. Readers apply
//! it to the manifest's tags ([`crate::Repo::snapshots`]); a record whose
//! snapshot is gone is ignored and removed with the snapshot. The layout is
//! in FORMAT.md ("Tag records").

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use snap_store::{fsutil, LockMode, Repository, SnapshotId};

use crate::error::Result;

/// The directory of tag records, inside the repository.
pub const TAGS_DIR: &str = "tags";

/// The kind a tag record is sealed under in an encrypted repository.
const TAGS_KIND: &str = "tags";

/// The version of a tag record this build writes and reads.
const RECORD_VERSION: u32 = 1;

/// The named lock held while a record is read, changed and written.
const TAGS_LOCK: &str = "tags";

/// How long a tag change waits for another one on the same repository.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The longest tag accepted, in bytes.
pub(crate) const MAX_TAG_LEN: usize = 100;

/// One tag record: `tags/<snapshot hex>`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    version: u32,
    snapshot: String,
    tags: Vec<String>,
    /// Manifest tags taken away (absent when none; older builds ignore it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removed: Vec<String>,
}

/// What a tag record changes on its snapshot's manifest tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagRecord {
    /// Tags added after the commit.
    pub added: Vec<String>,
    /// Manifest tags removed after the commit.
    pub removed: Vec<String>,
}

impl TagRecord {
    /// The effective tags: `manifest` without `removed`, then `added`
    /// (no duplicates, manifest order first).
    pub fn apply(&self, manifest: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in manifest.iter().chain(&self.added) {
            if !self.removed.contains(t) && !out.contains(t) {
                out.push(t.clone());
            }
        }
        out
    }
}

/// Adds `tag` to snapshot `id` durably (no-op when the record already has it).
///
/// # Errors
/// Lock and I/O errors writing the record.
pub fn add(store: &Repository, id: &SnapshotId, tag: &str) -> Result<()> {
    update(store, id, &[], &[tag.to_string()], &[])
}

/// Rewrites the record of `id` under the `tags` lock so that the effective
/// tags of a snapshot whose manifest has `manifest` gain `add` and lose
/// `remove`. An empty result deletes the record; an unchanged one is not
/// rewritten.
pub(crate) fn update(
    store: &Repository,
    id: &SnapshotId,
    manifest: &[String],
    add: &[String],
    remove: &[String],
) -> Result<()> {
    let _lock = store.lock_named(TAGS_LOCK, LockMode::Exclusive, "tag", LOCK_WAIT)?;
    let before = load(store, id);
    let mut rec = before.clone();
    for t in add {
        rec.removed.retain(|r| r != t);
        if !manifest.contains(t) && !rec.added.contains(t) {
            rec.added.push(t.clone());
        }
    }
    for t in remove {
        rec.added.retain(|a| a != t);
        if manifest.contains(t) && !rec.removed.contains(t) {
            rec.removed.push(t.clone());
        }
    }
    if rec == before {
        return Ok(());
    }
    let dir = store.root().join(TAGS_DIR);
    let path = dir.join(id.to_hex());
    let previous = store.read_repo_file(&path).ok();
    let written = if rec == TagRecord::default() {
        self::remove(store, id)
    } else {
        let json = Record {
            version: RECORD_VERSION,
            snapshot: id.to_hex(),
            tags: rec.added,
            removed: rec.removed,
        };
        fsutil::create_dir_durable(&dir)
            .and_then(|()| {
                store.write_repo_file(
                    &path,
                    &store.seal_file(
                        TAGS_KIND,
                        &serde_json::to_vec(&json).expect("tag record serialises"),
                    ),
                )
            })
            .map_err(Into::into)
    };
    if written.is_err() {
        // A rename that happened before a failed directory flush would
        // leave the change visible although it is reported as failed: put
        // back what was there (best effort; the error is what is reported).
        let _ = match &previous {
            Some(bytes) => store.write_repo_file(&path, bytes),
            None => store.remove_repo_file(&path),
        };
    }
    written
}

/// The record for `id` (empty when there is no readable record).
pub(crate) fn load(store: &Repository, id: &SnapshotId) -> TagRecord {
    read(store, &store.root().join(TAGS_DIR).join(id.to_hex()), id).unwrap_or_default()
}

/// The record at `path` for snapshot `id`: `None` when it is unreadable,
/// does not authenticate, or belongs to another snapshot or version.
fn read(store: &Repository, path: &Path, id: &SnapshotId) -> Option<TagRecord> {
    let bytes = store.read_repo_file(path).ok()?;
    let plain = store.open_file(TAGS_KIND, path, &bytes).ok()?;
    serde_json::from_slice::<Record>(&plain)
        .ok()
        .filter(|r| r.version == RECORD_VERSION && r.snapshot == id.to_hex())
        .map(|r| TagRecord {
            added: r.tags,
            removed: r.removed,
        })
}

/// Every tag record, by snapshot. Unreadable records and records of an
/// unknown version are left out (their snapshots keep their own tags).
pub fn load_all(store: &Repository) -> HashMap<SnapshotId, TagRecord> {
    let mut out = HashMap::new();
    let dir = store.root().join(TAGS_DIR);
    let Ok(names) = store.list_repo_dir(&dir) else {
        return out;
    };
    for name in names {
        let Ok(id) = SnapshotId::from_hex(&name) else {
            continue;
        };
        if let Some(rec) = read(store, &dir.join(&name), &id) {
            out.insert(id, rec);
        }
    }
    out
}

/// Removes the tag record of `id`, if any (after its snapshot is deleted).
///
/// # Errors
/// I/O errors removing the record.
pub fn remove(store: &Repository, id: &SnapshotId) -> Result<()> {
    let path = store.root().join(TAGS_DIR).join(id.to_hex());
    store.remove_repo_file(&path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use snap_store::{InitOptions, OpenOptions};
    use std::fs;

    #[test]
    fn records_add_merge_and_are_ignored_when_foreign_or_unknown() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("repo");
        Repository::init(&root, &InitOptions::default()).unwrap();
        let store = Repository::open(&root, &OpenOptions::shared("test")).unwrap();
        let (a, b) = (SnapshotId::of(b"a"), SnapshotId::of(b"b"));
        add(&store, &a, "pre-restore").unwrap();
        add(&store, &a, "pre-restore").unwrap();
        add(&store, &a, "keep").unwrap();
        let all = load_all(&store);
        assert_eq!(all.len(), 1);
        assert_eq!(all[&a].added, ["pre-restore", "keep"]);
        // Removing a manifest tag is recorded; adding it back clears that.
        let manifest = vec!["keep".to_string(), "import".to_string()];
        update(
            &store,
            &a,
            &manifest,
            &[],
            &["keep".into(), "pre-restore".into()],
        )
        .unwrap();
        let rec = &load_all(&store)[&a];
        assert_eq!(rec.added, Vec::<String>::new());
        assert_eq!(rec.removed, ["keep"]);
        assert_eq!(rec.apply(&manifest), ["import"]);
        update(&store, &a, &manifest, &["keep".into()], &[]).unwrap();
        assert!(load_all(&store).is_empty(), "an empty record is deleted");
        add(&store, &a, "pre-restore").unwrap();
        // A record under another snapshot's name, and one of a future
        // version, are ignored.
        let dir = root.join(TAGS_DIR);
        fs::copy(dir.join(a.to_hex()), dir.join(b.to_hex())).unwrap();
        fs::write(
            dir.join(SnapshotId::of(b"c").to_hex()),
            br#"{"version":2,"snapshot":"x","tags":["pre-restore"]}"#,
        )
        .unwrap();
        assert_eq!(load_all(&store).len(), 1);
        remove(&store, &a).unwrap();
        remove(&store, &a).unwrap();
        assert!(load_all(&store).is_empty());
    }
}
