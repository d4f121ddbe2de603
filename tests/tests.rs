//! End-to-end tests: the store library, the engine and the `snap` binary
//! against real temporary directories. One binary, one module per scenario;
//! `util` is the harness.

mod util;

mod cli_basics;
mod copy;
mod encryption;
mod lifecycle;
mod reliability;
mod remote_race;
mod remote_repo;
mod remote_requests;
mod snapshot;
mod store_crash;
mod store_damage;
mod store_index;
mod store_lock;
mod store_props;
mod store_remote;
mod sync;
mod ui;
mod views;
