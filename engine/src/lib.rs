//! `snap-engine`: snapshots of profile directories.
//!
//! The library a desktop application embeds: profiles, snapshots with change
//! detection, restore, rotation, garbage collection, auto-snapshots, and the
//! ZIP and vault views of a snapshot.
//!
//! ```
//! use snap_engine::{backup::{create, CreateOptions, CreateStatus}, restore::{restore, RestoreOptions}, Repo};
//! use snap_store::OpenOptions;
//! # fn main() -> snap_engine::Result<()> {
//! let repo_dir = tempfile::tempdir().unwrap();
//! let profile = tempfile::tempdir().unwrap();
//! std::fs::write(profile.path().join("settings.json"), b"{\"theme\":\"dark\"}").unwrap();
//!
//! let repo = Repo::open_or_init(&repo_dir.path().join("repo"), &OpenOptions::shared("example"))?;
//! let first = create(&repo, &CreateOptions::new("app", profile.path()))?;
//! assert_eq!(first.status, CreateStatus::Created);
//! // Nothing changed: no new snapshot.
//! assert_eq!(create(&repo, &CreateOptions::new("app", profile.path()))?.status, CreateStatus::Unchanged);
//!
//! let target = repo_dir.path().join("restored");
//! let snap = repo.resolve("latest", Some("app"))?;
//! restore(&repo, &snap, &RestoreOptions { target: Some(target.clone()), ..Default::default() })?;
//! assert_eq!(std::fs::read(target.join("settings.json")).unwrap(), b"{\"theme\":\"dark\"}");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod auto;
pub mod backup;
pub mod browse;
pub mod check;
pub mod chunker;
pub mod diff;
pub mod duration;
pub mod error;
pub mod export;
pub mod filter;
pub mod forget;
pub mod gc;
mod hint;
pub mod import;
mod in_use;
pub mod last_check;
pub mod live;
mod materialize;
pub mod profile;
pub mod registry;
pub mod repair;
pub mod repo;
pub mod restore;
mod restore_paths;
mod restore_progress;
pub mod retention;
pub mod scan;
pub mod snapshot;
pub mod sqlite;
pub mod tags;
pub mod textdiff;
pub mod tree;
pub mod versions;

pub use error::{Error, Result};
pub use repo::Repo;
