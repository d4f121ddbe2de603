//! Writing a snapshot's trees into a directory from several workers at once.
//!
//! Restoring many small files is bound by the filesystem's latency per
//! call (`openat`, `mkdir`, `symlink`), not by the CPU, so [`WORKERS`]
//! threads (more than the cores) keep that many calls in flight. Each
//! worker takes a task from one shared stack: a directory task reads its
//! tree (verified), creates its subdirectories and pushes a task for each
//! of them and for each file; a file task reads, decompresses and verifies
//! the file's chunks and writes them into a new file, then sets its mode and
//! mtime through the open descriptor. In place, a live file that already
//! has the snapshot's content, mode and mtime is hard-linked instead.
//!
//! Files with content are not written one by one: they gather in a batch
//! of at most [`BATCH_FILES`] files or [`BATCH_CHUNKS`] chunks, which the
//! worker that fills it hands to [`restore_fetch::write_files`] (planned
//! pack reads; [`FETCHING`] batches at once, so one batch's last runs
//! overlap the next one's first) while the others go on walking. So what
//! a restore holds is bounded by the batch size, not by the number of
//! files in the snapshot.
//!
//! The order that exactness needs is kept: symlinks are created after every
//! file and directory (as data, never followed), and directories get their
//! mode and mtime last, deepest first, after everything inside them. The
//! caller makes it durable (`crate::flush`: writeback while this runs,
//! one `syncfs` before its final rename).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use snap_store::BlobId;

use crate::commands::restore_fetch;
use crate::commands::restore_file::{self, finish_file, times, Item, WORKERS};
use crate::commands::restore_progress::Counter;
use crate::error::{Error, Result};
use crate::model::tree::{Node, NodeKind};
use crate::repo::Repo;
use crate::source::live::hash_file;

/// What was written, for the restore report.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    /// Files written from the repository.
    pub files_written: u64,
    /// Live files hard-linked because they were already correct.
    pub files_reused: u64,
    /// Bytes written.
    pub bytes_written: u64,
}

enum Task {
    /// Create the entries of a directory that exists already.
    Dir {
        tree: BlobId,
        dir: PathBuf,
        live: Option<PathBuf>,
        depth: usize,
    },
    /// Reuse one live file, or list it for the fetch.
    File(Item),
}

/// A directory whose mode and mtime are set once everything inside exists.
struct DirMeta {
    path: PathBuf,
    mode: u32,
    mtime_ns: i64,
    depth: usize,
}

#[derive(Default)]
struct Shared {
    stack: Vec<Task>,
    /// Tasks taken and not finished; the work is done when it is 0 and the
    /// stack is empty.
    active: usize,
}

struct Run<'a> {
    repo: &'a Repo,
    progress: &'a Counter<'a>,
    work: Mutex<Shared>,
    wake: Condvar,
    stop: AtomicBool,
    error: Mutex<Option<Error>>,
    symlinks: Mutex<Vec<Item>>,
    /// Files to write, gathering for the next [`restore_fetch::write_files`].
    pending: Mutex<Batch>,
    /// Batches being fetched, at most [`FETCHING`]; `fetched` wakes a
    /// worker waiting to start one.
    fetching: Mutex<usize>,
    fetched: Condvar,
    dirs: Mutex<Vec<DirMeta>>,
    files_written: AtomicU64,
    files_reused: AtomicU64,
    bytes_written: AtomicU64,
}

/// Files fetched together; fuller batches coalesce more reads, smaller
/// ones hold less. At most [`WORKERS`] full batches wait at once (one per
/// worker), whatever the snapshot's size.
pub const BATCH_FILES: usize = 1024;

/// Chunks fetched together at most (a batch of a few large files).
pub const BATCH_CHUNKS: usize = 8192;

/// Batches fetched at once, each by `WORKERS / FETCHING` readers (so at
/// most [`WORKERS`] pack reads are in flight).
pub const FETCHING: usize = 2;

#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    chunks: usize,
}

/// Writes the entries of tree `tree` into the existing directory `dir`
/// (`live`: the live profile directory, in place).
///
/// # Errors
/// The first error of any worker: a damaged or missing chunk (naming the
/// file), I/O errors naming the path.
pub(crate) fn tree_into(
    repo: &Repo,
    tree: &BlobId,
    dir: &Path,
    live: Option<&Path>,
    progress: &Counter<'_>,
) -> Result<Written> {
    let task = Task::Dir {
        tree: *tree,
        dir: dir.to_path_buf(),
        live: live.map(Path::to_path_buf),
        depth: 0,
    };
    run(repo, vec![task], Vec::new(), Vec::new(), progress)
}

