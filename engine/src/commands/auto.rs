//! Auto-snapshots: a foreground scheduler for a service manager or an
//! application's child process.
//!
//! For each selected profile: a snapshot every `interval`, and soon after
//! the profile changes (filesystem events, debounced: `debounce` of quiet,
//! at most one change-triggered snapshot per `min_gap`); `create` skips it
//! when nothing changed. After each new snapshot the profile's retention is
//! applied. When unreferenced data exceeds `gc_threshold` of the stored
//! bytes, or the repository's filesystem is short of space and there is
//! garbage, the repository is re-opened exclusively (with a short wait) and
//! collected; when another process holds the lock, gc is skipped with a log
//! line and tried again later.
//!
//! The repository is opened (shared) only for the duration of a round, so
//! other processes, including a `snap gc`, get their turn in between.
//! Setting `stop` abandons a snapshot in progress cleanly (nothing is
//! committed) and makes [`run`] return `Ok`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};
use serde::Serialize;
use snap_store::OpenOptions;

use crate::commands::backup::{create, CreateOptions, CreateStatus};
use crate::commands::forget::{forget, now_from_env, ForgetOptions};
use crate::commands::gc::{gc, usage, GcOptions};
use crate::commands::sync::{head, pull, push, PullAction, PushAction, SyncOptions};
use crate::error::{Error, Result};
use crate::model::profile::{Profile, Profiles};
use crate::repo::Repo;

/// How `auto` runs.
#[derive(Debug, Clone)]
pub struct AutoOptions {
    /// Only these profiles (default: every profile with auto on).
    pub profiles: Vec<String>,
    /// One round for every selected profile, then return.
    pub once: bool,
    /// Quiet time after a change before a snapshot.
    pub debounce: Duration,
    /// Minimum time between two change-triggered snapshots of a profile.
    pub min_gap: Duration,
    /// Collect garbage when unreferenced bytes exceed this fraction of the
    /// stored bytes.
    pub gc_threshold: f64,
    /// How long to wait for the repository and profile locks for a round.
    pub lock_wait: Duration,
    /// How long to wait for the exclusive lock for gc before skipping it.
    pub gc_lock_wait: Duration,
    /// How to unlock an encrypted repository (a password file or command
    /// for unattended runs). The password is asked once: later rounds
    /// reuse the keys.
    pub unlock: Option<snap_store::Unlock>,
    /// Sync the served profiles with a shared repository after each round
    /// (`snap auto --sync REPO`; [`crate::sync`]).
    pub sync: Option<AutoSync>,
}

impl Default for AutoOptions {
    fn default() -> Self {
        Self {
            profiles: Vec::new(),
            once: false,
            debounce: Duration::from_secs(10),
            min_gap: Duration::from_secs(60),
            gc_threshold: 0.20,
            lock_wait: Duration::from_secs(30),
            gc_lock_wait: Duration::from_secs(2),
            unlock: None,
            sync: None,
        }
    }
}

