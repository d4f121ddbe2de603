//! Walking a profile directory into an in-memory picture of its entries,
//! honouring excludes, never following symlinks, keeping raw name bytes.
//! One scan, two modes ([`ScanMode`]): the full walk, and the hinted walk
//! of `create --changed` that looks only at the paths named and keeps every
//! other entry as the parent snapshot has it. Both look at an entry the
//! same way.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use snap_store::BlobId;

use crate::model::tree::NodeKind;
use crate::repo::Repo;
use crate::source::filter::Filter;

/// The stat fields change detection and trees need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time (ns).
    pub mtime_ns: i64,
    /// Status change time (ns).
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Device number.
    pub dev: u64,
    /// Permission bits.
    pub mode: u32,
}

impl Stat {
    /// Extracts the fields from metadata.
    pub fn of(m: &fs::Metadata) -> Self {
        Self {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
            dev: m.dev(),
            mode: m.mode() & 0o7777,
        }
    }
}

/// One entry found by the walk.
#[derive(Debug)]
pub struct ScanEntry {
    /// Path relative to the root, `/`-separated; the name is its last
    /// component ([`ScanEntry::name`]) and the absolute path is
    /// [`ScanEntry::path_in`] the root. Nothing else is kept per entry, so
    /// a walk of many files holds one path each.
    pub rel: Vec<u8>,
    /// Kind.
    pub kind: NodeKind,
    /// Stat fields.
    pub stat: Stat,
    /// The directory's entries.
    pub children: Vec<ScanEntry>,
    /// The symlink's target.
    pub link_target: Vec<u8>,
    /// Set when the entry was not walked but kept as is from the parent
    /// snapshot (a create with `changed_paths` hints).
    pub reused: Option<Box<crate::model::tree::Node>>,
}

/// Warnings and notes gathered during a walk.
#[derive(Debug, Default)]
pub struct ScanNotes {
    /// Entries that could not be read (exit code 3).
    pub warnings: Vec<String>,
    /// Entries skipped on purpose (special files), for the record.
    pub skipped: Vec<String>,
}

/// SQLite sidecar suffixes that are never stored: the database file is
/// captured consistently instead.
pub use crate::model::SQLITE_SIDECARS;

/// How [`scan`] walks the source.
pub enum ScanMode<'a> {
    /// Every entry is looked at.
    Full,
    /// `create` with hints: only the paths the caller says changed are
    /// looked at; every other entry is kept exactly as the parent snapshot
    /// has it (node, subtree id and all), and a directory that holds no
    /// hinted path is not walked at all.
    Hinted {
        /// Where the parent snapshot's trees are read.
        repo: &'a Repo,
        /// The parent snapshot's root tree.
        parent_tree: &'a BlobId,
        /// `/`-separated byte paths relative to the source root.
        paths: &'a [Vec<u8>],
    },
}

/// Scans the source directory `dir` as `mode` says, returning its entries
/// sorted by name bytes. Unreadable entries are warnings in `notes`.
///
/// # Errors
/// Only a hinted scan can fail: a parent tree that cannot be read.
pub fn scan(
    dir: &Path,
    mode: ScanMode,
    filter: &Filter,
    notes: &mut ScanNotes,
) -> crate::Result<Vec<ScanEntry>> {
    match mode {
        ScanMode::Full => Ok(scan_dir(dir, b"", filter, notes)),
        ScanMode::Hinted {
            repo,
            parent_tree,
            paths,
        } => scan_hinted(repo, dir, b"", Some(parent_tree), paths, filter, notes),
    }
}

