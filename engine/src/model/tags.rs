//! Tags added to a committed snapshot after the fact.
//!
//! A snapshot file is immutable and named by the blake3 of its bytes, so a
//! tag cannot be written into it. Tags added later (today only
//! `pre-restore`, when an in-place restore finds the live profile identical
//! to an existing snapshot) live in a side record `tags/<snapshot hex>`,
//! sealed like `profiles.json` in an encrypted
//! repository and written with the one atomic write (temp file, `fsync`, rename, directory
//! `fsync`): after a crash the record is either absent or complete. Readers
//! merge its tags into the manifest's ([`crate::Repo::snapshots`]); a record
//! whose snapshot is gone is ignored and removed with the snapshot. The
//! layout is in FORMAT.md ("Tag records").

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use snap_store::{fsutil, Repository, SnapshotId};

use crate::error::Result;

/// The directory of tag records, inside the repository.
pub const TAGS_DIR: &str = "tags";

/// The kind a tag record is sealed under in an encrypted repository.
const TAGS_KIND: &str = "tags";

/// The version of a tag record this build writes and reads.
const RECORD_VERSION: u32 = 1;

/// One tag record: `tags/<snapshot hex>`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    version: u32,
    snapshot: String,
    tags: Vec<String>,
}

/// Adds `tag` to snapshot `id` durably (no-op when the record already has it).
///
/// # Errors
/// I/O errors writing the record.
pub fn add(store: &Repository, id: &SnapshotId, tag: &str) -> Result<()> {
    let mut tags = load(store, id);
    if tags.iter().any(|t| t == tag) {
        return Ok(());
    }
    tags.push(tag.to_string());
    let dir = store.root().join(TAGS_DIR);
    fsutil::create_dir_durable(&dir)?;
    let rec = Record {
        version: RECORD_VERSION,
        snapshot: id.to_hex(),
        tags,
    };
    store.write_repo_file(
        &dir.join(id.to_hex()),
        &store.seal_file(
            TAGS_KIND,
            &serde_json::to_vec(&rec).expect("tag record serialises"),
        ),
    )?;
    Ok(())
}

/// The tags recorded for `id` (empty when there is no readable record).
fn load(store: &Repository, id: &SnapshotId) -> Vec<String> {
    read(store, &store.root().join(TAGS_DIR).join(id.to_hex()), id).unwrap_or_default()
}

/// The tags of the record at `path` for snapshot `id`: `None` when it is
/// unreadable, does not authenticate, or belongs to another snapshot or version.
fn read(store: &Repository, path: &Path, id: &SnapshotId) -> Option<Vec<String>> {
    let bytes = store.read_repo_file(path).ok()?;
    let plain = store.open_file(TAGS_KIND, path, &bytes).ok()?;
    serde_json::from_slice::<Record>(&plain)
        .ok()
        .filter(|r| r.version == RECORD_VERSION && r.snapshot == id.to_hex())
        .map(|r| r.tags)
}

/// Every tag record, by snapshot. Unreadable records and records of an
/// unknown version are left out (their snapshots keep their own tags).
pub fn load_all(store: &Repository) -> HashMap<SnapshotId, Vec<String>> {
    let mut out = HashMap::new();
    let dir = store.root().join(TAGS_DIR);
    let Ok(names) = store.list_repo_dir(&dir) else {
        return out;
    };
    for name in names {
        let Ok(id) = SnapshotId::from_hex(&name) else {
            continue;
        };
        if let Some(tags) = read(store, &dir.join(&name), &id) {
            out.insert(id, tags);
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
        assert_eq!(all[&a], ["pre-restore", "keep"]);
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
