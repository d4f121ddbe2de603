//! The vault header parser on arbitrary bytes. (Decryption with a password
//! runs PBKDF2 with at least 100 000 iterations per input, far too slow to
//! fuzz; everything after the key, including the v2 segment framing, is
//! fuzzed by `vault_segments` with a fixed key and small segments.) The
//! check itself is in `fuzz/shared/vault_header.rs` (also replayed by
//! `cargo test`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../shared/vault_header.rs"]
mod vault_header;

fuzz_target!(|data: &[u8]| {
    vault_header::check(data);
});
