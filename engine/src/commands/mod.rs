//! Operations, one module per command: create (`backup`), restore, forget,
//! gc, check, repair, browse and diff, auto, import, and the profile
//! registry protocol every front end goes through. Every new snapshot,
//! whichever command makes it, is described and committed by `commit`.

pub mod auto;
pub mod backup;
pub mod browse;
pub mod check;
pub(crate) mod commit;
pub mod copy;
pub mod diff;
pub mod forget;
pub mod gc;
pub mod import;
pub mod last_check;
pub(crate) mod materialize;
pub mod registry;
pub mod repair;
pub mod restore;
pub(crate) mod restore_fetch;
pub(crate) mod restore_file;
pub(crate) mod restore_progress;
pub mod sync;
pub mod tag;
pub mod textdiff;
pub mod versions;
