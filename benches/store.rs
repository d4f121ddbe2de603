//! Store throughput: `put` of compressible (JSON-like) and incompressible
//! (random) blobs with 1 and 2 writer threads, and `read_blob`.
//!
//! Every put iteration writes fresh, never-seen blobs into a fresh
//! repository, and includes `finish` (packs fsynced and indexed), so the
//! figures are what a backup pays. Run with `cargo bench --bench store`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use snap_store::{BlobId, BlobKind, InitOptions, OpenOptions, Repository};

/// Blob size: the engine's average chunk.
const BLOB: usize = 64 * 1024;
/// Blobs per iteration (32 MiB).
const BLOBS: usize = 512;

/// A small deterministic generator (splitmix64), so the bench needs no RNG crate.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn random_blob(g: &mut Gen) -> Vec<u8> {
    let mut v = Vec::with_capacity(BLOB);
    while v.len() < BLOB {
        v.extend_from_slice(&g.next().to_le_bytes());
    }
    v.truncate(BLOB);
    v
}

fn json_blob(g: &mut Gen) -> Vec<u8> {
    const KEYS: [&str; 8] = [
        "id",
        "name",
        "enabled",
        "volume",
        "lastOpened",
        "theme",
        "count",
        "path",
    ];
    let mut s = String::with_capacity(BLOB + 256);
    s.push('[');
    while s.len() < BLOB {
        let r = g.next();
        s.push_str(&format!(
            "{{\"{}\": {}, \"{}\": \"item-{}\", \"{}\": {}, \"ts\": \"2025-{:02}-{:02}T{:02}:{:02}:00Z\"}},\n",
            KEYS[(r % 8) as usize],
            r % 1000,
            KEYS[((r >> 8) % 8) as usize],
            (r >> 16) % 5000,
            KEYS[((r >> 24) % 8) as usize],
            (r >> 32).is_multiple_of(2),
            (r >> 40) % 12 + 1,
            (r >> 44) % 28 + 1,
            (r >> 48) % 24,
            (r >> 52) % 60,
        ));
    }
    let mut v = s.into_bytes();
    v.truncate(BLOB);
    v
}

fn blobs(seed: u64, compressible: bool) -> Vec<Vec<u8>> {
    let mut g = Gen(seed);
    (0..BLOBS)
        .map(|_| {
            if compressible {
                json_blob(&mut g)
            } else {
                random_blob(&mut g)
            }
        })
        .collect()
}

/// Puts `data` from `threads` threads into a fresh repository and finishes.
fn put_all(data: &[Vec<u8>], threads: usize) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    Repository::init(dir.path(), &InitOptions::default()).expect("init");
    let repo = Repository::open(dir.path(), &OpenOptions::shared("bench")).expect("open");
    let start = Instant::now();
    let writer = repo.writer();
    std::thread::scope(|s| {
        for t in 0..threads {
            let writer = &writer;
            s.spawn(move || {
                for b in data.iter().skip(t).step_by(threads) {
                    writer.put(BlobKind::Data, b).expect("put");
                }
            });
        }
    });
    writer.finish().expect("finish");
    start.elapsed()
}

fn bench_put(c: &mut Criterion) {
    let mut group = c.benchmark_group("put");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Bytes((BLOB * BLOBS) as u64));
    for (name, compressible) in [("json", true), ("random", false)] {
        for threads in [1usize, 2] {
            let mut seed = 1u64;
            group.bench_function(BenchmarkId::new(name, format!("{threads}t")), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        seed += 1;
                        let data = blobs(seed, compressible);
                        total += put_all(&data, threads);
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

fn bench_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("get");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes((BLOB * BLOBS) as u64));
    for (name, compressible) in [("json", true), ("random", false)] {
        let dir = tempfile::tempdir().expect("tempdir");
        Repository::init(dir.path(), &InitOptions::default()).expect("init");
        let repo = Repository::open(dir.path(), &OpenOptions::shared("bench")).expect("open");
        let writer = repo.writer();
        let ids: Vec<BlobId> = blobs(99, compressible)
            .iter()
            .map(|b| writer.put(BlobKind::Data, b).expect("put").0)
            .collect();
        writer.finish().expect("finish");
        group.bench_function(BenchmarkId::new(name, "1t"), |b| {
            b.iter(|| {
                for id in &ids {
                    std::hint::black_box(repo.read_blob(id).expect("read"));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_put, bench_get);
criterion_main!(benches);
