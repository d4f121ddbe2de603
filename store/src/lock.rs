//! Repository and per-profile locks: OS advisory locks held by a guard.
//!
//! The lock is the kernel's (`flock` through `File::lock`/`lock_shared`), so
//! a process that dies releases it at once: there are no stale locks. The
//! lock file's content names the last holder (pid, command, since) so a
//! waiter that gives up can say who holds it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Shared (many readers and writers of new data) or exclusive (gc, rebuild).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Held by create, restore, export, import, forget.
    Shared,
    /// Held by gc and index rebuild.
    Exclusive,
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
    mode: LockMode,
}

impl LockGuard {
    /// Takes the lock on `path` (created if missing), waiting at most `wait`.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder when the wait runs out;
    /// [`Error::Io`] when the lock file cannot be opened.
    pub fn acquire(path: &Path, mode: LockMode, command: &str, wait: Duration) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let r = match mode {
                LockMode::Shared => file.try_lock_shared(),
                LockMode::Exclusive => file.try_lock(),
            };
            match r {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= wait {
                        return Err(Error::Locked {
                            path: path.to_path_buf(),
                            holder: describe_holder(path),
                            waited_ms: start.elapsed().as_millis() as u64,
                        });
                    }
                    std::thread::sleep(pause.min(wait.saturating_sub(start.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
            }
        }
        let guard = Self {
            file,
            path: path.to_path_buf(),
            mode,
        };
        guard.record(command);
        // Negative control (tests/negative-controls.sh): the lock is let go
        // as soon as it is taken.
        #[cfg(snap_broken = "lock_released_early")]
        let _ = guard.file.unlock();
        Ok(guard)
    }

    /// The mode held.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes who holds the lock into the lock file. Best effort: the lock is
    /// held whether or not this succeeds.
    fn record(&self, command: &str) {
        let mode = match self.mode {
            LockMode::Shared => "shared",
            LockMode::Exclusive => "exclusive",
        };
        let line = format!(
            "pid={} command={} mode={} since={}\n",
            std::process::id(),
            command.replace(char::is_whitespace, "_"),
            mode,
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        let _ = self.file.set_len(0);
        let _ = (&self.file).write_all(line.as_bytes());
    }
}

/// Reads the lock file and describes its holder for an error message.
fn describe_holder(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return "another process".into();
    }
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(k).map(str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "pid {} ({}, {} lock since {})",
        field("pid="),
        field("command="),
        field("mode="),
        field("since=")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_exclusive_waits_and_names_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let a = LockGuard::acquire(&p, LockMode::Shared, "create", Duration::ZERO).unwrap();
        let _b = LockGuard::acquire(&p, LockMode::Shared, "restore", Duration::ZERO).unwrap();
        let err = LockGuard::acquire(&p, LockMode::Exclusive, "gc", Duration::from_millis(50))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(a);
        drop(_b);
        let _c = LockGuard::acquire(&p, LockMode::Exclusive, "gc", Duration::ZERO).unwrap();
    }
}
