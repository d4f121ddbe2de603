//! Writing restored files' contents with planned pack reads.
//!
//! The directory walk of a restore ([`super::materialize`]) creates the
//! directories and gathers the files to write in batches; each batch's
//! contents are fetched by plan rather than one blob at a time:
//!
//! 1. every chunk of every file of the batch is located in one pass over the index
//!    ([`snap_store::Repository::locate_all`], one lock, one read
//!    transaction), and each file's size is checked against its chunks
//!    before anything is written (a missing chunk names the file);
//! 2. the chunks are grouped by pack, sorted by offset and coalesced into
//!    runs ([`snap_store::pack::runs::plan`]): neighbours at most
//!    [`MAX_GAP`](snap_store::pack::runs::MAX_GAP) apart, a run at most
//!    [`MAX_RUN`](snap_store::pack::runs::MAX_RUN) long;
//! 3. `readers` threads take runs in pack order, each with one read (a
//!    positioned read of a local pack, a range request on an object
//!    store) in flight; every blob of a run is decoded and verified, then
//!    written at every file offset that needs it (a blob shared by several
//!    files, or repeated in one file, is read once).
//!
//! A file is created by the first write into it and finished (mode and
//! mtime through its descriptor) by the last; at most [`KEEP_OPEN`] files
//! stay open between runs, others are closed and reopened when their next
//! chunk comes. Bytes in flight are bounded by `readers × MAX_RUN` plus one
//! decoded blob per worker, whatever the snapshot's size.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use snap_store::pack::runs::{self, Run, RunBuffers};
use snap_store::{fault, BlobId};

use crate::commands::restore_file::{finish_file, size_mismatch, At, Item};
use crate::commands::restore_progress::Counter;
use crate::error::{Error, Result};
use crate::repo::Repo;

/// Files of one batch kept open between runs (more are closed and
/// reopened); two batches are fetched at once.
pub const KEEP_OPEN: usize = 256;

/// Files at least this large start their writeback when complete
/// ([`start_writeback`]); smaller ones are left to the final `syncfs`.
const EARLY_WRITEBACK: u64 = 1 << 20;

/// Where one blob goes: file `file` (an index into the plan's files) at
/// byte `offset`.
#[derive(Debug, Clone, Copy)]
struct Target {
    file: usize,
    offset: u64,
}

/// A file being written.
struct Slot {
    /// Open while being written (`None` before the first write and after
    /// being closed to stay under [`KEEP_OPEN`]).
    handle: Option<Arc<File>>,
    /// Whether the file was created already.
    created: bool,
    /// Chunk writes still to come.
    left: usize,
}

struct Plan<'a> {
    items: &'a [Item],
    slots: Vec<Mutex<Slot>>,
    runs: Vec<Run>,
    targets: HashMap<BlobId, Vec<Target>>,
}

/// Files finished so far and their bytes.
#[derive(Default)]
struct Done {
    files: AtomicU64,
    bytes: AtomicU64,
}

/// What the fetch wrote.
pub(crate) struct Fetched {
    pub files: u64,
    pub bytes: u64,
}

