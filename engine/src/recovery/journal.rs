//! The journal of in-place restores (`journal/` in the repository,
//! FORMAT.md): written before a restore touches the profile, rewritten at
//! the commit point of a `--path` restore, removed when it is done; and
//! [`finish_interrupted`], which the next open of the repository runs to
//! roll back or complete what a crash left.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use snap_store::{fsutil, LockMode, Repository};

use super::restore_paths;
use crate::error::Result;

/// Where the journal of in-place restores lives, inside the repository.
pub const JOURNAL_DIR: &str = "journal";

/// One in-place restore under way, as its journal file records it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Journal {
    pub(crate) profile_lock: String,
    pub(crate) staging: PathBuf,
    /// `--path` restores: the profile, the swaps, and whether they are
    /// committed (see [`super::restore_paths`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dest: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) swaps: Vec<restore_paths::Swap>,
    #[serde(default)]
    pub(crate) committed: bool,
}

/// The associated-data kind of restore journals when sealed.
pub const JOURNAL_KIND: &str = "journal";

pub(crate) fn write_journal(store: &Repository, j: &Journal) -> Result<PathBuf> {
    let dir = store.root().join(JOURNAL_DIR);
    fsutil::create_dir_durable(&dir)?;
    let path = dir.join(format!(
        "restore-{}.json",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    rewrite_journal(store, &path, j)?;
    Ok(path)
}

pub(crate) fn rewrite_journal(store: &Repository, path: &Path, j: &Journal) -> Result<()> {
    fsutil::atomic_write(
        &store.tmp_dir(),
        path,
        &store.seal_file(
            JOURNAL_KIND,
            &serde_json::to_vec(j).expect("journal serialises"),
        ),
    )?;
    Ok(())
}

/// Finishes in-place restores that a crash interrupted: the staging
/// directory holds either the half-built new tree (the swap never happened)
/// or the old tree (it did), so removing it leaves the profile exactly as
/// one of the two. Skips journals whose profile is locked by a live
/// operation. Returns one line per cleanup.
pub fn finish_interrupted(store: &Repository) -> Vec<String> {
    let dir = store.root().join(JOURNAL_DIR);
    let mut done = Vec::new();
    let Ok(rd) = fs::read_dir(&dir) else {
        return done;
    };
    for ent in rd.flatten() {
        let path = ent.path();
        let Some(j) = fs::read(&path)
            .ok()
            .and_then(|b| store.open_file(JOURNAL_KIND, &path, &b).ok())
            .and_then(|b| serde_json::from_slice::<Journal>(&b).ok())
        else {
            let _ = fs::remove_file(&path);
            continue;
        };
        let Ok(_lock) = store.lock_named(
            &j.profile_lock,
            LockMode::Exclusive,
            "cleanup",
            Duration::ZERO,
        ) else {
            continue;
        };
        if let Some(dest) = &j.dest {
            if let Err(e) = restore_paths::recover(&j.staging, dest, &j.swaps, j.committed) {
                done.push(format!(
                    "could not yet roll back the interrupted restore --path into {}: {e}",
                    dest.display()
                ));
                continue;
            }
        }
        remove_tree(&j.staging);
        if fsutil::remove_durable(&path).is_ok() {
            done.push(match (&j.dest, j.committed) {
                (Some(d), false) => format!(
                    "rolled back an interrupted restore --path into {}",
                    d.display()
                ),
                (Some(d), true) => format!(
                    "completed an interrupted restore --path into {}",
                    d.display()
                ),
                (None, _) => format!(
                    "removed {} left by an interrupted restore",
                    j.staging.display()
                ),
            });
        }
    }
    done
}

pub(crate) fn remove_tree(p: &Path) {
    if fs::symlink_metadata(p).is_ok() {
        make_writable(p);
        let _ = fs::remove_dir_all(p);
    }
}

/// Directories restored read-only (mode 0500) would block their removal.
fn make_writable(p: &Path) {
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}
