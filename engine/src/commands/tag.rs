//! `snap tag`: adding and removing tags of a committed snapshot (pin and
//! unpin with `keep`), through its tag record ([`crate::tags`]).

use serde::Serialize;
use snap_store::SnapshotId;

use crate::error::{Error, Result};
use crate::model::tags::{load, update, MAX_TAG_LEN};
use crate::repo::Repo;

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
