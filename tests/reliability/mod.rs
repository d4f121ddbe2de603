//! The reliability suite (issue 6): fault injection, kill -9 crash loops,
//! a zoo of damaged repositories, random byte flips, and the fuzz corpora
//! replayed as ordinary tests. `oracle` is what every one of them checks.
//! The figures are recorded in `docs/reliability.md`.

pub mod oracle;

mod archives;
mod corpus;
mod crash;
mod disk_full;
mod export_kill;
mod extract;
mod faults;
mod flips;
mod powercut;
mod repair;
mod restore_path;
mod sync_faults;
mod zoo;
