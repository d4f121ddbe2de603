//! The repository lock of a repository on an object store: lock objects.
//!
//! An object store has no OS lock and no lock that dies with its holder.
//! Each holder writes its own object `locks/repo-<16 random hex>`, a JSON
//! document naming the host, pid, mode, command and the time it was last
//! refreshed, and lists `locks/repo-` to see the others (FORMAT.md,
//! "Lock objects"):
//!
//! - *shared* is granted when no other live object is exclusive;
//! - *exclusive* is granted when there is no other live object at all;
//! - on a conflict the process deletes its own object, waits (a doubling
//!   pause with jitter) and tries again until its wait runs out.
//!
//! Because every process writes before it lists, and listing after a write
//! is strongly consistent (S3 since 2020, SeaweedFS, R2, B2, MinIO), two
//! processes in conflict cannot both miss each other: at least one backs
//! off. A holder rewrites its object every [`REFRESH`]; an object not
//! refreshed for [`STALE_AFTER`] belongs to a process that died and is
//! ignored (and removed by the next exclusive locker), so a killed process
//! blocks the others for at most that long.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Precondition};
use crate::error::{Error, Result};
use crate::lock::LockMode;

/// Where lock objects live, and the start of their names.
pub const PREFIX: &str = "locks/repo-";
/// How often a holder rewrites its lock object.
pub const REFRESH: Duration = Duration::from_secs(60);
/// A lock object older than this is a dead process's, and ignored.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

/// The content of a lock object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockRecord {
    /// The holder's host name.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// `shared` or `exclusive`.
    pub mode: String,
    /// What the holder is doing (`create`, `gc`).
    pub command: String,
    /// When the object was last written, in seconds since the Unix epoch.
    pub time: i64,
}

impl LockRecord {
    fn new(mode: LockMode, command: &str) -> Self {
        Self {
            host: host_name(),
            pid: std::process::id(),
            mode: match mode {
                LockMode::Shared => "shared",
                LockMode::Exclusive => "exclusive",
            }
            .into(),
            command: command.into(),
            time: chrono::Utc::now().timestamp(),
        }
    }

    fn stale(&self) -> bool {
        chrono::Utc::now().timestamp() - self.time > STALE_AFTER.as_secs() as i64
    }

    fn describe(&self) -> String {
        let since = chrono::DateTime::from_timestamp(self.time, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "?".into());
        format!(
            "pid {} on {} ({}, {} lock, refreshed {since})",
            self.pid, self.host, self.command, self.mode
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A held lock object; dropping it stops the refreshing and deletes it.
#[derive(Debug)]
pub struct ObjectLock {
    backend: Arc<dyn Backend>,
    key: String,
    stop: Option<mpsc::Sender<()>>,
    refresher: Option<JoinHandle<()>>,
}

impl ObjectLock {
    /// Takes the repository lock on `backend` in `mode`, waiting at most
    /// `wait`.
    ///
    /// # Errors
    /// [`Error::Locked`] naming a holder when the wait runs out; remote
    /// errors.
    pub fn acquire(
        backend: Arc<dyn Backend>,
        mode: LockMode,
        command: &str,
        wait: Duration,
    ) -> Result<Self> {
        let key = format!("{PREFIX}{:016x}", rand::random::<u64>());
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let mine = LockRecord::new(mode, command);
            write_record(backend.as_ref(), &key, &mine)?;
            let Some(holder) = conflict(backend.as_ref(), &key, mode)? else {
                return Ok(Self::hold(backend, key, mine));
            };
            backend.delete(&key)?;
            if start.elapsed() >= wait {
                return Err(Error::Locked {
                    path: format!("{}/{PREFIX}*", backend.location()).into(),
                    holder: holder.describe(),
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            let jitter = Duration::from_millis(rand::random::<u64>() % 20);
            std::thread::sleep((pause + jitter).min(wait.saturating_sub(start.elapsed())));
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    fn hold(backend: Arc<dyn Backend>, key: String, record: LockRecord) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let (b, k) = (backend.clone(), key.clone());
        let refresher = std::thread::spawn(move || {
            let mut record = record;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(REFRESH) {
                record.time = chrono::Utc::now().timestamp();
                // Best effort: a failed refresh is retried at the next tick,
                // long before the object goes stale.
                let _ = write_record(b.as_ref(), &k, &record);
            }
        });
        Self {
            backend,
            key,
            stop: Some(stop),
            refresher: Some(refresher),
        }
    }

    /// The key of this lock object.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for ObjectLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
        // Best effort: an object left behind goes stale.
        let _ = self.backend.delete(&self.key);
    }
}

fn write_record(b: &dyn Backend, key: &str, r: &LockRecord) -> Result<()> {
    let bytes = serde_json::to_vec(r).expect("a lock record serialises");
    b.write(key, &bytes, Precondition::None).map(|_| ())
}

/// The first other live lock object that conflicts with holding `mode`;
/// stale ones are removed when asking for the exclusive lock.
fn conflict(b: &dyn Backend, mine: &str, mode: LockMode) -> Result<Option<LockRecord>> {
    for o in b.list(PREFIX)? {
        if o.key == mine {
            continue;
        }
        let record = match b.read(&o.key) {
            Ok(bytes) => serde_json::from_slice::<LockRecord>(&bytes).ok(),
            Err(Error::NotFound { .. }) => continue, // released meanwhile
            Err(e) => return Err(e),
        };
        // An object that does not parse is being written or damaged:
        // count it as an exclusive holder until it goes away or is stale.
        let record = record.unwrap_or_else(|| LockRecord {
            host: "?".into(),
            pid: 0,
            mode: "exclusive".into(),
            command: format!("unreadable lock object {}", o.key),
            time: chrono::Utc::now().timestamp(),
        });
        if record.stale() {
            if mode == LockMode::Exclusive {
                let _ = b.delete(&o.key);
            }
            continue;
        }
        if mode == LockMode::Exclusive || record.mode == "exclusive" {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::MemoryBackend;

    #[test]
    fn shared_coexist_exclusive_excludes_and_stale_objects_are_ignored() {
        let b: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let z = Duration::from_millis(50);
        let s1 = ObjectLock::acquire(b.clone(), LockMode::Shared, "create", z).unwrap();
        let s2 = ObjectLock::acquire(b.clone(), LockMode::Shared, "restore", z).unwrap();
        let err = ObjectLock::acquire(b.clone(), LockMode::Exclusive, "gc", z).unwrap_err();
        assert!(err.to_string().contains("create") || err.to_string().contains("restore"));
        drop((s1, s2));
        assert!(
            b.list(PREFIX).unwrap().is_empty(),
            "released objects remain"
        );
        let x = ObjectLock::acquire(b.clone(), LockMode::Exclusive, "gc", z).unwrap();
        assert!(ObjectLock::acquire(b.clone(), LockMode::Shared, "create", z).is_err());
        drop(x);
        // A dead process's object, not refreshed for longer than STALE_AFTER.
        let mut dead = LockRecord::new(LockMode::Exclusive, "gc");
        dead.time -= STALE_AFTER.as_secs() as i64 + 1;
        write_record(b.as_ref(), "locks/repo-dead", &dead).unwrap();
        let s = ObjectLock::acquire(b.clone(), LockMode::Shared, "create", z).unwrap();
        drop(s);
        let _x = ObjectLock::acquire(b.clone(), LockMode::Exclusive, "gc", z).unwrap();
        assert_eq!(
            b.list(PREFIX).unwrap().len(),
            1,
            "the stale object was not removed"
        );
    }
}
