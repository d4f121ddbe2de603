//! `snap-engine`: snapshots of profile directories.
//!
//! The library a desktop application embeds: profiles, snapshots with change
//! detection, restore, rotation, garbage collection, auto-snapshots, and the
//! ZIP and vault views of a snapshot.
#![deny(missing_docs)]

pub mod error;
pub mod export;

pub use error::{Error, Result};
