//! `restore`: bring a snapshot back, into a new directory or in place.
//!
//! In place, the snapshot is first materialised in a staging directory
//! beside the profile (same filesystem), flushed, then swapped in with one
//! `renameat2(RENAME_EXCHANGE)`, so the profile is always exactly the old or
//! exactly the restored tree. A journal in the repository's `journal/`
//! names the staging directory until it is removed; the next open finishes
//! or rolls back an interrupted restore ([`finish_interrupted`]).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use snap_store::{fault, fsutil, LockMode, Repository, SnapshotId};

use crate::backup::{create, CreateOptions, CreateStatus};
use crate::diff::{diff_trees, Change};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::live::LiveTree;
use crate::repo::Repo;
use crate::scan::SQLITE_SIDECARS;
use crate::snapshot::SnapshotInfo;
use crate::tree::Node;

/// Where the journal of in-place restores lives, inside the repository.
pub const JOURNAL_DIR: &str = "journal";

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Restore into this new or empty directory; `None` restores in place.
    pub target: Option<PathBuf>,
    /// The profile's directory, for an in-place restore (default: the
    /// snapshot's source path).
    pub profile_path: Option<PathBuf>,
    /// The profile's excludes: excluded live entries are kept across an
    /// in-place restore, and the pre-restore snapshot uses them.
    pub excludes: Vec<String>,
    /// Restore only these paths (relative to the profile root).
    pub paths: Vec<String>,
    /// Report what would change and write nothing.
    pub dry_run: bool,
    /// The time for the pre-restore snapshot (`None`: now).
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a restore did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    /// The snapshot restored.
    pub snapshot: Option<SnapshotId>,
    /// The directory written.
    pub target: PathBuf,
    /// Whether the profile was restored in place.
    pub in_place: bool,
    /// The safety snapshot taken first (in place, when anything had changed).
    pub pre_restore: Option<SnapshotId>,
    /// Files written from the repository.
    pub files_written: u64,
    /// Files already correct in the live profile, kept without rewriting.
    pub files_reused: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// What differs between the live directory and the snapshot.
    pub changes: Vec<Change>,
}

#[derive(Serialize, Deserialize)]
struct Journal {
    profile_lock: String,
    staging: PathBuf,
}

