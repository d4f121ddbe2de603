//! Reading many blobs with few reads: a plan of *runs*.
//!
//! A command that needs many blobs (a restore) locates them all first
//! ([`Repository::locate_all`], one index lock for the whole list), then
//! [`plan`]s its reads: the blobs are grouped by pack, sorted by offset, and
//! neighbours are coalesced into one [`Run`] as long as the bytes between
//! two of them (blobs not needed, other files' chunks, trees) are at most
//! `max_gap` and the run spans at most `max_run` bytes (a larger blob is a
//! run of its own). A run is one positioned read of a local pack, or one
//! HTTP range request on an object store ([`Repository::fetch_run`]); the
//! blobs inside it are then opened, decompressed and verified one by one,
//! exactly as when each is read alone, so a damaged blob is reported by
//! its own id and pack and does not change what its neighbours decode to.
//!
//! Memory stays bounded by the caller: one run's bytes plus one decoded
//! blob per reader in flight.

use std::collections::HashSet;

use super::format::PackEntry;
use super::reader;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::index::BlobLocation;
use crate::repo::Repository;

/// Default largest gap of unneeded bytes read to join two blobs into one run.
pub const MAX_GAP: u64 = 256 * 1024;

/// Default largest span of one run (a blob larger than this is read alone).
pub const MAX_RUN: u64 = 2 * 1024 * 1024;

/// One read of a pack that yields several blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The pack read.
    pub pack: PackId,
    /// Where the read starts (the first blob's offset).
    pub offset: u64,
    /// How many bytes are read (to the end of the last blob).
    pub len: u64,
    /// The blobs wanted from it, by offset, each once.
    pub blobs: Vec<PackEntry>,
}

impl Run {
    /// The stored bytes of `entry` (one of [`blobs`](Self::blobs)) inside
    /// `bytes`, the run's bytes as read.
    ///
    /// # Errors
    /// [`Error::BlobDamaged`] when `bytes` is shorter than the plan said.
    pub fn slice<'b>(&self, bytes: &'b [u8], entry: &PackEntry) -> Result<&'b [u8]> {
        let start = (entry.offset - self.offset) as usize;
        bytes
            .get(start..start + entry.stored_len as usize)
            .ok_or_else(|| Error::BlobDamaged {
                blob: entry.id.to_hex(),
                pack: self.pack.to_hex(),
                detail: format!(
                    "the read of {} bytes at offset {} came back with {}",
                    self.len,
                    self.offset,
                    bytes.len()
                ),
            })
    }
}

/// Plans the reads of `locs`: grouped by pack, sorted by offset, each blob
/// once, neighbours joined while the gap between them is at most `max_gap`
/// and the run spans at most `max_run` bytes.
pub fn plan(mut locs: Vec<BlobLocation>, max_gap: u64, max_run: u64) -> Vec<Run> {
    locs.sort_by(|a, b| {
        (a.pack.0, a.entry.offset, a.entry.id.0).cmp(&(b.pack.0, b.entry.offset, b.entry.id.0))
    });
    let mut seen: HashSet<(PackId, u64)> = HashSet::new();
    let mut runs: Vec<Run> = Vec::new();
    for loc in locs {
        let e = loc.entry;
        if !seen.insert((loc.pack, e.offset)) {
            continue;
        }
        let end = e.offset + u64::from(e.stored_len);
        if let Some(run) = runs.last_mut() {
            let run_end = run.offset + run.len;
            if run.pack == loc.pack
                && e.offset >= run_end
                && e.offset - run_end <= max_gap
                && end - run.offset <= max_run
            {
                run.len = end - run.offset;
                run.blobs.push(e);
                continue;
            }
        }
        runs.push(Run {
            pack: loc.pack,
            offset: e.offset,
            len: end - e.offset,
            blobs: vec![e],
        });
    }
    runs
}

/// What [`Repository::fetch_run`] hands each blob of a run to: its entry
/// and its verified plaintext, or the error that blob alone got.
pub type BlobSink<'a> = dyn FnMut(&PackEntry, Result<&[u8]>) -> Result<()> + 'a;

/// The memory one reader of runs keeps between [`Repository::fetch_run`]
/// calls: the run's stored bytes and a blob's decoded plaintext. Reusing
/// them spares a restore a fresh allocation, and the page faults and
/// zeroing of its pages, for every run and every blob.
#[derive(Debug, Default)]
pub struct RunBuffers {
    stored: Vec<u8>,
    plain: Vec<u8>,
}

