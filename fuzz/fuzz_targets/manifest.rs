//! The snapshot manifest parser on arbitrary bytes. The check itself is in
//! `fuzz/shared/manifest.rs` (also replayed by `cargo test`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../shared/manifest.rs"]
mod manifest;

fuzz_target!(|data: &[u8]| {
    manifest::check(data);
});
