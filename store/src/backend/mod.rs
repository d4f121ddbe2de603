//! Where a repository's bytes live: the storage seam.
//!
//! Everything the store knows about a repository's *files* (packs, snapshot
//! records, config, profiles, heads) is one of these operations on a
//! [`Backend`]: read a whole object or a byte range of it, write one
//! (unconditionally, only if absent, or only if it is still the version the
//! caller read), list a prefix, delete. What the bytes *mean* (pack format,
//! codec, index) lives above this seam and is the same for every backend.
//!
//! Keys are `/`-separated relative paths (`packs/ab/<64 hex>`,
//! `snapshots/<64 hex>`, `config.json`), the same on every backend, so a
//! repository copied from a directory to a bucket (or back) with any tool
//! opens unchanged.
//!
//! Three implementations:
//! - [`local::LocalBackend`]: a directory, with the repository's durability
//!   protocol (temporary file, `fsync`, rename, directory `fsync`);
//! - [`memory::MemoryBackend`]: a map in memory, for unit tests;
//! - [`s3::S3Backend`]: any S3-compatible object store, through Apache
//!   OpenDAL.

pub mod local;
pub mod memory;
pub mod s3;

use std::fmt;

use crate::error::{Error, Result};

/// An object's version as its backend sees it: an ETag on an object store,
/// a hash of the content in a directory or in memory. Only compared for
/// equality, in [`Precondition::Matches`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Version(pub String);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One object found by [`Backend::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key, relative to the repository.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// When a [`Backend::write`] may replace what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Always (content-addressed objects, whose bytes are their name).
    None,
    /// Only when no object has this key (`If-None-Match: *`).
    Absent,
    /// Only when the stored object is still this version (`If-Match`).
    Matches(Version),
}

/// What [`Backend::create`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was written.
    New,
    /// An object with this key was already there; nothing was written.
    Existed,
}

/// The operations a repository needs from where its bytes live.
///
/// Every method names the object in its errors ([`Error::Remote`],
/// [`Error::Io`], [`Error::NotFound`]); a write that returns `Ok` is durable
/// (flushed to disk, or acknowledged by the object store).
pub trait Backend: Send + Sync + fmt::Debug {
    /// Where the repository is, for messages: a directory or `s3://bucket/prefix`.
    fn location(&self) -> &str;

    /// The whole object.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no object with this key.
    fn read(&self, key: &str) -> Result<Vec<u8>>;

    /// Exactly `len` bytes of the object from `offset`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no object with this key; an error
    /// naming the object when it ends before `offset + len` (a truncated
    /// pack).
    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>>;

    /// The object's version, or `None` when it does not exist.
    fn version(&self, key: &str) -> Result<Option<Version>>;

    /// Writes the object when `when` holds, atomically: a reader sees the
    /// old object or the new one, never part of either. Returns the new
    /// version.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the precondition does not hold (nothing was
    /// written).
    fn write(&self, key: &str, bytes: &[u8], when: Precondition) -> Result<Version>;

    /// Every object whose key starts with `prefix`, sorted by key.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;

    /// Removes the object; removing one that is not there is not an error.
    fn delete(&self, key: &str) -> Result<()>;

    /// Writes a write-once object (a pack, a snapshot record, named by its
    /// content): [`Created::Existed`] when it was already there, which for
    /// content-addressed keys means the same bytes are stored.
    fn create(&self, key: &str, bytes: &[u8]) -> Result<Created> {
        match self.write(key, bytes, Precondition::Absent) {
            Ok(_) => Ok(Created::New),
            Err(Error::Conflict { .. }) => Ok(Created::Existed),
            Err(e) => Err(e),
        }
    }
}

/// Refuses keys that could leave the repository (`..`, absolute, empty
/// segments), so no backend has to trust its callers' strings.
pub(crate) fn check_key(location: &str, key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.ends_with('/')
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || key.contains('\\')
        || key.contains('\0');
    if bad {
        return Err(Error::Invalid {
            what: "object key",
            detail: format!("{key:?} in {location}"),
        });
    }
    Ok(())
}