impl Repository {
    /// Where each of `ids` is stored (`None`: not stored), in order, under
    /// one hold of the index (inside a [`read_session`](Self::read_session),
    /// one SQLite transaction for the whole list).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn locate_all(&self, ids: &[BlobId]) -> Result<Vec<Option<BlobLocation>>> {
        let index = self.index()?;
        ids.iter().map(|id| index.locate(id)).collect()
    }

    /// Reads `run` with one read (one positioned read of a local pack, one
    /// range request elsewhere) into `bufs` and calls `each` with every
    /// blob of it, in order: its entry and its verified plaintext, or the
    /// error that blob alone gets ([`Error::BlobDamaged`] naming it and its
    /// pack). When the pack is shorter than the run, each blob is read
    /// alone instead, so the blobs before the damage still come back.
    ///
    /// # Errors
    /// I/O or remote errors of the read, naming the pack; the first error
    /// `each` returns.
    pub fn fetch_run(
        &self,
        run: &Run,
        bufs: &mut RunBuffers,
        each: &mut BlobSink<'_>,
    ) -> Result<()> {
        let file = match self.storage().dir() {
            Some(_) => Some(self.pack_file(&run.pack, &self.pack_path(&run.pack))?),
            None => None,
        };
        let RunBuffers { stored, plain } = bufs;
        let read = |offset: u64, len: usize, into: &mut Vec<u8>| {
            self.storage()
                .pack_range_into(&run.pack, file.as_deref(), offset, len, into)
        };
        match read(run.offset, run.len as usize, stored) {
            Ok(()) => {
                for e in &run.blobs {
                    let blob = run
                        .slice(stored, e)
                        .and_then(|b| reader::decode_blob_in(b, &run.pack, e, self.keys(), plain));
                    each(e, blob)?;
                }
                Ok(())
            }
            Err(Error::Corrupt { .. }) => {
                for e in &run.blobs {
                    let blob = match read(e.offset, e.stored_len as usize, stored) {
                        Ok(()) => reader::decode_blob_in(stored, &run.pack, e, self.keys(), plain),
                        Err(err) => Err(reader::short_read_damages(err, &run.pack, e)),
                    };
                    each(e, blob)?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::BlobKind;

    fn loc(pack: u8, offset: u64, len: u32, id: u8) -> BlobLocation {
        BlobLocation {
            pack: PackId([pack; 32]),
            entry: PackEntry {
                id: BlobId([id; 32]),
                kind: BlobKind::Data,
                codec: 0,
                offset,
                stored_len: len,
                raw_len: len,
            },
        }
    }

    fn shape(runs: &[Run]) -> Vec<(u8, u64, u64, Vec<u8>)> {
        runs.iter()
            .map(|r| {
                (
                    r.pack.0[0],
                    r.offset,
                    r.len,
                    r.blobs.iter().map(|b| b.id.0[0]).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn neighbours_join_across_small_gaps_and_split_at_large_ones() {
        // Pack 1: blobs at 10 (len 10), 25 (gap 5), 100 (gap 65), unsorted
        // and one asked for twice; pack 2: one blob.
        let locs = vec![
            loc(1, 100, 10, 3),
            loc(2, 10, 10, 9),
            loc(1, 10, 10, 1),
            loc(1, 25, 10, 2),
            loc(1, 25, 10, 2),
        ];
        assert_eq!(
            shape(&plan(locs.clone(), 5, 1000)),
            vec![
                (1, 10, 25, vec![1, 2]),
                (1, 100, 10, vec![3]),
                (2, 10, 10, vec![9])
            ]
        );
        assert_eq!(
            shape(&plan(locs.clone(), 65, 1000)),
            vec![(1, 10, 100, vec![1, 2, 3]), (2, 10, 10, vec![9])]
        );
        // A run never spans more than max_run bytes.
        assert_eq!(
            shape(&plan(locs, 65, 30)),
            vec![
                (1, 10, 25, vec![1, 2]),
                (1, 100, 10, vec![3]),
                (2, 10, 10, vec![9])
            ]
        );
    }

    #[test]
    fn a_blob_larger_than_a_run_is_read_alone() {
        let runs = plan(
            vec![loc(1, 0, 50, 1), loc(1, 50, 500, 2), loc(1, 550, 5, 3)],
            0,
            100,
        );
        assert_eq!(
            shape(&runs),
            vec![
                (1, 0, 50, vec![1]),
                (1, 50, 500, vec![2]),
                (1, 550, 5, vec![3])
            ]
        );
    }

    #[test]
    fn every_blob_is_in_exactly_one_run_and_inside_it() {
        let mut locs = Vec::new();
        for i in 0..200u64 {
            let pack = (i % 3) as u8;
            locs.push(loc(pack, i * 37 % 1000 * 10, 7 + (i % 5) as u32, i as u8));
        }
        let runs = plan(locs.clone(), 40, 120);
        let mut seen = HashSet::new();
        for r in &runs {
            assert!(r.len <= 120 || r.blobs.len() == 1);
            for b in &r.blobs {
                assert!(
                    b.offset >= r.offset && b.offset + u64::from(b.stored_len) <= r.offset + r.len
                );
                assert!(seen.insert((r.pack, b.offset)), "a blob read twice");
            }
        }
        let wanted: HashSet<_> = locs.iter().map(|l| (l.pack, l.entry.offset)).collect();
        assert_eq!(seen, wanted);
    }
}
