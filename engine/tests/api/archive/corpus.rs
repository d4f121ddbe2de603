//! A corpus of malicious and broken archives, built byte by byte (the zip
//! crate would refuse to write most of them). For each: the exact error and
//! entry, and nothing left in the extraction target.

use std::fs;
use std::path::Path;

use snap_engine::export::testing::*;
use snap_engine::export::*;
use snap_engine::Error;

/// Writes `bytes`, opens and extracts into a fresh target; returns the error
/// and checks the target was left absent.
fn refuse(bytes: &[u8]) -> Error {
    refuse_with(bytes, &ArchiveOptions::default())
}

fn refuse_with(bytes: &[u8], opts: &ArchiveOptions) -> Error {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("evil.zip");
    fs::write(&z, bytes).unwrap();
    let dst = t.path().join("dst");
    let err = open_archive(&z, opts)
        .and_then(|a| extract_to(&a, &dst))
        .unwrap_err();
    assert!(
        !dst.exists(),
        "target must not exist after a refused import: {err}"
    );
    assert_eq!(
        fs::read_dir(t.path()).unwrap().count(),
        1,
        "nothing written beside it"
    );
    err
}

fn assert_unsafe(err: Error, want_entry: &str, reason: &str) {
    match &err {
        Error::Unsafe {
            archive,
            entry,
            reason: r,
        } => {
            assert_eq!(entry, want_entry, "{err}");
            assert!(r.contains(reason), "reason {r:?} should mention {reason:?}");
            assert!(archive.ends_with("evil.zip"));
        }
        _ => panic!("expected Unsafe for {want_entry}, got {err}"),
    }
}

#[test]
fn import_refuses_bad_names() {
    let cases: [(&[u8], &str); 9] = [
        (b"../x", "`..`"),
        (b"a/../../x", "`..`"),
        (b"a/..", "`..`"),
        (b"/etc/x", "absolute"),
        (b"C:/x", "drive letter"),
        (b"a\\b", "backslash"),
        (b"a\0b", "NUL"),
        (b"a\x1bb", "control"),
        (b"a//b", "empty"),
    ];
    for (name, why) in cases {
        let bytes = build(&[file(b"ok.txt", b"fine"), file(name, b"evil")]);
        assert_unsafe(refuse(&bytes), &String::from_utf8_lossy(name), why);
    }
}

#[test]
fn import_refuses_writes_through_symlink_entries() {
    // A file written through a symlink placed by the archive, whatever
    // the link's target and the order of the entries.
    let cases: [(Vec<Raw>, &str, &str); 5] = [
        (
            vec![link(b"etc", b"sub"), file(b"etc/passwd", b"x")],
            "etc/passwd",
            "parent",
        ),
        (
            vec![link(b"etc", b"/etc"), file(b"etc/passwd", b"x")],
            "etc/passwd",
            "parent",
        ),
        (
            vec![file(b"etc/passwd", b"x"), link(b"etc", b"/etc")],
            "etc/passwd",
            "parent",
        ),
        (vec![link(b"d", b"."), file(b"d/", b"")], "d", "duplicate"),
        (
            vec![link(b"l", b"../x"), file(b"l/a/b", b"x")],
            "l/a/b",
            "parent",
        ),
    ];
    for (entries, entry, reason) in cases {
        assert_unsafe(refuse(&build(&entries)), entry, reason);
    }
    // The same name as a link and as a file.
    assert_unsafe(
        refuse(&build(&[link(b"a", b"/etc/passwd"), file(b"a", b"x")])),
        "a",
        "duplicate",
    );
    // Empty or NUL targets cannot be links.
    assert_unsafe(refuse(&build(&[link(b"e", b"")])), "e", "empty");
    assert_unsafe(refuse(&build(&[link(b"n", b"a\0b")])), "n", "NUL");
}

#[test]
fn import_refuses_duplicates_and_clashes() {
    assert_unsafe(
        refuse(&build(&[file(b"a.txt", b"1"), file(b"a.txt", b"2")])),
        "a.txt",
        "duplicate",
    );
    assert_unsafe(
        refuse(&build(&[file(b"a", b"1"), file(b"a/", b"")])),
        "a",
        "duplicate",
    );
    assert_unsafe(
        refuse(&build(&[file(b"a", b"1"), file(b"a/b", b"2")])),
        "a/b",
        "parent",
    );
}

#[test]
fn import_refuses_overlapping_entries() {
    // Entry A's data contains entry B's local header and data.
    let b = file(b"b", &[b'x'; 100]);
    let inner = [local_header(&b), b.data.clone()].concat();
    let a = file(b"a", &inner);
    let mut out = local_header(&a);
    let b_off = out.len() as u32;
    out.extend_from_slice(&inner);
    let cd = [central(&a, 0), central(&b, b_off)].concat();
    let off = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend(eocd(2, cd.len() as u32, off));
    assert_unsafe(refuse(&out), "b", "overlaps");
    // Two central entries pointing at the same local header.
    let x = file(b"x", b"data");
    let mut out = local_header(&x);
    out.extend_from_slice(&x.data);
    let cd = [central(&x, 0), central(&file(b"y", b"data"), 0)].concat();
    let off = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend(eocd(2, cd.len() as u32, off));
    assert_unsafe(refuse(&out), "y", "local header disagrees");
}

