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
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Precondition, Version};
use crate::error::{Error, Result};
use crate::lock::LockMode;

/// Where lock objects live, and the start of their names.
pub const PREFIX: &str = "locks/repo-";
/// How often a holder rewrites its lock object.
pub const REFRESH: Duration = Duration::from_secs(60);
/// A lock object older than this is a dead process's, and ignored.
pub const STALE_AFTER: Duration = Duration::from_secs(300);
/// How far apart the clocks of two machines sharing a bucket may be.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// How long after its last successful write a holder trusts its own lock:
/// [`STALE_AFTER`] less [`CLOCK_SKEW`], so no other machine can have
/// judged the object stale before the holder stops trusting it.
pub const LEASE: Duration = Duration::from_secs(STALE_AFTER.as_secs() - CLOCK_SKEW.as_secs());
/// The lease a holder wants left before a step that relies on the lock
/// (a snapshot commit, a pack deletion); with less, it renews first.
pub const STEP_MARGIN: Duration = Duration::from_secs(120);

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
    lease: Arc<Mutex<Lease>>,
    stop: Option<mpsc::Sender<()>>,
    refresher: Option<JoinHandle<()>>,
}

/// What a holder knows about its own lock object.
#[derive(Debug)]
struct Lease {
    /// The record as last written successfully.
    record: LockRecord,
    /// The version that write returned: a renewal replaces only that one.
    version: Version,
    /// Why the lock is lost, once it is.
    lost: Option<String>,
}

impl Lease {
    /// Seconds since the last successful write (by this machine's clock).
    fn age(&self) -> i64 {
        chrono::Utc::now().timestamp() - self.record.time
    }

    /// Fails when the lock is lost or its lease has run out; marks it lost
    /// in the second case.
    fn check(&mut self) -> std::result::Result<(), String> {
        if self.lost.is_none() && self.age() >= LEASE.as_secs() as i64 {
            self.lost = Some(format!(
                "not renewed for {} s, longer than its {} s lease (was the process suspended?); \
                 another process may have taken it as dead",
                self.age(),
                LEASE.as_secs()
            ));
        }
        self.lost.clone().map_or(Ok(()), Err)
    }

