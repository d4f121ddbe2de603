//! End-to-end tests of rotation, garbage collection and auto-snapshots
//! (issue 4): real temporary directories, the `snap` binary, the library.

mod auto_run;
mod forget_seed;
mod gc_concurrency;
mod gc_kill;
mod gc_shrink;
mod low_space;
mod pin;