#[test]
fn import_refuses_bombs_and_size_lies() {
    // Huge declared size (ZIP64, 1 TiB).
    let huge = Raw {
        zip64_usize: Some(1 << 40),
        ..deflated(b"huge", b"tiny")
    };
    assert_unsafe(refuse(&build(&[huge])), "huge", "total uncompressed size");
    // Total over a configured limit.
    let opts = ArchiveOptions {
        max_total: 1000,
        ..Default::default()
    };
    assert_unsafe(
        refuse_with(
            &build(&[file(b"a", &[1; 600]), file(b"b", &[2; 600])]),
            &opts,
        ),
        "b",
        "total",
    );
    // A bomb that declares 2 MiB but inflates to 1000 bytes: caught
    // while streaming (no ratio rule).
    let ratio = Raw {
        usize: 2 << 20,
        ..deflated(b"bomb", &[0u8; 1000])
    };
    assert_unsafe(
        refuse(&build(&[ratio])),
        "bomb",
        "smaller than its declared",
    );
    // Declared smaller than the real data: refused while reading, nothing kept.
    let liar = Raw {
        usize: 10,
        ..deflated(b"liar", &[7u8; 5000])
    };
    assert_unsafe(
        refuse(&build(&[file(b"first", b"ok"), liar])),
        "liar",
        "larger than its declared size",
    );
    // Declared larger than the real data.
    let short = Raw {
        usize: 6000,
        ..deflated(b"short", &[7u8; 5000])
    };
    assert_unsafe(
        refuse(&build(&[short])),
        "short",
        "smaller than its declared size",
    );
    // Stored sizes that disagree.
    let stored = Raw {
        usize: 99,
        ..file(b"s", b"abc")
    };
    assert_unsafe(refuse(&build(&[stored])), "s", "sizes differ");
    // Declared compressed size running into the central directory.
    let past = Raw {
        csize: 5000,
        usize: 5000,
        method: 8,
        ..file(b"p", b"abc")
    };
    assert_unsafe(
        refuse(&build(&[past])),
        "p",
        "runs into the central directory",
    );
}

#[test]
fn import_refuses_wrong_crc_encryption_and_methods() {
    let bad_crc = Raw {
        crc: 0xdead_beef,
        ..file(b"c.txt", b"content")
    };
    assert_unsafe(
        refuse(&build(&[file(b"a", b"x"), bad_crc])),
        "c.txt",
        "CRC-32",
    );
    let enc = Raw {
        flags: 1,
        ..file(b"secret", b"xx")
    };
    assert_unsafe(refuse(&build(&[enc])), "secret", "encrypted");
    let bz = Raw {
        method: 12,
        ..file(b"bz", b"xx")
    };
    assert_unsafe(refuse(&build(&[bz])), "bz", "method 12");
    // Damaged deflate stream.
    let mut garbled = deflated(b"g", &[5u8; 3000]);
    garbled.data = vec![0xff; garbled.data.len()];
    assert_unsafe(refuse(&build(&[garbled])), "g", "damaged");
}

#[test]
fn import_refuses_truncated_or_garbled_directory() {
    let good = build(&[file(b"a", b"hello"), file(b"b", b"world")]);
    let cd_off =
        u32::from_le_bytes(good[good.len() - 6..good.len() - 2].try_into().unwrap()) as usize;
    // The file cut anywhere inside the central directory or end record.
    for cut in [good.len() - 1, good.len() - 10, cd_off + 20, cd_off] {
        assert!(
            matches!(refuse(&good[..cut]), Error::Format { .. }),
            "cut at {cut}"
        );
    }
    // Central directory shortened but end record kept.
    let mut short = good[..cd_off + 10].to_vec();
    short.extend_from_slice(&good[good.len() - 22..]);
    assert!(matches!(refuse(&short), Error::Format { .. }));
    // Garbled signature in the directory.
    let mut g = good.clone();
    g[cd_off] ^= 0xff;
    assert!(matches!(refuse(&g), Error::Format { .. }));
    // Entry count that does not match.
    let mut c = good.clone();
    let n = c.len();
    c[n - 12] = 3;
    c[n - 14] = 3;
    assert!(matches!(refuse(&c), Error::Format { .. }));
    assert!(matches!(refuse(b"not a zip at all"), Error::Format { .. }));
}

#[test]
fn import_extract_refuses_non_empty_target() {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("a.zip");
    fs::write(&z, build(&[file(b"f", b"x")])).unwrap();
    let a = open_archive(&z, &ArchiveOptions::default()).unwrap();
    let dst = t.path().join("dst");
    fs::create_dir(&dst).unwrap();
    fs::write(dst.join("keep"), b"mine").unwrap();
    assert!(matches!(extract_to(&a, &dst), Err(Error::Invalid { .. })));
    assert_eq!(fs::read(dst.join("keep")).unwrap(), b"mine");
    // An existing empty target is used, and emptied again on failure.
    fs::remove_file(dst.join("keep")).unwrap();
    let bad = t.path().join("bad.zip");
    fs::write(
        &bad,
        build(&[
            file(b"a", b"ok"),
            Raw {
                crc: 1,
                ..file(b"b", b"x")
            },
        ]),
    )
    .unwrap();
    let a = open_archive(&bad, &ArchiveOptions::default()).unwrap();
    assert!(matches!(extract_to(&a, &dst), Err(Error::Unsafe { .. })));
    assert!(dst.exists() && fs::read_dir(&dst).unwrap().count() == 0);
    let _ = Path::new("");
}
