//! The SQLite index: a cache of which blob is where, which snapshots exist,
//! and the engine's disposable stat cache. Derived only from `packs/` and
//! `snapshots/`; see [`rebuild`] for how it is recreated.

pub mod rebuild;
mod relocate;
mod schema;
mod session;

use std::cell::Cell;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::id::{BlobId, PackId, SnapshotId};
use crate::pack::{BlobKind, PackEntry};

pub use schema::SCHEMA_VERSION;

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack holding it.
    pub pack: PackId,
    /// Its header entry.
    pub entry: PackEntry,
}

/// An open index connection.
pub struct Index {
    conn: Connection,
    path: PathBuf,
    /// Read-session depth ([`Index::begin_session`]).
    session: Cell<u32>,
    /// Whether the session's read transaction is open.
    in_read: Cell<bool>,
    /// Transactions begun ([`Index::transactions`]).
    count: Cell<u64>,
}

fn packid(b: Vec<u8>) -> rusqlite::Result<PackId> {
    PackId::from_slice(&b).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn blobid(b: Vec<u8>) -> rusqlite::Result<BlobId> {
    BlobId::from_slice(&b).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// The fault-injection hook of every index write ([`crate::fault`], op
/// `sql`): when armed, the write fails as SQLite's `SQLITE_IOERR` would,
/// before the statement or the transaction's commit, so an open
/// transaction is rolled back as on a real failure.
fn sql_fault() -> rusqlite::Result<()> {
    crate::fault::check(crate::fault::Op::Sql).map_err(|io| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some(format!("disk I/O error ({io})")),
        )
    })
}