    /// Rewrites the object with a fresh time, only over the version this
    /// holder wrote last: an object removed (or replaced) meanwhile means
    /// another process took this one for dead, and the lock is lost.
    fn renew(&mut self, b: &dyn Backend, key: &str) -> std::result::Result<(), String> {
        self.check()?;
        let mut record = self.record.clone();
        record.time = chrono::Utc::now().timestamp();
        let bytes = serde_json::to_vec(&record).expect("a lock record serialises");
        match b.write(key, &bytes, Precondition::Matches(self.version.clone())) {
            Ok(v) => {
                self.record = record;
                self.version = v;
                Ok(())
            }
            Err(Error::Conflict { .. } | Error::NotFound { .. }) => {
                self.lost = Some("its lock object was removed by another process".into());
                self.check()
            }
            // A transient failure: the lease still runs, the next renewal
            // retries.
            Err(e) => Err(e.to_string()),
        }
    }
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
            let version = write_record(backend.as_ref(), &key, &mine)?;
            let Some(holder) = conflict(backend.as_ref(), &key, mode)? else {
                return Ok(Self::hold(backend, key, mine, version));
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

    fn hold(backend: Arc<dyn Backend>, key: String, record: LockRecord, version: Version) -> Self {
        let lease = Arc::new(Mutex::new(Lease {
            record,
            version,
            lost: None,
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let (b, k, l) = (backend.clone(), key.clone(), lease.clone());
        let refresher = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(REFRESH) {
                let mut lease = l.lock().unwrap_or_else(|p| p.into_inner());
                // A transient failure is retried at the next tick, long
                // before the lease runs out; a lost lock stays lost.
                let _ = lease.renew(b.as_ref(), &k);
                if lease.lost.is_some() {
                    return;
                }
            }
        });
        Self {
            backend,
            key,
            lease,
            stop: Some(stop),
            refresher: Some(refresher),
        }
    }

    /// The key of this lock object.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn lease(&self) -> std::sync::MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lost(&self, detail: String) -> Error {
        Error::LockLost {
            location: self.backend.location().to_string(),
            key: self.key.clone(),
            detail,
        }
    }

    /// Makes sure the lock is still held with at least `margin` of its
    /// lease left, renewing it (one conditional write) when less is left.
    /// Call it right before a step that relies on the lock; after the
    /// step, [`ObjectLock::still_held`] tells whether the lease outlasted
    /// it.
    ///
    /// # Errors
    /// [`Error::LockLost`] when the lease ran out (the process was
    /// suspended, or could not reach the store, for longer than [`LEASE`])
    /// or another process removed the object as stale; remote errors when
    /// a needed renewal fails.
    pub fn ensure(&self, margin: Duration) -> Result<()> {
        let mut lease = self.lease();
        lease.check().map_err(|d| self.lost(d))?;
        if lease.age() + (margin.as_secs() as i64) < LEASE.as_secs() as i64 {
            return Ok(());
        }
        lease
            .renew(self.backend.as_ref(), &self.key)
            .map_err(|d| match lease.lost.is_some() {
                true => self.lost(d),
                false => Error::Remote {
                    location: self.backend.location().to_string(),
                    key: self.key.clone(),
                    detail: format!("cannot renew the lock: {d}"),
                },
            })
    }

    /// Whether the lease still runs, without contacting the store: checked
    /// after a step that relied on the lock.
    ///
    /// # Errors
    /// [`Error::LockLost`] when it ran out.
    pub fn still_held(&self) -> Result<()> {
        self.lease().check().map_err(|d| self.lost(d))
    }

    /// Makes this holder's lease look `secs` older, as if the process had
    /// been suspended that long (for tests of what then happens).
    #[cfg(any(test, feature = "testing"))]
    pub fn age_for_test(&self, secs: i64) {
        self.lease().record.time -= secs;
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

fn write_record(b: &dyn Backend, key: &str, r: &LockRecord) -> Result<Version> {
    let bytes = serde_json::to_vec(r).expect("a lock record serialises");
    b.write(key, &bytes, Precondition::None)
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
            // The exclusive locker removes a dead holder's object before it
            // may ignore it: a holder that was only suspended then finds
            // its object gone when it renews, and knows it lost the lock.
            // A failed delete is a conflict, not a licence to go on.
            if mode == LockMode::Exclusive && b.delete(&o.key).is_err() {
                return Ok(Some(record));
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

    #[test]
    fn a_holder_whose_lease_ran_out_or_whose_object_was_removed_has_lost_the_lock() {
        let b: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let z = Duration::from_millis(50);
        // Suspended past its lease: it knows without asking the store.
        let a = ObjectLock::acquire(b.clone(), LockMode::Shared, "create", z).unwrap();
        a.ensure(STEP_MARGIN).unwrap();
        a.age_for_test(LEASE.as_secs() as i64);
        assert!(matches!(a.ensure(STEP_MARGIN), Err(Error::LockLost { .. })));
        assert!(matches!(a.still_held(), Err(Error::LockLost { .. })));
        drop(a);
        // A renewal rewrites the object with a fresh time.
        let a = ObjectLock::acquire(b.clone(), LockMode::Shared, "create", z).unwrap();
        a.age_for_test(10);
        let before = a.lease().record.time;
        a.ensure(LEASE).unwrap();
        let stored: LockRecord = serde_json::from_slice(&b.read(a.key()).unwrap()).unwrap();
        assert!(
            stored.time > before,
            "the renewal did not rewrite the object"
        );
        // Others saw its object stale (a suspended process): gc removes it
        // and goes on; the holder's next renewal finds it gone.
        let mut old = stored.clone();
        old.time -= STALE_AFTER.as_secs() as i64 + 1;
        let v = write_record(b.as_ref(), a.key(), &old).unwrap();
        a.lease().version = v;
        let gc = ObjectLock::acquire(b.clone(), LockMode::Exclusive, "gc", z).unwrap();
        assert!(b.read(a.key()).is_err(), "the stale object was not removed");
        let err = a.ensure(LEASE).unwrap_err();
        assert!(
            matches!(err, Error::LockLost { .. }) && err.to_string().contains("removed"),
            "{err}"
        );
        assert!(b.read(a.key()).is_err(), "a lost lock's object came back");
        drop((a, gc));
    }
}
