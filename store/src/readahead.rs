//! Reading blobs from a pack on an object store in runs: one ranged read
//! fetches the wanted blob and the blobs stored right after it in the same
//! pack (up to [`WINDOW`] bytes, ending on a blob boundary), and keeps the
//! run for the reads that follow. A restore asks for blobs in the order
//! `create` stored them, so it makes one request per run instead of one per
//! blob (a restore of 50 MB made ~1 400 requests, 21 s on SeaweedFS here).

use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::id::PackId;
use crate::index::BlobLocation;

/// The most bytes one read fetches beyond the wanted blob.
pub const WINDOW: u64 = 1 << 20;
/// Runs kept (at most `KEPT × (WINDOW + a blob)` bytes of memory).
const KEPT: usize = 16;

/// Runs of pack bytes already fetched, newest last.
#[derive(Debug, Default)]
pub(crate) struct Runs(Mutex<Vec<Run>>);

#[derive(Debug)]
struct Run {
    pack: PackId,
    start: u64,
    bytes: Arc<Vec<u8>>,
}

impl Runs {
    /// The stored bytes of the blob at `loc`: from a kept run, else by
    /// `fetch(start, len)` of a run from the blob to `end(loc)` (where the
    /// last blob starting within the window ends), which is then kept.
    pub(crate) fn read(
        &self,
        loc: &BlobLocation,
        end: impl FnOnce() -> Result<u64>,
        fetch: impl FnOnce(u64, usize) -> Result<Vec<u8>>,
    ) -> Result<Vec<u8>> {
        let (off, len) = (loc.entry.offset, u64::from(loc.entry.stored_len));
        let slice =
            |r: &Run| r.bytes[(off - r.start) as usize..(off - r.start + len) as usize].to_vec();
        {
            let runs = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let hit = runs.iter().rev().find(|r| {
                r.pack == loc.pack && r.start <= off && off + len <= r.start + r.bytes.len() as u64
            });
            if let Some(r) = hit {
                return Ok(slice(r));
            }
        }
        let stop = end()?.max(off + len);
        let run = Run {
            pack: loc.pack,
            start: off,
            bytes: Arc::new(fetch(off, (stop - off) as usize)?),
        };
        let out = slice(&run);
        let mut runs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if runs.len() >= KEPT {
            runs.remove(0);
        }
        runs.push(run);
        Ok(out)
    }

    /// Forgets every run (packs were deleted or rewritten).
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