/// One action, logged as one line (or one JSON object).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The scheduler started.
    Started {
        /// The profiles it serves.
        profiles: Vec<String>,
    },
    /// A snapshot was taken.
    Snapshot {
        /// The profile.
        profile: String,
        /// The new snapshot's short id.
        id: String,
        /// Its name.
        name: String,
        /// `interval`, `change` or `once`.
        trigger: String,
    },
    /// Nothing changed; no snapshot.
    Unchanged {
        /// The profile.
        profile: String,
        /// `interval`, `change` or `once`.
        trigger: String,
    },
    /// Retention removed snapshots.
    Forgot {
        /// The profile.
        profile: String,
        /// How many.
        removed: u64,
    },
    /// Garbage was collected.
    Gc {
        /// Packs deleted.
        packs_deleted: u64,
        /// Packs repacked.
        packs_repacked: u64,
        /// Bytes reclaimed.
        bytes_reclaimed: u64,
    },
    /// Garbage collection was due but skipped.
    GcSkipped {
        /// Why.
        reason: String,
    },
    /// The repository's filesystem is short of space.
    LowSpace {
        /// Free bytes.
        free_bytes: u64,
        /// Size of the filesystem.
        total_bytes: u64,
    },
    /// Something failed; the scheduler carries on.
    Failed {
        /// The profile involved, if any.
        profile: Option<String>,
        /// The error.
        error: String,
    },
    /// A sync pulled or pushed (`--sync`).
    Synced {
        /// The profile.
        profile: String,
        /// `pulled` or `pushed`.
        action: String,
        /// The head's short id.
        snapshot: String,
        /// After a pull: the undo point's short id.
        undo_point: Option<String>,
    },
    /// Both sides changed: reported, not resolved (`snap sync pull
    /// --theirs` or `--ours` decides).
    SyncConflict {
        /// The profile.
        profile: String,
        /// The conflict, one line.
        conflict: String,
    },
    /// The scheduler stopped (signal, or `once` done).
    Stopped,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started { profiles } => write!(f, "watching {}", profiles.join(", ")),
            Event::Snapshot {
                profile,
                id,
                name,
                trigger,
            } => write!(f, "{profile}: snapshot {id} {name} ({trigger})"),
            Event::Unchanged { profile, trigger } => {
                write!(f, "{profile}: unchanged ({trigger})")
            }
            Event::Forgot { profile, removed } => {
                write!(f, "{profile}: retention removed {removed} snapshot(s)")
            }
            Event::Gc {
                packs_deleted,
                packs_repacked,
                bytes_reclaimed,
            } => write!(
                f,
                "gc: deleted {packs_deleted} pack(s), repacked {packs_repacked}, reclaimed {bytes_reclaimed} bytes"
            ),
            Event::GcSkipped { reason } => write!(f, "gc skipped: {reason}"),
            Event::LowSpace {
                free_bytes,
                total_bytes,
            } => write!(
                f,
                "warning: repository filesystem has {free_bytes} of {total_bytes} bytes free"
            ),
            Event::Failed {
                profile: Some(p),
                error,
            } => write!(f, "{p}: error: {error}"),
            Event::Failed {
                profile: None,
                error,
            } => write!(f, "error: {error}"),
            Event::Synced {
                profile,
                action,
                snapshot,
                undo_point,
            } => {
                write!(f, "{profile}: sync {action} {snapshot}")?;
                match undo_point {
                    Some(u) => write!(f, " (undo point {u})"),
                    None => Ok(()),
                }
            }
            Event::SyncConflict { profile, conflict } => {
                write!(f, "{profile}: {conflict}; not resolved (snap sync pull --theirs | --ours)")
            }
            Event::Stopped => f.write_str("stopped"),
        }
    }
}

struct State {
    profile: Profile,
    root: PathBuf,
    next_interval: Option<Instant>,
    last_change: Option<Instant>,
    last_change_snapshot: Option<Instant>,
}

