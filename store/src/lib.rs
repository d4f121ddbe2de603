//! `snap-store`: bytes in, bytes out.
//!
//! A content-addressed blob store: blobs (file chunks and encoded trees) are
//! named by the blake3 of their plaintext, packed into immutable pack files
//! that carry their own header, and located through a SQLite index that is
//! only a cache and can always be rebuilt from the packs. Snapshot records
//! are opaque bytes stored as immutable files. Knows nothing about files,
//! folders or profiles: that is `snap-engine`'s job.
#![deny(missing_docs)]

pub mod error;
pub mod fsutil;
pub mod id;

pub use error::{Error, Result};
pub use id::{BlobId, PackId, SnapshotId};
