//! Restores the page runs in the background: `POST /api/restore` (not a
//! dry run) starts one on its own thread and answers at once with its job
//! id; the page then polls `GET /api/job?id=N` for the progress (files and
//! bytes in place of the totals) and, at the end, the result or the error
//! (an `in_use` refusal included, so the page can offer "Restore anyway").
//! One restore runs at a time; the last few finished jobs are kept.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use snap_engine::commands::restore::RestoreProgress;

use super::actions::PlannedRestore;
use super::http::Reply;
use super::routes::error_kind;

/// Finished jobs kept for the page to read.
const KEEP_FINISHED: usize = 8;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Running,
    Done,
    Failed,
}

/// What `GET /api/job` answers.
#[derive(Debug, Clone, Serialize)]
struct Job {
    id: u64,
    status: Status,
    progress: RestoreProgress,
    /// The restore's answer, when done.
    result: Option<serde_json::Value>,
    /// `{kind, message}`, when failed.
    error: Option<serde_json::Value>,
}

/// Every job of this server.
#[derive(Default)]
pub struct Jobs {
    all: Mutex<BTreeMap<u64, Job>>,
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Job>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `plan` on a thread of its own: `202 {"job": N}`, or `409`
    /// (kind `busy`) while another restore runs.
    pub fn start(self: &Arc<Self>, plan: PlannedRestore) -> Reply {
        let id = {
            let mut all = self.lock();
            if all.values().any(|j| j.status == Status::Running) {
                return Reply::error(
                    409,
                    "busy",
                    "another restore is running; wait for it to finish",
                );
            }
            let id = all.keys().next_back().map_or(1, |k| k + 1);
            all.insert(
                id,
                Job {
                    id,
                    status: Status::Running,
                    progress: RestoreProgress::default(),
                    result: None,
                    error: None,
                },
            );
            while all.len() > KEEP_FINISHED {
                let Some(oldest) = all.keys().next().copied() else {
                    break;
                };
                all.remove(&oldest);
            }
            id
        };
        let jobs = Arc::clone(self);
        std::thread::spawn(move || {
            let report = |p: RestoreProgress| {
                if let Some(j) = jobs.lock().get_mut(&id) {
                    j.progress = p;
                }
            };
            let outcome = plan.run(Some(&report));
            let mut all = jobs.lock();
            let Some(j) = all.get_mut(&id) else {
                return;
            };
            match outcome {
                Ok(v) => {
                    j.status = Status::Done;
                    j.result = Some(v);
                }
                Err(e) => {
                    let (kind, _) = error_kind(&e);
                    j.status = Status::Failed;
                    j.error =
                        Some(serde_json::json!({ "kind": kind, "message": format!("{e:#}") }));
                }
            }
        });
        let mut reply = Reply::json(&serde_json::json!({ "job": id }));
        reply.status = 202;
        reply
    }

    /// `GET /api/job?id=N`.
    pub fn get(&self, id: &str) -> Reply {
        let job = id
            .parse::<u64>()
            .ok()
            .and_then(|n| self.lock().get(&n).cloned());
        match job {
            Some(j) => Reply::json(&j),
            None => Reply::error(404, "not_found", &format!("no restore job {id:?}")),
        }
    }
}
