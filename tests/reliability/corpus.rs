//! The committed fuzz corpora (`fuzz/corpus/<target>/`) replayed as ordinary
//! tests: every file goes to the same parser its cargo-fuzz target feeds
//! (`fuzz/fuzz_targets/<target>.rs`), and none may panic.

use std::fs;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| (e.path(), fs::read(e.path()).expect("corpus file")))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus {}", dir.display());
    out
}

// Each check is the fuzz target's own, included from `fuzz/shared/`.
#[path = "../../fuzz/shared/manifest.rs"]
mod manifest;
#[path = "../../fuzz/shared/pack_format.rs"]
mod pack_format;
#[path = "../../fuzz/shared/tree_decode.rs"]
mod tree_decode;
#[path = "../../fuzz/shared/vault_header.rs"]
mod vault_header;
#[path = "../../fuzz/shared/vault_segments.rs"]
mod vault_segments_check;
#[path = "../../fuzz/shared/zip_import.rs"]
mod zip_import;

fn replay(target: &str, f: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        if std::panic::catch_unwind(|| f(&bytes)).is_err() {
            panic!("{target}: {} panics", path.display());
        }
    }
}

#[test]
fn corpus_pack_format() {
    replay("pack_format", pack_format::check);
}

#[test]
fn corpus_tree_decode() {
    replay("tree_decode", tree_decode::check);
}

#[test]
fn corpus_manifest() {
    replay("manifest", manifest::check);
}

#[test]
fn corpus_zip_import() {
    replay("zip_import", zip_import::check);
}

#[test]
fn corpus_vault_header() {
    replay("vault_header", vault_header::check);
}

