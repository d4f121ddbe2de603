//! Moving a snapshot's content from one repository into another as a new
//! snapshot, through the commit path every snapshot takes: the content is
//! written as a ZIP view into a scratch file of the local repository
//! ([`export_zip`], with the scope's excludes and redaction applied) and
//! imported into the destination ([`crate::import`], which stores only the
//! chunks the destination lacks and commits through `commands/commit.rs`).
//!
//! A scoped push needs it (the pushed snapshot is not the local one), and
//! so does a pull (the snapshot restored holds the local files the scope
//! kept out). A push without a scope sends the local snapshot unchanged
//! with [`copy`] instead ([`crate::commands::copy::copy_snapshots`]): only the trees
//! and chunks the shared repository lacks are read and sent, and the
//! snapshot keeps its id when both repositories share their keys
//! (`copied_from` records it otherwise).

use std::path::Path;

use chrono::{DateTime, Utc};
use snap_store::fault;

use crate::commands::copy::{copy_snapshots, CopyOptions, Selection};
use crate::commands::import::{import, ImportOptions, ImportOutcome};
use crate::error::{Error, Result};
use crate::export::{
    export_zip, open_archive, ArchiveOptions, ContentSource, ExportEntry, ExportOptions,
    ExportedSnapshot,
};
use crate::repo::Repo;
use snap_store::SnapshotId;

/// The tag every snapshot sync writes carries (besides `import`).
pub const TAG_SYNC: &str = "sync";

/// What to write and where.
pub(crate) struct Send<'a> {
    /// The snapshot described (id, name, profile, time).
    pub(crate) info: &'a ExportedSnapshot,
    /// Its entries.
    pub(crate) entries: &'a [ExportEntry],
    /// Their content.
    pub(crate) source: &'a dyn ContentSource,
    /// Excludes and redaction (a scope), or nothing.
    pub(crate) options: &'a ExportOptions,
    /// Where the scratch ZIP goes (a plaintext temporary: the local
    /// repository's scratch directory).
    pub(crate) scratch: &'a Path,
    /// The profile the new snapshot belongs to.
    pub(crate) profile: &'a str,
    /// The source path recorded in the new snapshot.
    pub(crate) source_path: &'a str,
    /// Its time.
    pub(crate) now: Option<DateTime<Utc>>,
}

/// Writes `send` into `to` as a new snapshot (tags `import`, `sync`).
///
/// # Errors
/// Those of the export (a bad glob, a chunk that cannot be read), of the
/// scratch file, and of the import (nothing is committed then).
pub(crate) fn send(to: &Repo, send: &Send) -> Result<ImportOutcome> {
    snap_store::fsutil::create_dir_durable(send.scratch)?;
    let tmp = tempfile::Builder::new()
        .prefix(".sync-")
        .suffix(".zip")
        .tempfile_in(send.scratch)
        .map_err(|e| Error::io(send.scratch, e))?;
    {
        let file = tmp
            .as_file()
            .try_clone()
            .map_err(|e| Error::io(tmp.path(), e))?;
        let mut writer = fault::Writer(std::io::BufWriter::new(file));
        export_zip(
            send.info,
            send.entries,
            send.source,
            send.options,
            &mut writer,
        )?;
        std::io::Write::flush(&mut writer.0).map_err(|e| Error::io(tmp.path(), e))?;
    }
    let archive = open_archive(tmp.path(), &ArchiveOptions::default())?;
    import(
        to,
        &archive,
        send.profile,
        &ImportOptions {
            tags: vec![TAG_SYNC.into()],
            now: send.now,
            source_path: send.source_path.into(),
            ..ImportOptions::default()
        },
    )
}

/// What [`copy`] wrote.
pub(crate) struct Copied {
    /// The snapshot's id in the destination.
    pub(crate) id: SnapshotId,
    /// Blobs (chunks and trees) the destination did not have.
    pub(crate) blobs_new: u64,
}

/// Copies the snapshot `id` of `from` into `to` as it is
/// ([`copy_snapshots`]: only what `to` lacks is read and written; nothing
/// when `to` has the snapshot already).
///
/// # Errors
/// Those of [`copy_snapshots`] (nothing is committed then; packs already
/// sent stay for the next try).
pub(crate) fn copy(
    from: &Repo,
    to: &Repo,
    id: SnapshotId,
    lock_wait: std::time::Duration,
) -> Result<Copied> {
    let report = copy_snapshots(from, to, &Selection::one(id), &CopyOptions { lock_wait })?;
    let one = report.snapshots.first().ok_or_else(|| Error::Invalid {
        what: "snapshot",
        value: id.to_hex(),
        reason: "the copy reported no snapshot".into(),
    })?;
    Ok(Copied {
        id: one.destination,
        blobs_new: report.blobs,
    })
}
