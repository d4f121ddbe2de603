//! Chunker parameter measurement for snap (see `benches/CHUNKING.md`).
//!
//! Usage:
//!     cargo run --release --example chunk_params -- ORIGINAL_DIR MUTATED_DIR [AVG_KIB...]
//!
//! ORIGINAL_DIR is a corpus made by `benches/gen_corpus.py`, MUTATED_DIR a copy
//! of it after `gen_corpus.py --mutate`. For each FastCDC (v2020, normalisation
//! level 1) parameter set (min = avg/4, max = avg*4, plus restic's
//! 512 KiB / 1 MiB / 8 MiB for reference) it prints one markdown table row:
//!
//! - chunks in the original corpus (distinct, = index rows) and mean size,
//! - chunks of the mutated corpus whose blake3 is not in the original: count,
//!   raw bytes, bytes after per-chunk zstd -3 (raw when that saves < 3 %, as the
//!   store's codec does), and that plus ~60 B of pack header per new chunk,
//! - the same new raw bytes split into the SQLite database and the rest,
//! - single-thread chunking throughput (cut points only, data in memory) and
//!   chunking + blake3 throughput.
//!
//! - the bytes of blob-id lists of the changed files (32 B per chunk of every
//!   file whose content changed): the tree entries a snapshot rewrites.
//!
//! A second table chunks only the SQLite files (header `SQLite format 3\0`)
//! into fixed, page-aligned blocks instead (SQLite edits pages in place and
//! never shifts bytes, so content-defined cut points buy nothing there).
//!
//! All files are read into memory first so the timings exclude I/O.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fastcdc::v2020::FastCDC;

const PACK_HEADER_PER_BLOB: u64 = 60;

struct File {
    path: PathBuf,
    data: Vec<u8>,
}

fn load(root: &Path) -> Vec<File> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk corpus");
        if entry.file_type().is_file() {
            let data = std::fs::read(entry.path()).expect("read corpus file");
            files.push(File {
                path: entry.path().strip_prefix(root).unwrap().to_path_buf(),
                data,
            });
        }
    }
    files
}

fn chunks<'a>(data: &'a [u8], p: (usize, usize, usize)) -> impl Iterator<Item = &'a [u8]> + 'a {
    // FastCDC yields nothing for an empty input; an empty file has no chunk.
    FastCDC::new(data, p.0, p.1, p.2).map(move |c| &data[c.offset..c.offset + c.length])
}