/// Writes every file of `items` (new files at `dest`, each with at least
/// one chunk) from the repository with `readers` threads, as the module
/// documentation describes.
///
/// # Errors
/// A missing chunk or a size that does not match the chunks (before
/// anything is written), a damaged blob (naming the file, the blob and its
/// pack), I/O errors naming the file.
pub(crate) fn write_files(
    repo: &Repo,
    items: &[Item],
    readers: usize,
    progress: &Counter<'_>,
) -> Result<Fetched> {
    let plan = plan(repo, items)?;
    let next = AtomicUsize::new(0);
    let open = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done = Done::default();
    let error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..readers.min(plan.runs.len()) {
            s.spawn(|| {
                let mut bufs = RunBuffers::default();
                while !stop.load(Ordering::Relaxed) {
                    let Some(run) = plan.runs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let mut failed: Option<Error> = None;
                    let r = repo.store().fetch_run(run, &mut bufs, &mut |e, plain| {
                        plan.put(e, plain, &open, progress, &done).map_err(|err| {
                            failed = Some(err);
                            snap_store::Error::Invalid {
                                what: "restore",
                                detail: "stopped after an error".into(),
                            }
                        })
                    });
                    let err = match (failed, r) {
                        (Some(e), _) => Some(e),
                        (None, Err(e)) => {
                            Some(cannot_restore(plan.first_file(&run.blobs[0].id), &e.into()))
                        }
                        (None, Ok(())) => None,
                    };
                    if let Some(e) = err {
                        stop.store(true, Ordering::Relaxed);
                        error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(Fetched {
        files: done.files.into_inner(),
        bytes: done.bytes.into_inner(),
    })
}

/// Locates every chunk of `items`, checks each file's size, and plans the
/// runs.
fn plan<'a>(repo: &Repo, items: &'a [Item]) -> Result<Plan<'a>> {
    let mut targets: HashMap<BlobId, Vec<Target>> = HashMap::new();
    let mut order: Vec<BlobId> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        for id in &it.node.content {
            let t = targets.entry(*id).or_default();
            if t.is_empty() {
                order.push(*id);
            }
            // The offset is filled in once the chunk's length is known.
            t.push(Target { file: i, offset: 0 });
        }
    }
    let found = repo.store().locate_all(&order)?;
    let mut raw_len: HashMap<BlobId, u64> = HashMap::with_capacity(order.len());
    let mut locs = Vec::with_capacity(order.len());
    for (id, loc) in order.iter().zip(found) {
        match loc {
            Some(l) => {
                raw_len.insert(*id, u64::from(l.entry.raw_len));
                locs.push(l);
            }
            None => {
                let file = &items[targets[id][0].file].dest;
                return Err(cannot_restore(
                    file,
                    &snap_store::Error::NotFound {
                        what: "blob",
                        id: id.to_hex(),
                    }
                    .into(),
                ));
            }
        }
    }
    // Each file's chunk offsets, in content order; the n-th occurrence of
    // a blob in `targets` belongs to the n-th time a file lists it, in
    // the order the loop above pushed them.
    let mut cursor: HashMap<BlobId, usize> = HashMap::with_capacity(order.len());
    let mut slots = Vec::with_capacity(items.len());
    for it in items {
        let mut end = 0u64;
        for id in &it.node.content {
            let n = cursor.entry(*id).or_default();
            targets.get_mut(id).expect("located above")[*n].offset = end;
            *n += 1;
            end += raw_len[id];
        }
        if end != it.node.size {
            return Err(size_mismatch(&it.dest, it.node.size, end));
        }
        slots.push(Mutex::new(Slot {
            handle: None,
            created: false,
            left: it.node.content.len(),
        }));
    }
    Ok(Plan {
        items,
        slots,
        runs: runs::plan(locs, runs::MAX_GAP, runs::MAX_RUN),
        targets,
    })
}

impl Plan<'_> {
    /// The first file that needs blob `id`, for messages.
    fn first_file(&self, id: &BlobId) -> &Path {
        &self.items[self.targets[id][0].file].dest
    }

    /// Writes one fetched blob (or reports its error, naming a file that
    /// needs it) at every offset that needs it.
    fn put(
        &self,
        e: &snap_store::PackEntry,
        plain: snap_store::Result<&[u8]>,
        open: &AtomicUsize,
        progress: &Counter<'_>,
        done: &Done,
    ) -> Result<()> {
        let data = plain.map_err(|err| cannot_restore(self.first_file(&e.id), &err.into()))?;
        for t in &self.targets[&e.id] {
            if self.write(t, data, open)? {
                let size = self.items[t.file].node.size;
                done.files.fetch_add(1, Ordering::Relaxed);
                done.bytes.fetch_add(size, Ordering::Relaxed);
                progress.file_done(size);
            }
        }
        Ok(())
    }

    /// Writes `data` at `t`; returns whether that finished the file.
    ///
    /// The slot is locked to open the file and to count the write, not
    /// during it: workers write different chunks of one large file at once.
    /// The file is finished by the write that brings its count to zero,
    /// after every other write into it has returned.
    fn write(&self, t: &Target, data: &[u8], open: &AtomicUsize) -> Result<bool> {
        let it = &self.items[t.file];
        let p = &it.dest;
        let lock = || self.slots[t.file].lock().unwrap_or_else(|e| e.into_inner());
        let f = {
            let mut slot = lock();
            if slot.handle.is_none() {
                let f = File::options()
                    .write(true)
                    .create_new(!slot.created)
                    .open(p)
                    .map_err(|e| Error::io(p, e))?;
                slot.created = true;
                slot.handle = Some(Arc::new(f));
                open.fetch_add(1, Ordering::Relaxed);
            }
            Arc::clone(slot.handle.as_ref().expect("opened above"))
        };
        let mut at = At {
            file: &f,
            offset: t.offset,
        };
        fault::write_all(&mut at, data).map_err(|e| Error::io(p, e))?;
        let mut slot = lock();
        slot.left -= 1;
        let finished = slot.left == 0;
        if finished {
            finish_file(&f, p, &it.node)?;
            if it.node.size >= EARLY_WRITEBACK {
                start_writeback(&f);
            }
        }
        if (finished || open.load(Ordering::Relaxed) > KEEP_OPEN) && slot.handle.take().is_some() {
            open.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(finished)
    }
}

/// Asks the kernel to start writing a finished large file's pages to disk
/// now (`posix_fadvise(POSIX_FADV_DONTNEED)` starts writeback without
/// waiting for it on Linux), before the next periodic `syncfs` of
/// [`crate::flush`]. Durability comes from the final
/// `syncfs`; a failure here changes nothing and is ignored.
fn start_writeback(f: &File) {
    let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed);
}

pub(crate) fn cannot_restore(p: &Path, e: &Error) -> Error {
    Error::Format {
        path: p.to_path_buf(),
        detail: format!("cannot restore: {e}"),
    }
}
