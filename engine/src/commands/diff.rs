//! Comparing trees: what was added, changed or removed between two
//! snapshots (or a snapshot and a freshly scanned tree). Equal subtree ids
//! are skipped without being read.

use serde::Serialize;
use snap_store::BlobId;

use crate::error::Result;
use crate::model::tree::{Node, NodeKind, Tree};

/// How a path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in the newer tree (`+`).
    Added,
    /// Only in the older tree (`-`).
    Removed,
    /// In both, with different content, kind, mode or link target (`M`).
    Modified,
}

impl ChangeKind {
    /// The one-character marker used in listings.
    pub fn marker(self) -> char {
        match self {
            ChangeKind::Added => '+',
            ChangeKind::Removed => '-',
            ChangeKind::Modified => 'M',
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The path, relative to the profile root (lossy UTF-8).
    pub path: String,
    /// What it is (in the newer tree, or the older when removed).
    pub node_kind: NodeKind,
}

/// Whether two nodes of the same name have the same content (times ignored).
pub fn same_content(a: &Node, b: &Node) -> bool {
    a.kind == b.kind
        && a.mode == b.mode
        && a.size == b.size
        && a.content == b.content
        && a.link_target == b.link_target
}

/// Differences from tree `old` to tree `new` (either may be absent).
/// `load` reads a tree by id.
///
/// # Errors
/// Whatever `load` returns.
pub fn diff_trees(
    load: &dyn Fn(&BlobId) -> Result<Tree>,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for_each_change(load, old, new, &mut |c| out.push(c))?;
    Ok(out)
}

/// Like [`diff_trees`], handing each change to `out` as it is found
/// instead of keeping them (a count of a whole tree's changes holds one).
///
/// # Errors
/// Whatever `load` returns.
pub fn for_each_change(
    load: &dyn Fn(&BlobId) -> Result<Tree>,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    out: &mut dyn FnMut(Change),
) -> Result<()> {
    walk(load, old, new, "", out)
}

fn walk(
    load: &dyn Fn(&BlobId) -> Result<Tree>,
    old: Option<&BlobId>,
    new: Option<&BlobId>,
    prefix: &str,
    out: &mut dyn FnMut(Change),
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let empty = Tree::default();
    let o = match old {
        Some(id) => load(id)?,
        None => empty.clone(),
    };
    let n = match new {
        Some(id) => load(id)?,
        None => empty,
    };
    let (mut i, mut j) = (0, 0);
    while i < o.nodes.len() || j < n.nodes.len() {
        let ord = match (o.nodes.get(i), n.nodes.get(j)) {
            (Some(a), Some(b)) => a.name.cmp(&b.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                removed_or_added(load, &o.nodes[i], prefix, ChangeKind::Removed, out)?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                removed_or_added(load, &n.nodes[j], prefix, ChangeKind::Added, out)?;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (&o.nodes[i], &n.nodes[j]);
                let path = join(prefix, &b.name);
                if a.kind == NodeKind::Dir && b.kind == NodeKind::Dir {
                    if a.mode != b.mode {
                        out(Change {
                            kind: ChangeKind::Modified,
                            path: path.clone(),
                            node_kind: NodeKind::Dir,
                        });
                    }
                    walk(load, a.subtree.as_ref(), b.subtree.as_ref(), &path, out)?;
                } else if a.kind != b.kind {
                    removed_or_added(load, a, prefix, ChangeKind::Removed, out)?;
                    removed_or_added(load, b, prefix, ChangeKind::Added, out)?;
                } else if !same_content(a, b) {
                    out(Change {
                        kind: ChangeKind::Modified,
                        path,
                        node_kind: b.kind,
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}

fn removed_or_added(
    load: &dyn Fn(&BlobId) -> Result<Tree>,
    node: &Node,
    prefix: &str,
    kind: ChangeKind,
    out: &mut dyn FnMut(Change),
) -> Result<()> {
    let path = join(prefix, &node.name);
    out(Change {
        kind,
        path: path.clone(),
        node_kind: node.kind,
    });
    if node.kind == NodeKind::Dir {
        let (old, new) = match kind {
            ChangeKind::Removed => (node.subtree.as_ref(), None),
            _ => (None, node.subtree.as_ref()),
        };
        walk(load, old, new, &path, out)?;
    }
    Ok(())
}

/// `prefix/name` (lossy UTF-8).
pub fn join(prefix: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if prefix.is_empty() {
        name.into_owned()
    } else {
        format!("{prefix}/{name}")
    }
}
