//! The `pack_format` check, shared word for word by the fuzz target
//! (`fuzz/fuzz_targets/pack_format.rs`) and its corpus replay
//! (`tests/reliability/corpus.rs`), both of which include this file with
//! `#[path]`.
//!
//! Pack prefix, trailer and header parsing on arbitrary bytes taken as a
//! whole pack file. The header is parsed twice: with the trailer's checksum
//! and with the real checksum of the bytes, so the entry parser is reached.

use snap_store::pack::format::{check_prefix, parse_header, parse_trailer, TRAILER_LEN};

/// Parses `data` as a pack; must not panic.
pub fn check(data: &[u8]) {
    let path = std::path::Path::new("fuzz");
    let _ = check_prefix(path, data);
    let len = data.len() as u64;
    if data.len() >= TRAILER_LEN {
        let t = &data[data.len() - TRAILER_LEN..];
        if let Ok((hl, sum)) = parse_trailer(path, len, t) {
            let end = data.len() - TRAILER_LEN;
            let start = end - hl as usize;
            let _ = parse_header(path, start as u64, &data[start..end], &sum);
        }
    }
    // The entry parser behind the checksum: any bytes, real checksum.
    let sum = *blake3::hash(data).as_bytes();
    let _ = parse_header(path, 1 << 20, data, &sum);
}
