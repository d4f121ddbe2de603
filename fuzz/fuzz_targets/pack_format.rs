//! Pack prefix, trailer and header parsing on arbitrary bytes taken as a
//! whole pack file. The check itself is in `fuzz/shared/pack_format.rs`
//! (also replayed by `cargo test`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../shared/pack_format.rs"]
mod pack_format;

fuzz_target!(|data: &[u8]| {
    pack_format::check(data);
});
