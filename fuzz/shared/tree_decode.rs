//! The `tree_decode` check, shared word for word by the fuzz target
//! (`fuzz/fuzz_targets/tree_decode.rs`) and its corpus replay
//! (`tests/reliability/corpus.rs`), both of which include this file with
//! `#[path]`: the tree decoder on arbitrary bytes.

/// Decodes `data` as a tree; what decodes must encode again. Must not panic.
pub fn check(data: &[u8]) {
    let id = snap_store::BlobId::of(data);
    if let Ok(mut t) = snap_engine::model::tree::Tree::decode(&id, data) {
        let _ = t.encode();
    }
}