fn is_db(f: &File) -> bool {
    f.data.starts_with(b"SQLite format 3\0")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: chunk_params ORIGINAL_DIR MUTATED_DIR [AVG_KIB...]");
        std::process::exit(2);
    }
    let orig = load(Path::new(&args[0]));
    let muta = load(Path::new(&args[1]));
    let orig_bytes: u64 = orig.iter().map(|f| f.data.len() as u64).sum();
    let muta_bytes: u64 = muta.iter().map(|f| f.data.len() as u64).sum();
    eprintln!(
        "original: {} files, {} bytes; mutated: {} files, {} bytes",
        orig.len(),
        orig_bytes,
        muta.len(),
        muta_bytes
    );

    let avgs: Vec<usize> = if args.len() > 2 {
        args[2..]
            .iter()
            .map(|a| a.parse::<usize>().expect("AVG_KIB") * 1024)
            .collect()
    } else {
        vec![4, 8, 16, 32, 64, 128, 256, 1024]
            .into_iter()
            .map(|k| k * 1024)
            .collect()
    };
    let mut params: Vec<(usize, usize, usize, &str)> =
        avgs.iter().map(|&a| (a / 4, a, a * 4, "")).collect();
    params.push((512 * 1024, 1024 * 1024, 8 * 1024 * 1024, " (restic-like)"));

    println!(
        "| min / avg / max | chunks (orig) | mean chunk | new chunks | new raw bytes | new bytes zstd-3 | + pack headers | of which SQLite (raw) | other (raw) | id lists of changed files | chunking MB/s | chunk+blake3 MB/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let orig_by_path: std::collections::HashMap<&Path, &[u8]> = orig
        .iter()
        .map(|f| (f.path.as_path(), f.data.as_slice()))
        .collect();
    let changed: Vec<&File> = muta
        .iter()
        .filter(|f| orig_by_path.get(f.path.as_path()) != Some(&f.data.as_slice()))
        .collect();
    for (min, avg, max, note) in params {
        let p = (min, avg, max);
        // Throughput: cut points only.
        let t = Instant::now();
        let mut n_cut = 0u64;
        for f in &orig {
            n_cut += chunks(&f.data, p).count() as u64;
        }
        let cut_secs = t.elapsed().as_secs_f64();

        // Chunk + hash the original, collecting the distinct ids.
        let t = Instant::now();
        let mut known: HashSet<[u8; 32]> = HashSet::new();
        for f in &orig {
            for c in chunks(&f.data, p) {
                known.insert(*blake3::hash(c).as_bytes());
            }
        }
        let hash_secs = t.elapsed().as_secs_f64();

        // Chunks of the mutated tree that a snapshot of it would have to store.
        let mut new_ids: HashSet<[u8; 32]> = HashSet::new();
        let (mut new_raw, mut new_zstd, mut new_db, mut new_other) = (0u64, 0u64, 0u64, 0u64);
        for f in &muta {
            for c in chunks(&f.data, p) {
                let id = *blake3::hash(c).as_bytes();
                if known.contains(&id) || !new_ids.insert(id) {
                    continue;
                }
                new_raw += c.len() as u64;
                let z = zstd::bulk::compress(c, 3).expect("zstd").len();
                new_zstd += if (z as u64) * 100 < (c.len() as u64) * 97 {
                    z
                } else {
                    c.len()
                } as u64;
                if is_db(f) {
                    new_db += c.len() as u64;
                } else {
                    new_other += c.len() as u64;
                }
            }
        }
        let n_new = new_ids.len() as u64;
        let id_lists: u64 = changed
            .iter()
            .map(|f| chunks(&f.data, p).count() as u64 * 32)
            .sum();
        println!(
            "| {} / {} / {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} |",
            kib(min),
            kib(avg),
            kib(max),
            note,
            known.len(),
            kib((orig_bytes / n_cut.max(1)) as usize),
            n_new,
            mb(new_raw),
            mb(new_zstd),
            mb(new_zstd + n_new * PACK_HEADER_PER_BLOB),
            mb(new_db),
            mb(new_other),
            mb(id_lists),
            orig_bytes as f64 / cut_secs / 1e6,
            orig_bytes as f64 / hash_secs / 1e6,
        );
    }
    fixed_blocks(&orig, &muta);
}

/// Second table: SQLite files in fixed page-aligned blocks.
fn fixed_blocks(orig: &[File], muta: &[File]) {
    println!();
    println!("| SQLite files in fixed blocks of | blocks (orig) | new blocks | new raw bytes | new bytes zstd-3 | + pack headers | id list of the database |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for block in [4096usize, 8192, 16384, 32768, 65536] {
        let mut known: HashSet<[u8; 32]> = HashSet::new();
        for f in orig.iter().filter(|f| is_db(f)) {
            for c in f.data.chunks(block) {
                known.insert(*blake3::hash(c).as_bytes());
            }
        }
        let mut new_ids: HashSet<[u8; 32]> = HashSet::new();
        let (mut raw, mut z, mut ids) = (0u64, 0u64, 0u64);
        for f in muta.iter().filter(|f| is_db(f)) {
            ids += f.data.chunks(block).count() as u64 * 32;
            for c in f.data.chunks(block) {
                let id = *blake3::hash(c).as_bytes();
                if known.contains(&id) || !new_ids.insert(id) {
                    continue;
                }
                raw += c.len() as u64;
                let n = zstd::bulk::compress(c, 3).expect("zstd").len();
                z += if (n as u64) * 100 < (c.len() as u64) * 97 {
                    n
                } else {
                    c.len()
                } as u64;
            }
        }
        let n = new_ids.len() as u64;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            kib(block),
            known.len(),
            n,
            mb(raw),
            mb(z),
            mb(z + n * PACK_HEADER_PER_BLOB),
            mb(ids)
        );
    }
}

fn kib(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn mb(n: u64) -> String {
    format!("{:.2} MB", n as f64 / 1e6)
}