/// Runs the scheduler until `stop` is set (or one round with `once`).
///
/// # Errors
/// No repository, unreadable `profiles.json`, an unknown profile named in
/// `opts.profiles`, or no profile to serve. Failures during a round are
/// logged as [`Event::Failed`] and do not stop the scheduler.
pub fn run(
    repo_path: &Path,
    opts: &AutoOptions,
    stop: &AtomicBool,
    log: &dyn Fn(Event),
) -> Result<()> {
    // Fail early and clearly when there is no repository.
    let mut first = OpenOptions::shared("auto");
    first.unlock = opts.unlock.clone();
    let (profiles, keys) = {
        let repo = Repo::open(repo_path, &first)?;
        (
            Profiles::load_in(repo.store())?.0,
            repo.store().keys().cloned(),
        )
    };
    let unlocked = AutoOptions {
        unlock: keys.map(snap_store::Unlock::Keys).or(opts.unlock.clone()),
        ..opts.clone()
    };
    let opts = &unlocked;
    let selected: Vec<Profile> = if opts.profiles.is_empty() {
        profiles.iter().filter(|p| p.auto).cloned().collect()
    } else {
        opts.profiles
            .iter()
            .map(|n| profiles.require(n).cloned())
            .collect::<Result<_>>()?
    };
    if selected.is_empty() {
        return Err(Error::Invalid {
            what: "profiles",
            value: String::new(),
            reason: "no profile has auto on (turn it on with `snap profile set NAME --auto on`, or name profiles with --profile)".into(),
        });
    }
    let now = Instant::now();
    let mut states: Vec<State> = selected
        .into_iter()
        .map(|p| State {
            root: std::fs::canonicalize(&p.path).unwrap_or_else(|_| p.path.clone()),
            next_interval: Some(now),
            last_change: None,
            last_change_snapshot: None,
            profile: p,
        })
        .collect();
    log(Event::Started {
        profiles: states.iter().map(|s| s.profile.name.clone()).collect(),
    });
    if opts.once {
        let due: Vec<usize> = (0..states.len()).collect();
        round(repo_path, opts, stop, log, &mut states, &due, "once", true);
        let names: Vec<String> = states.iter().map(|s| s.profile.name.clone()).collect();
        let _ = sync_round(repo_path, opts, &names, log, &mut Default::default());
        log(Event::Stopped);
        return Ok(());
    }
    let (tx, rx) = mpsc::channel();
    let mut watcher = match notify::recommended_watcher(move |res| {
        let _ = tx.send(res);
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            log(Event::Failed {
                profile: None,
                error: format!("file events unavailable, using the interval only: {e}"),
            });
            None
        }
    };
    if let Some(w) = watcher.as_mut() {
        for s in &states {
            if let Err(e) = w.watch(&s.root, RecursiveMode::Recursive) {
                log(Event::Failed {
                    profile: Some(s.profile.name.clone()),
                    error: format!("cannot watch {}: {e}", s.root.display()),
                });
            }
        }
    }
    let mut first = true;
    let names: Vec<String> = states.iter().map(|s| s.profile.name.clone()).collect();
    let mut backoff = Backoff::default();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(res) = rx.try_recv() {
            let Ok(ev) = res else { continue };
            if matches!(ev.kind, EventKind::Access(_)) {
                continue;
            }
            let t = Instant::now();
            for s in states.iter_mut() {
                if ev.paths.iter().any(|p| p.starts_with(&s.root)) {
                    s.last_change = Some(t);
                }
            }
        }
        let now = Instant::now();
        let mut interval_due = Vec::new();
        let mut change_due = Vec::new();
        for (i, s) in states.iter().enumerate() {
            if s.next_interval.is_some_and(|t| now >= t) {
                interval_due.push(i);
            } else if s.last_change.is_some_and(|c| {
                debounced(c, s.last_change_snapshot, now, opts.debounce, opts.min_gap)
            }) {
                change_due.push(i);
            }
        }
        let any_round = !interval_due.is_empty() || !change_due.is_empty();
        for (due, trigger) in [(interval_due, "interval"), (change_due, "change")] {
            if due.is_empty() || stop.load(Ordering::Relaxed) {
                continue;
            }
            round(
                repo_path,
                opts,
                stop,
                log,
                &mut states,
                &due,
                trigger,
                first,
            );
            first = false;
            let after = Instant::now();
            for i in due {
                let s = &mut states[i];
                s.last_change = None;
                if trigger == "change" {
                    s.last_change_snapshot = Some(after);
                }
                s.next_interval = s.profile.interval.to_std().map(|d| after + d);
            }
        }
        if opts.sync.is_some()
            && !stop.load(Ordering::Relaxed)
            && backoff.due(any_round)
            && sync_round(repo_path, opts, &names, log, &mut backoff)
        {
            // A pull restored in place: the profile's folder was exchanged
            // with the restored one, so watch the new folder.
            if let Some(w) = watcher.as_mut() {
                for s in &states {
                    let _ = w.unwatch(&s.root);
                    if let Err(e) = w.watch(&s.root, RecursiveMode::Recursive) {
                        log(Event::Failed {
                            profile: Some(s.profile.name.clone()),
                            error: format!("cannot watch {}: {e}", s.root.display()),
                        });
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    log(Event::Stopped);
    Ok(())
}

/// One round for the profiles `due`: space check, snapshot, retention, then
/// gc when worthwhile. Errors are logged, never returned.
#[allow(clippy::too_many_arguments)]
fn round(
    repo_path: &Path,
    opts: &AutoOptions,
    stop: &AtomicBool,
    log: &dyn Fn(Event),
    states: &mut [State],
    due: &[usize],
    trigger: &str,
    check_garbage: bool,
) {
    let fail = |profile: Option<&str>, e: &dyn fmt::Display| {
        log(Event::Failed {
            profile: profile.map(str::to_string),
            error: e.to_string(),
        })
    };
    if let Some((free, total)) = crate::space::is_low(repo_path) {
        log(Event::LowSpace {
            free_bytes: free,
            total_bytes: total,
        });
        maybe_gc(repo_path, opts, log, 0.0);
    }
    let mut removed_any = false;
    {
        let mut open = OpenOptions::shared("auto");
        open.wait = opts.lock_wait;
        open.unlock = opts.unlock.clone();
        let repo = match Repo::open(repo_path, &open) {
            Ok(r) => r,
            Err(e) => return fail(None, &e),
        };
        let now_ms = match now_from_env() {
            Ok(t) => t.timestamp_millis(),
            Err(e) => return fail(None, &e),
        };
        for &i in due {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let p = &states[i].profile;
            let mut c = CreateOptions::new(&p.name, &p.path);
            c.excludes = p.excludes.clone();
            c.cancel = Some(stop);
            match create(&repo, &c) {
                Ok(o) if o.status == CreateStatus::Created => {
                    log(Event::Snapshot {
                        profile: p.name.clone(),
                        id: o.id.short(),
                        name: o.manifest.name.clone(),
                        trigger: trigger.into(),
                    });
                    let f = ForgetOptions {
                        profile: Some(p.name.clone()),
                        now_ms,
                        lock_wait: opts.lock_wait,
                        ..ForgetOptions::default()
                    };
                    match forget(&repo, &f) {
                        Ok(r) if r.removed > 0 => {
                            removed_any = true;
                            log(Event::Forgot {
                                profile: p.name.clone(),
                                removed: r.removed,
                            });
                        }
                        Ok(_) => {}
                        Err(e) => fail(Some(&p.name), &e),
                    }
                }
                Ok(_) => log(Event::Unchanged {
                    profile: p.name.clone(),
                    trigger: trigger.into(),
                }),
                Err(Error::Cancelled) => return,
                Err(e) => fail(Some(&p.name), &e),
            }
        }
    }
    if (removed_any || check_garbage) && !stop.load(Ordering::Relaxed) {
        maybe_gc(repo_path, opts, log, opts.gc_threshold);
    }
}

/// Collects garbage when it exceeds `threshold` of the stored bytes (and is
/// not zero). Skips, with a log line, when the exclusive lock is busy.
fn maybe_gc(repo_path: &Path, opts: &AutoOptions, log: &dyn Fn(Event), threshold: f64) {
    let fraction = {
        let mut open = OpenOptions::shared("auto");
        open.wait = opts.lock_wait;
        open.unlock = opts.unlock.clone();
        match Repo::open(repo_path, &open).and_then(|r| usage(&r)) {
            Ok(u) if u.garbage_bytes > 0 => u.garbage_fraction,
            Ok(_) => return,
            Err(e) => {
                return log(Event::Failed {
                    profile: None,
                    error: e.to_string(),
                })
            }
        }
    };
    if fraction <= threshold {
        return;
    }
    let mut open = OpenOptions::exclusive("auto gc").freeing_space();
    open.wait = opts.gc_lock_wait;
    open.unlock = opts.unlock.clone();
    let repo = match Repo::open(repo_path, &open) {
        Ok(r) => r,
        Err(Error::Store(e @ snap_store::Error::Locked { .. })) => {
            return log(Event::GcSkipped {
                reason: e.to_string(),
            })
        }
        Err(e) => {
            return log(Event::Failed {
                profile: None,
                error: e.to_string(),
            })
        }
    };
    match gc(&repo, &GcOptions::default()) {
        Ok(o) => {
            let r = o.report.unwrap_or_default();
            log(Event::Gc {
                packs_deleted: r.packs_deleted,
                packs_repacked: r.packs_repacked,
                bytes_reclaimed: r.bytes_reclaimed,
            })
        }
        Err(e) => log(Event::Failed {
            profile: None,
            error: e.to_string(),
        }),
    }
}

/// The debounce rule: a change-triggered snapshot is due when the profile
/// has been quiet for `debounce` since its last change and the last
/// change-triggered snapshot is at least `min_gap` old.
pub fn debounced(
    last_change: Instant,
    last_snapshot: Option<Instant>,
    now: Instant,
    debounce: Duration,
    min_gap: Duration,
) -> bool {
    now.duration_since(last_change) >= debounce
        && last_snapshot.is_none_or(|l| now.duration_since(l) >= min_gap)
}

// Sync inside `snap auto --sync REPO`: after the snapshots of a round, and
// every `poll` otherwise, each served profile is pulled when only the head
// moved and pushed when only the local side changed. A conflict is reported
// ([`Event::SyncConflict`]) and left for the user; a shared repository that
// cannot be reached is tried again after a backoff (2 s, doubling to 5
// minutes).

/// How `auto` reaches the shared repository.
#[derive(Clone)]
pub struct AutoSync {
    /// Opens the shared repository (called each time a sync is due).
    pub open: Arc<dyn Fn() -> Result<Repo> + Send + Sync>,
    /// How often to look at the head when nothing changed locally.
    pub poll: Duration,
}

impl std::fmt::Debug for AutoSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoSync")
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

/// When the next sync may run.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Instant,
    delay: Duration,
    failing: bool,
}

const FIRST_DELAY: Duration = Duration::from_secs(2);
const MAX_DELAY: Duration = Duration::from_secs(300);

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Instant::now(),
            delay: FIRST_DELAY,
            failing: false,
        }
    }
}