#[test]
fn corpus_vault_segments() {
    replay("vault_segments", vault_segments_check::check);
    // The raw seeds are valid vaults under the target's key (so the fuzzer
    // starts from accepted inputs, and the key has not drifted).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/vault_segments");
    for name in ["raw-v1", "raw-v2-seg32", "raw-v2-empty"] {
        let bytes = fs::read(dir.join(name)).expect("seed");
        let mut out = Vec::new();
        snap_engine::export::vault_fuzzing::decrypt(
            &bytes,
            &mut out,
            vault_segments_check::key,
            32,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Writes the `vault_segments` seeds: property inputs (`[version, segment
/// length, mutation count, mutations..., plaintext...]`, see
/// `fuzz/shared/vault_segments.rs`) and raw vaults under the target's fixed
/// key with 32-byte segments (whole, cut at a segment boundary, empty).
/// Writes into a temporary directory (a test that the seeds build); to
/// refresh the committed corpus:
/// `SNAP_CORPUS_DIR=fuzz/corpus cargo test --test tests corpus::write_vault_segments_seeds`.
#[test]
fn write_vault_segments_seeds() {
    use snap_engine::export::vault_fuzzing::encrypt;
    use snap_engine::export::{VaultHeader, DEFAULT_ITERATIONS};
    let (_tmp, root) = corpus_dir();
    let dir = root.join("vault_segments");
    fs::create_dir_all(&dir).expect("corpus dir");
    let text = b"The quick brown fox jumps over the lazy dog; 0123456789 abcdefghij.".to_vec();
    let prop = |version: u8, seg: u8, muts: &[[u8; 6]], plain: &[u8]| {
        let mut v = vec![version, seg, muts.len() as u8];
        for m in muts {
            v.extend_from_slice(m);
        }
        v.extend_from_slice(plain);
        v
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("prop-v2-seg16", prop(1, 15, &[], &text)),
        ("prop-v1", prop(0, 15, &[], &text)),
        ("prop-v2-empty", prop(1, 0, &[], b"")),
        ("prop-v2-exact-multiple", prop(1, 7, &[], &text[..64])),
        (
            "prop-v2-truncate",
            prop(1, 7, &[[0, 0, 80, 0, 0, 0]], &text),
        ),
        (
            "prop-v2-drop-last",
            prop(1, 7, &[[1, 255, 255, 0, 0, 0]], &text),
        ),
        ("prop-v2-swap", prop(1, 7, &[[2, 0, 1, 0, 2, 0]], &text)),
        ("prop-v2-dup", prop(1, 7, &[[3, 0, 0, 0, 1, 0]], &text)),
        (
            "prop-v2-append-seg",
            prop(1, 7, &[[4, 0, 3, 0, 0, 0]], &text),
        ),
        ("prop-v2-flip", prop(1, 7, &[[5, 0, 60, 0, 0, 1]], &text)),
        ("prop-v2-version1", prop(1, 7, &[[6, 0, 0, 0, 0, 1]], &text)),
        ("prop-v1-version2", prop(0, 7, &[[6, 0, 0, 0, 0, 2]], &text)),
        ("prop-v2-insert", prop(1, 7, &[[7, 0, 70, 0, 0, 9]], &text)),
        (
            "prop-v2-swap-back",
            prop(1, 3, &[[2, 0, 1, 0, 2, 0], [2, 0, 2, 0, 1, 0]], &text),
        ),
    ];
    let key = vault_segments_check::key;
    let header = |version| VaultHeader {
        version,
        iterations: DEFAULT_ITERATIONS,
        salt: [7; 32],
        nonce: [0xa5; 12],
    };
    let v2 = encrypt(&text, &header(2), key, 32).expect("encrypt");
    let raw: Vec<(&str, Vec<u8>)> = vec![
        ("raw-v2-seg32", v2.clone()),
        ("raw-v2-seg32-cut", v2[..56 + 48].to_vec()),
        (
            "raw-v2-empty",
            encrypt(b"", &header(2), key, 32).expect("encrypt"),
        ),
        (
            "raw-v1",
            encrypt(&text, &header(1), key, 32).expect("encrypt"),
        ),
    ];
    let mut written = 0;
    for (name, bytes) in seeds.into_iter().chain(raw) {
        fs::write(dir.join(name), bytes).expect("write seed");
        written += 1;
    }
    assert_eq!(fs::read_dir(&dir).expect("corpus dir").count(), written);
}

/// Where the seed writers write: `$SNAP_CORPUS_DIR` (relative to the
/// workspace root, e.g. `fuzz/corpus`), else a temporary directory.
fn corpus_dir() -> (Option<tempfile::TempDir>, std::path::PathBuf) {
    match std::env::var_os("SNAP_CORPUS_DIR") {
        Some(d) => (None, Path::new(env!("CARGO_MANIFEST_DIR")).join(d)),
        None => {
            let t = tempfile::tempdir().expect("temp dir");
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    }
}

/// Writes the seed corpora for the binary formats from a real repository
/// (packs, trees, manifests; ZIP and vault seeds come from
/// `fuzz/make_seeds.py` and `tests/fixtures/vault/`), into a temporary
/// directory; to refresh the committed corpus:
/// `SNAP_CORPUS_DIR=fuzz/corpus cargo test --test tests corpus::write_seed_corpus`.
#[test]
fn write_seed_corpus() {
    let z = super::zoo::Zoo::new();
    let (_tmp, root) = corpus_dir();
    for t in ["pack_format", "tree_decode", "manifest"] {
        fs::create_dir_all(root.join(t)).expect("corpus dir");
    }
    let r = z.open();
    let mut packs: Vec<_> = walkdir::WalkDir::new(z.repo.join("packs"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    packs.sort_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    for (i, p) in packs.iter().take(2).enumerate() {
        fs::copy(p, root.join(format!("pack_format/real-{i}"))).expect("copy pack");
    }
    for (i, (id, _)) in z.snaps.iter().enumerate() {
        let bytes = r.store().read_snapshot(id).expect("snapshot");
        fs::write(root.join(format!("manifest/real-{i}.json")), &bytes).expect("write");
        let info = r.resolve(&id.to_hex(), None).expect("resolve");
        let t = r.store().read_blob(&info.manifest.tree).expect("tree");
        fs::write(root.join(format!("tree_decode/root-{i}")), t).expect("write");
    }
    assert!(
        packs.len() >= 2 && !z.snaps.is_empty(),
        "the zoo has packs and snapshots"
    );
}
