//! The live source: reading the folder being backed up. The scan (with
//! hints as a mode of it), the include/exclude filters, consistent SQLite
//! capture, the stat cache of change detection, the live tree compared with
//! a snapshot, and the check for files other processes hold open.

pub mod filter;
pub(crate) mod hint;
pub(crate) mod in_use;
pub mod live;
pub mod scan;
pub mod sqlite;
pub(crate) mod stat_cache;
