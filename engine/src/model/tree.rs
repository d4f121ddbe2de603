//! Trees: one directory's entries, encoded as a blob.
//!
//! Entries are sorted by raw name bytes; a tree's id is the blake3 of its
//! encoding, so an unchanged subtree keeps its id (Merkle). Encoding: one
//! version byte (`1`) followed by the postcard encoding of [`Tree`].

use serde::{Deserialize, Serialize};
use snap_store::BlobId;

use crate::error::{Error, Result};

/// The tree encoding version this build writes and reads.
pub const TREE_VERSION: u8 = 1;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The raw name bytes (non-UTF-8 names survive).
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    /// File, directory or symlink.
    pub kind: NodeKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Size in bytes (files; 0 otherwise).
    pub size: u64,
    /// The file's content chunks, in order.
    pub content: Vec<BlobId>,
    /// The directory's tree.
    pub subtree: Option<BlobId>,
    /// The symlink's target bytes.
    #[serde(with = "serde_bytes")]
    pub link_target: Vec<u8>,
}

/// One directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// Entries sorted by name bytes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Encodes the tree (sorting its entries first).
    pub fn encode(&mut self) -> Vec<u8> {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = vec![TREE_VERSION];
        out.extend(postcard::to_stdvec(&self.nodes).expect("trees serialise"));
        out
    }

    /// Decodes a tree blob.
    ///
    /// # Errors
    /// [`Error::Format`] for an unknown version or bytes that do not parse.
    pub fn decode(id: &BlobId, bytes: &[u8]) -> Result<Self> {
        let bad = |detail: String| Error::Format {
            path: format!("tree {id}").into(),
            detail,
        };
        match bytes.first() {
            Some(&TREE_VERSION) => {}
            Some(v) => {
                return Err(bad(format!(
                    "tree version {v} is not supported (this build reads version {TREE_VERSION})"
                )))
            }
            None => return Err(bad("empty tree blob".into())),
        }
        let nodes: Vec<Node> = postcard::from_bytes(&bytes[1..])
            .map_err(|e| bad(format!("tree does not parse: {e}")))?;
        if nodes.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err(bad("tree entries are not sorted and unique".into()));
        }
        for n in &nodes {
            if n.name.is_empty()
                || n.name == b"."
                || n.name == b".."
                || n.name.contains(&b'/')
                || n.name.contains(&0)
            {
                return Err(bad(format!(
                    "tree entry name {:?} is not allowed",
                    String::from_utf8_lossy(&n.name)
                )));
            }
            if (n.kind == NodeKind::Dir) != n.subtree.is_some() {
                return Err(bad(
                    "directory entry without a subtree (or a subtree on a non-directory)".into(),
                ));
            }
        }
        Ok(Self { nodes })
    }

    /// The entry named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Node> {
        self.nodes
            .binary_search_by(|n| n.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.nodes[i])
    }
}

/// Builds one directory's [`Tree`] and its content digest, the rule every
/// writer of snapshots shares (`create`, `import`): blake3 over each
/// entry, in the order pushed (sorted by name bytes), of its name (length
/// as u64 LE, then bytes) and then, for a file `"f"`, mode (u32 LE), size
/// (u64 LE) and its chunk ids; for a directory `"d"`, mode and the digest of
/// its subtree; for a symlink `"l"` and its target (length, bytes). Times
/// are not part of it: equal digests mean equal content.
#[derive(Default)]
pub struct DirBuilder {
    tree: Tree,
    hasher: blake3::Hasher,
    keys: Option<snap_store::Keys>,
}

impl DirBuilder {
    /// An empty directory (unencrypted repository: plain blake3 tree ids).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty directory whose tree id is keyed with `keys`.
    pub fn keyed(keys: snap_store::Keys) -> Self {
        Self {
            keys: Some(keys),
            ..Self::default()
        }
    }

    /// An empty directory for `store`: its tree id is keyed when the
    /// repository is encrypted ([`snap_store::Repository::blob_id`]).
    pub fn for_store(store: &snap_store::Repository) -> Self {
        Self {
            keys: store.keys().cloned(),
            ..Self::default()
        }
    }

    /// Adds `node`; `subtree_digest` is the digest of a directory's subtree
    /// (ignored for files and symlinks). Push in name-byte order.
    pub fn push(&mut self, node: Node, subtree_digest: Option<&[u8; 32]>) {
        let h = &mut self.hasher;
        h.update(&(node.name.len() as u64).to_le_bytes());
        h.update(&node.name);
        match node.kind {
            NodeKind::File => {
                h.update(b"f");
                h.update(&node.mode.to_le_bytes());
                h.update(&node.size.to_le_bytes());
                for c in &node.content {
                    h.update(&c.0);
                }
            }
            NodeKind::Dir => {
                h.update(b"d");
                h.update(&node.mode.to_le_bytes());
                h.update(subtree_digest.unwrap_or(&[0; 32]));
            }
            NodeKind::Symlink => {
                h.update(b"l");
                h.update(&(node.link_target.len() as u64).to_le_bytes());
                h.update(&node.link_target);
            }
        }
        self.tree.nodes.push(node);
    }

    /// The tree's id, its encoding, and the directory's content digest.
    pub fn finish(mut self) -> (BlobId, Vec<u8>, [u8; 32]) {
        let bytes = self.tree.encode();
        let id = match &self.keys {
            Some(k) => k.blob_id(&bytes),
            None => BlobId::of(&bytes),
        };
        (id, bytes, *self.hasher.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, kind: NodeKind) -> Node {
        Node {
            name: name.as_bytes().to_vec(),
            kind,
            mode: 0o644,
            mtime_ns: 1,
            size: 0,
            content: vec![],
            subtree: (kind == NodeKind::Dir).then(|| BlobId::of(b"t")),
            link_target: vec![],
        }
    }

    #[test]
    fn round_trip_sorted_and_refuses_bad_names() {
        let mut t = Tree {
            nodes: vec![node("b", NodeKind::File), node("a", NodeKind::Dir)],
        };
        let bytes = t.encode();
        let id = BlobId::of(&bytes);
        let back = Tree::decode(&id, &bytes).unwrap();
        assert_eq!(back.nodes[0].name, b"a");
        assert!(back.get(b"b").is_some());
        let mut evil = Tree {
            nodes: vec![node("..", NodeKind::File)],
        };
        assert!(Tree::decode(&id, &evil.encode()).is_err());
        assert!(Tree::decode(&id, &[9, 0])
            .unwrap_err()
            .to_string()
            .contains("version 9"));
    }
}
