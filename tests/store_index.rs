//! The index is a cache: deleted, truncated, garbage or from another schema
//! version, it is rebuilt on open with one warning; packs it lacks are added.
//! Every test runs on both backends: a local directory (the index in the
//! repository) and memory (the index in the cache directory).

use std::fs::{self, OpenOptions as FsOpen};
use std::io::{Seek, SeekFrom, Write};

use snap_store::backend::{Backend, Precondition};
use snap_store::{BlobId, Repository, Stats};

use crate::util::{data, put_all, Backing, TestRepo, BACKINGS};

struct Fixture {
    t: TestRepo,
    blobs: Vec<(u64, usize)>,
    ids: Vec<BlobId>,
    stats: Stats,
}

fn fixture(backing: Backing) -> Fixture {
    let t = TestRepo::on(backing, Some(32 * 1024));
    let blobs: Vec<(u64, usize)> = (0..40).map(|i| (i, 500 + (i as usize) * 1500)).collect();
    let repo = t.open();
    let mut ids = put_all(&repo, &blobs[..20]);
    ids.extend(put_all(&repo, &blobs[20..]));
    repo.put_snapshot(b"{\"a snapshot\": 1}").unwrap();
    let stats = repo.stats().unwrap();
    assert!(stats.packs >= 4, "{stats:?}");
    Fixture {
        t,
        blobs,
        ids,
        stats,
    }
}

fn assert_all_readable(f: &Fixture, repo: &Repository) {
    for ((seed, len), id) in f.blobs.iter().zip(&f.ids) {
        assert_eq!(repo.read_blob(id).unwrap(), data(*seed, *len), "blob {id}");
    }
    assert_eq!(repo.stats().unwrap(), f.stats);
    assert_eq!(repo.snapshots().unwrap().len(), 1);
}

/// Damages the index with `damage`, then expects one warning containing
/// `expect` on the next open and everything readable.
fn rebuilt_after(damage: impl Fn(&std::path::Path), expect: &str) {
    for backing in BACKINGS {
        let f = fixture(backing);
        damage(&f.t.index_path());
        let repo = f.t.open();
        assert_eq!(
            repo.warnings().len(),
            1,
            "{backing:?}: {:?}",
            repo.warnings()
        );
        assert!(
            repo.warnings()[0].contains(expect),
            "{backing:?}: {:?} should mention {expect:?}",
            repo.warnings()
        );
        assert_all_readable(&f, &repo);
        drop(repo);
        // Repaired for good: the next open has nothing to say.
        let repo = f.t.open();
        assert!(
            repo.warnings().is_empty(),
            "{backing:?}: {:?}",
            repo.warnings()
        );
    }
}

#[test]
fn deleted_index_is_rebuilt() {
    rebuilt_after(|p| fs::remove_file(p).unwrap(), "index was missing");
}

#[test]
fn empty_index_is_rebuilt() {
    rebuilt_after(
        |p| {
            FsOpen::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(0)
                .unwrap()
        },
        "index was unusable",
    );
}

#[test]
fn half_truncated_index_is_rebuilt() {
    rebuilt_after(
        |p| {
            let len = fs::metadata(p).unwrap().len();
            FsOpen::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
        },
        "index was unusable",
    );
}

#[test]
fn garbage_index_is_rebuilt() {
    rebuilt_after(
        |p| {
            let len = fs::metadata(p).unwrap().len() as usize;
            fs::write(p, data(7, len)).unwrap();
        },
        "index was unusable",
    );
}

#[test]
fn index_of_another_schema_version_is_rebuilt() {
    rebuilt_after(
        |p| {
            // PRAGMA user_version: 4 bytes, big-endian, at offset 60 of the
            // database header (the WAL was checkpointed when the last
            // connection closed).
            let mut f = FsOpen::new().write(true).open(p).unwrap();
            f.seek(SeekFrom::Start(60)).unwrap();
            f.write_all(&99u32.to_be_bytes()).unwrap();
        },
        "index version 99 is not supported",
    );
}

#[test]
fn pack_copied_in_from_another_repository_is_indexed_on_open() {
    for backing in BACKINGS {
        let f = fixture(backing);
        let other = TestRepo::new();
        let extra = [(1000, 5000), (1001, 70_000)];
        let extra_ids = put_all(&other.open(), &extra);
        let [pack] = &other.pack_files()[..] else {
            panic!("one pack expected")
        };
        let name = pack.file_name().unwrap().to_str().unwrap();
        let key = format!("packs/{}/{name}", &name[..2]);
        match f.t.memory() {
            Some(mem) => {
                let bytes = fs::read(pack).unwrap();
                mem.write(&key, &bytes, Precondition::Absent).unwrap();
            }
            None => {
                fs::create_dir_all(f.t.path().join(&key).parent().unwrap()).unwrap();
                fs::copy(pack, f.t.path().join(&key)).unwrap();
            }
        }
        let repo = f.t.open();
        assert_eq!(
            repo.warnings().len(),
            1,
            "{backing:?}: {:?}",
            repo.warnings()
        );
        assert!(repo.warnings()[0].contains("indexed 1 pack"));
        for ((seed, len), id) in extra.iter().zip(&extra_ids) {
            assert_eq!(repo.read_blob(id).unwrap(), data(*seed, *len));
        }
        assert_eq!(repo.stats().unwrap().packs, f.stats.packs + 1);
    }
}

#[test]
fn pack_written_by_an_unfinished_session_is_indexed_on_open() {
    for backing in BACKINGS {
        let t = TestRepo::on(backing, Some(1024));
        let repo = t.open();
        let w = repo.writer();
        let (id, new) = w.put(snap_store::BlobKind::Data, &data(3, 4000)).unwrap();
        assert!(new);
        // The blob filled a pack, which was sealed and written; the session
        // is dropped without `finish` (as after an error elsewhere, or a
        // process killed once the pack was renamed), so the index never
        // hears of it. Dropping waits for the sealing thread; forgetting the
        // session instead would race it.
        drop(w);
        assert!(!repo.has_blob(&id).unwrap());
        drop(repo);
        let repo = t.open();
        assert_eq!(
            repo.warnings().len(),
            1,
            "{backing:?}: {:?}",
            repo.warnings()
        );
        assert_eq!(repo.read_blob(&id).unwrap(), data(3, 4000));
    }
}

/// The blob epoch moves with every removal of blobs from the index (what
/// lets a stat cache written at the current epoch skip checking its chunk
/// ids), on both backends, and not with additions.
#[test]
fn blob_epoch_moves_when_blobs_leave_the_index() {
    for backing in BACKINGS {
        let t = TestRepo::on(backing, Some(4 * 1024));
        let repo = t.open_exclusive();
        let before = repo.blob_epoch().unwrap();
        let ids = put_all(&repo, &[(1, 6000), (2, 6000), (3, 6000)]);
        assert_eq!(repo.blob_epoch().unwrap(), before, "{backing:?}: additions");
        let live = ids[..1].iter().copied().collect();
        let plan =
            snap_store::gc::plan(&repo, &live, snap_store::gc::DEFAULT_REPACK_THRESHOLD).unwrap();
        assert!(!plan.delete.is_empty(), "{backing:?}: {plan:?}");
        snap_store::gc::execute(&repo, &plan).unwrap();
        assert!(repo.blob_epoch().unwrap() > before, "{backing:?}: removals");
        assert!(!repo.has_blob(&ids[2]).unwrap());
    }
}