/// The error for a range that runs past the end of `key` (`size` bytes).
pub(crate) fn short_object(key: &str, offset: u64, len: u64, size: u64) -> Error {
    Error::corrupt(
        key,
        Some(offset),
        format!("{len} bytes wanted, but the object ends at {size}"),
    )
}

/// The content hash used as the version by backends without one of their own.
pub(crate) fn content_version(bytes: &[u8]) -> Version {
    Version(blake3::hash(bytes).to_hex()[..32].to_string())
}

/// The behaviour every backend must show, run by each backend's tests
/// (and by the SeaweedFS test in the top-level suite).
#[cfg(any(test, feature = "testing"))]
pub mod contract {
    use super::*;

    /// Runs every check on `b`, which must be empty.
    ///
    /// # Panics
    /// On the first behaviour that differs from the [`Backend`] contract.
    pub fn run(b: &dyn Backend) {
        assert!(
            b.list("").unwrap().is_empty(),
            "{} is not empty",
            b.location()
        );
        assert!(matches!(b.read("config.json"), Err(Error::NotFound { .. })));
        assert_eq!(b.version("config.json").unwrap(), None);

        // Write-once objects.
        assert_eq!(b.create("packs/ab/one", b"pack one").unwrap(), Created::New);
        assert_eq!(
            b.create("packs/ab/one", b"pack one").unwrap(),
            Created::Existed
        );
        assert_eq!(b.read("packs/ab/one").unwrap(), b"pack one");
        assert_eq!(b.read_range("packs/ab/one", 5, 3).unwrap(), b"one");
        assert!(
            b.read_range("packs/ab/one", 5, 100).is_err(),
            "short range read accepted"
        );
        assert_eq!(b.read_range("packs/ab/one", 0, 0).unwrap(), b"");

        // Compare-and-swap.
        let v1 = b.write("heads/app", b"h1", Precondition::Absent).unwrap();
        assert!(matches!(
            b.write("heads/app", b"h1'", Precondition::Absent),
            Err(Error::Conflict { .. })
        ));
        assert_eq!(b.version("heads/app").unwrap(), Some(v1.clone()));
        let v2 = b
            .write("heads/app", b"h2", Precondition::Matches(v1.clone()))
            .unwrap();
        assert_ne!(v1, v2);
        assert!(matches!(
            b.write("heads/app", b"h3", Precondition::Matches(v1)),
            Err(Error::Conflict { .. })
        ));
        assert_eq!(b.read("heads/app").unwrap(), b"h2");
        let v3 = b.write("heads/app", b"h3", Precondition::None).unwrap();
        assert_eq!(b.version("heads/app").unwrap(), Some(v3));

        // Listing and deleting.
        b.create("snapshots/s2", b"two").unwrap();
        b.create("snapshots/s1", b"one").unwrap();
        let listed = b.list("snapshots/").unwrap();
        assert_eq!(
            listed,
            vec![
                ObjectInfo {
                    key: "snapshots/s1".into(),
                    size: 3
                },
                ObjectInfo {
                    key: "snapshots/s2".into(),
                    size: 3
                },
            ]
        );
        assert_eq!(b.list("").unwrap().len(), 4);
        b.delete("snapshots/s1").unwrap();
        b.delete("snapshots/s1").unwrap();
        assert_eq!(b.list("snapshots/").unwrap().len(), 1);
        assert!(matches!(
            b.read("snapshots/s1"),
            Err(Error::NotFound { .. })
        ));

        // Keys that could escape are refused before any I/O.
        for key in ["../x", "/etc/passwd", "packs//x", "a/./b", "", "a\\b"] {
            assert!(
                matches!(b.read(key), Err(Error::Invalid { .. })),
                "{key:?} accepted by {}",
                b.location()
            );
        }
    }
}
