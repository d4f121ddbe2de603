//! The engine's half of `snap check`: does every snapshot still have all of
//! its data?
//!
//! The store's [`snap_store::check`] knows packs, index entries and snapshot
//! files, but not what a snapshot references. This walks every snapshot's
//! trees (each distinct tree once) and reports, naming the snapshot:
//!
//! | kind | meaning |
//! |---|---|
//! | `snapshot-damaged` | the manifest does not parse |
//! | `tree-missing` | a tree the snapshot references is in no pack |
//! | `tree-damaged` | a tree does not read back or decode |
//! | `blob-missing` | a file chunk the snapshot references is in no pack |
//!
//! [`check_files`] adds `file-damaged` for a `profiles.json`, its `.bak`,
//! `exports.json` or a restore journal that does not authenticate (an
//! encrypted repository) or is sealed in a plain one.
//!
//! A snapshot with any such problem cannot be restored completely; `snap
//! repair --drop-broken` forgets it. Read-only: nothing is modified.

use std::collections::{HashMap, HashSet};

use snap_store::{BlobId, Problem, SnapshotId};

use crate::error::Result;
use crate::model::snapshot::Manifest;
use crate::model::tree::NodeKind;
use crate::repo::Repo;

/// The result of [`check_snapshots`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SnapshotCheck {
    /// Snapshots walked.
    pub snapshots: u64,
    /// Distinct trees walked.
    pub trees: u64,
    /// Distinct file chunks looked up.
    pub blobs: u64,
    /// Everything missing or damaged, each naming its snapshot.
    pub problems: Vec<Problem>,
    /// The snapshots with at least one problem.
    pub broken: Vec<SnapshotId>,
}

/// Checks the engine's own files in the repository (`profiles.json` and its
/// `.bak`, `exports.json`, `last-check.json`, restore journals): each must open with the
/// repository's keys. One `file-damaged` problem per file that does not.
///
/// # Errors
/// I/O errors other than a missing file.
pub fn check_files(repo: &Repo) -> Result<Vec<Problem>> {
    let root = repo.store().root();
    let mut files = vec![
        (
            root.join(crate::model::profile::PROFILES_FILE),
            crate::model::profile::PROFILES_KIND,
        ),
        (
            root.join(crate::model::profile::PROFILES_BAK),
            crate::model::profile::PROFILES_KIND,
        ),
        (
            root.join(crate::export::history::EXPORTS_FILE),
            crate::export::history::EXPORTS_KIND,
        ),
        (
            root.join(crate::commands::last_check::LAST_CHECK_FILE),
            crate::commands::last_check::LAST_CHECK_KIND,
        ),
    ];
    if let Ok(rd) = std::fs::read_dir(root.join(crate::commands::restore::JOURNAL_DIR)) {
        for e in rd.flatten() {
            files.push((e.path(), crate::commands::restore::JOURNAL_KIND));
        }
    }
    let mut out = Vec::new();
    for (path, kind) in files {
        // Journals are local to this machine; the other files live
        // wherever the repository does.
        let read = match kind == crate::commands::restore::JOURNAL_KIND {
            true => std::fs::read(&path),
            false => repo.store().read_repo_file(&path),
        };
        let bytes = match read {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::Error::io(&path, e)),
        };
        if let Err(e) = repo.store().open_file(kind, &path, &bytes) {
            out.push(Problem::new("file-damaged", e.to_string()));
        }
    }
    Ok(out)
}

/// Walks every indexed snapshot and reports what it references but the
/// repository no longer has.
///
/// # Errors
/// Only when the index cannot be queried; damage is reported as problems.
pub fn check_snapshots(repo: &Repo) -> Result<SnapshotCheck> {
    let mut out = SnapshotCheck::default();
    // Per tree: the problems found below it (shared by every snapshot that
    // references it), so each tree is read once.
    let mut done: HashMap<BlobId, Vec<Problem>> = HashMap::new();
    let mut seen_blobs: HashMap<BlobId, bool> = HashMap::new();
    let mut records = repo.store().snapshots()?;
    records.sort_by_key(|(id, _)| *id);
    for (id, bytes) in records {
        out.snapshots += 1;
        let manifest = match Manifest::from_bytes(&id, &bytes) {
            Ok(m) => m,
            Err(e) => {
                out.problems
                    .push(named(Problem::new("snapshot-damaged", e.to_string()), &id));
                out.broken.push(id);
                continue;
            }
        };
        let mut found = Vec::new();
        let mut stack = vec![manifest.tree];
        let mut visited = HashSet::new();
        while let Some(tree_id) = stack.pop() {
            if !visited.insert(tree_id) {
                continue;
            }
            if let Some(p) = done.get(&tree_id) {
                found.extend(p.iter().cloned());
                continue;
            }
            let mut here = Vec::new();
            match load(repo, &tree_id) {
                Err(p) => here.push(p),
                Ok(tree) => {
                    out.trees += 1;
                    for node in &tree.nodes {
                        match node.kind {
                            NodeKind::Dir => stack.extend(node.subtree),
                            NodeKind::File => {
                                for b in &node.content {
                                    let present = match seen_blobs.get(b) {
                                        Some(p) => *p,
                                        None => {
                                            out.blobs += 1;
                                            let p = repo.store().has_blob(b)?;
                                            seen_blobs.insert(*b, p);
                                            p
                                        }
                                    };
                                    if !present {
                                        let mut p = Problem::new(
                                            "blob-missing",
                                            format!(
                                                "chunk of {} is in no pack",
                                                String::from_utf8_lossy(&node.name)
                                            ),
                                        );
                                        p.blob = Some(b.to_hex());
                                        here.push(p);
                                    }
                                }
                            }
                            NodeKind::Symlink => {}
                        }
                    }
                }
            }
            found.extend(here.iter().cloned());
            done.insert(tree_id, here);
        }
        if !found.is_empty() {
            out.broken.push(id);
            out.problems
                .extend(found.into_iter().map(|p| named(p, &id)));
        }
    }
    Ok(out)
}

fn load(repo: &Repo, id: &BlobId) -> std::result::Result<crate::model::tree::Tree, Problem> {
    let tree_problem = |kind: &str, detail: String| {
        let mut p = Problem::new(kind, detail);
        p.blob = Some(id.to_hex());
        p
    };
    match repo.store().has_blob(id) {
        Ok(true) => {}
        Ok(false) => {
            return Err(tree_problem(
                "tree-missing",
                format!("tree {id} is in no pack"),
            ))
        }
        Err(e) => return Err(tree_problem("tree-damaged", e.to_string())),
    }
    repo.tree(id)
        .map_err(|e| tree_problem("tree-damaged", e.to_string()))
}

fn named(mut p: Problem, id: &SnapshotId) -> Problem {
    p.snapshot = Some(id.to_hex());
    p
}
