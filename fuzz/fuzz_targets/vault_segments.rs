//! The vault framing after key derivation: header parser, version 1
//! message, and the version 2 segment reader (segment cutting, the
//! empty-final-segment rule, tag split, segment nonces and last flag), with
//! a fixed key instead of PBKDF2 and segments of 1..=64 bytes through
//! snap-engine's hidden `fuzzing` entry points. The property itself is in
//! `fuzz/shared/vault_segments.rs` (also replayed by `cargo test`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../shared/vault_segments.rs"]
mod vault_segments;

fuzz_target!(|data: &[u8]| {
    vault_segments::check(data);
});
