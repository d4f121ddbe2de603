//! Persisted types: what a snapshot, a tree, a profile and a retention
//! policy are, and how they are encoded. Nothing here reads the live folder
//! or runs a command; these modules depend only on [`crate::error`].

pub mod duration;
pub mod profile;
pub mod retention;
pub mod snapshot;
pub mod tags;
pub mod tree;

/// The files SQLite keeps beside a database `x`: `x-wal`, `x-shm` and
/// `x-journal`. They belong to the database and go with it: the scan
/// captures them together, a `--path` restore swaps them together.
pub const SQLITE_SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];
