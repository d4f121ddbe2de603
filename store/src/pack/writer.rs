//! Writing blobs: callers on any number of threads hash and compress their
//! blobs in parallel; appending to the open pack is the only serialised step,
//! and sealed packs are written durably outside the lock.
//!
//! The deduplication lookup against the index (`Repository::has_blob`) takes
//! the index mutex for one primary-key query, measured at about 1 µs, against
//! roughly 350 µs to compress a 64 KiB chunk: it is not worth a second
//! connection or an in-memory copy of every id.

use std::collections::HashSet;
use std::sync::Mutex;

use super::format::{self, BlobKind, PackEntry};
use crate::codec;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::repo::Repository;

/// What a write session stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    /// Blobs offered.
    pub blobs_offered: u64,
    /// Blobs that were new and got stored.
    pub blobs_stored: u64,
    /// Plaintext bytes of the new blobs.
    pub raw_bytes: u64,
    /// Bytes they take in packs.
    pub stored_bytes: u64,
    /// Packs written.
    pub packs: u64,
}

struct Open {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl Open {
    fn new(encrypted: bool) -> Self {
        Self {
            buf: format::prefix_with(encrypted).to_vec(),
            entries: Vec::new(),
        }
    }
}

struct State {
    open: Open,
    seen: HashSet<BlobId>,
    sealed: Vec<(PackId, u64, Vec<PackEntry>)>,
    stats: WriteStats,
}

/// A write session: `put` blobs from any thread, then [`BlobWriter::finish`]
/// to write the last pack and record everything in the index.
///
/// Blobs already in the repository, or offered twice in the session, are
/// stored once. Nothing is visible in the index until `finish`; packs written
/// before a crash are found and indexed by the next open.
pub struct BlobWriter<'r> {
    repo: &'r Repository,
    state: Mutex<State>,
}

impl<'r> BlobWriter<'r> {
    pub(crate) fn new(repo: &'r Repository) -> Self {
        Self {
            repo,
            state: Mutex::new(State {
                open: Open::new(repo.is_encrypted()),
                seen: HashSet::new(),
                sealed: Vec::new(),
                stats: WriteStats::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `data` unless it is already stored; returns its id and whether
    /// it was new.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a blob of 4 GiB or more; I/O errors from
    /// writing a sealed pack.
    pub fn put(&self, kind: BlobKind, data: &[u8]) -> Result<(BlobId, bool)> {
        let id = self.repo.blob_id(data);
        self.put_with_id(id, kind, data)
    }

    /// Like [`put`](Self::put) for a caller that already hashed `data`.
    /// `id` must be `Repository::blob_id(data)`; a wrong id is caught by
    /// every read.
    ///
    /// # Errors
    /// As [`put`](Self::put).
    pub fn put_with_id(&self, id: BlobId, kind: BlobKind, data: &[u8]) -> Result<(BlobId, bool)> {
        let raw_len = u32::try_from(data.len()).map_err(|_| Error::Invalid {
            what: "blob",
            detail: format!(
                "{} bytes is larger than the 4 GiB a blob may hold",
                data.len()
            ),
        })?;
        {
            let mut st = self.lock();
            st.stats.blobs_offered += 1;
            if st.seen.contains(&id) {
                return Ok((id, false));
            }
        }
        if self.repo.has_blob(&id)? {
            self.lock().seen.insert(id);
            return Ok((id, false));
        }
        let (mut codec, mut stored) =
            codec::encode(self.repo.config().compression.zstd_level, data);
        // Encrypted here, in the caller's thread, like compression.
        if let Some(k) = self.repo.keys() {
            stored = k.seal(&id.0, &stored);
            codec |= codec::ENCRYPTED_FLAG;
        }
        let full = {
            let mut st = self.lock();
            if !st.seen.insert(id) {
                return Ok((id, false));
            }
            if st.open.entries.is_empty() {
                // Reserve the whole pack once, so the buffer never grows
                // (and copies itself) while the lock is held. Large
                // allocations are mapped lazily: untouched capacity is free.
                let target = self.repo.config().pack_target_size as usize;
                st.open.buf.reserve(target + stored.len());
            }
            let offset = st.open.buf.len() as u64;
            st.open.buf.extend_from_slice(&stored);
            st.open.entries.push(PackEntry {
                id,
                kind,
                codec,
                offset,
                stored_len: stored.len() as u32,
                raw_len,
            });
            st.stats.blobs_stored += 1;
            st.stats.raw_bytes += raw_len as u64;
            st.stats.stored_bytes += stored.len() as u64;
            if st.open.buf.len() as u64 >= self.repo.config().pack_target_size {
                Some(std::mem::replace(
                    &mut st.open,
                    Open::new(self.repo.is_encrypted()),
                ))
            } else {
                None
            }
        };
        if let Some(open) = full {
            self.seal(open)?;
        }
        Ok((id, true))
    }

    fn seal(&self, mut open: Open) -> Result<()> {
        if open.entries.is_empty() {
            return Ok(());
        }
        open.buf
            .extend_from_slice(&format::encode_header_and_trailer_with(
                &open.entries,
                self.repo.keys(),
            ));
        let id = self.repo.write_pack(&open.buf)?;
        let mut st = self.lock();
        st.stats.packs += 1;
        st.sealed.push((id, open.buf.len() as u64, open.entries));
        Ok(())
    }

    /// Writes the last pack and records every pack of the session in the
    /// index (one transaction). After it returns, every blob put is durable
    /// and findable.
    ///
    /// # Errors
    /// I/O or index errors; packs already written stay on disk and are
    /// indexed by the next open.
    pub fn finish(self) -> Result<WriteStats> {
        let open = std::mem::replace(&mut self.lock().open, Open::new(self.repo.is_encrypted()));
        self.seal(open)?;
        let st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        self.repo.index_packs(&st.sealed)?;
        Ok(st.stats)
    }
}

#[cfg(test)]
mod tests {
    use crate::{BlobKind, InitOptions, OpenOptions, Repository};

    #[test]
    fn two_threads_offering_the_same_blobs_store_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            pack_target_size: Some(8 * 1024),
            ..InitOptions::default()
        };
        Repository::init(dir.path(), &opts).unwrap();
        let repo = Repository::open(dir.path(), &OpenOptions::shared("test")).unwrap();
        let blobs: Vec<Vec<u8>> = (0..200u32)
            .map(|i| {
                let mut v = vec![0u8; 100 + 10 * i as usize];
                let mut h = blake3::Hasher::new();
                h.update(&i.to_le_bytes());
                h.finalize_xof().fill(&mut v);
                v
            })
            .collect();
        let w = repo.writer();
        let new: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        blobs
                            .iter()
                            .filter(|b| w.put(BlobKind::Data, b).unwrap().1)
                            .count() as u64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        let stats = w.finish().unwrap();
        assert_eq!(new, 200);
        assert_eq!(stats.blobs_offered, 400);
        assert_eq!(stats.blobs_stored, 200);
        assert!(stats.packs > 1);
        assert_eq!(repo.stats().unwrap().blobs, 200);
        for b in &blobs {
            assert_eq!(&repo.read_blob(&crate::BlobId::of(b)).unwrap(), b);
        }
        // A second session finds them all in the index.
        let w = repo.writer();
        assert!(blobs.iter().all(|b| !w.put(BlobKind::Data, b).unwrap().1));
        assert_eq!(w.finish().unwrap().packs, 0);
    }
}