/// Restores `snap` as `opts` says.
///
/// # Errors
/// A target that is not empty, a damaged or missing chunk (before the
/// profile is touched, naming the file and pack), I/O errors.
pub fn restore(repo: &Repo, snap: &SnapshotInfo, opts: &RestoreOptions) -> Result<RestoreReport> {
    let profile = snap.manifest.profile.clone();
    let in_place = opts.target.is_none();
    let dest = match &opts.target {
        Some(t) => t.clone(),
        None => opts
            .profile_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(&snap.manifest.source.path)),
    };
    let mut report = RestoreReport {
        snapshot: Some(snap.id),
        target: dest.clone(),
        in_place,
        ..Default::default()
    };
    let filter = Filter::new(&opts.excludes)?;
    let root = select_root(repo, &snap.manifest.tree, &opts.paths)?;

    if opts.dry_run {
        let live = if dest.is_dir() {
            Some(LiveTree::build(
                repo,
                &dest,
                &filter,
                Some(&snap.manifest.tree),
            )?)
        } else {
            None
        };
        let load = |id: &snap_store::BlobId| match &live {
            Some(l) => l.load(repo)(id),
            None => repo.tree(id),
        };
        let mut changes = diff_trees(
            &load,
            live.as_ref().map(|l| &l.root),
            Some(&snap.manifest.tree),
        )?;
        if !opts.paths.is_empty() {
            changes.retain(|c| {
                opts.paths.iter().any(|p| {
                    c.path == p.trim_matches('/')
                        || c.path.starts_with(&format!("{}/", p.trim_matches('/')))
                })
            });
        }
        report.changes = changes;
        return Ok(report);
    }

    if !in_place {
        if dest.exists()
            && (!dest.is_dir()
                || fs::read_dir(&dest)
                    .map_err(|e| Error::io(&dest, e))?
                    .next()
                    .is_some())
        {
            return Err(Error::Invalid {
                what: "restore target",
                value: dest.display().to_string(),
                reason: "exists and is not an empty directory".into(),
            });
        }
    } else {
        if !dest.is_dir() {
            return Err(Error::io(
                &dest,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "profile directory not found; use --target",
                ),
            ));
        }
        let mut pre = CreateOptions::new(&profile, &dest);
        pre.name_prefix = "pre-restore".into();
        pre.tags = vec!["pre-restore".into()];
        pre.excludes = opts.excludes.clone();
        pre.now = opts.now;
        let out = create(repo, &pre)?;
        if out.status == CreateStatus::Created {
            report.pre_restore = Some(out.id);
        }
    }

    let lock_name = format!("profile-{profile}");
    let _lock = repo.store().lock_named(
        &lock_name,
        LockMode::Exclusive,
        "restore",
        Duration::from_secs(30),
    )?;
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let staging = staging_path(&dest);
    let journal = write_journal(
        repo.store(),
        &Journal {
            profile_lock: lock_name,
            staging: staging.clone(),
        },
    )?;
    let result = (|| -> Result<()> {
        fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        let live = if in_place { Some(dest.as_path()) } else { None };
        materialise_selected(repo, &root, &staging, live, &mut report)?;
        if in_place {
            carry_over_excluded(&dest, &staging, &filter, b"")?;
            let perm = fs::metadata(&dest)
                .map_err(|e| Error::io(&dest, e))?
                .permissions();
            fs::set_permissions(&staging, perm).map_err(|e| Error::io(&staging, e))?;
        }
        sync_fs(&staging)?;
        if in_place {
            if opts.paths.is_empty() {
                exchange(&staging, &dest)?;
            } else {
                swap_paths(&staging, &dest, &opts.paths)?;
            }
        } else {
            fault::rename(&staging, &dest).map_err(|e| Error::io(&dest, e))?;
        }
        if let Err(e) = fsutil::sync_dir(&parent) {
            // The swap is not known to be durable, and the caller is told
            // it failed: undo it, so a failure leaves the destination as it
            // was (found by the fault-injection sweep, tests/reliability).
            if !in_place {
                let _ = fs::rename(&dest, &staging);
            } else if opts.paths.is_empty() {
                let _ = exchange(&staging, &dest);
            }
            let _ = fsutil::sync_dir(&parent);
            return Err(e.into());
        }
        Ok(())
    })();
    remove_tree(&staging);
    let cleaned = fault::in_cleanup(|| fsutil::remove_durable(&journal));
    result?;
    // After a completed restore a journal that could not be removed is
    // harmless (the next open removes it); reporting failure would be false.
    drop(cleaned);
    Ok(report)
}

/// The trees to materialise: the whole snapshot, or the nodes at `paths`.
enum Selection {
    Whole(snap_store::BlobId),
    Paths(Vec<(Vec<u8>, Node)>),
}

fn select_root(repo: &Repo, root: &snap_store::BlobId, paths: &[String]) -> Result<Selection> {
    if paths.is_empty() {
        return Ok(Selection::Whole(*root));
    }
    let mut out = Vec::new();
    for p in paths {
        let rel = p.trim_matches('/');
        let node = crate::browse::find(repo, root, rel)?.ok_or_else(|| Error::Invalid {
            what: "path",
            value: p.clone(),
            reason: "not in the snapshot".into(),
        })?;
        out.push((rel.as_bytes().to_vec(), node));
    }
    Ok(Selection::Paths(out))
}

fn materialise_selected(
    repo: &Repo,
    sel: &Selection,
    staging: &Path,
    live: Option<&Path>,
    report: &mut RestoreReport,
) -> Result<()> {
    let written = match sel {
        Selection::Whole(id) => crate::materialize::tree_into(repo, id, staging, live)?,
        Selection::Paths(nodes) => {
            let mut items = Vec::new();
            for (rel, node) in nodes {
                let dest = staging.join(OsStr::from_bytes(rel));
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                items.push(crate::materialize::Item {
                    dest,
                    node: node.clone(),
                    live: live.map(|l| l.join(OsStr::from_bytes(rel))),
                });
            }
            crate::materialize::items(repo, items)?
        }
    };
    report.files_written += written.files_written;
    report.files_reused += written.files_reused;
    report.bytes_written += written.bytes_written;
    Ok(())
}

