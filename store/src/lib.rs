//! `snap-store`: bytes in, bytes out.
//!
//! A content-addressed blob store: blobs (file chunks and encoded trees) are
//! named by the blake3 of their plaintext, packed into immutable pack files
//! that carry their own header, and located through a SQLite index that is
//! only a cache and can always be rebuilt from the packs. Snapshot records
//! are opaque bytes stored as immutable files. Knows nothing about files,
//! folders or profiles: that is `snap-engine`'s job.
//!
//! ```
//! use snap_store::{BlobKind, OpenOptions, Repository, InitOptions};
//! # fn main() -> snap_store::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! Repository::init(dir.path(), &InitOptions::default())?;
//! let repo = Repository::open(dir.path(), &OpenOptions::shared("example"))?;
//! let writer = repo.writer();
//! let (id, new) = writer.put(BlobKind::Data, b"hello")?;
//! assert!(new);
//! writer.finish()?;
//! assert_eq!(repo.read_blob(&id)?, b"hello");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod backend;
pub mod check;
pub mod codec;
pub mod config;
pub mod crypto;
pub mod error;
pub mod fault;
pub mod fsutil;
pub mod gc;
pub mod id;
pub mod index;
pub mod key_cache;
pub mod key_change;
pub mod keyslot;
pub mod layout;
pub mod lock;
pub mod lock_object;
pub mod pack;
pub mod remote;
pub mod repo;
pub mod reserve;
pub mod storage;
pub mod unlock;

pub use check::{check, CheckOptions, CheckReport, Problem};
pub use config::{ChunkerParams, Compression, Config, InitEncryption, InitOptions};
pub use crypto::Keys;
pub use error::{Error, Result};
pub use gc::{GcPlan, GcReport, PackUsage};
pub use id::{resolve_prefix, BlobId, PackId, SnapshotId};
pub use index::rebuild::RebuildReport;
pub use key_cache::KeyCache;
pub use key_change::KeyInfo;
pub use keyslot::KdfParams;
pub use lock::{LockGuard, LockMode};
pub use pack::{BlobKind, BlobWriter, PackEntry, WriteStats};
pub use repo::{OpenOptions, ReadSession, Repository, Stats};
pub use unlock::{Unlock, MIN_PASSWORD_CHARS};
