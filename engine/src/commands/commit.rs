//! The one commit path for a new snapshot: its summary (counts and the
//! changes since its parent), its manifest, and the write of its snapshot
//! file, the commit point (FORMAT.md "Snapshot files"; the store's
//! `commit_snapshot` writes it). `create` and `import` both end here, and so
//! does anything later that makes snapshots.
//!
//! Before it the caller has stored every chunk and tree the snapshot
//! references (the writer finished, so they are durable and indexed).

use chrono::{DateTime, Utc};
use snap_store::{BlobId, SnapshotId};

use crate::commands::diff::{for_each_change, ChangeKind};
use crate::error::Result;
use crate::model::snapshot::{
    snapshot_name, Manifest, SnapshotInfo, Source, Summary, MANIFEST_VERSION,
};
use crate::model::tree::{Node, NodeKind, Tree};
use crate::repo::Repo;

/// What a built tree holds, counted as its nodes are added.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) files: u64,
    pub(crate) dirs: u64,
    pub(crate) symlinks: u64,
    pub(crate) bytes: u64,
}

impl Counts {
    /// Counts one node (a directory's own nodes are counted as they are
    /// added, not here).
    pub(crate) fn add(&mut self, node: &Node) {
        match node.kind {
            NodeKind::File => {
                self.files += 1;
                self.bytes += node.size;
            }
            NodeKind::Dir => self.dirs += 1,
            NodeKind::Symlink => self.symlinks += 1,
        }
    }
}

/// A snapshot whose data and trees are stored, not yet described or
/// committed.
pub(crate) struct NewSnapshot<'p> {
    pub(crate) profile: String,
    /// The name's prefix (`backup`, `import`, …; see [`snapshot_name`]).
    pub(crate) name_prefix: String,
    pub(crate) time: DateTime<Utc>,
    /// The root tree and its content digest.
    pub(crate) tree: BlobId,
    pub(crate) digest: [u8; 32],
    /// The profile's latest snapshot, the one changes are counted against.
    pub(crate) parent: Option<&'p SnapshotInfo>,
    pub(crate) tags: Vec<String>,
    pub(crate) source_path: String,
    pub(crate) counts: Counts,
    /// Bytes of blobs this snapshot added (the writer's raw bytes).
    pub(crate) new_bytes: u64,
    pub(crate) warnings: Vec<String>,
}

impl NewSnapshot<'_> {
    /// The manifest: counts, the changes since the parent (trees read with
    /// `load`, which may serve trees not yet readable from the repository),
    /// and where and when it was taken.
    ///
    /// # Errors
    /// A tree that cannot be loaded.
    pub(crate) fn manifest(self, load: &dyn Fn(&BlobId) -> Result<Tree>) -> Result<Manifest> {
        let (mut added, mut changed, mut removed) = (0u64, 0u64, 0u64);
        for_each_change(
            load,
            self.parent.map(|p| &p.manifest.tree),
            Some(&self.tree),
            &mut |c| match c.kind {
                ChangeKind::Added => added += 1,
                ChangeKind::Modified => changed += 1,
                ChangeKind::Removed => removed += 1,
            },
        )?;
        let Counts {
            files,
            dirs,
            symlinks,
            bytes,
        } = self.counts;
        Ok(Manifest {
            version: MANIFEST_VERSION,
            profile: self.profile,
            name: snapshot_name(&self.name_prefix, self.time),
            time_ms: self.time.timestamp_millis(),
            tree: self.tree,
            parent: self.parent.map(|p| p.id),
            tags: self.tags,
            source: Source {
                path: self.source_path,
                host: hostname(),
            },
            summary: Summary {
                files,
                dirs,
                symlinks,
                bytes,
                new_bytes: self.new_bytes,
                added,
                changed,
                removed,
            },
            content_digest: hex::encode(self.digest),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            warnings: self.warnings,
            copied_from: None,
        })
    }

    /// [`manifest`](Self::manifest), then [`commit`].
    ///
    /// # Errors
    /// Those of both; nothing is committed when either fails.
    pub(crate) fn commit(
        self,
        repo: &Repo,
        load: &dyn Fn(&BlobId) -> Result<Tree>,
    ) -> Result<(SnapshotId, Manifest, Vec<String>)> {
        let manifest = self.manifest(load)?;
        let (id, warnings) = commit(repo, &manifest)?;
        Ok((id, manifest, warnings))
    }
}

/// Writes the snapshot file of `manifest`: the commit point. Returns its id
/// and the warnings of what could not follow it (indexing the snapshot);
/// those do not undo the commit.
///
/// # Errors
/// Repository errors; then nothing was committed.
pub(crate) fn commit(repo: &Repo, manifest: &Manifest) -> Result<(SnapshotId, Vec<String>)> {
    let (id, index_warning) = repo.store().commit_snapshot(&manifest.to_bytes())?;
    Ok((id, index_warning.into_iter().collect()))
}

/// Writes a snapshot file copied byte for byte from another repository
/// that shares this one's keys (`copy`), so its id is kept: the same commit
/// point as [`commit`]. Returns its id and the warnings of indexing it.
///
/// # Errors
/// Bytes that do not open with this repository's keys; repository errors.
/// Then nothing was committed.
pub(crate) fn commit_file(repo: &Repo, file: &[u8]) -> Result<(SnapshotId, Vec<String>)> {
    let (id, index_warning) = repo.store().commit_snapshot_file(file)?;
    Ok((id, index_warning.into_iter().collect()))
}

/// This machine's name, recorded in every manifest's source.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