/// Writes each item (a file, directory or symlink of the snapshot) at its
/// `dest`, whose parent directory exists.
///
/// # Errors
/// As [`tree_into`].
pub(crate) fn items(repo: &Repo, items: Vec<Item>, progress: &Counter<'_>) -> Result<Written> {
    let mut tasks = Vec::new();
    let mut symlinks = Vec::new();
    let mut dirs = Vec::new();
    for it in items {
        match it.node.kind {
            NodeKind::File => tasks.push(Task::File(it)),
            NodeKind::Symlink => symlinks.push(it),
            NodeKind::Dir => {
                fs::create_dir(&it.dest).map_err(|e| Error::io(&it.dest, e))?;
                if let Some(sub) = it.node.subtree {
                    tasks.push(Task::Dir {
                        tree: sub,
                        dir: it.dest.clone(),
                        live: it.live.clone(),
                        depth: 1,
                    });
                }
                dirs.push(DirMeta {
                    path: it.dest,
                    mode: it.node.mode,
                    mtime_ns: it.node.mtime_ns,
                    depth: 0,
                });
            }
        }
    }
    run(repo, tasks, symlinks, dirs, progress)
}

fn run(
    repo: &Repo,
    tasks: Vec<Task>,
    symlinks: Vec<Item>,
    dirs: Vec<DirMeta>,
    progress: &Counter<'_>,
) -> Result<Written> {
    // Every chunk and tree lookup of the restore in one index transaction.
    let _session = repo.store().read_session();
    let r = Run {
        repo,
        progress,
        work: Mutex::new(Shared {
            stack: tasks,
            active: 0,
        }),
        wake: Condvar::new(),
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
        symlinks: Mutex::new(symlinks),
        pending: Mutex::new(Batch::default()),
        fetching: Mutex::new(0),
        fetched: Condvar::new(),
        dirs: Mutex::new(dirs),
        files_written: AtomicU64::new(0),
        files_reused: AtomicU64::new(0),
        bytes_written: AtomicU64::new(0),
    };
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| r.worker());
        }
    });
    if let Some(e) = r.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    // Then the last batch of files.
    let last = r.pending.into_inner().unwrap_or_else(|p| p.into_inner());
    let fetched = restore_fetch::write_files(repo, &last.items, WORKERS, progress)?;
    drop(last);
    // Symlinks last: everything they could point into exists.
    let symlinks = r.symlinks.into_inner().unwrap_or_else(|p| p.into_inner());
    parallel_each(&symlinks, |it| {
        std::os::unix::fs::symlink(OsStr::from_bytes(&it.node.link_target), &it.dest)
            .map_err(|e| Error::io(&it.dest, e))?;
        set_mtime(&it.dest, it.node.mtime_ns)
    })?;
    // Directories after their contents, deepest first: a read-only
    // directory is sealed only when nothing more goes into it, and setting
    // a child's times does not move its parent's mtime.
    let mut dirs = r.dirs.into_inner().unwrap_or_else(|p| p.into_inner());
    dirs.sort_by_key(|d| std::cmp::Reverse(d.depth));
    for d in &dirs {
        fs::set_permissions(&d.path, fs::Permissions::from_mode(d.mode))
            .map_err(|e| Error::io(&d.path, e))?;
        set_mtime(&d.path, d.mtime_ns)?;
    }
    Ok(Written {
        files_written: r.files_written.into_inner() + fetched.files,
        files_reused: r.files_reused.into_inner(),
        bytes_written: r.bytes_written.into_inner() + fetched.bytes,
    })
}

impl Run<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.work.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn worker(&self) {
        loop {
            let task = {
                let mut w = self.lock();
                loop {
                    if self.stop.load(Ordering::Relaxed) {
                        self.wake.notify_all();
                        return;
                    }
                    if let Some(t) = w.stack.pop() {
                        w.active += 1;
                        break t;
                    }
                    if w.active == 0 {
                        self.wake.notify_all();
                        return;
                    }
                    w = self.wake.wait(w).unwrap_or_else(|p| p.into_inner());
                }
            };
            let result = match task {
                Task::Dir {
                    tree,
                    dir,
                    live,
                    depth,
                } => self.dir(&tree, &dir, live.as_deref(), depth),
                Task::File(item) => self.file(item),
            };
            if let Err(e) = result {
                self.stop.store(true, Ordering::Relaxed);
                self.error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
            // Idle workers wait for tasks (woken as `dir` queues them), for
            // the end of the walk or for an error, which only this brings.
            let mut w = self.lock();
            w.active -= 1;
            if (w.active == 0 && w.stack.is_empty()) || self.stop.load(Ordering::Relaxed) {
                self.wake.notify_all();
            }
        }
    }

