//! `create` with hints: the caller names the paths it changed, and only
//! those are looked at. Every other entry is kept exactly as the parent
//! snapshot has it (its node, subtree id and all), and a directory that
//! holds no hinted path is not walked at all.
//!
//! The number of hinted creates since the last full walk is kept in the
//! profile's stat cache under [`COUNTER_KEY`]; a missing counter (a new
//! profile, or a cache cleared by gc) means "walk everything now".

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use snap_store::BlobId;

use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::repo::Repo;
use crate::scan::{scan_dir, ScanEntry, ScanNotes, Stat, SQLITE_SIDECARS};
use crate::tree::NodeKind;

/// The stat-cache key of the counter (a NUL byte never starts a path).
pub(crate) const COUNTER_KEY: &[u8] = b"\0hinted-creates-since-full-walk";

/// The counter's value from its row's bytes.
pub(crate) fn counter_value(v: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(v.get(..4)?.try_into().ok()?))
}

/// The counter row to store.
pub(crate) fn counter_row(n: u32) -> (Vec<u8>, Vec<u8>) {
    (COUNTER_KEY.to_vec(), n.to_le_bytes().to_vec())
}

/// The hints as `/`-separated byte paths relative to the source root, or
/// `None` (walk everything) when one of them cannot be placed inside it.
pub(crate) fn relative(paths: &[PathBuf], src: &Path, given: &Path) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for p in paths {
        let rel = if p.is_absolute() {
            p.strip_prefix(src)
                .or_else(|_| p.strip_prefix(given))
                .ok()?
        } else {
            p.as_path()
        };
        let mut parts: Vec<&[u8]> = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => parts.push(n.as_bytes()),
                Component::CurDir => {}
                _ => return None,
            }
        }
        out.push(parts.join(&b'/'));
    }
    Some(out)
}

/// Scans `dir` (at `rel` in the source) looking only at `hints` (relative to
/// `dir`); entries no hint names are taken from `parent` (the parent
/// snapshot's tree for `dir`). An empty hint, or no parent tree, means the
/// whole directory is walked.
pub(crate) fn scan(
    repo: &Repo,
    dir: &Path,
    rel: &[u8],
    parent: Option<&BlobId>,
    hints: &[Vec<u8>],
    filter: &Filter,
    notes: &mut ScanNotes,
) -> Result<Vec<ScanEntry>> {
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
    let child_rel = |name: &[u8]| {
        let mut r = rel.to_vec();
        if !r.is_empty() {
            r.push(b'/');
        }
        r.extend_from_slice(name);
        r
    };
    let mut out = Vec::new();
    for node in tree
        .nodes
        .iter()
        .filter(|n| !groups.contains_key(n.name.as_slice()))
    {
        out.push(ScanEntry {
            name: node.name.clone(),
            rel: child_rel(&node.name),
            path: dir.join(OsStr::from_bytes(&node.name)),
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
        let r = child_rel(name);
        let path = dir.join(OsStr::from_bytes(name));
        if filter.excludes(&r) || is_sidecar(dir, name) {
            continue;
        }
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                notes
                    .warnings
                    .push(format!("cannot stat {}: {e}", path.display()));
                continue;
            }
        };
        let ft = meta.file_type();
        let (kind, children, link_target) = if ft.is_dir() {
            let sub_parent = tree
                .get(name)
                .filter(|n| n.kind == NodeKind::Dir)
                .and_then(|n| n.subtree);
            let children = scan(repo, &path, &r, sub_parent.as_ref(), &sub, filter, notes)?;
            (NodeKind::Dir, children, Vec::new())
        } else if ft.is_file() {
            (NodeKind::File, Vec::new(), Vec::new())
        } else if ft.is_symlink() {
            let t = fs::read_link(&path).map_err(|e| Error::io(&path, e))?;
            (
                NodeKind::Symlink,
                Vec::new(),
                t.as_os_str().as_bytes().to_vec(),
            )
        } else {
            notes
                .skipped
                .push(format!("skipped special file {}", path.display()));
            continue;
        };
        out.push(ScanEntry {
            name: name.to_vec(),
            rel: r,
            path,
            kind,
            stat: Stat::of(&meta),
            children,
            link_target,
            reused: None,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `x-wal`, `x-shm`, `x-journal` beside an existing `x`.
fn is_sidecar(dir: &Path, name: &[u8]) -> bool {
    SQLITE_SIDECARS.iter().any(|s| {
        name.ends_with(s.as_bytes())
            && dir
                .join(OsStr::from_bytes(&name[..name.len() - s.len()]))
                .is_file()
    })
}
