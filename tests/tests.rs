//! The one integration test binary: cross-crate scenarios that run the real
//! `snap` binary on real directories. The harness is in `util.rs`.

mod snapshot;
mod util;
