//! The tree decoder on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = snap_store::BlobId::of(data);
    if let Ok(mut t) = snap_engine::tree::Tree::decode(&id, data) {
        // What decodes must encode again.
        let _ = t.encode();
    }
});
