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
//! The order that exactness needs is kept: symlinks are created after every
//! file and directory (as data, never followed), and directories get their
//! mode and mtime last, deepest first, after everything inside them. The
//! caller makes it durable (one `syncfs` before its final rename).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use snap_store::{fault, BlobId};

use crate::commands::restore_progress::Counter;
use crate::error::{Error, Result};
use crate::model::tree::{Node, NodeKind};
use crate::repo::Repo;
use crate::source::live::hash_file;

/// Calls in flight at once: restores wait on the filesystem, not the CPU.
pub const WORKERS: usize = 8;

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

/// One thing to put on disk.
pub(crate) struct Item {
    /// Where it goes.
    pub dest: PathBuf,
    /// The snapshot's node for it.
    pub node: Node,
    /// The same path in the live profile (in place), for reusing files.
    pub live: Option<PathBuf>,
}

enum Task {
    /// Create the entries of a directory that exists already.
    Dir {
        tree: BlobId,
        dir: PathBuf,
        live: Option<PathBuf>,
        depth: usize,
    },
    /// Write one file.
    File(Item),
    /// Write chunks `chunks` of a large file, from byte `offset` on.
    Range {
        file: Arc<LargeFile>,
        chunks: std::ops::Range<usize>,
        offset: u64,
    },
}

/// Files with more chunks than this are written by several workers at
/// once, this many chunks each (a 60 MB database is not one worker's
/// sequence of reads and writes).
const RANGE_CHUNKS: usize = 64;

/// A large file being written in ranges; the worker that finishes the last
/// range sets its mode and mtime.
struct LargeFile {
    file: File,
    dest: PathBuf,
    node: Node,
    /// Ranges not yet written.
    left: AtomicUsize,
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
    dirs: Mutex<Vec<DirMeta>>,
    files_written: AtomicU64,
    files_reused: AtomicU64,
    bytes_written: AtomicU64,
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
        files_written: r.files_written.into_inner(),
        files_reused: r.files_reused.into_inner(),
        bytes_written: r.bytes_written.into_inner(),
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
                Task::File(item) => self.file(&item),
                Task::Range {
                    file,
                    chunks,
                    offset,
                } => self.range(&file, chunks, offset),
            };
            if let Err(e) = result {
                self.stop.store(true, Ordering::Relaxed);
                self.error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
            self.lock().active -= 1;
            self.wake.notify_all();
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
            self.lock().stack.extend(tasks);
            self.wake.notify_all();
        }
        Ok(())
    }

    fn file(&self, it: &Item) -> Result<()> {
        if it
            .live
            .as_deref()
            .is_some_and(|l| reuse_live(self.repo, &it.node, l, &it.dest))
        {
            self.files_reused.fetch_add(1, Ordering::Relaxed);
            self.progress.file_done(it.node.size);
            return Ok(());
        }
        if it.node.content.len() > RANGE_CHUNKS {
            return self.split(it);
        }
        write_file(self.repo, &it.node, &it.dest)?;
        self.files_written.fetch_add(1, Ordering::Relaxed);
        self.bytes_written
            .fetch_add(it.node.size, Ordering::Relaxed);
        self.progress.file_done(it.node.size);
        Ok(())
    }

    /// Creates a large file and queues its ranges, each at the offset the
    /// index gives (the sum of the earlier chunks' plaintext lengths).
    fn split(&self, it: &Item) -> Result<()> {
        let p = &it.dest;
        let mut offsets = Vec::with_capacity(it.node.content.len());
        let mut end = 0u64;
        for id in &it.node.content {
            offsets.push(end);
            let loc = self
                .repo
                .store()
                .locate(id)
                .map_err(Error::from)
                .and_then(|l| {
                    l.ok_or_else(|| {
                        Error::from(snap_store::Error::NotFound {
                            what: "blob",
                            id: id.to_hex(),
                        })
                    })
                })
                .map_err(|e| cannot_restore(p, &e))?;
            end += u64::from(loc.entry.raw_len);
        }
        if end != it.node.size {
            return Err(size_mismatch(p, it.node.size, end));
        }
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(p)
            .map_err(|e| Error::io(p, e))?;
        let ranges = it.node.content.len().div_ceil(RANGE_CHUNKS);
        let large = Arc::new(LargeFile {
            file,
            dest: p.clone(),
            node: it.node.clone(),
            left: AtomicUsize::new(ranges),
        });
        let tasks = (0..ranges).map(|r| {
            let start = r * RANGE_CHUNKS;
            Task::Range {
                file: large.clone(),
                chunks: start..(start + RANGE_CHUNKS).min(offsets.len()),
                offset: offsets[start],
            }
        });
        self.lock().stack.extend(tasks);
        self.wake.notify_all();
        Ok(())
    }

    /// Writes one range of a large file; the last range finishes the file.
    fn range(&self, large: &LargeFile, chunks: std::ops::Range<usize>, offset: u64) -> Result<()> {
        let p = &large.dest;
        let mut at = At {
            file: &large.file,
            offset,
        };
        for id in &large.node.content[chunks] {
            let data = self
                .repo
                .store()
                .read_blob(id)
                .map_err(|e| cannot_restore(p, &e.into()))?;
            fault::write_all(&mut at, &data).map_err(|e| Error::io(p, e))?;
        }
        if large.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            finish_file(&large.file, p, &large.node)?;
            self.files_written.fetch_add(1, Ordering::Relaxed);
            self.bytes_written
                .fetch_add(large.node.size, Ordering::Relaxed);
            self.progress.file_done(large.node.size);
        }
        Ok(())
    }
}

/// Positional writes into a shared file (each worker at its own offset).
struct At<'f> {
    file: &'f File,
    offset: u64,
}

impl std::io::Write for At<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::write_at(self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn cannot_restore(p: &Path, e: &Error) -> Error {
    Error::Format {
        path: p.to_path_buf(),
        detail: format!("cannot restore: {e}"),
    }
}

fn size_mismatch(p: &Path, listed: u64, held: u64) -> Error {
    Error::Format {
        path: p.to_path_buf(),
        detail: format!("snapshot lists {listed} bytes but its chunks hold {held}"),
    }
}

/// Sets a written file's mode and mtime through its descriptor.
fn finish_file(f: &File, p: &Path, node: &Node) -> Result<()> {
    f.set_permissions(fs::Permissions::from_mode(node.mode))
        .map_err(|e| Error::io(p, e))?;
    rustix::fs::futimens(f, &times(node.mtime_ns)).map_err(|e| Error::io(p, e.into()))
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

/// Writes a new file from its verified chunks, then sets its mode and
/// mtime through the open descriptor.
fn write_file(repo: &Repo, node: &Node, p: &Path) -> Result<()> {
    let mut f = File::options()
        .write(true)
        .create_new(true)
        .open(p)
        .map_err(|e| Error::io(p, e))?;
    let mut written = 0u64;
    for id in &node.content {
        let data = repo
            .store()
            .read_blob(id)
            .map_err(|e| cannot_restore(p, &e.into()))?;
        fault::write_all(&mut f, &data).map_err(|e| Error::io(p, e))?;
        written += data.len() as u64;
    }
    if written != node.size {
        return Err(size_mismatch(p, node.size, written));
    }
    finish_file(&f, p, node)
}

fn times(mtime_ns: i64) -> rustix::fs::Timestamps {
    use rustix::fs::{Timespec, Timestamps, UTIME_OMIT};
    Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: mtime_ns.div_euclid(1_000_000_000),
            tv_nsec: mtime_ns.rem_euclid(1_000_000_000) as _,
        },
    }
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
