//! The `vault_segments` property, shared word for word by the fuzz target
//! (`fuzz/fuzz_targets/vault_segments.rs`) and its corpus replay
//! (`tests/reliability/corpus.rs`), both of which include this file with
//! `#[path]`. It needs snap-engine's `fuzzing` feature.
//!
//! The vault framing after key derivation (`read_vault`/`decrypt_segments`
//! in `engine/src/export/vault.rs`) runs with a fixed key and v2 segments
//! of 1..=64 plaintext bytes instead of 1 MiB, so a small input spans many
//! segments. Two checks per input:
//!
//! * **Property.** The input is read as
//!   `[version, segment length, mutation count, mutations (6 bytes each)...,
//!   plaintext...]`. The plaintext is encrypted, must decrypt back exactly
//!   when unmutated, and is then mutated (truncate, drop, swap or duplicate
//!   a segment, append, flip a byte, set the version byte, insert a byte)
//!   and decrypted again: if the bytes differ from the original vault it
//!   must fail (never a panic, never a wrong plaintext), and whatever was
//!   written before the failure must be a prefix of the plaintext.
//! * **Raw.** The input itself is decrypted as a vault (header and
//!   segments of 1 and of 32 bytes); if that succeeds, encrypting the
//!   output again under the same header must give the input back exactly
//!   (one encoding per plaintext: no two vaults decrypt to the same bytes).
//!
//! Not reachable here: the segment-index overflow (`index == u32::MAX`
//! needs 2^32 segments) and the 1 GiB cap on version 1.

use snap_engine::export::vault_fuzzing::{decrypt, encrypt};
use snap_engine::export::{VaultHeader, DEFAULT_ITERATIONS, HEADER_LEN};
use snap_engine::Error;

const KEY: [u8; 32] = *b"snap vault_segments fuzz key 32b";
const TAG_LEN: usize = 16;
const MAX_MUTATIONS: usize = 8;
/// Segment lengths the raw input is decrypted with.
const RAW_SEGMENT_LENS: [usize; 2] = [1, 32];

/// Stand-in for PBKDF2: like it, the key depends on the header's iteration
/// count and salt (so a changed salt fails version 1 too, which has no
/// associated data), but it costs one hash.
pub fn key(h: &VaultHeader) -> [u8; 32] {
    let hb = h.to_bytes();
    *blake3::keyed_hash(&KEY, &hb[8..44]).as_bytes()
}

/// Runs both checks on one input (panics on a violation).
pub fn check(data: &[u8]) {
    raw(data);
    if data.len() >= 3 {
        property(data);
    }
}

fn raw(data: &[u8]) {
    for seg in RAW_SEGMENT_LENS {
        let mut out = Vec::new();
        match decrypt(data, &mut out, key, seg) {
            Ok(h) => {
                let again = encrypt(&out, &h, key, seg).expect("re-encrypt");
                assert_eq!(again, data, "accepted vault is not the canonical encoding");
            }
            Err(e) => assert_kind(&e, data.get(..HEADER_LEN).is_some_and(accepted)),
        }
    }
}

/// Whether `h` is a header the parser accepts.
fn accepted(h: &[u8]) -> bool {
    let h: &[u8; HEADER_LEN] = h.try_into().expect("56 bytes");
    VaultHeader::parse(h).is_ok()
}

/// A failure is a format error (the header) or "wrong password or damaged"
/// (everything after the key); only the latter once the header is good.
fn assert_kind(e: &Error, header_ok: bool) {
    match e {
        Error::WrongPasswordOrDamaged { .. } => {}
        Error::Format { .. } if !header_ok => {}
        other => panic!("unexpected error kind (header ok: {header_ok}): {other:?}"),
    }
}

