//! The `manifest` check, shared word for word by the fuzz target
//! (`fuzz/fuzz_targets/manifest.rs`) and its corpus replay
//! (`tests/reliability/corpus.rs`), both of which include this file with
//! `#[path]`: the snapshot manifest parser on arbitrary bytes.

/// Parses `data` as a snapshot manifest and writes it again; must not panic.
pub fn check(data: &[u8]) {
    let id = snap_store::SnapshotId::of(data);
    if let Ok(m) = snap_engine::model::snapshot::Manifest::from_bytes(&id, data) {
        let _ = m.to_bytes();
        let _ = m.time();
    }
}
