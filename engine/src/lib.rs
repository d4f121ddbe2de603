//! `snap-engine`: snapshots of profile directories.
//!
//! The library a desktop application embeds: profiles, snapshots with change
//! detection, restore, rotation, garbage collection, auto-snapshots, and the
//! ZIP and vault views of a snapshot. Bytes and ids (packs, the index, locks,
//! atomic writes) are `snap-store`'s; this crate knows files and folders.
//!
//! # Embedding
//!
//! What an application uses is re-exported at the crate root: open a
//! repository ([`Repo`]), [`create`], list ([`Repo::snapshots`]), [`restore`],
//! export ([`export_snapshot_to_file`]), [`import`], [`forget`], [`gc`],
//! check ([`check_snapshots`]), the profile and policy types ([`Profile`],
//! [`Policy`]) and the one error type ([`Error`]).
//!
//! ```
//! use snap_engine::{
//!     check_snapshots, create, export_snapshot_to_file, forget, gc, import, open_archive,
//!     restore, ArchiveOptions, CreateOptions, CreateStatus, ExportOptions, FileFormat,
//!     ForgetOptions, GcOptions, ImportOptions, Policy, Repo, RestoreOptions,
//! };
//! use snap_store::OpenOptions;
//! # fn main() -> snap_engine::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let profile = dir.path().join("profile");
//! std::fs::create_dir(&profile).unwrap();
//! std::fs::write(profile.join("settings.json"), b"{\"theme\":\"dark\"}").unwrap();
//!
//! // Open (or create) a repository and take a snapshot.
//! let repo = Repo::open_or_init(&dir.path().join("repo"), &OpenOptions::shared("example"))?;
//! let first = create(&repo, &CreateOptions::new("app", &profile))?;
//! assert_eq!(first.status, CreateStatus::Created);
//! // Nothing changed: no new snapshot.
//! assert_eq!(create(&repo, &CreateOptions::new("app", &profile))?.status, CreateStatus::Unchanged);
//! assert_eq!(repo.snapshots()?.len(), 1);
//!
//! // Restore it into a new folder.
//! let target = dir.path().join("restored");
//! let snap = repo.resolve("latest", Some("app"))?;
//! restore(&repo, &snap, &RestoreOptions { target: Some(target.clone()), ..Default::default() })?;
//! assert_eq!(std::fs::read(target.join("settings.json")).unwrap(), b"{\"theme\":\"dark\"}");
//!
//! // Export it as a ZIP and import that as a snapshot of another profile.
//! let zip = dir.path().join("app.zip");
//! export_snapshot_to_file(&repo, &snap, &ExportOptions::default(), FileFormat::Zip, &zip, None)?;
//! let archive = open_archive(&zip, &ArchiveOptions::default())?;
//! let imported = import(&repo, &archive, "copy", &ImportOptions::default())?;
//! assert_eq!(imported.manifest.content_digest, snap.manifest.content_digest);
//!
//! // Every snapshot reads back whole.
//! assert!(check_snapshots(&repo)?.problems.is_empty());
//!
//! // Rotate by a policy (here: the newest snapshot of each profile), then
//! // reclaim what no snapshot references.
//! let policy = Policy { keep_last: Some(1), ..Policy::default() };
//! forget(&repo, &ForgetOptions { policy: Some(policy), ..Default::default() })?;
//! assert_eq!(repo.snapshots()?.len(), 2);
//! // gc needs the repository to itself: the exclusive lock.
//! drop(repo);
//! let repo = Repo::open(&dir.path().join("repo"), &OpenOptions::exclusive("example gc"))?;
//! gc(&repo, &GcOptions::default())?;
//! # Ok(()) }
//! ```
//!
//! # Module map
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | persisted types: [`snapshot`](model::snapshot) (manifest, summary, names), [`tree`](model::tree) (nodes, the content digest), [`profile`](model::profile) (`profiles.json`), [`retention`](model::retention) (the policy and its decisions), [`duration`](model::duration), [`tags`](model::tags) |
//! | [`source`] | the live folder: [`scan`](source::scan) (full, or hinted: one scan, two modes), [`filter`](source::filter), [`sqlite`](source::sqlite) (consistent capture), the stat cache of change detection, [`live`](source::live) (the live tree against a snapshot), files open by other processes |
//! | [`commands`] | one module per operation: [`backup`](commands::backup) (`create`), [`restore`](commands::restore), [`forget`](commands::forget), [`gc`](commands::gc), [`check`](commands::check), [`repair`](commands::repair), [`browse`](commands::browse), [`diff`](commands::diff), [`textdiff`](commands::textdiff), [`versions`](commands::versions), [`auto`](commands::auto), [`import`](commands::import), [`copy`](commands::copy) (snapshots from one repository to another), [`registry`](commands::registry) (the `profiles.json` protocol); `commit.rs` is the one commit path every new snapshot takes |
//! | `recovery` | interrupted restores: the restore journal (`journal/`) and the in-place `--path` swap protocol; [`Repo::open`] finishes what a crash left |
//! | [`export`] | archives: ZIP and `.stvault` writing, archive reading and validation (`read.rs`), export history, StakTrakr payloads |
//! | [`repo`] | [`Repo`], the handle over a `snap-store` repository: snapshots, trees, resolving ids |
//! | [`sync`] (in `commands/sync/`) | a profile kept in step across machines through a shared repository: head records moved by compare-and-swap, push, pull, status |
//! | [`space`] | free space: the one `statvfs` of the engine |
//! | `flush` | making a written tree durable: writeback while a restore or an extraction writes, one `syncfs` before the rename |
//! | [`chunker`] | content-defined chunking of a byte stream |
//! | [`error`] | [`Error`], the crate's one error enum |
//!
//! Where each byte on disk is written from: FORMAT.md names the file, this
//! map the module (snapshot files: `commands/commit.rs`; packs and trees:
//! `commands/backup.rs`, `commands/import.rs` through the store's writer;
//! the stat cache: `source/stat_cache.rs`; `journal/`: `recovery/journal.rs`;
//! `profiles.json`: `commands/registry.rs`; `exports.json`:
//! `export/history.rs`; ZIP and vault files: `export/zip.rs`,
//! `export/vault.rs`).
//!
//! The dependencies between these modules have no cycle;
//! `scripts/module-cycles.py` checks it.
#![deny(missing_docs)]

pub mod chunker;
pub mod commands;
pub mod error;
pub mod export;
pub(crate) mod flush;
pub mod model;
mod recovery;
mod remote;
pub mod repo;
pub mod source;
pub mod space;

pub use commands::backup::{create, CreateOptions, CreateOutcome, CreateStatus};
pub use commands::check::{check_snapshots, SnapshotCheck};
pub use commands::forget::{forget, ForgetOptions, ForgetReport};
pub use commands::gc::{gc, GcOptions, GcOutcome};
pub use commands::import::{import, ImportOptions, ImportOutcome};
pub use commands::restore::{restore, RestoreOptions, RestoreReport};
pub use error::{Error, Result};
pub use export::{
    export_snapshot_to_file, open_archive, open_vault_archive, Archive, ArchiveOptions,
    ExportOptions, FileFormat,
};
pub use model::profile::{Profile, Profiles};
pub use model::retention::Policy;
pub use model::snapshot::{Manifest, SnapshotInfo};
pub use repo::Repo;
