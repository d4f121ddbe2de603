//! Recovery of interrupted restores: the restore journal and the in-place
//! `--path` swap protocol it records. [`crate::repo::Repo::open`] runs
//! [`journal::finish_interrupted`] so a crash mid-restore leaves the
//! profile exactly as it was or exactly as restored.

pub(crate) mod journal;
pub(crate) mod restore_paths;