impl Index {
    /// Opens an existing index and checks its schema version and that its
    /// tables can be read; any failure means "rebuild it".
    ///
    /// # Errors
    /// [`Error::Index`] or [`Error::UnsupportedVersion`].
    pub fn open(path: &Path) -> Result<Self> {
        let idx = Self::connect(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        idx.configure()?;
        // The checks below read in one transaction.
        idx.begin_session();
        idx.reading()?;
        let v: i64 = idx
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| idx.err(e))?;
        if v != SCHEMA_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "index",
                path: path.to_path_buf(),
                found: v as u64,
                supported: SCHEMA_VERSION as u64,
            });
        }
        // Touch every table so a damaged file fails here, not mid-operation.
        for t in ["packs", "blobs", "snapshots", "stat_cache", "meta"] {
            idx.conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| idx.err(e))?;
        }
        idx.end_session()?;
        Ok(idx)
    }

    /// Creates a new, empty index at `path` (which must not exist).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn create(path: &Path) -> Result<Self> {
        let idx = Self::connect(path, rusqlite::OpenFlags::default())?;
        idx.conn
            .execute_batch(schema::CREATE)
            .map_err(|e| idx.err(e))?;
        idx.configure()?;
        Ok(idx)
    }

    /// A connection to `path` opened with `flags`, not yet configured.
    fn connect(path: &Path, flags: rusqlite::OpenFlags) -> Result<Self> {
        let conn = Connection::open_with_flags(path, flags).map_err(|e| Error::Index {
            path: path.to_path_buf(),
            source: e,
        })?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            session: Cell::new(0),
            in_read: Cell::new(false),
            count: Cell::new(0),
        })
    }

    fn configure(&self) -> Result<()> {
        self.conn
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| self.err(e))?;
        self.conn
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(|e| self.err(e))
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Index {
            path: self.path.clone(),
            source,
        }
    }

    /// Closes the connection, checkpointing the WAL into the main file.
    pub fn close(self) -> Result<()> {
        let path = self.path.clone();
        self.conn
            .close()
            .map_err(|(_, e)| Error::Index { path, source: e })
    }

    /// Records packs and their entries in one transaction. Entries whose blob
    /// is already indexed (from another pack) are kept as the first copy.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn add_packs(&mut self, packs: &[(PackId, u64, Vec<PackEntry>)]) -> Result<()> {
        self.insert_packs(packs, "IGNORE")
    }

    /// Records `packs` and their entries in one transaction; `on_conflict`
    /// (`IGNORE` or `REPLACE`) says what happens to a blob already indexed.
    fn insert_packs(
        &mut self,
        packs: &[(PackId, u64, Vec<PackEntry>)],
        on_conflict: &str,
    ) -> Result<()> {
        self.writing()?;
        let path = self.path.clone();
        let e = |source| Error::Index {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut ins_pack = tx
                .prepare_cached("INSERT OR IGNORE INTO packs(id, size) VALUES (?1, ?2)")
                .map_err(e)?;
            let mut get_num = tx
                .prepare_cached("SELECT num FROM packs WHERE id = ?1")
                .map_err(e)?;
            let mut ins_blob = tx
                .prepare_cached(&format!("INSERT OR {on_conflict} INTO blobs(id, pack, offset, stored_len, raw_len, kind, codec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))
                .map_err(e)?;
            for (id, size, entries) in packs {
                ins_pack
                    .execute(params![&id.0[..], *size as i64])
                    .map_err(e)?;
                let num: i64 = get_num.query_row([&id.0[..]], |r| r.get(0)).map_err(e)?;
                for b in entries {
                    ins_blob
                        .execute(params![
                            &b.id.0[..],
                            num,
                            b.offset as i64,
                            b.stored_len,
                            b.raw_len,
                            b.kind.to_byte(),
                            b.codec
                        ])
                        .map_err(e)?;
                }
            }
        }
        sql_fault().map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Where `id` is stored, if it is.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn locate(&self, id: &BlobId) -> Result<Option<BlobLocation>> {
        self.reading()?;
        // Two single-table lookups rather than a join: SQLite (built with
        // STAT4) re-prepared the join at every new binding, which cost a
        // restore a third of its CPU time.
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT pack, offset, stored_len, raw_len, kind, codec FROM blobs WHERE id = ?1",
            )
            .map_err(|e| self.err(e))?;
        let found = st
            .query_row([&id.0[..]], |r| {
                let kind: u8 = r.get(4)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    PackEntry {
                        id: *id,
                        kind: BlobKind::from_byte(kind).unwrap_or(BlobKind::Data),
                        codec: r.get(5)?,
                        offset: r.get::<_, i64>(1)? as u64,
                        stored_len: r.get(2)?,
                        raw_len: r.get(3)?,
                    },
                ))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((num, entry)) = found else {
            return Ok(None);
        };
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM packs WHERE num = ?1")
            .map_err(|e| self.err(e))?;
        let pack = st
            .query_row([num], |r| packid(r.get(0)?))
            .map_err(|e| self.err(e))?;
        Ok(Some(BlobLocation { pack, entry }))
    }

    /// Whether `id` is stored.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn contains(&self, id: &BlobId) -> Result<bool> {
        self.reading()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM blobs WHERE id = ?1")
            .map_err(|e| self.err(e))?;
        st.exists([&id.0[..]]).map_err(|e| self.err(e))
    }

    /// Every indexed pack with its size in bytes.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn packs(&self) -> Result<Vec<(PackId, u64)>> {
        self.reading()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT id, size FROM packs ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((packid(r.get(0)?)?, r.get::<_, i64>(1)? as u64)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The entries the index holds for one pack, by offset.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn pack_entries(&self, pack: &PackId) -> Result<Vec<PackEntry>> {
        self.reading()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT b.id, b.offset, b.stored_len, b.raw_len, b.kind, b.codec FROM blobs b JOIN packs p ON p.num = b.pack WHERE p.id = ?1 ORDER BY b.offset")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([&pack.0[..]], |r| {
                let kind: u8 = r.get(4)?;
                Ok(PackEntry {
                    id: blobid(r.get(0)?)?,
                    kind: BlobKind::from_byte(kind).unwrap_or(BlobKind::Data),
                    codec: r.get(5)?,
                    offset: r.get::<_, i64>(1)? as u64,
                    stored_len: r.get(2)?,
                    raw_len: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The blob epoch: a counter that grows in the transaction that removes
    /// any blob from the index ([`Index::remove_packs`]), so a stat cache
    /// written at the current epoch names only stored blobs.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn blob_epoch(&self) -> Result<u64> {
        self.reading()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'blob_epoch'")
            .map_err(|e| self.err(e))?;
        st.query_row([], |r| r.get::<_, i64>(0))
            .map(|v| v as u64)
            .map_err(|e| self.err(e))
    }

    /// Forgets packs (after they were deleted or found missing) and their
    /// blobs, and moves the blob epoch on ([`Index::blob_epoch`]).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn remove_packs(&mut self, ids: &[PackId]) -> Result<()> {
        self.writing()?;
        let path = self.path.clone();
        let e = |source| Error::Index {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        for id in ids {
            tx.execute(
                "DELETE FROM blobs WHERE pack = (SELECT num FROM packs WHERE id = ?1)",
                [&id.0[..]],
            )
            .map_err(e)?;
            tx.execute("DELETE FROM packs WHERE id = ?1", [&id.0[..]])
                .map_err(e)?;
        }
        tx.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'blob_epoch'",
            [],
        )
        .map_err(e)?;
        sql_fault().map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Totals: (packs, pack bytes, blobs, stored bytes, raw bytes).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn totals(&self) -> Result<(u64, u64, u64, u64, u64)> {
        self.reading()?;
        let (p, pb): (i64, i64) = self
            .conn
            .query_row(
                "SELECT count(*), coalesce(sum(size),0) FROM packs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))?;
        let (b, sb, rb): (i64, i64, i64) = self
            .conn
            .query_row(
                "SELECT count(*), coalesce(sum(stored_len),0), coalesce(sum(raw_len),0) FROM blobs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err(e))?;
        Ok((p as u64, pb as u64, b as u64, sb as u64, rb as u64))
    }

    /// Records a snapshot and its record bytes.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn add_snapshot(&self, id: &SnapshotId, record: &[u8]) -> Result<()> {
        self.writing()?;
        sql_fault().map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO snapshots(id, record) VALUES (?1, ?2)",
                params![&id.0[..], record],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Forgets a snapshot.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn remove_snapshot(&self, id: &SnapshotId) -> Result<()> {
        self.writing()?;
        sql_fault().map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM snapshots WHERE id = ?1", [&id.0[..]])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Forgets snapshots, in one transaction.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn remove_snapshots(&mut self, ids: &[SnapshotId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write_tx(|tx| {
            let mut del = tx.prepare_cached("DELETE FROM snapshots WHERE id = ?1")?;
            for id in ids {
                del.execute([&id.0[..]])?;
            }
            Ok(())
        })
    }

    /// Runs `f` in one write transaction and commits it.
    fn write_tx<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        fn run<T>(
            conn: &mut Connection,
            f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
        ) -> rusqlite::Result<T> {
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            sql_fault()?;
            tx.commit()?;
            Ok(out)
        }
        self.writing()?;
        run(&mut self.conn, f).map_err(|source| Error::Index {
            path: self.path.clone(),
            source,
        })
    }

    /// Every snapshot with its record bytes.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn snapshots(&self) -> Result<Vec<(SnapshotId, Vec<u8>)>> {
        self.reading()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT id, record FROM snapshots ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                let b: Vec<u8> = r.get(0)?;
                let id = SnapshotId::from_slice(&b).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Blob,
                        Box::new(e),
                    )
                })?;
                Ok((id, r.get(1)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Every stat-cache entry of a profile: (path bytes, entry bytes).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_load(&self, profile: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.stat_cache_each(profile, &mut |k, v| out.push((k, v.to_vec())))?;
        Ok(out)
    }

    /// Calls `each` with every stat-cache entry of a profile (path bytes,
    /// entry bytes) as it is read, so a large cache is never held twice.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_each(
        &self,
        profile: &str,
        each: &mut dyn FnMut(Vec<u8>, &[u8]),
    ) -> Result<()> {
        self.reading()?;
        let mut st = self
            .conn
            .prepare_cached("SELECT path, entry FROM stat_cache WHERE profile = ?1")
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([profile]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let path: Vec<u8> = r.get(0).map_err(|e| self.err(e))?;
            let entry = r.get_ref(1).map_err(|e| self.err(e))?;
            let bytes = entry.as_blob().map_err(|e| {
                self.err(rusqlite::Error::FromSqlConversionFailure(
                    1,
                    entry.data_type(),
                    Box::new(e),
                ))
            })?;
            each(path, bytes);
        }
        Ok(())
    }

    /// Replaces a profile's stat cache in one transaction.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_replace(
        &mut self,
        profile: &str,
        entries: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let path = self.path.clone();
        let e = |source| Error::Index {
            path: path.clone(),
            source,
        };
        self.writing()?;
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute("DELETE FROM stat_cache WHERE profile = ?1", [profile])
            .map_err(e)?;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO stat_cache(profile, path, entry) VALUES (?1, ?2, ?3)",
                )
                .map_err(e)?;
            for (p, v) in entries {
                ins.execute(params![profile, p, v]).map_err(e)?;
            }
        }
        sql_fault().map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Keeps only the stat-cache entries (of every profile) for which `keep`
    /// returns true, in one transaction; returns how many were removed.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_retain(&mut self, keep: &dyn Fn(&[u8]) -> bool) -> Result<u64> {
        self.writing()?;
        let path = self.path.clone();
        let e = |source| Error::Index {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        let mut gone = Vec::new();
        {
            let mut all = tx
                .prepare("SELECT profile, path, entry FROM stat_cache")
                .map_err(e)?;
            let mut rows = all.query([]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let entry: Vec<u8> = r.get(2).map_err(e)?;
                if !keep(&entry) {
                    gone.push((
                        r.get::<_, String>(0).map_err(e)?,
                        r.get::<_, Vec<u8>>(1).map_err(e)?,
                    ));
                }
            }
        }
        {
            let mut del = tx
                .prepare("DELETE FROM stat_cache WHERE profile = ?1 AND path = ?2")
                .map_err(e)?;
            for (profile, p) in &gone {
                del.execute(params![profile, p]).map_err(e)?;
            }
        }
        sql_fault().map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(gone.len() as u64)
    }

    /// Empties the stat cache of every profile (after gc: cached blob ids may
    /// no longer be stored).
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn stat_cache_clear(&self) -> Result<()> {
        self.writing()?;
        sql_fault().map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM stat_cache", [])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}
