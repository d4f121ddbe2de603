//! The tree decoder on arbitrary bytes. The check itself is in
//! `fuzz/shared/tree_decode.rs` (also replayed by `cargo test`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../shared/tree_decode.rs"]
mod tree_decode;

fuzz_target!(|data: &[u8]| {
    tree_decode::check(data);
});
