//! Damaged packs: `snap check --read-data` names the pack (and the blob
//! where it can), exits 1, and blobs in other packs still read.

use std::fs::{self, OpenOptions as FsOpen};
use std::path::Path;

use snap_store::backend::{Backend, Precondition};
use snap_store::{BlobId, CheckOptions, PackId};

use crate::util::{data, put_all, TestRepo, BACKINGS};

struct Damaged {
    t: TestRepo,
    blobs: Vec<(u64, usize)>,
    ids: Vec<BlobId>,
    /// The pack that was damaged and the blob chosen in it.
    pack: PackId,
    blob: BlobId,
}

/// A repository of several packs, in which `damage(pack path, blob offset,
/// blob stored length)` is applied to the pack holding blob 5.
fn damaged(damage: impl FnOnce(&Path, u64, u64)) -> Damaged {
    let t = TestRepo::with_pack_size(Some(20 * 1024));
    let blobs: Vec<(u64, usize)> = (0..12).map(|i| (i, 3000 + i as usize * 1000)).collect();
    let repo = t.open();
    let ids = put_all(&repo, &blobs);
    let loc = repo.locate(&ids[5]).unwrap().unwrap();
    let path = repo.pack_path(&loc.pack);
    assert!(repo.stats().unwrap().packs >= 3);
    drop(repo);
    damage(&path, loc.entry.offset, loc.entry.stored_len as u64);
    Damaged {
        t,
        blobs,
        blob: ids[5],
        ids,
        pack: loc.pack,
    }
}

fn flip(path: &Path, at: u64) {
    let mut b = fs::read(path).unwrap();
    b[at as usize] ^= 0x40;
    fs::write(path, b).unwrap();
}

/// Blobs in every other pack still read back exactly.
fn others_still_read(d: &Damaged) {
    let repo = d.t.open();
    let mut read = 0;
    for ((seed, len), id) in d.blobs.iter().zip(&d.ids) {
        if repo.locate(id).unwrap().is_some_and(|l| l.pack != d.pack) {
            assert_eq!(repo.read_blob(id).unwrap(), data(*seed, *len));
            read += 1;
        }
    }
    assert!(read >= 5, "only {read} blobs outside the damaged pack");
}

#[test]
fn flipped_byte_inside_a_blob_names_pack_and_blob() {
    let d = damaged(|p, off, len| flip(p, off + len / 2));
    let r = d.t.snap(&["check", "--read-data"]);
    r.expect_code(1)
        .expect_contains(
            true,
            &format!("blob-damaged pack {} blob {}", d.pack, d.blob),
        )
        .expect_contains(false, "snap: check found");
    // Without --read-data the headers are fine: nothing to report.
    d.t.snap(&["check"]).expect_code(0);
    let v = d.t.snap(&["--json", "check", "--read-data"]).json();
    let problems = v["problems"].as_array().unwrap();
    assert!(problems
        .iter()
        .any(|p| p["blob"] == d.blob.to_hex() && p["pack"] == d.pack.to_hex()));
    let err = d.t.open().read_blob(&d.blob).unwrap_err().to_string();
    assert!(err.contains(&d.pack.to_hex()), "{err}");
    others_still_read(&d);
}

#[test]
fn flipped_byte_in_a_pack_header_names_the_pack() {
    let d = damaged(|p, _, _| {
        // The last header entry's raw length, just before the 44-byte trailer.
        let len = fs::metadata(p).unwrap().len();
        flip(p, len - 44 - 2);
    });
    for args in [&["check"][..], &["check", "--read-data"]] {
        d.t.snap(args)
            .expect_code(1)
            .expect_contains(true, &format!("pack-damaged pack {}", d.pack))
            .expect_contains(true, "header checksum mismatch");
    }
    others_still_read(&d);
}

#[test]
fn truncated_pack_names_the_pack() {
    let d = damaged(|p, _, _| {
        let len = fs::metadata(p).unwrap().len();
        FsOpen::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(len - 100)
            .unwrap();
    });
    d.t.snap(&["check", "--read-data"])
        .expect_code(1)
        .expect_contains(true, &format!("pack-damaged pack {}", d.pack));
    others_still_read(&d);
    // A rebuild leaves the damaged pack out and says so.
    d.t.snap(&["index", "rebuild"])
        .expect_code(0)
        .expect_contains(false, "snap: warning: pack left out of the index");
}

/// The store's own reading (no CLI): a flipped byte in a blob, on either
/// backend, is named by `check --read-data` and by the read, and the
/// other packs still read.
#[test]
fn flipped_byte_inside_a_blob_is_named_on_both_backends() {
    for backing in BACKINGS {
        let t = TestRepo::on(backing, Some(20 * 1024));
        let blobs: Vec<(u64, usize)> = (0..12).map(|i| (i, 3000 + i as usize * 1000)).collect();
        let repo = t.open();
        let ids = put_all(&repo, &blobs);
        let loc = repo.locate(&ids[5]).unwrap().unwrap();
        let at = loc.entry.offset + loc.entry.stored_len as u64 / 2;
        match t.memory() {
            Some(mem) => {
                let key = format!("packs/{}/{}", &loc.pack.to_hex()[..2], loc.pack.to_hex());
                let mut bytes = mem.read(&key).unwrap();
                bytes[at as usize] ^= 0x40;
                mem.write(&key, &bytes, Precondition::None).unwrap();
            }
            None => flip(&repo.pack_path(&loc.pack), at),
        }
        drop(repo);
        let repo = t.open();
        let report = snap_store::check(&repo, CheckOptions { read_data: true }).unwrap();
        assert!(
            report.problems.iter().any(|p| p.kind == "blob-damaged"
                && p.pack.as_deref() == Some(&loc.pack.to_hex())
                && p.blob.as_deref() == Some(&ids[5].to_hex())),
            "{backing:?}: {:?}",
            report.problems
        );
        let err = repo.read_blob(&ids[5]).unwrap_err().to_string();
        assert!(err.contains(&loc.pack.to_hex()), "{backing:?}: {err}");
        for ((seed, len), id) in blobs.iter().zip(&ids) {
            if repo.locate(id).unwrap().is_some_and(|l| l.pack != loc.pack) {
                assert_eq!(
                    repo.read_blob(id).unwrap(),
                    data(*seed, *len),
                    "{backing:?}"
                );
            }
        }
    }
}