/// Hard-links (or recreates) live entries the profile excludes into staging,
/// so an in-place restore does not lose them.
fn carry_over_excluded(live: &Path, staging: &Path, filter: &Filter, rel: &[u8]) -> Result<()> {
    if filter.patterns().is_empty() {
        return Ok(());
    }
    let Ok(rd) = fs::read_dir(live) else {
        return Ok(());
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let mut r = rel.to_vec();
        if !r.is_empty() {
            r.push(b'/');
        }
        r.extend_from_slice(name.as_bytes());
        let (src, dst) = (ent.path(), staging.join(&name));
        let Ok(m) = fs::symlink_metadata(&src) else {
            continue;
        };
        if filter.excludes(&r) {
            if !dst.exists() {
                link_tree(&src, &dst)?;
            }
        } else if m.is_dir() && dst.is_dir() {
            carry_over_excluded(&src, &dst, filter, &r)?;
        }
    }
    Ok(())
}

fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    let m = fs::symlink_metadata(src).map_err(|e| Error::io(src, e))?;
    if m.is_dir() {
        fs::create_dir(dst).map_err(|e| Error::io(dst, e))?;
        for ent in fs::read_dir(src).map_err(|e| Error::io(src, e))?.flatten() {
            link_tree(&ent.path(), &dst.join(ent.file_name()))?;
        }
        fs::set_permissions(dst, m.permissions()).map_err(|e| Error::io(dst, e))
    } else if m.file_type().is_symlink() {
        let t = fs::read_link(src).map_err(|e| Error::io(src, e))?;
        std::os::unix::fs::symlink(t, dst).map_err(|e| Error::io(dst, e))
    } else if m.is_file() {
        fs::hard_link(src, dst)
            .or_else(|_| fs::copy(src, dst).map(|_| ()))
            .map_err(|e| Error::io(dst, e))
    } else {
        Ok(())
    }
}

fn staging_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".into());
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(
        ".{name}.snap-staging-{}",
        hex::encode(rand::random::<[u8; 6]>())
    ))
}

/// The associated-data kind of restore journals when sealed.
pub const JOURNAL_KIND: &str = "journal";

fn write_journal(store: &Repository, j: &Journal) -> Result<PathBuf> {
    let dir = store.root().join(JOURNAL_DIR);
    fsutil::create_dir_durable(&dir)?;
    let path = dir.join(format!(
        "restore-{}.json",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    fsutil::atomic_write(
        &store.tmp_dir(),
        &path,
        &store.seal_file(
            JOURNAL_KIND,
            &serde_json::to_vec(j).expect("journal serialises"),
        ),
    )?;
    Ok(path)
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
        remove_tree(&j.staging);
        if fsutil::remove_durable(&path).is_ok() {
            done.push(format!(
                "removed {} left by an interrupted restore",
                j.staging.display()
            ));
        }
    }
    done
}

fn remove_tree(p: &Path) {
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

/// Atomically exchanges two paths (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    fault::check(fault::Op::Rename).map_err(|e| Error::io(b, e))?;
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| Error::io(b, e.into()))
}

/// In-place `--path` restore: each selected path is moved over the live one
/// (a file by `rename`, a directory by exchange), and stale SQLite sidecars
/// beside a restored file are removed.
fn swap_paths(staging: &Path, dest: &Path, paths: &[String]) -> Result<()> {
    for p in paths {
        let rel = p.trim_matches('/');
        let from = staging.join(rel);
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let both_dirs = from.is_dir() && fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir());
        if both_dirs {
            exchange(&from, &to)?;
        } else {
            if fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
                remove_tree(&to);
            }
            fault::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
            for s in SQLITE_SIDECARS {
                let mut side = to.as_os_str().to_owned();
                side.push(s);
                let _ = fs::remove_file(PathBuf::from(side));
            }
        }
        fsutil::sync_dir(to.parent().unwrap_or(dest))?;
    }
    Ok(())
}

/// Flushes everything written under `p` with one `syncfs`.
fn sync_fs(p: &Path) -> Result<()> {
    fault::check(fault::Op::Fsync).map_err(|e| Error::io(p, e))?;
    let f = File::open(p).map_err(|e| Error::io(p, e))?;
    rustix::fs::syncfs(&f).map_err(|e| Error::io(p, e.into()))
}
