//! The snapshot manifest parser on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = snap_store::SnapshotId::of(data);
    if let Ok(m) = snap_engine::snapshot::Manifest::from_bytes(&id, data) {
        let _ = m.to_bytes();
        let _ = m.time();
    }
});
