//! Head records: per synced profile, which snapshot of a shared repository
//! is current (FORMAT.md "Sync heads"). A head is only ever moved with a
//! compare-and-swap on the object's version ([`Precondition::Absent`] for
//! the first head, [`Precondition::Matches`] for the next), so two devices
//! that push at once cannot both win.

use serde::{Deserialize, Serialize};
use snap_store::backend::{Precondition, Version};
use snap_store::SnapshotId;

use crate::error::{Error, Result};
use crate::model::profile::Scope;
use crate::repo::Repo;

/// The folder of head records in a shared repository.
pub const HEADS_DIR: &str = "heads";
/// The kind a head record is sealed under in an encrypted repository.
pub const HEAD_KIND: &str = "head";
/// The head record version this build writes and reads.
pub const HEAD_VERSION: u32 = 1;

/// The scope a pushed snapshot was made with, recorded in its head so a
/// pull knows what to carry over from the local profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadScope {
    /// The scope's name in the pushing profile.
    pub name: String,
    /// Paths left out of the pushed snapshot.
    pub exclude: Vec<String>,
    /// JSON keys whose values were removed.
    pub redact_keys: Vec<String>,
}

impl HeadScope {
    /// The scope `name` with its patterns.
    pub fn new(name: &str, scope: &Scope) -> Self {
        HeadScope {
            name: name.into(),
            exclude: scope.exclude.clone(),
            redact_keys: scope.redact_keys.clone(),
        }
    }
}

/// A head record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Always [`HEAD_VERSION`].
    pub version: u32,
    /// The profile.
    pub profile: String,
    /// The current snapshot, committed in the shared repository.
    pub snapshot: SnapshotId,
    /// The device that pushed it.
    pub device: String,
    /// That device's host name.
    pub host: String,
    /// When it was pushed (RFC 3339, UTC).
    pub time: String,
    /// The head before this one (`None` for the first).
    pub previous: Option<SnapshotId>,
    /// The scope applied to the pushed snapshot (`None`: everything).
    pub scope: Option<HeadScope>,
}

/// The object key of `profile`'s head: `heads/<name>`, or in an encrypted
/// repository `heads/n-<16 hex>` (the name hidden with the name key, as
/// lock names are).
pub fn head_key(shared: &Repo, profile: &str) -> String {
    match shared.store().keys() {
        Some(k) => format!("{HEADS_DIR}/n-{}", k.hide_name(&format!("head-{profile}"))),
        None => format!("{HEADS_DIR}/{profile}"),
    }
}

/// The head of `profile` and its version, or `None` when none was pushed.
/// The version is read before and after the record and must agree, so the
/// record returned is the one the version names.
///
/// # Errors
/// Remote or I/O errors; [`Error::Format`] for a record that does not
/// open, parse, has another version or names another profile.
pub fn read(shared: &Repo, profile: &str) -> Result<Option<(Head, Version)>> {
    let backend = shared.store().storage().backend();
    let key = head_key(shared, profile);
    let path = shared.store().storage().display_path(&key);
    for _ in 0..10 {
        let Some(before) = backend.version(&key)? else {
            return Ok(None);
        };
        let bytes = match backend.read(&key) {
            Ok(b) => b,
            Err(snap_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if backend.version(&key)?.as_ref() != Some(&before) {
            continue;
        }
        let plain = shared.store().open_file(HEAD_KIND, &path, &bytes)?;
        let head: Head = serde_json::from_slice(&plain).map_err(|e| Error::Format {
            path: path.clone(),
            detail: format!("head record does not parse: {e}"),
        })?;
        if head.version != HEAD_VERSION {
            return Err(Error::Format {
                path,
                detail: format!(
                    "head record version {} is not supported (this build reads {HEAD_VERSION})",
                    head.version
                ),
            });
        }
        if head.profile != profile {
            return Err(Error::Format {
                path,
                detail: format!("head record names profile {:?}", head.profile),
            });
        }
        return Ok(Some((head, before)));
    }
    Err(Error::Format {
        path,
        detail: "head record changes faster than it can be read".into(),
    })
}

/// Writes `head` when the stored head is still `expected` (`None`: when
/// there is none). Returns the new version.
///
/// # Errors
/// [`snap_store::Error::Conflict`] (inside [`Error::Store`]) when the head
/// moved; nothing was written then. Remote or I/O errors.
pub fn swap(shared: &Repo, head: &Head, expected: Option<&Version>) -> Result<Version> {
    let key = head_key(shared, &head.profile);
    let json = serde_json::to_vec_pretty(head).expect("head serialises");
    let bytes = shared.store().seal_file(HEAD_KIND, &json);
    if let Some(dir) = shared.store().storage().dir() {
        snap_store::fsutil::create_dir_durable(&dir.join(HEADS_DIR))?;
    }
    let when = match expected {
        Some(v) => Precondition::Matches(v.clone()),
        None => Precondition::Absent,
    };
    Ok(shared
        .store()
        .storage()
        .backend()
        .write(&key, &bytes, when)?)
}
