//! `restore`: bring a snapshot back, into a new directory or in place.
//!
//! In place, the snapshot is first materialised in a staging directory
//! beside the profile (same filesystem), flushed, then swapped in with one
//! `renameat2(RENAME_EXCHANGE)`, so the profile is always exactly the old or
//! exactly the restored tree. A journal in the repository's `journal/`
//! names the staging directory until it is removed; the next open finishes
//! or rolls back an interrupted restore ([`finish_interrupted`]).
//!
//! Before anything is written in place, the restore refuses (unless forced)
//! when another process holds a file of the profile open
//! ([`open_by_others`], [`Error::InUse`]), then takes its undo point: a
//! `pre-restore` snapshot, or the `pre-restore` tag on the identical
//! existing snapshot ([`crate::tags`]). `--path` swaps are journaled one by
//! one ([`crate::restore_paths`]).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use snap_store::{fault, fsutil, LockMode, Repository, SnapshotId};

use crate::commands::backup::{create, CreateOptions, CreateStatus};
use crate::commands::diff::{diff_trees, Change};
use crate::commands::restore_progress::Counter;
use crate::error::{Error, Result};
use crate::flush::Flusher;
use crate::model::retention::TAG_PRE_RESTORE;
use crate::model::snapshot::SnapshotInfo;
use crate::model::tree::Node;
use crate::recovery::journal::{remove_tree, rewrite_journal, write_journal, Journal};
use crate::recovery::restore_paths::{self, exchange};
use crate::repo::Repo;
use crate::source::filter::Filter;
use crate::source::live::LiveTree;
use crate::source::scan::SQLITE_SIDECARS;

/// How to restore.
#[derive(Clone, Default)]
pub struct RestoreOptions<'a> {
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
    /// Restore in place even when another process has a file of the
    /// profile open ([`open_by_others`]); the report warns about each.
    pub force: bool,
    /// Called as files are put in place (from several threads, once per
    /// file, and once with nothing done yet); not called by a dry run.
    pub progress: Option<ProgressFn<'a>>,
}

impl std::fmt::Debug for RestoreOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreOptions")
            .field("target", &self.target)
            .field("profile_path", &self.profile_path)
            .field("excludes", &self.excludes)
            .field("paths", &self.paths)
            .field("dry_run", &self.dry_run)
            .field("now", &self.now)
            .field("force", &self.force)
            .field("progress", &self.progress.map(|_| "callback"))
            .finish()
    }
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
    /// The undo point of an in-place restore: a new `pre-restore`
    /// snapshot of the state replaced, or, when that state equals an
    /// existing snapshot, that snapshot, now tagged `pre-restore`. Either
    /// way rotation by count never removes it.
    pub pre_restore: Option<SnapshotId>,
    /// The exact command that undoes an in-place restore.
    pub undo_command: Option<String>,
    /// What the user must know (files open in other processes with `force`).
    pub warnings: Vec<String>,
    /// Files written from the repository.
    pub files_written: u64,
    /// Files already correct in the live profile, kept without rewriting.
    pub files_reused: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// What differs between the live directory and the snapshot.
    pub changes: Vec<Change>,
}

