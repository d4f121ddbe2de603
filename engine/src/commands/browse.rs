//! Looking inside snapshots: the node at a path, directory listings, file
//! content (`ls`, `cat`, `--path`).

use std::io::Write;

use serde::Serialize;
use snap_store::BlobId;

use crate::error::{Error, Result};
use crate::model::tree::{Node, NodeKind};
use crate::repo::Repo;

/// The node at `rel` (`a/b/c`, no leading slash) in the tree `root`.
///
/// # Errors
/// Repository errors reading trees.
pub fn find(repo: &Repo, root: &BlobId, rel: &str) -> Result<Option<Node>> {
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let mut tree = repo.tree(root)?;
    for (i, part) in parts.iter().enumerate() {
        let Some(node) = tree.get(part.as_bytes()).cloned() else {
            return Ok(None);
        };
        if i + 1 == parts.len() {
            return Ok(Some(node));
        }
        match (&node.kind, &node.subtree) {
            (NodeKind::Dir, Some(sub)) => tree = repo.tree(sub)?,
            _ => return Ok(None),
        }
    }
    Ok(Some(Node {
        name: Vec::new(),
        kind: NodeKind::Dir,
        mode: 0o755,
        mtime_ns: 0,
        size: 0,
        content: Vec::new(),
        subtree: Some(*root),
        link_target: Vec::new(),
    }))
}

/// One line of `ls`.
#[derive(Debug, Clone, Serialize)]
pub struct ListEntry {
    /// Path relative to the profile root.
    pub path: String,
    /// Kind.
    pub kind: NodeKind,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (ns since the epoch).
    pub mtime_ns: i64,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Every entry under `rel` (recursively), in tree order.
///
/// # Errors
/// [`Error::Invalid`] when the path is not in the snapshot; repository errors.
pub fn list(repo: &Repo, root: &BlobId, rel: &str) -> Result<Vec<ListEntry>> {
    let rel = rel.trim_matches('/');
    let node = find(repo, root, rel)?.ok_or_else(|| Error::Invalid {
        what: "path",
        value: rel.into(),
        reason: "not in the snapshot".into(),
    })?;
    let mut out = Vec::new();
    if node.kind != NodeKind::Dir || rel.is_empty() {
        if !rel.is_empty() {
            out.push(entry(rel.to_string(), &node));
        }
    } else {
        out.push(entry(rel.to_string(), &node));
    }
    if let Some(sub) = node.subtree {
        walk(repo, &sub, rel, &mut out)?;
    }
    Ok(out)
}

fn entry(path: String, n: &Node) -> ListEntry {
    ListEntry {
        path,
        kind: n.kind,
        mode: n.mode,
        size: n.size,
        mtime_ns: n.mtime_ns,
        target: (n.kind == NodeKind::Symlink)
            .then(|| String::from_utf8_lossy(&n.link_target).into_owned()),
    }
}

fn walk(repo: &Repo, id: &BlobId, prefix: &str, out: &mut Vec<ListEntry>) -> Result<()> {
    for n in repo.tree(id)?.nodes {
        let path = crate::commands::diff::join(prefix, &n.name);
        out.push(entry(path.clone(), &n));
        if let Some(sub) = n.subtree {
            walk(repo, &sub, &path, out)?;
        }
    }
    Ok(())
}

/// Writes the content of the file at `rel` to `out`, verifying every chunk.
///
/// # Errors
/// [`Error::Invalid`] when the path is not a file in the snapshot;
/// repository errors; write errors.
pub fn cat(repo: &Repo, root: &BlobId, rel: &str, out: &mut dyn Write) -> Result<()> {
    let node = find(repo, root, rel.trim_matches('/'))?
        .filter(|n| n.kind == NodeKind::File)
        .ok_or_else(|| Error::Invalid {
            what: "path",
            value: rel.into(),
            reason: "not a file in the snapshot".into(),
        })?;
    for id in &node.content {
        out.write_all(&repo.store().read_blob(id)?)
            .map_err(|e| Error::io("<output>", e))?;
    }
    Ok(())
}

/// The entries directly inside the folder `rel` (one level, tree order),
/// for a folder-by-folder browser.
///
/// # Errors
/// [`Error::Invalid`] when `rel` is not a folder in the snapshot; repository
/// errors.
pub fn children(repo: &Repo, root: &BlobId, rel: &str) -> Result<Vec<ListEntry>> {
    let rel = rel.trim_matches('/');
    let sub = find(repo, root, rel)?
        .filter(|n| n.kind == NodeKind::Dir)
        .and_then(|n| n.subtree)
        .ok_or_else(|| Error::Invalid {
            what: "path",
            value: rel.into(),
            reason: "not a folder in the snapshot".into(),
        })?;
    Ok(repo
        .tree(&sub)?
        .nodes
        .iter()
        .map(|n| entry(crate::commands::diff::join(rel, &n.name), n))
        .collect())
}

/// The content of the file at `rel`, read whole, every chunk verified.
///
/// # Errors
/// As [`cat`].
pub fn read(repo: &Repo, root: &BlobId, rel: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    cat(repo, root, rel, &mut out)?;
    Ok(out)
}

/// `rel` as a path inside a snapshot or profile: `/`-separated, without
/// empty or `.` parts (a leading `/` means the tree's root). Refuses `..`,
/// backslashes and NUL, so a path from a URL or a user can never leave the
/// tree.
///
/// # Errors
/// [`Error::Invalid`] naming the path.
pub fn check_rel(rel: &str) -> Result<String> {
    let refuse = |reason: &str| Error::Invalid {
        what: "path",
        value: rel.into(),
        reason: reason.into(),
    };
    if rel.contains('\0') || rel.contains('\\') {
        return Err(refuse("NUL and backslash are not allowed"));
    }
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(refuse("`..` is not allowed"));
    }
    Ok(parts.join("/"))
}
