//! Vault tests: round trips of both versions, faults (wrong password,
//! flipped bits, truncation, reordering), committed fixtures and
//! interoperability with the Python reference implementation.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::views::{export_to, make_profile, scan, IT, PW};
use snap_engine::export::*;
use snap_engine::Error;

fn vault_round_trip(payload: &[u8], version: VaultVersion) -> Vec<u8> {
    let mut v = Vec::new();
    let h = encrypt_vault(payload, &mut v, PW, version, IT).unwrap();
    let mut out = Vec::new();
    let h2 = decrypt_vault(v.as_slice(), &mut out, PW).unwrap();
    assert_eq!(h, h2);
    assert_eq!(out, payload);
    v
}

#[test]
fn export_vault_round_trips() {
    let mut big = vec![0u8; 3 * SEGMENT_LEN + 12345];
    rand::fill(&mut big[..]);
    for p in [
        &b""[..],
        b"x",
        &big[..SEGMENT_LEN],
        &big[..2 * SEGMENT_LEN],
        &big,
    ] {
        let v1 = vault_round_trip(p, VaultVersion::V1);
        assert_eq!(v1[7], 1);
        assert_eq!(v1.len(), HEADER_LEN + p.len() + 16);
        let v2 = vault_round_trip(p, VaultVersion::V2);
        assert_eq!(v2[7], 2);
        let segs = p.len().div_ceil(SEGMENT_LEN).max(1);
        assert_eq!(v2.len(), HEADER_LEN + p.len() + 16 * segs);
        assert_eq!(&v2[..7], b"STVAULT");
        assert_eq!(u32::from_be_bytes(v2[8..12].try_into().unwrap()), IT);
    }
    let auto = vault_round_trip(b"small", VaultVersion::Auto);
    assert_eq!(auto[7], 1);
    assert_eq!(VaultVersion::for_len(V1_MAX_PAYLOAD + 1), VaultVersion::V2);
}

fn expect_damaged(v: &[u8]) {
    let mut out = Vec::new();
    let r = decrypt_vault(v, &mut out, PW);
    assert!(
        matches!(r, Err(Error::WrongPasswordOrDamaged { .. })),
        "{r:?}"
    );
}

#[test]
fn export_vault_faults() {
    let mut payload = vec![0u8; 2 * SEGMENT_LEN + 100];
    rand::fill(&mut payload[..]);
    // Wrong password.
    let v1 = vault_round_trip(&payload[..1000], VaultVersion::V1);
    let mut out = Vec::new();
    assert!(matches!(
        decrypt_vault(v1.as_slice(), &mut out, "wrong password!"),
        Err(Error::WrongPasswordOrDamaged { .. })
    ));
    assert!(out.is_empty(), "no plaintext before the tag verifies");
    // Flipped bits: salt, nonce, ciphertext, tag (v1).
    for pos in [12, 44, 55, 56, 500, v1.len() - 1] {
        let mut b = v1.clone();
        b[pos] ^= 0x10;
        let mut out = Vec::new();
        assert!(
            matches!(
                decrypt_vault(b.as_slice(), &mut out, PW),
                Err(Error::WrongPasswordOrDamaged { .. })
            ),
            "pos {pos}"
        );
        assert!(out.is_empty());
    }
    let v2 = vault_round_trip(&payload, VaultVersion::V2);
    let seg = SEGMENT_LEN + 16;
    for pos in [12, 50, 56, 56 + seg - 1, 56 + seg + 7, v2.len() - 1] {
        let mut b = v2.clone();
        b[pos] ^= 1;
        expect_damaged(&b);
    }
    // Truncation at every segment boundary, mid-segment, and in the tag.
    for cut in [
        HEADER_LEN,
        HEADER_LEN + seg,
        HEADER_LEN + 2 * seg,
        HEADER_LEN + 10,
        HEADER_LEN + seg + 999,
        v2.len() - 1,
    ] {
        expect_damaged(&v2[..cut]);
    }
    // Reordered, duplicated segments, trailing bytes.
    let (h, s0, s1, s2) = (
        &v2[..56],
        &v2[56..56 + seg],
        &v2[56 + seg..56 + 2 * seg],
        &v2[56 + 2 * seg..],
    );
    expect_damaged(&[h, s1, s0, s2].concat());
    expect_damaged(&[h, s0, s0, s1, s2].concat());
    expect_damaged(&[&v2[..], b"x"].concat());
    expect_damaged(&[&v2[..], &[0u8; 16][..]].concat());
    // Version byte changed: the header is authenticated (v2) / refused.
    let mut b = v2.clone();
    b[7] = 1;
    expect_damaged(&b);
    b[7] = 3;
    let err = decrypt_vault(b.as_slice(), Vec::new(), PW).unwrap_err();
    assert!(
        matches!(&err, Error::Format { detail, .. } if detail.contains("version 3")),
        "{err}"
    );
    // Short password, out-of-range iterations (refused before the KDF).
    assert!(matches!(
        encrypt_vault(&b""[..], Vec::new(), "short", VaultVersion::V1, IT),
        Err(Error::Invalid {
            what: "password",
            ..
        })
    ));
    assert!(matches!(
        decrypt_vault(v1.as_slice(), Vec::new(), "1234567"),
        Err(Error::Invalid { .. })
    ));
    for it in [99_999u32, 10_000_001, u32::MAX] {
        let mut b = v1.clone();
        b[8..12].copy_from_slice(&it.to_be_bytes());
        let t0 = Instant::now();
        let err = decrypt_vault(b.as_slice(), Vec::new(), PW).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert!(t0.elapsed().as_millis() < 50, "refused before the KDF");
    }
    assert!(matches!(
        decrypt_vault(&b"STVAULT"[..], Vec::new(), PW),
        Err(Error::Format { .. })
    ));
    assert!(matches!(
        decrypt_vault(
            &b"PK\x03\x04 not a vault at all, really not at all, no"[..],
            Vec::new(),
            PW
        ),
        Err(Error::Format { .. })
    ));
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/vault")
        .join(name)
}

