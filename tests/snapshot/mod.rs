//! Issue 3: snapshots of a profile: create, inspect, restore.

mod bad_input;
mod change;
mod coalesced_restore;
mod concurrency;
mod hint;
mod index_work;
mod inspect;
mod progress;
mod restore_crash;
mod roundtrip;
mod sqlite;
mod undo;
