//! In-place `restore --path`: each selected path swapped in atomically,
//! all of them committed or rolled back together.
//!
//! The selected entries are materialised in the staging directory at their
//! relative paths and flushed; then the journal is rewritten to list every
//! swap with the identity (device, inode) of the new entry and of the live
//! one it replaces. Each swap moves the live entry's SQLite sidecars
//! (`-wal`, `-shm`, `-journal`: they belong to the old database) into the
//! staging directory's sidecar folder, then exchanges the staged entry with
//! the live one with `renameat2(RENAME_EXCHANGE)` (a file replacing a
//! directory and the reverse included), or renames it into place when
//! nothing was there. The old entries stay in staging. Once every directory
//! involved is flushed the journal is rewritten `committed`: the commit
//! point. Only then is staging (the old entries) removed.
//!
//! A failure before the commit point undoes the swaps in this process; a
//! crash is finished by the next open ([`recover`]): a committed journal
//! rolls forward (staging removed), any other rolls back, telling a swapped
//! path from one not yet swapped by the identity of the entry now live.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snap_store::{fault, fsutil};

use crate::error::{Error, Result};
use crate::model::SQLITE_SIDECARS;

/// The folder inside staging that keeps the live sidecars moved away.
const SIDECARS: &str = ".snap-restore-sidecars";

/// One path's swap, as the journal records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Swap {
    /// The path relative to the profile (raw bytes, hex in the journal).
    #[serde(with = "hex_bytes")]
    rel: Vec<u8>,
    /// (device, inode) of the staged new entry.
    new: (u64, u64),
    /// (device, inode) of the live entry it replaces, when there was one.
    old: Option<(u64, u64)>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

fn identity(p: &Path) -> Option<(u64, u64)> {
    fs::symlink_metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

fn rel_path(base: &Path, rel: &[u8]) -> PathBuf {
    base.join(OsStr::from_bytes(rel))
}

fn sidecar(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where swap `i`'s sidecar `suffix` is kept in staging.
fn kept_sidecar(staging: &Path, i: usize, suffix: &str) -> PathBuf {
    staging.join(SIDECARS).join(format!("{i}{suffix}"))
}

fn parent(p: &Path) -> &Path {
    fsutil::parent_dir(p)
}

/// Plans the swaps of `paths` (already staged and flushed).
pub(crate) fn plan(staging: &Path, dest: &Path, paths: &[String]) -> Result<Vec<Swap>> {
    paths
        .iter()
        .map(|p| {
            let rel = p.trim_matches('/').as_bytes().to_vec();
            let staged = rel_path(staging, &rel);
            let new = identity(&staged).ok_or_else(|| {
                Error::io(
                    &staged,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "staged entry missing"),
                )
            })?;
            Ok(Swap {
                old: identity(&rel_path(dest, &rel)),
                rel,
                new,
            })
        })
        .collect()
}

/// A failed [`swap_all`]: the error, and whether the swaps were undone (if
/// not, the journal must stay for the next open to roll back).
pub(crate) struct Failed {
    pub error: Error,
    pub undone: bool,
}

/// Performs the swaps and flushes every directory involved; on failure
/// undoes what was done.
pub(crate) fn swap_all(staging: &Path, dest: &Path, swaps: &[Swap]) -> Result<(), Failed> {
    let failed = |error: Error| Failed {
        error,
        undone: true,
    };
    fsutil::create_dir_durable(&staging.join(SIDECARS)).map_err(|e| failed(e.into()))?;
    let mut done = 0;
    let mut result = Ok(());
    for (i, s) in swaps.iter().enumerate() {
        result = swap_one(staging, dest, i, s);
        if result.is_err() {
            break;
        }
        done = i + 1;
    }
    if result.is_ok() {
        result = flush(staging, dest, swaps);
    }
    if let Err(e) = result {
        // Undo every swap begun (the failed one may have moved sidecars).
        let undo = rollback(staging, dest, &swaps[..(done + 1).min(swaps.len())]);
        return Err(match undo {
            Ok(()) => failed(e),
            Err(u) => Failed {
                error: Error::Invalid {
                    what: "restore --path into",
                    value: dest.display().to_string(),
                    reason: format!(
                        "{e}; undoing it failed too ({u}): the next snap command rolls it back"
                    ),
                },
                undone: false,
            },
        });
    }
    Ok(())
}

fn swap_one(staging: &Path, dest: &Path, i: usize, s: &Swap) -> Result<()> {
    let from = rel_path(staging, &s.rel);
    let to = rel_path(dest, &s.rel);
    let to_parent = parent(&to);
    if !to_parent.is_dir() {
        fs::create_dir_all(to_parent).map_err(|e| Error::io(to_parent, e))?;
        fsutil::sync_dir(parent(to_parent))?;
    }
    for suffix in SQLITE_SIDECARS {
        let live = sidecar(&to, suffix);
        if fs::symlink_metadata(&live).is_ok() {
            fault::rename(&live, &kept_sidecar(staging, i, suffix))
                .map_err(|e| Error::io(&live, e))?;
        }
    }
    if s.old.is_some() {
        exchange(&from, &to)
    } else {
        fault::rename(&from, &to).map_err(|e| Error::io(&to, e))
    }
}

fn flush(staging: &Path, dest: &Path, swaps: &[Swap]) -> Result<()> {
    let mut dirs: Vec<PathBuf> = vec![staging.join(SIDECARS)];
    for s in swaps {
        dirs.push(parent(&rel_path(dest, &s.rel)).to_path_buf());
        dirs.push(parent(&rel_path(staging, &s.rel)).to_path_buf());
    }
    dirs.sort();
    dirs.dedup();
    // The sidecar folder does not exist when a crash came before it.
    for d in dirs.iter().filter(|d| d.is_dir()) {
        fsutil::sync_dir(d)?;
    }
    Ok(())
}

/// Undoes `swaps` (newest first): an entry whose live identity is the new
/// one is swapped back, and the sidecars kept in staging are moved back.
pub(crate) fn rollback(staging: &Path, dest: &Path, swaps: &[Swap]) -> Result<()> {
    for (i, s) in swaps.iter().enumerate().rev() {
        let from = rel_path(staging, &s.rel);
        let to = rel_path(dest, &s.rel);
        if identity(&to) == Some(s.new) {
            if s.old.is_some() {
                exchange(&from, &to)?;
            } else {
                fault::rename(&to, &from).map_err(|e| Error::io(&to, e))?;
            }
        }
        for suffix in SQLITE_SIDECARS {
            let kept = kept_sidecar(staging, i, suffix);
            if fs::symlink_metadata(&kept).is_ok() {
                fault::rename(&kept, &sidecar(&to, suffix)).map_err(|e| Error::io(&kept, e))?;
            }
        }
    }
    flush(staging, dest, swaps)
}

/// Finishes an interrupted `--path` restore: rolls back unless `committed`.
pub(crate) fn recover(staging: &Path, dest: &Path, swaps: &[Swap], committed: bool) -> Result<()> {
    if committed || !staging.exists() {
        return Ok(());
    }
    rollback(staging, dest, swaps)
}

/// Atomically exchanges two paths (Linux `renameat2(RENAME_EXCHANGE)`).
pub(crate) fn exchange(a: &Path, b: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    fault::check(fault::Op::Rename).map_err(|e| Error::io(b, e))?;
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| Error::io(b, e.into()))
}