#[test]
fn export_vault_committed_fixtures_decrypt() {
    let want = fs::read(fixture("payload.txt")).unwrap();
    for name in ["v1_ref.stvault", "v2_ref.stvault"] {
        let mut out = Vec::new();
        decrypt_vault(
            fs::File::open(fixture(name)).unwrap(),
            &mut out,
            "fixture-password",
        )
        .unwrap();
        assert_eq!(out, want, "{name}");
    }
}

#[test]
#[ignore = "needs python3 with cryptography; .ci/run runs it with --include-ignored"]
fn export_vault_interop_with_python_reference() {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "needs python3 with the cryptography package (pip install cryptography)"
    );
    let t = tempfile::tempdir().unwrap();
    let script = fixture("vault_ref.py");
    let mut payload = vec![0u8; 2 * SEGMENT_LEN + 777];
    rand::fill(&mut payload[..]);
    let plain = t.path().join("plain");
    fs::write(&plain, &payload).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new("python3")
            .arg(&script)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    for (v, exact) in [
        ("1", &payload[..5000]),
        ("2", &payload[..]),
        ("2", &payload[..2 * SEGMENT_LEN]),
    ] {
        fs::write(&plain, exact).unwrap();
        let vault = t.path().join(format!("py{v}.stvault"));
        run(&[
            "encrypt",
            v,
            "100000",
            PW,
            plain.to_str().unwrap(),
            vault.to_str().unwrap(),
        ]);
        let mut out = Vec::new();
        decrypt_vault(fs::File::open(&vault).unwrap(), &mut out, PW).unwrap();
        assert_eq!(out, exact, "python v{v} -> rust");
        // Rust -> Python.
        let ours = t.path().join(format!("rs{v}.stvault"));
        let version = if v == "1" {
            VaultVersion::V1
        } else {
            VaultVersion::V2
        };
        encrypt_vault(exact, fs::File::create(&ours).unwrap(), PW, version, IT).unwrap();
        let back = t.path().join("back");
        run(&[
            "decrypt",
            "x",
            "0",
            PW,
            ours.to_str().unwrap(),
            back.to_str().unwrap(),
        ]);
        assert_eq!(fs::read(&back).unwrap(), exact, "rust v{v} -> python");
    }
}

#[test]
fn export_vault_archive_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_profile(&src);
    let z = t.path().join("x.zip");
    export_to(&src, &ExportOptions::default(), &z);
    for version in [VaultVersion::V1, VaultVersion::V2] {
        let v = t.path().join("x.stvault");
        encrypt_vault(
            fs::File::open(&z).unwrap(),
            fs::File::create(&v).unwrap(),
            PW,
            version,
            IT,
        )
        .unwrap();
        let a = open_vault_archive(&v, PW, &ArchiveOptions::default()).unwrap();
        assert_eq!(a.entries().len(), scan(&src).len());
        let err = open_vault_archive(&v, "wrong password", &ArchiveOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::WrongPasswordOrDamaged { path } if path == &v),
            "{err}"
        );
    }
}
