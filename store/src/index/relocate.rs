//! Index operations used by garbage collection: listing every blob row, and
//! moving blobs to the packs they were copied into.

use super::{blobid, packid, Index};
use crate::error::Result;
use crate::id::PackId;
use crate::pack::{BlobKind, PackEntry};

impl Index {
    /// Every blob row with the pack it is indexed in.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn blob_rows(&self) -> Result<Vec<(PackId, PackEntry)>> {
        self.reading()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT p.id, b.id, b.offset, b.stored_len, b.raw_len, b.kind, b.codec FROM blobs b JOIN packs p ON p.num = b.pack")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                let kind: u8 = r.get(5)?;
                Ok((
                    packid(r.get(0)?)?,
                    PackEntry {
                        id: blobid(r.get(1)?)?,
                        kind: BlobKind::from_byte(kind).unwrap_or(BlobKind::Data),
                        codec: r.get(6)?,
                        offset: r.get::<_, i64>(2)? as u64,
                        stored_len: r.get(3)?,
                        raw_len: r.get(4)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// In one transaction: records `packs` (already durable on disk), points
    /// every blob they hold at its new location (replacing the old one).
    ///
    /// # Errors
    /// [`Error::Index`]; on failure nothing changes.
    pub fn relocate(&mut self, packs: &[(PackId, u64, Vec<PackEntry>)]) -> Result<()> {
        self.insert_packs(packs, "REPLACE")
    }
}