    /// Creates the subdirectories of one directory and queues its files
    /// and subdirectories.
    fn dir(&self, tree: &BlobId, dir: &Path, live: Option<&Path>, depth: usize) -> Result<()> {
        let tree = self.repo.tree(tree)?;
        let mut tasks = Vec::new();
        for node in tree.nodes {
            let dest = dir.join(OsStr::from_bytes(&node.name));
            let live = live.map(|l| l.join(OsStr::from_bytes(&node.name)));
            match node.kind {
                NodeKind::Dir => {
                    fs::create_dir(&dest).map_err(|e| Error::io(&dest, e))?;
                    if let Some(sub) = node.subtree {
                        tasks.push(Task::Dir {
                            tree: sub,
                            dir: dest.clone(),
                            live,
                            depth: depth + 1,
                        });
                    }
                    self.dirs
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(DirMeta {
                            path: dest,
                            mode: node.mode,
                            mtime_ns: node.mtime_ns,
                            depth,
                        });
                }
                NodeKind::File => tasks.push(Task::File(Item { dest, node, live })),
                NodeKind::Symlink => self
                    .symlinks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Item { dest, node, live }),
            }
        }
        if !tasks.is_empty() {
            let n = tasks.len();
            self.lock().stack.extend(tasks);
            if n == 1 {
                self.wake.notify_one();
            } else {
                self.wake.notify_all();
            }
        }
        Ok(())
    }

    /// Hard-links a live file that is already correct, creates an empty
    /// one, or lists the file for the fetch.
    fn file(&self, it: Item) -> Result<()> {
        if it
            .live
            .as_deref()
            .is_some_and(|l| reuse_live(self.repo, &it.node, l, &it.dest))
        {
            self.files_reused.fetch_add(1, Ordering::Relaxed);
            self.progress.file_done(it.node.size);
            return Ok(());
        }
        if it.node.content.is_empty() {
            if it.node.size != 0 {
                return Err(restore_file::size_mismatch(&it.dest, it.node.size, 0));
            }
            let f = File::options()
                .write(true)
                .create_new(true)
                .open(&it.dest)
                .map_err(|e| Error::io(&it.dest, e))?;
            finish_file(&f, &it.dest, &it.node)?;
            self.files_written.fetch_add(1, Ordering::Relaxed);
            self.progress.file_done(0);
            return Ok(());
        }
        let batch = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.chunks += it.node.content.len();
            p.items.push(it);
            if p.items.len() < BATCH_FILES && p.chunks < BATCH_CHUNKS {
                return Ok(());
            }
            std::mem::take(&mut *p)
        };
        {
            let mut n = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
            while *n >= FETCHING {
                n = self.fetched.wait(n).unwrap_or_else(|p| p.into_inner());
            }
            *n += 1;
        }
        let fetched = if self.stop.load(Ordering::Relaxed) {
            Ok(None)
        } else {
            restore_fetch::write_files(self.repo, &batch.items, WORKERS / FETCHING, self.progress)
                .map(Some)
        };
        *self.fetching.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.fetched.notify_one();
        if let Some(f) = fetched? {
            self.files_written.fetch_add(f.files, Ordering::Relaxed);
            self.bytes_written.fetch_add(f.bytes, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Runs `f` on every item from [`WORKERS`] threads; the first error wins.
fn parallel_each<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(items.len()) {
            s.spawn(|| {
                while let Some(it) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(e) = f(it) {
                        error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        next.store(items.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .map_or(Ok(()), Err)
}

/// Hard-links the live file into place when it already has the snapshot's
/// content, mode and mtime (so it is not rewritten).
fn reuse_live(repo: &Repo, node: &Node, live: &Path, p: &Path) -> bool {
    let Ok(m) = fs::symlink_metadata(live) else {
        return false;
    };
    let stat = crate::source::scan::Stat::of(&m);
    if !m.is_file()
        || stat.size != node.size
        || stat.mode != node.mode
        || stat.mtime_ns != node.mtime_ns
    {
        return false;
    }
    hash_file(live, repo.store(), &repo.store().config().chunker) == node.content
        && fs::hard_link(live, p).is_ok()
}

/// Sets the mtime of `p` itself (a symlink is not followed).
fn set_mtime(p: &Path, mtime_ns: i64) -> Result<()> {
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &times(mtime_ns),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::io(p, e.into()))
}