fn property(data: &[u8]) {
    let version = if data[0].is_multiple_of(8) { 1 } else { 2 };
    let seg = 1 + usize::from(data[1] % 64);
    let wanted = usize::from(data[2]) % (MAX_MUTATIONS + 1);
    let rest = &data[3..];
    let n_mut = wanted.min(rest.len() / 6);
    let (muts, plain) = rest.split_at(n_mut * 6);
    let digest = blake3::hash(data);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&digest.as_bytes()[..12]);
    let header = VaultHeader {
        version,
        iterations: DEFAULT_ITERATIONS,
        salt: [0x5a; 32],
        nonce,
    };

    let vault = encrypt(plain, &header, key, seg).expect("encrypt");
    let body = if version == 1 {
        plain.len() + TAG_LEN
    } else {
        plain.len() + TAG_LEN * plain.len().div_ceil(seg).max(1)
    };
    assert_eq!(vault.len(), HEADER_LEN + body, "vault length");
    let mut out = Vec::new();
    let h = decrypt(&vault, &mut out, key, seg).expect("an unmutated vault decrypts");
    assert_eq!(h, header, "header round trip");
    assert_eq!(out, plain, "plaintext round trip");

    let mut v = vault.clone();
    for m in muts.chunks_exact(6) {
        mutate(&mut v, seg, m);
    }
    let mut out = Vec::new();
    let r = decrypt(&v, &mut out, key, seg);
    assert!(
        plain.starts_with(&out),
        "wrote bytes that are not a prefix of the plaintext"
    );
    match r {
        Ok(h) => {
            assert_eq!(v, vault, "a changed vault decrypted");
            assert_eq!(h, header);
            assert_eq!(out, plain);
        }
        Err(e) => {
            assert_ne!(v, vault, "an unmutated vault failed: {e:?}");
            assert_kind(&e, v.get(..HEADER_LEN).is_some_and(accepted));
        }
    }
}

/// Byte ranges of the stored segments (ciphertext and tag) after the header.
fn segments(v: &[u8], seg: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN.min(v.len());
    while at < v.len() {
        let end = (at + seg + TAG_LEN).min(v.len());
        out.push((at, end));
        at = end;
    }
    out
}

/// Applies one 6-byte mutation `[kind, x (u16 BE), y (u16 BE), c]`.
fn mutate(v: &mut Vec<u8>, seg: usize, m: &[u8]) {
    let x = usize::from(u16::from_be_bytes([m[1], m[2]]));
    let y = usize::from(u16::from_be_bytes([m[3], m[4]]));
    let c = m[5];
    let segs = segments(v, seg);
    let pick = |i: usize| segs[i % segs.len()];
    match m[0] % 8 {
        // Truncate.
        0 => v.truncate(x % (v.len() + 1)),
        // Drop a segment.
        1 if !segs.is_empty() => {
            let (a, b) = pick(x);
            v.drain(a..b);
        }
        // Swap two segments.
        2 if !segs.is_empty() => {
            let (i, j) = (x % segs.len(), y % segs.len());
            let mut order: Vec<usize> = (0..segs.len()).collect();
            order.swap(i, j);
            let mut w = v[..segs[0].0].to_vec();
            for k in order {
                w.extend_from_slice(&v[segs[k].0..segs[k].1]);
            }
            *v = w;
        }
        // Duplicate a segment, inserting the copy at a segment boundary.
        3 if !segs.is_empty() => {
            let (a, b) = pick(x);
            let copy = v[a..b].to_vec();
            let at = if y % (segs.len() + 1) == segs.len() {
                v.len()
            } else {
                pick(y).0
            };
            v.splice(at..at, copy);
        }
        // Append bytes, or a copy of a segment.
        4 => {
            let n = usize::from(c % 33);
            if n == 0 && !segs.is_empty() {
                let (a, b) = pick(x);
                let copy = v[a..b].to_vec();
                v.extend_from_slice(&copy);
            } else {
                v.extend(std::iter::repeat_n(y as u8, n));
            }
        }
        // Flip bits of one byte.
        5 if !v.is_empty() => {
            let i = x % v.len();
            v[i] ^= c.max(1);
        }
        // Set the version byte.
        6 if v.len() > 7 => v[7] = c % 4,
        // Insert a byte.
        7 => v.insert(x % (v.len() + 1), c),
        _ => {}
    }
}
