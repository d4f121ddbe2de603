//! The archive views of a snapshot (`snap_engine::export`), tested through
//! the public API on real files: ZIP and vault round trips,
//! hostile and broken archives, the import rules. Shared raw-ZIP builders
//! come from `snap_engine::export::testing` (cargo feature `testing`, which
//! only test builds enable).

mod corpus;
mod rules;
mod vault;
mod views;
