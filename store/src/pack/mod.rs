//! Pack files: immutable containers of blobs that carry their own header.
//!
//! A pack alone is enough to rebuild its index entries; see FORMAT.md for
//! the byte layout.

pub mod format;
pub mod reader;
pub mod runs;
pub mod writer;

pub use format::{BlobKind, PackEntry};
pub use writer::{BlobWriter, WriteStats};
