//! Capturing live SQLite databases consistently.
//!
//! A database in rollback-journal mode is read while a read transaction
//! holds SQLite's shared lock, so no writer can change it mid-read and the
//! bytes are exact. A database in WAL mode is copied through the online
//! backup API (a few hundred pages a step, so writers are not starved) into
//! a temporary file, and that consistent copy is what gets chunked.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The 16-byte header every SQLite 3 database starts with.
pub const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How long to wait for a busy database before giving up on it.
pub const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Pages copied per backup step.
const PAGES_PER_STEP: std::ffi::c_int = 256;

/// The journal mode, read from the header (bytes 18 and 19 are 2 in WAL mode).
pub fn is_wal(header: &[u8]) -> bool {
    header.len() >= 20 && (header[18] == 2 || header[19] == 2)
}

/// Whether `header` (the first bytes of a file) is a SQLite database's.
pub fn is_sqlite(header: &[u8]) -> bool {
    header.len() >= 20 && header.starts_with(HEADER)
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(BUSY_WAIT)?;
    Ok(c)
}

/// Runs `read` over the database file's bytes while a read transaction
/// holds the shared lock (rollback-journal mode).
///
/// The file is opened before the transaction and closed after it: closing
/// any descriptor of a file drops the process's POSIX locks on it, which
/// would release SQLite's lock early.
pub fn with_shared_lock<T>(
    path: &Path,
    read: impl FnOnce(&mut File) -> std::io::Result<T>,
) -> Result<T, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let conn = open(path).map_err(|e| e.to_string())?;
    conn.execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;")
        .map_err(|e| format!("could not take the read lock: {e}"))?;
    let out = read(&mut file).map_err(|e| e.to_string());
    let end = conn.execute_batch("COMMIT;").map_err(|e| e.to_string());
    drop(conn);
    drop(file);
    let out = out?;
    end?;
    Ok(out)
}

/// Copies a (WAL-mode) database through the online backup API into `dest`.
///
/// The source connection holds one read transaction for the whole copy. In
/// WAL mode that does not block writers, and it pins the snapshot the copy
/// reads: without it, every commit by another process between two steps
/// restarts the backup from page 1, so a busy writer starves the copy
/// forever (found by the live-SQLite test: three creates took 220 s).
pub fn backup_to(path: &Path, dest: &Path) -> Result<(), String> {
    let src = open(path).map_err(|e| e.to_string())?;
    src.execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;")
        .map_err(|e| format!("could not start a read transaction: {e}"))?;
    let mut dst = Connection::open(dest).map_err(|e| e.to_string())?;
    let b = rusqlite::backup::Backup::new(&src, &mut dst).map_err(|e| e.to_string())?;
    b.run_to_completion(PAGES_PER_STEP, Duration::from_millis(2), None)
        .map_err(|e| format!("online backup failed: {e}"))?;
    drop(b);
    src.execute_batch("COMMIT;").map_err(|e| e.to_string())?;
    Ok(())
}

/// Reads the first bytes of a file (for format detection).
pub fn read_header(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut h = vec![0u8; 100];
    let mut n = 0;
    while n < h.len() {
        match file.read(&mut h[n..])? {
            0 => break,
            k => n += k,
        }
    }
    h.truncate(n);
    Ok(h)
}
