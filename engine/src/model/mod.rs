//! Persisted types: what a snapshot, a tree, a profile and a retention
//! policy are, and how they are encoded. Nothing here reads the live folder
//! or runs a command; these modules depend only on [`crate::error`].

pub mod duration;
pub mod profile;
pub mod retention;
pub mod snapshot;
pub mod tags;
pub mod tree;