/// Walks `dir` (whose path relative to the root is `rel`), returning its
/// entries sorted by name bytes.
pub fn scan_dir(dir: &Path, rel: &[u8], filter: &Filter, notes: &mut ScanNotes) -> Vec<ScanEntry> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            notes
                .warnings
                .push(format!("cannot read directory {}: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut names: Vec<Vec<u8>> = Vec::new();
    for ent in rd {
        match ent {
            Ok(ent) => names.push(ent.file_name().as_bytes().to_vec()),
            Err(e) => notes
                .warnings
                .push(format!("cannot read directory {}: {e}", dir.display())),
        }
    }
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in &names {
        let child_rel = child_rel(rel, name);
        if filter.excludes(&child_rel) || is_sidecar(name, &names) {
            continue;
        }
        let looked = look_at(
            dir,
            name,
            child_rel,
            false,
            notes,
            &mut |path, rel, notes| Ok(scan_dir(path, rel, filter, notes)),
        );
        if let Ok(Some(e)) = looked {
            out.push(e);
        }
    }
    out
}

/// Scans `dir` (at `rel` in the source) looking only at `hints` (relative to
/// `dir`); entries no hint names are taken from `parent` (the parent
/// snapshot's tree for `dir`). An empty hint, or no parent tree, means the
/// whole directory is walked.
fn scan_hinted(
    repo: &Repo,
    dir: &Path,
    rel: &[u8],
    parent: Option<&BlobId>,
    hints: &[Vec<u8>],
    filter: &Filter,
    notes: &mut ScanNotes,
) -> crate::Result<Vec<ScanEntry>> {
    let Some(parent) = parent.filter(|_| hints.iter().all(|h| !h.is_empty())) else {
        return Ok(scan_dir(dir, rel, filter, notes));
    };
    let tree = repo.tree(parent)?;
    let mut groups: BTreeMap<&[u8], Vec<Vec<u8>>> = BTreeMap::new();
    for h in hints {
        let (first, rest) = match h.iter().position(|&b| b == b'/') {
            Some(i) => (&h[..i], h[i + 1..].to_vec()),
            None => (&h[..], Vec::new()),
        };
        groups.entry(first).or_default().push(rest);
    }
    let mut out = Vec::new();
    for node in tree
        .nodes
        .iter()
        .filter(|n| !groups.contains_key(n.name.as_slice()))
    {
        out.push(ScanEntry {
            rel: child_rel(rel, &node.name),
            kind: node.kind,
            stat: Stat {
                size: node.size,
                mtime_ns: node.mtime_ns,
                mode: node.mode,
                ..Stat::default()
            },
            children: Vec::new(),
            link_target: node.link_target.clone(),
            reused: Some(Box::new(node.clone())),
        });
    }
    for (name, sub) in groups {
        let r = child_rel(rel, name);
        if filter.excludes(&r) || is_sidecar_of_file(dir, name) {
            continue;
        }
        let sub_parent = tree
            .get(name)
            .filter(|n| n.kind == NodeKind::Dir)
            .and_then(|n| n.subtree);
        let looked = look_at(dir, name, r, true, notes, &mut |path, rel, notes| {
            scan_hinted(repo, path, rel, sub_parent.as_ref(), &sub, filter, notes)
        })?;
        out.extend(looked);
    }
    out.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(out)
}

/// The path relative to the source root of `name` in the directory at `rel`.
fn child_rel(rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut r = rel.to_vec();
    if !r.is_empty() {
        r.push(b'/');
    }
    r.extend_from_slice(name);
    r
}

/// Walks a directory's children: (its path, its relative path, notes).
type WalkChildren<'a> =
    dyn FnMut(&Path, &[u8], &mut ScanNotes) -> crate::Result<Vec<ScanEntry>> + 'a;

/// Looks at the entry `name` of `dir` (at `rel` in the source), walking a
/// directory's children with `children`. `None` for an entry that is
/// skipped (special files, with a note) or cannot be looked at (a warning;
/// one that is gone is skipped silently when `gone_ok`).
fn look_at(
    dir: &Path,
    name: &[u8],
    rel: Vec<u8>,
    gone_ok: bool,
    notes: &mut ScanNotes,
    children: &mut WalkChildren,
) -> crate::Result<Option<ScanEntry>> {
    let path = dir.join(OsStr::from_bytes(name));
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if gone_ok && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            notes
                .warnings
                .push(format!("cannot stat {}: {e}", path.display()));
            return Ok(None);
        }
    };
    let ft = meta.file_type();
    let (kind, children, link_target) = if ft.is_dir() {
        (NodeKind::Dir, children(&path, &rel, notes)?, Vec::new())
    } else if ft.is_file() {
        (NodeKind::File, Vec::new(), Vec::new())
    } else if ft.is_symlink() {
        match fs::read_link(&path) {
            Ok(t) => (
                NodeKind::Symlink,
                Vec::new(),
                t.as_os_str().as_bytes().to_vec(),
            ),
            Err(e) => {
                notes
                    .warnings
                    .push(format!("cannot read link {}: {e}", path.display()));
                return Ok(None);
            }
        }
    } else {
        let what = if ft.is_fifo() {
            "fifo"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_block_device() || ft.is_char_device() {
            "device"
        } else {
            "special file"
        };
        notes
            .skipped
            .push(format!("skipped {what} {}", path.display()));
        return Ok(None);
    };
    Ok(Some(ScanEntry {
        rel,
        kind,
        stat: Stat::of(&meta),
        children,
        link_target,
        reused: None,
    }))
}

/// `x-wal`, `x-shm`, `x-journal` beside an existing `x` (a hinted scan
/// does not list the directory).
fn is_sidecar_of_file(dir: &Path, name: &[u8]) -> bool {
    SQLITE_SIDECARS.iter().any(|s| {
        name.ends_with(s.as_bytes())
            && dir
                .join(OsStr::from_bytes(&name[..name.len() - s.len()]))
                .is_file()
    })
}

/// `x-wal`, `x-shm`, `x-journal` beside an `x` in the same directory.
fn is_sidecar(name: &[u8], siblings: &[Vec<u8>]) -> bool {
    SQLITE_SIDECARS.iter().any(|s| {
        name.ends_with(s.as_bytes()) && {
            let base = &name[..name.len() - s.len()];
            siblings
                .binary_search_by(|n| n.as_slice().cmp(base))
                .is_ok()
        }
    })
}

impl ScanEntry {
    /// The entry's name: the last component of its relative path.
    pub fn name(&self) -> &[u8] {
        self.rel.rsplit(|&b| b == b'/').next().unwrap_or(&self.rel)
    }

    /// The entry's path in the scanned directory `root`.
    pub fn path_in(&self, root: &Path) -> PathBuf {
        root.join(OsStr::from_bytes(&self.rel))
    }

    /// The tree node for this entry as scanned, without content, subtree or
    /// link target (the caller fills in what its kind needs).
    pub fn bare_node(&self) -> crate::model::tree::Node {
        crate::model::tree::Node {
            name: self.name().to_vec(),
            kind: self.kind,
            mode: self.stat.mode,
            mtime_ns: self.stat.mtime_ns,
            size: 0,
            content: Vec::new(),
            subtree: None,
            link_target: Vec::new(),
        }
    }
}
