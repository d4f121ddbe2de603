//! Read sessions and the transaction count: how a command keeps its index
//! work to a fixed number of SQLite transactions whatever the repository's
//! size.
//!
//! Outside a session every query is its own autocommit transaction, and in
//! WAL mode each one takes and drops SQLite's locks (a few `fcntl` and
//! `stat` calls): a command that looks up one blob per file pays that once
//! per file. Inside a session ([`Index::begin_session`]) the first read
//! opens one deferred read transaction and every later read runs in it.
//! A write ends that read transaction first (a read transaction that was
//! overtaken by another process's commit could not be upgraded), runs in
//! its own transaction, and the next read opens a new one.
//!
//! [`Index::transactions`] counts the transactions begun on this connection
//! (explicit ones and autocommit statements), so tests can hold a command
//! to a fixed number whatever the number of files.

use super::Index;
use crate::error::Result;

impl Index {
    /// Called before a read: inside a session, opens the read transaction
    /// when none is open; outside, counts the autocommit statement.
    pub(super) fn reading(&self) -> Result<()> {
        if self.in_read.get() {
            return Ok(());
        }
        self.count.set(self.count.get() + 1);
        if self.session.get() > 0 {
            self.conn
                .execute_batch("BEGIN DEFERRED")
                .map_err(|e| self.err(e))?;
            self.in_read.set(true);
        }
        Ok(())
    }

    /// Called before a write (one transaction or autocommit statement):
    /// ends the session's read transaction first.
    pub(super) fn writing(&self) -> Result<()> {
        self.end_read()?;
        self.count.set(self.count.get() + 1);
        Ok(())
    }

    fn end_read(&self) -> Result<()> {
        if self.in_read.replace(false) {
            self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Starts (or nests) a read session: reads until the matching
    /// [`end_session`](Self::end_session) share one read transaction.
    pub fn begin_session(&self) {
        self.session.set(self.session.get() + 1);
    }

    /// Ends one level of read session; the outermost ends the read
    /// transaction.
    ///
    /// # Errors
    /// [`crate::Error::Index`] when the read transaction cannot be ended.
    pub fn end_session(&self) -> Result<()> {
        let depth = self.session.get().saturating_sub(1);
        self.session.set(depth);
        if depth == 0 {
            self.end_read()?;
        }
        Ok(())
    }

    /// The session depth, carried over when the index is reopened.
    pub(crate) fn session_depth(&self) -> u32 {
        self.session.get()
    }

    /// Restores a session depth on a reopened index.
    pub(crate) fn set_session_depth(&self, depth: u32) {
        self.session.set(depth);
    }

    /// Transactions begun on this connection since it was opened: explicit
    /// ones and autocommit statements alike.
    pub fn transactions(&self) -> u64 {
        self.count.get()
    }
}

#[cfg(test)]
mod tests {
    use crate::id::BlobId;
    use crate::index::Index;

    #[test]
    fn a_session_makes_any_number_of_reads_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let idx = Index::create(&dir.path().join("i.sqlite")).unwrap();
        let ids: Vec<BlobId> = (0..100u32).map(|i| BlobId::of(&i.to_le_bytes())).collect();
        let before = idx.transactions();
        for id in &ids {
            assert!(!idx.contains(id).unwrap());
        }
        assert_eq!(idx.transactions() - before, 100, "outside a session");
        let before = idx.transactions();
        idx.begin_session();
        for id in &ids {
            assert!(!idx.contains(id).unwrap());
        }
        idx.end_session().unwrap();
        assert_eq!(idx.transactions() - before, 1, "inside a session");
    }

    #[test]
    fn a_write_inside_a_session_ends_the_read_transaction_and_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.sqlite");
        let idx = Index::create(&path).unwrap();
        idx.begin_session();
        assert!(idx.snapshots().unwrap().is_empty());
        let id = crate::id::SnapshotId::of(b"record");
        idx.add_snapshot(&id, b"record").unwrap();
        assert_eq!(idx.snapshots().unwrap().len(), 1);
        // Another connection sees the write: it was committed.
        let other = Index::open(&path).unwrap();
        assert_eq!(other.snapshots().unwrap().len(), 1);
        idx.end_session().unwrap();
        assert_eq!(idx.transactions(), 3);
    }
}
