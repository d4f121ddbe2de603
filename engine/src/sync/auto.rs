//! Sync inside `snap auto --sync REPO`: after the snapshots of a round,
//! and every `poll` otherwise, each served profile is pulled when only the
//! head moved and pushed when only the local side changed. A conflict is
//! reported ([`Event::SyncConflict`]) and left for the user; a shared
//! repository that cannot be reached is tried again after a backoff
//! (2 s, doubling to 5 minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use snap_store::OpenOptions;

use super::{head, pull, push, PullAction, PushAction, SyncOptions};
use crate::auto::{AutoOptions, Event};
use crate::error::{Error, Result};
use crate::repo::Repo;

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
/// `opts.sync`; logs what happened, and schedules the next try.
pub(crate) fn sync_round(
    repo_path: &std::path::Path,
    opts: &AutoOptions,
    profiles: &[String],
    log: &dyn Fn(Event),
    backoff: &mut Backoff,
) {
    let Some(s) = &opts.sync else { return };
    let failed = |backoff: &mut Backoff, e: &Error| {
        log(Event::Failed {
            profile: None,
            error: format!("sync: {e}; trying again in {} s", backoff.delay.as_secs()),
        });
        backoff.next = Instant::now() + backoff.delay;
        backoff.delay = (backoff.delay * 2).min(MAX_DELAY);
        backoff.failing = true;
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
            Err(e @ (Error::Store(_) | Error::Io { .. })) => return failed(backoff, &e),
            Err(e) => log(Event::Failed {
                profile: Some(name.clone()),
                error: format!("sync: {e}"),
            }),
        }
    }
    backoff.delay = FIRST_DELAY;
    backoff.failing = false;
    backoff.next = Instant::now() + s.poll;
}
