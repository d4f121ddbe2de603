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
use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use snap_store::{fsutil, LockMode, Repository, SnapshotId};

use crate::error::{Error, Result};
use crate::repo::Repo;

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
const MAX_TAG_LEN: usize = 100;

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
fn update(
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
    if rec == TagRecord::default() {
        return self::remove(store, id);
    }
    fsutil::create_dir_durable(&dir)?;
    let json = Record {
        version: RECORD_VERSION,
        snapshot: id.to_hex(),
        tags: rec.added,
        removed: rec.removed,
    };
    fsutil::atomic_write(
        &store.tmp_dir(),
        &dir.join(id.to_hex()),
        &store.seal_file(
            TAGS_KIND,
            &serde_json::to_vec(&json).expect("tag record serialises"),
        ),
    )?;
    Ok(())
}

/// What [`change`] did to one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct TagReport {
    /// The snapshot's full id.
    pub id: SnapshotId,
    /// Its short id.
    pub short_id: String,
    /// Its name.
    pub name: String,
    /// Its profile.
    pub profile: String,
    /// Its tags before the change.
    pub before: Vec<String>,
    /// Its tags now.
    pub tags: Vec<String>,
    /// Whether anything changed on disk.
    pub changed: bool,
}

/// Adds the tags `add` to and removes the tags `remove` from the snapshot
/// `snapshot` (as a user types it: id, prefix, name, `latest~N`, within
/// `profile` when given), durably, through its tag record. Pinning is
/// `change(repo, id, None, &["keep".into()], &[])`; unpinning removes
/// `keep`, also when the snapshot was created with it (the record then
/// lists it as removed). `forget` and retention see the result at once.
///
/// # Errors
/// An unknown or ambiguous snapshot; a tag that is empty, longer than 100
/// bytes or holds whitespace, a control character or a comma; a tag both
/// added and removed; lock and I/O errors (the record is then unchanged).
pub fn change(
    repo: &Repo,
    snapshot: &str,
    profile: Option<&str>,
    add: &[String],
    remove: &[String],
) -> Result<TagReport> {
    for t in add.iter().chain(remove) {
        validate(t)?;
        if add.contains(t) && remove.contains(t) {
            return Err(Error::Invalid {
                what: "tag",
                value: t.clone(),
                reason: "both added and removed".into(),
            });
        }
    }
    let s = repo.resolve(snapshot, profile)?;
    let manifest = repo.manifest_tags(&s.id)?;
    update(repo.store(), &s.id, &manifest, add, remove)?;
    let tags = load(repo.store(), &s.id).apply(&manifest);
    Ok(TagReport {
        id: s.id,
        short_id: s.short_id,
        name: s.manifest.name,
        profile: s.manifest.profile,
        changed: tags != s.manifest.tags,
        before: s.manifest.tags,
        tags,
    })
}

/// A tag as `snap tag` and the page accept it.
fn validate(tag: &str) -> Result<()> {
    let reason = if tag.is_empty() {
        "a tag cannot be empty"
    } else if tag.len() > MAX_TAG_LEN {
        "a tag is at most 100 bytes"
    } else if tag
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ',')
    {
        "a tag cannot hold spaces, control characters or commas"
    } else {
        return Ok(());
    };
    Err(Error::Invalid {
        what: "tag",
        value: tag.into(),
        reason: reason.into(),
    })
}

/// The record for `id` (empty when there is no readable record).
fn load(store: &Repository, id: &SnapshotId) -> TagRecord {
    read(store, &store.root().join(TAGS_DIR).join(id.to_hex()), id).unwrap_or_default()
}

/// The record at `path` for snapshot `id`: `None` when it is unreadable,
/// does not authenticate, or belongs to another snapshot or version.
fn read(store: &Repository, path: &Path, id: &SnapshotId) -> Option<TagRecord> {
    let bytes = fs::read(path).ok()?;
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
    let Ok(rd) = fs::read_dir(store.root().join(TAGS_DIR)) else {
        return out;
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(id) = name.to_str().and_then(|n| SnapshotId::from_hex(n).ok()) else {
            continue;
        };
        if let Some(rec) = read(store, &ent.path(), &id) {
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
    if fs::symlink_metadata(&path).is_ok() {
        fsutil::remove_durable(&path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use snap_store::{InitOptions, OpenOptions};

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
