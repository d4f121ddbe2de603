//! The `vault_header` check, shared word for word by the fuzz target
//! (`fuzz/fuzz_targets/vault_header.rs`) and its corpus replay
//! (`tests/reliability/corpus.rs`), both of which include this file with
//! `#[path]`: the vault header parser on arbitrary bytes.

use snap_engine::export::{VaultHeader, HEADER_LEN};

/// Parses the first bytes of `data` as a vault header; what parses must
/// write back the same bytes. Must not panic otherwise.
pub fn check(data: &[u8]) {
    if let Some(h) = data.get(..HEADER_LEN) {
        let h: &[u8; HEADER_LEN] = h.try_into().expect("56 bytes");
        if let Ok(v) = VaultHeader::parse(h) {
            assert_eq!(&v.to_bytes(), h, "header round trip");
        }
    }
}
