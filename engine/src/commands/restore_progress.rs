//! Progress of a running restore: files and bytes put in place (written
//! from the repository or, in place, kept because already correct) out of
//! the totals of what is restored, reported to the caller's callback
//! ([`crate::commands::restore::RestoreOptions::progress`]) from the materialiser's
//! workers, once per file.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::error::Result;
use crate::model::tree::{Node, NodeKind};
use crate::repo::Repo;

/// Progress of a running restore, reported to the caller's callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RestoreProgress {
    /// Regular files in place so far.
    pub files_done: u64,
    /// Regular files the restore puts in place.
    pub files_total: u64,
    /// Bytes of those files in place so far.
    pub bytes_done: u64,
    /// Bytes of all of them.
    pub bytes_total: u64,
}

/// The callback type of [`crate::commands::restore::RestoreOptions::progress`].
pub type ProgressFn<'a> = &'a (dyn Fn(RestoreProgress) + Sync);

/// Counts finished files from several workers and reports each one.
pub(crate) struct Counter<'a> {
    callback: Option<ProgressFn<'a>>,
    files_total: u64,
    bytes_total: u64,
    files_done: AtomicU64,
    bytes_done: AtomicU64,
}

impl<'a> Counter<'a> {
    /// A counter towards the given totals; reports 0 done at once.
    pub fn new(callback: Option<ProgressFn<'a>>, files_total: u64, bytes_total: u64) -> Self {
        let c = Counter {
            callback,
            files_total,
            bytes_total,
            files_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
        };
        c.report(0, 0);
        c
    }

    /// One more file of `size` bytes is in place.
    pub fn file_done(&self, size: u64) {
        let files = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes_done.fetch_add(size, Ordering::Relaxed) + size;
        self.report(files, bytes);
    }

    fn report(&self, files_done: u64, bytes_done: u64) {
        if let Some(cb) = self.callback {
            cb(RestoreProgress {
                files_done,
                files_total: self.files_total,
                bytes_done,
                bytes_total: self.bytes_total,
            });
        }
    }
}

/// The regular files and their bytes under `nodes` (directories walked).
///
/// # Errors
/// A missing or damaged tree.
pub(crate) fn totals<'n>(repo: &Repo, nodes: impl Iterator<Item = &'n Node>) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    let mut stack: Vec<Node> = nodes.cloned().collect();
    while let Some(n) = stack.pop() {
        match n.kind {
            NodeKind::File => {
                files += 1;
                bytes += n.size;
            }
            NodeKind::Dir => {
                if let Some(sub) = n.subtree {
                    stack.extend(repo.tree(&sub)?.nodes);
                }
            }
            NodeKind::Symlink => {}
        }
    }
    Ok((files, bytes))
}
