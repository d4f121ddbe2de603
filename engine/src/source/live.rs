//! The live directory seen as a tree, without storing anything: for
//! `diff ID` against the live profile and `restore --dry-run`.
//!
//! A file whose size and mtime match the snapshot's entry is taken to have
//! the snapshot's content; any other file is chunked and hashed (read, not
//! stored) so content changes are seen even when the size is the same.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use snap_store::BlobId;

use crate::error::Result;
use crate::model::tree::{NodeKind, Tree};
use crate::repo::Repo;
use crate::source::filter::Filter;
use crate::source::scan::{scan_dir, ScanEntry, ScanNotes};

/// In-memory trees of a live directory, by id.
pub struct LiveTree {
    /// The root tree's id.
    pub root: BlobId,
    /// Every tree built.
    pub trees: HashMap<BlobId, Tree>,
}

impl LiveTree {
    /// Builds the trees of `dir`, comparing against `reference` (a snapshot's
    /// root tree) to avoid reading unchanged files.
    ///
    /// # Errors
    /// Only repository errors reading the reference; unreadable live files
    /// are given empty content (and so show as modified).
    pub fn build(
        repo: &Repo,
        dir: &Path,
        filter: &Filter,
        reference: Option<&BlobId>,
    ) -> Result<Self> {
        let mut notes = ScanNotes::default();
        let entries = scan_dir(dir, b"", filter, &mut notes);
        let mut trees = HashMap::new();
        let params = repo.store().config().chunker;
        let root = build(repo, dir, &entries, reference, &params, &mut trees)?;
        Ok(Self { root, trees })
    }

    /// A tree loader that looks here first, then in the repository.
    pub fn load<'a>(&'a self, repo: &'a Repo) -> impl Fn(&BlobId) -> Result<Tree> + 'a {
        move |id| match self.trees.get(id) {
            Some(t) => Ok(t.clone()),
            None => repo.tree(id),
        }
    }
}

fn build(
    repo: &Repo,
    dir: &Path,
    entries: &[ScanEntry],
    reference: Option<&BlobId>,
    params: &snap_store::ChunkerParams,
    trees: &mut HashMap<BlobId, Tree>,
) -> Result<BlobId> {
    let reference = match reference {
        Some(id) => repo.tree(id)?,
        None => Tree::default(),
    };
    let mut tree = Tree::default();
    for e in entries {
        let old = reference.get(e.name());
        let mut node = e.bare_node();
        match e.kind {
            NodeKind::File => {
                node.size = e.stat.size;
                node.content = match old {
                    Some(o)
                        if o.kind == NodeKind::File
                            && o.size == e.stat.size
                            && o.mtime_ns == e.stat.mtime_ns =>
                    {
                        o.content.clone()
                    }
                    _ => hash_file(&e.path_in(dir), repo.store(), params),
                };
            }
            NodeKind::Dir => {
                let sub_ref = old
                    .filter(|o| o.kind == NodeKind::Dir)
                    .and_then(|o| o.subtree.as_ref());
                node.subtree = Some(build(repo, dir, &e.children, sub_ref, params, trees)?);
            }
            NodeKind::Symlink => node.link_target = e.link_target.clone(),
        }
        tree.nodes.push(node);
    }
    let id = repo.store().blob_id(&tree.encode());
    trees.insert(id, tree);
    Ok(id)
}

/// The chunk ids a file would have, without storing anything.
pub fn hash_file(
    path: &Path,
    store: &snap_store::Repository,
    params: &snap_store::ChunkerParams,
) -> Vec<BlobId> {
    let mut ids = Vec::new();
    let ok = File::open(path).and_then(|f| {
        crate::chunker::for_each_chunk(f, params, |c| {
            ids.push(store.blob_id(c));
            Ok::<(), std::io::Error>(())
        })
    });
    if ok.is_err() {
        ids.clear();
    }
    ids
}
