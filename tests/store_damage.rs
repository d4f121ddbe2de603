//! Damaged packs, on the directory and the memory backend: the store's
//! check names the pack (and the blob where it can), the damaged blob's
//! read names its pack, and blobs in other packs still read. On a
//! directory, `snap check --read-data` says the same and exits 1.

use snap_store::{check, BlobId, CheckOptions, PackId};

use crate::util::{data, put_all, Backing, TestRepo, BACKINGS};

struct Damaged {
    t: TestRepo,
    backing: Backing,
    blobs: Vec<(u64, usize)>,
    ids: Vec<BlobId>,
    /// The pack that was damaged and the blob chosen in it.
    pack: PackId,
    blob: BlobId,
}

/// A repository of several packs on `backing`, in which `damage(pack bytes,
/// blob offset, blob stored length)` is applied to the pack holding blob 5.
fn damaged(backing: Backing, damage: impl FnOnce(&mut Vec<u8>, usize, usize)) -> Damaged {
    let t = TestRepo::on(backing, Some(20 * 1024));
    let blobs: Vec<(u64, usize)> = (0..12).map(|i| (i, 3000 + i as usize * 1000)).collect();
    let repo = t.open();
    let ids = put_all(&repo, &blobs);
    let loc = repo.locate(&ids[5]).unwrap().unwrap();
    assert!(repo.stats().unwrap().packs >= 3);
    drop(repo);
    t.rewrite_pack(&loc.pack, |b| {
        damage(b, loc.entry.offset as usize, loc.entry.stored_len as usize)
    });
    Damaged {
        t,
        backing,
        blobs,
        blob: ids[5],
        ids,
        pack: loc.pack,
    }
}

impl Damaged {
    /// The store's own check names `kind` for the damaged pack (and, for a
    /// damaged blob, the blob).
    fn check_names(&self, read_data: bool, kind: &str) {
        let report = check(&self.t.open(), CheckOptions { read_data }).unwrap();
        let pack = self.pack.to_hex();
        let blob = self.blob.to_hex();
        assert!(
            report.problems.iter().any(|p| p.kind == kind
                && p.pack.as_deref() == Some(&pack)
                && (kind != "blob-damaged" || p.blob.as_deref() == Some(&blob))),
            "{:?}: {:?}",
            self.backing,
            report.problems
        );
    }

    /// Blobs in every other pack still read back exactly.
    fn others_still_read(&self) {
        let repo = self.t.open();
        let mut read = 0;
        for ((seed, len), id) in self.blobs.iter().zip(&self.ids) {
            if repo
                .locate(id)
                .unwrap()
                .is_some_and(|l| l.pack != self.pack)
            {
                assert_eq!(repo.read_blob(id).unwrap(), data(*seed, *len));
                read += 1;
            }
        }
        assert!(read >= 5, "only {read} blobs outside the damaged pack");
    }
}

#[test]
fn flipped_byte_inside_a_blob_names_pack_and_blob() {
    for backing in BACKINGS {
        let d = damaged(backing, |b, off, len| b[off + len / 2] ^= 0x40);
        d.check_names(true, "blob-damaged");
        let err = d.t.open().read_blob(&d.blob).unwrap_err().to_string();
        assert!(err.contains(&d.pack.to_hex()), "{backing:?}: {err}");
        d.others_still_read();
        if backing != Backing::Directory {
            continue;
        }
        d.t.snap(&["check", "--read-data"])
            .expect_code(1)
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
    }
}

#[test]
fn flipped_byte_in_a_pack_header_names_the_pack() {
    for backing in BACKINGS {
        // The last header entry's raw length, just before the 44-byte trailer.
        let d = damaged(backing, |b, _, _| {
            let at = b.len() - 44 - 2;
            b[at] ^= 0x40
        });
        d.check_names(false, "pack-damaged");
        d.check_names(true, "pack-damaged");
        d.others_still_read();
        if backing != Backing::Directory {
            continue;
        }
        for args in [&["check"][..], &["check", "--read-data"]] {
            d.t.snap(args)
                .expect_code(1)
                .expect_contains(true, &format!("pack-damaged pack {}", d.pack))
                .expect_contains(true, "header checksum mismatch");
        }
    }
}

#[test]
fn truncated_pack_names_the_pack() {
    for backing in BACKINGS {
        let d = damaged(backing, |b, _, _| b.truncate(b.len() - 100));
        d.check_names(true, "pack-damaged");
        d.others_still_read();
        // A rebuild leaves the damaged pack out.
        let mut repo = d.t.open_exclusive();
        let rebuilt = repo.rebuild_index().unwrap();
        drop(repo);
        let pack = d.pack.to_hex();
        assert!(
            rebuilt.skipped.iter().any(|s| s.contains(&pack)),
            "{backing:?}: {:?}",
            rebuilt.skipped
        );
        if backing != Backing::Directory {
            continue;
        }
        d.t.snap(&["check", "--read-data"])
            .expect_code(1)
            .expect_contains(true, &format!("pack-damaged pack {}", d.pack));
        d.t.snap(&["index", "rebuild"])
            .expect_code(0)
            .expect_contains(false, "snap: warning: pack left out of the index");
    }
}
