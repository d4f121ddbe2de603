//! The vault header parser on arbitrary bytes. (Decryption with a password
//! runs PBKDF2 with at least 100 000 iterations per input, far too slow to
//! fuzz; everything after the key, including the v2 segment framing, is
//! fuzzed by `vault_segments` with a fixed key and small segments.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use snap_engine::export::{VaultHeader, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Some(h) = data.get(..HEADER_LEN) {
        let h: &[u8; HEADER_LEN] = h.try_into().expect("56 bytes");
        if let Ok(v) = VaultHeader::parse(h) {
            assert_eq!(&v.to_bytes(), h, "header round trip");
        }
    }
});
