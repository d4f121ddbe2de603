//! Walking a profile directory into an in-memory picture of its entries,
//! honouring excludes, never following symlinks, keeping raw name bytes.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::filter::Filter;
use crate::tree::NodeKind;

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
    /// Raw name bytes.
    pub name: Vec<u8>,
    /// Path relative to the root, `/`-separated.
    pub rel: Vec<u8>,
    /// Absolute path.
    pub path: PathBuf,
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
    pub reused: Option<Box<crate::tree::Node>>,
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
        let mut child_rel = rel.to_vec();
        if !child_rel.is_empty() {
            child_rel.push(b'/');
        }
        child_rel.extend_from_slice(name);
        if filter.excludes(&child_rel) || is_sidecar(name, &names) {
            continue;
        }
        let path = dir.join(std::ffi::OsStr::from_bytes(name));
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                notes
                    .warnings
                    .push(format!("cannot stat {}: {e}", path.display()));
                continue;
            }
        };
        let ft = meta.file_type();
        let (kind, children, link_target) = if ft.is_dir() {
            (
                NodeKind::Dir,
                scan_dir(&path, &child_rel, filter, notes),
                Vec::new(),
            )
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
                    continue;
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
            continue;
        };
        out.push(ScanEntry {
            name: name.clone(),
            rel: child_rel,
            path,
            kind,
            stat: Stat::of(&meta),
            children,
            link_target,
            reused: None,
        });
    }
    out
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
    /// The tree node for this entry as scanned, without content, subtree or
    /// link target (the caller fills in what its kind needs).
    pub fn bare_node(&self) -> crate::tree::Node {
        crate::tree::Node {
            name: self.name.clone(),
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