pub use crate::commands::restore_progress::{ProgressFn, RestoreProgress};
pub use crate::recovery::journal::{finish_interrupted, JOURNAL_DIR, JOURNAL_KIND};
pub use crate::source::in_use::{
    open_by_others, open_by_others_excluding, sqlite_lock_holder, OpenFile,
};

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
        check_not_in_use(&dest, opts, &mut report)?;
        let pre_id = undo_point(repo, &profile, &dest, opts)?;
        report.pre_restore = Some(pre_id);
        report.undo_command = Some(undo_command(repo, &pre_id));
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
    let mut jr = Journal {
        profile_lock: lock_name,
        staging: staging.clone(),
        dest: None,
        swaps: Vec::new(),
        committed: false,
    };
    let journal = write_journal(repo.store(), &jr)?;
    // Set when a failed `--path` restore could not be undone: the journal
    // and staging stay for the next open to roll back.
    let mut leave = false;
    let result = (|| -> Result<()> {
        fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        let flusher = Flusher::start(&staging)?;
        let live = if in_place { Some(dest.as_path()) } else { None };
        materialise_selected(repo, snap, &root, &staging, live, opts, &mut report)?;
        if in_place {
            carry_over_excluded(&dest, &staging, &filter, b"")?;
            let perm = fs::metadata(&dest)
                .map_err(|e| Error::io(&dest, e))?
                .permissions();
            fs::set_permissions(&staging, perm).map_err(|e| Error::io(&staging, e))?;
        }
        flusher.finish()?;
        if in_place && !opts.paths.is_empty() {
            return swap_paths(
                repo.store(),
                &journal,
                &mut jr,
                &dest,
                &opts.paths,
                &mut leave,
            );
        }
        if in_place {
            exchange(&staging, &dest)?;
        } else {
            fault::rename(&staging, &dest).map_err(|e| Error::io(&dest, e))?;
        }
        if let Err(e) = fsutil::sync_dir(&parent) {
            // The swap is not known to be durable, and the caller is told
            // it failed: undo it, so a failure leaves the destination as it
            // was (found by the fault-injection sweep, tests/reliability).
            if !in_place {
                let _ = fs::rename(&dest, &staging);
            } else {
                let _ = exchange(&staging, &dest);
            }
            let _ = fsutil::sync_dir(&parent);
            return Err(e.into());
        }
        Ok(())
    })();
    if leave {
        return result.map(|()| report);
    }
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
        let node =
            crate::commands::browse::find(repo, root, rel)?.ok_or_else(|| Error::Invalid {
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
    snap: &SnapshotInfo,
    sel: &Selection,
    staging: &Path,
    live: Option<&Path>,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<()> {
    let (files, bytes) = match sel {
        Selection::Whole(_) => (snap.manifest.summary.files, snap.manifest.summary.bytes),
        Selection::Paths(nodes) => {
            crate::commands::restore_progress::totals(repo, nodes.iter().map(|(_, n)| n))?
        }
    };
    let progress = Counter::new(opts.progress, files, bytes);
    let written = match sel {
        Selection::Whole(id) => {
            crate::commands::materialize::tree_into(repo, id, staging, live, &progress)?
        }
        Selection::Paths(nodes) => {
            let mut items = Vec::new();
            for (rel, node) in nodes {
                let dest = staging.join(OsStr::from_bytes(rel));
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                items.push(crate::commands::restore_file::Item {
                    dest,
                    node: node.clone(),
                    live: live.map(|l| l.join(OsStr::from_bytes(rel))),
                });
            }
            crate::commands::materialize::items(repo, items, &progress)?
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

/// In-place `--path` restore ([`crate::restore_paths`]): journal the
/// swaps, swap, commit by rewriting the journal `committed`.
fn swap_paths(
    store: &Repository,
    journal: &Path,
    jr: &mut Journal,
    dest: &Path,
    paths: &[String],
    leave: &mut bool,
) -> Result<()> {
    jr.swaps = restore_paths::plan(&jr.staging, dest, paths)?;
    jr.dest = Some(dest.to_path_buf());
    rewrite_journal(store, journal, jr)?;
    if let Err(f) = restore_paths::swap_all(&jr.staging, dest, &jr.swaps) {
        *leave = !f.undone;
        return Err(f.error);
    }
    jr.committed = true;
    if let Err(e) = rewrite_journal(store, journal, jr) {
        // Not known to be committed: undo, as a failure must leave the
        // profile as it was.
        if restore_paths::rollback(&jr.staging, dest, &jr.swaps).is_err() {
            jr.committed = false;
            let _ = rewrite_journal(store, journal, jr);
            *leave = true;
        }
        return Err(e);
    }
    Ok(())
}

/// Refuses (unless `opts.force`) when another process has a file of the
/// profile open, or one of the `--path`s with its sidecars.
fn check_not_in_use(dest: &Path, opts: &RestoreOptions, report: &mut RestoreReport) -> Result<()> {
    let mut busy = open_by_others_excluding(dest, &opts.excludes)?;
    if !opts.paths.is_empty() {
        busy.retain(|f| {
            let rel = f.path.as_os_str().as_bytes();
            opts.paths.iter().any(|p| {
                let p = p.trim_matches('/').as_bytes();
                rel.strip_prefix(p).is_some_and(|rest| {
                    rest.is_empty()
                        || rest.starts_with(b"/")
                        || SQLITE_SIDECARS.iter().any(|s| rest == s.as_bytes())
                })
            })
        });
    }
    match busy.first() {
        None => Ok(()),
        Some(first) if !opts.force => Err(first.clone().into_error()),
        Some(_) => {
            report.warnings.extend(busy.iter().map(|f| {
                format!(
                    "{}: restored anyway (forced); what it writes from now on goes to the replaced copy and is lost",
                    f.describe()
                )
            }));
            Ok(())
        }
    }
}

/// The undo point of an in-place restore: a `pre-restore` snapshot of the
/// live profile, or, when nothing changed since the latest snapshot, that
/// snapshot with the `pre-restore` tag added ([`crate::tags`]).
fn undo_point(
    repo: &Repo,
    profile: &str,
    dest: &Path,
    opts: &RestoreOptions,
) -> Result<SnapshotId> {
    let mut pre = CreateOptions::new(profile, dest);
    pre.name_prefix = TAG_PRE_RESTORE.into();
    pre.tags = vec![TAG_PRE_RESTORE.into()];
    pre.excludes = opts.excludes.clone();
    pre.now = opts.now;
    let out = create(repo, &pre)?;
    if out.status == CreateStatus::Unchanged {
        crate::model::tags::add(repo.store(), &out.id, TAG_PRE_RESTORE)?;
    }
    Ok(out.id)
}

/// `snap --repo REPO restore ID`, quoted for a POSIX shell.
fn undo_command(repo: &Repo, id: &SnapshotId) -> String {
    let root = repo.store().root();
    let root = match repo.store().is_local() {
        true => fs::canonicalize(root)
            .unwrap_or_else(|_| root.to_path_buf())
            .to_string_lossy()
            .into_owned(),
        false => repo.store().storage().location().to_string(),
    };
    format!("snap --repo {} restore {}", shell_quote(&root), id.short())
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