impl Backoff {
    /// Whether a sync is due: right after a round of snapshots (unless the
    /// shared repository is failing and its backoff has not run out), or
    /// when the poll interval (or the backoff) has passed.
    pub(crate) fn due(&self, after_round: bool) -> bool {
        (after_round && !self.failing) || Instant::now() >= self.next
    }
}

/// Syncs each of `profiles` of the local repository at `repo_path` with
/// `opts.sync`; logs what happened, and schedules the next try. Returns
/// whether a pull restored a profile in place (its folder is a new one).
pub(crate) fn sync_round(
    repo_path: &std::path::Path,
    opts: &AutoOptions,
    profiles: &[String],
    log: &dyn Fn(Event),
    backoff: &mut Backoff,
) -> bool {
    let Some(s) = &opts.sync else { return false };
    let failed = |backoff: &mut Backoff, e: &Error| {
        log(Event::Failed {
            profile: None,
            error: format!("sync: {e}; trying again in {} s", backoff.delay.as_secs()),
        });
        backoff.next = Instant::now() + backoff.delay;
        backoff.delay = (backoff.delay * 2).min(MAX_DELAY);
        backoff.failing = true;
        false
    };
    let mut open = OpenOptions::shared("auto sync");
    open.wait = opts.lock_wait;
    open.unlock = opts.unlock.clone();
    let local = match Repo::open(repo_path, &open) {
        Ok(r) => r,
        Err(e) => return failed(backoff, &e),
    };
    let shared = match (s.open)() {
        Ok(r) => r,
        Err(e) => return failed(backoff, &e),
    };
    let mut restored = false;
    for name in profiles {
        let mut o = SyncOptions::new(name);
        o.lock_wait = opts.lock_wait;
        let pulled = match head::read(&shared, name) {
            Ok(None) => Ok(None),
            Ok(Some(_)) => pull(&local, &shared, &o).map(Some),
            Err(e) => Err(e),
        };
        let outcome = pulled.and_then(|p| Ok((p, push(&local, &shared, &o)?)));
        match outcome {
            Ok((p, q)) => {
                if let Some(p) = p.filter(|p| p.action == PullAction::Restored) {
                    restored = true;
                    log(Event::Synced {
                        profile: name.clone(),
                        action: "pulled".into(),
                        snapshot: p.head.short_id,
                        undo_point: p.undo_point.map(|u| u.short()),
                    });
                }
                if let (PushAction::Pushed, Some(h)) = (q.action, q.head) {
                    log(Event::Synced {
                        profile: name.clone(),
                        action: "pushed".into(),
                        snapshot: h.short(),
                        undo_point: None,
                    });
                }
            }
            Err(Error::SyncConflict(c)) => log(Event::SyncConflict {
                profile: name.clone(),
                conflict: c.to_string(),
            }),
            Err(e @ (Error::Store(_) | Error::Io { .. })) => {
                failed(backoff, &e);
                return restored;
            }
            Err(e) => log(Event::Failed {
                profile: Some(name.clone()),
                error: format!("sync: {e}"),
            }),
        }
    }
    backoff.delay = FIRST_DELAY;
    backoff.failing = false;
    backoff.next = Instant::now() + s.poll;
    restored
}
