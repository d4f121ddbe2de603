//! Property: any sequence of puts, then gets, returns exactly the bytes put;
//! after `rebuild_index()` the index answers every query as before. On both
//! backends: a local directory and memory.

use std::collections::HashMap;

use proptest::prelude::*;
use snap_store::BlobKind;

use crate::util::{data, Backing, TestRepo};

/// Blob sizes from 0 B to 4 MiB, mostly small; few seeds, so many duplicates.
fn blob() -> impl Strategy<Value = (u64, usize)> {
    let size = prop_oneof![
        3 => 0usize..64,
        4 => 64usize..8192,
        2 => 8192usize..200_000,
        1 => 200_000usize..=4 * 1024 * 1024,
    ];
    (0u64..12, size)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn puts_then_gets_and_rebuild_answers_the_same(
        sessions in prop::collection::vec(prop::collection::vec(blob(), 0..12), 1..4),
        small_packs in any::<bool>(),
        in_memory in any::<bool>(),
    ) {
        let backing = if in_memory { Backing::Memory } else { Backing::Directory };
        let t = TestRepo::on(backing, small_packs.then_some(64 * 1024));
        let mut repo = t.open();
        let mut expected = HashMap::new();
        for session in &sessions {
            let w = repo.writer();
            for &(seed, len) in session {
                let bytes = data(seed, len);
                let (id, new) = w.put(BlobKind::Data, &bytes).unwrap();
                prop_assert_eq!(new, !expected.contains_key(&id));
                expected.insert(id, bytes);
            }
            w.finish().unwrap();
        }
        let mut locations = Vec::new();
        for (id, bytes) in &expected {
            prop_assert_eq!(&repo.read_blob(id).unwrap(), bytes);
            locations.push((*id, repo.locate(id).unwrap()));
        }
        let stats = repo.stats().unwrap();
        prop_assert_eq!(stats.blobs, expected.len() as u64);
        let report = repo.rebuild_index().unwrap();
        prop_assert!(report.skipped.is_empty());
        prop_assert_eq!(repo.stats().unwrap(), stats);
        for (id, loc) in &locations {
            prop_assert_eq!(&repo.locate(id).unwrap(), loc);
        }
        let report = snap_store::check(&repo, snap_store::CheckOptions { read_data: true }).unwrap();
        prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}
