//! Which other processes have a file of a profile open.
//!
//! An in-place restore swaps the profile's directory: a program that keeps
//! a file of the old tree open (a database it is writing) would go on
//! writing into the replaced copy, and those writes would be lost without a
//! word. So a restore first asks [`open_by_others`] and refuses
//! ([`crate::Error::InUse`]) unless forced.
//!
//! On Linux every process's `/proc/PID/fd` is read (processes of other
//! users are invisible without privileges: a caveat, not an error). Elsewhere
//! the check falls back to SQLite's own locks: a connection to a WAL
//! database holds a read lock on the dead-man-switch byte of its `-shm`
//! file for as long as it is open, and a rollback-journal connection holds
//! the shared-lock range of the database during a transaction; `F_GETLK`
//! names the holder's pid.
//!
//! This process and other `snap` processes (the same executable) are not
//! reported: an application that embeds the engine closes its own
//! connections before it restores, and another snap holds the profile's
//! lock, which the restore waits for.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::source::filter::Filter;

/// A file of the profile open in another process.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct OpenFile {
    /// The file, relative to the profile's directory.
    pub path: PathBuf,
    /// The process holding it.
    pub pid: u32,
    /// The process's command name (`/proc/PID/comm`; `unknown` where the
    /// platform does not say).
    pub command: String,
}

impl OpenFile {
    /// The refusal: `app.db is open in pid 4242 (myapp)`.
    pub fn describe(&self) -> String {
        format!(
            "{} is open in pid {} ({})",
            self.path.display(),
            self.pid,
            self.command
        )
    }

    /// The error an in-place restore refuses with.
    pub fn into_error(self) -> Error {
        Error::InUse {
            path: self.path,
            pid: self.pid,
            command: self.command,
        }
    }
}

/// The files under `profile_path` that processes other than this one and
/// other `snap` processes have open, sorted by path then pid.
///
/// # Errors
/// The profile directory cannot be resolved.
pub fn open_by_others(profile_path: &Path) -> Result<Vec<OpenFile>> {
    open_by_others_excluding(profile_path, &[])
}

/// [`open_by_others`], leaving out files the profile excludes (globs, as in
/// the profile's settings): an in-place restore carries excluded files over
/// as they are (same inode), so a program holding one loses nothing.
///
/// # Errors
/// The profile directory cannot be resolved; an invalid glob.
pub fn open_by_others_excluding(profile_path: &Path, excludes: &[String]) -> Result<Vec<OpenFile>> {
    let root = fs::canonicalize(profile_path).map_err(|e| Error::io(profile_path, e))?;
    let filter = Filter::new(excludes)?;
    let found = scan(&root)?;
    Ok(found
        .into_iter()
        .filter(|f| !filter.excludes(f.path.as_os_str().as_encoded_bytes()))
        .collect())
}

#[cfg(target_os = "linux")]
fn scan(root: &Path) -> Result<BTreeSet<OpenFile>> {
    let me = std::process::id();
    let my_exe = fs::read_link("/proc/self/exe").ok();
    let mut out = BTreeSet::new();
    let procs = fs::read_dir("/proc").map_err(|e| Error::io("/proc", e))?;
    for ent in procs.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = ent.path();
        if my_exe.is_some() && fs::read_link(dir.join("exe")).ok() == my_exe {
            continue;
        }
        // Other users' processes without privileges, or a process that
        // just exited: nothing to see.
        let Ok(fds) = fs::read_dir(dir.join("fd")) else {
            continue;
        };
        let mut command = None;
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let Ok(rel) = target.strip_prefix(root) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let command = command.get_or_insert_with(|| {
                fs::read_to_string(dir.join("comm"))
                    .map(|c| c.trim_end().to_string())
                    .unwrap_or_else(|_| "unknown".into())
            });
            out.insert(OpenFile {
                path: rel.to_path_buf(),
                pid,
                command: command.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(not(target_os = "linux"))]
fn scan(root: &Path) -> Result<BTreeSet<OpenFile>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else {
            continue;
        };
        for ent in rd.flatten() {
            let p = ent.path();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() && is_sqlite_file(&p) {
                if let Some(pid) = sqlite_lock_holder(&p) {
                    out.insert(OpenFile {
                        path: p.strip_prefix(root).unwrap_or(&p).to_path_buf(),
                        pid,
                        command: "unknown".into(),
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(not(target_os = "linux"))]
fn is_sqlite_file(p: &Path) -> bool {
    File::open(p)
        .and_then(|mut f| crate::source::sqlite::read_header(&mut f))
        .is_ok_and(|h| crate::source::sqlite::is_sqlite(&h))
}

/// The pid of another process holding one of SQLite's locks on database
/// `db`: the dead-man-switch byte of its `-shm` (held by every open
/// connection to a WAL database), or the database's shared-lock range
/// (held by a rollback-journal connection during a transaction). The
/// fallback of [`open_by_others`] where there is no `/proc`; locks of this
/// process are not seen (POSIX `F_GETLK`).
pub fn sqlite_lock_holder(db: &Path) -> Option<u32> {
    /// `UNIX_SHM_DMS`: 120 + `SQLITE_SHM_NLOCK` (8).
    const SHM_DMS: (u64, u64) = (128, 1);
    /// `PENDING_BYTE` .. `SHARED_FIRST + SHARED_SIZE`.
    const DB_LOCKS: (u64, u64) = (0x4000_0000, 512);
    let mut shm = db.as_os_str().to_owned();
    shm.push("-shm");
    [(PathBuf::from(shm), SHM_DMS), (db.to_path_buf(), DB_LOCKS)]
        .into_iter()
        .find_map(|(path, (start, length))| {
            let f = File::options().read(true).write(true).open(&path).ok()?;
            let probe = rustix::process::Flock {
                start,
                length,
                ..rustix::process::Flock::from(rustix::process::FlockType::WriteLock)
            };
            let held = rustix::process::fcntl_getlk(&f, &probe).ok()??;
            u32::try_from(rustix::process::Pid::as_raw(held.pid))
                .ok()
                .filter(|p| *p != 0)
        })
}
