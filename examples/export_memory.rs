//! Peak memory of a 1 GiB export, vault encryption and vault import: the
//! streaming paths must stay bounded (under 100 MiB resident) whatever the
//! size. A measurement, not a test: VmHWM is per process, so it needs a
//! process of its own, and it writes 2 GiB of temporary files. Run by hand:
//!
//!     cargo run --release --example export_memory
//!
//! It prints the peak and exits non-zero when the bound is exceeded.

use std::fs;
use std::io::Read;

use snap_engine::export::{
    encrypt_vault, export_zip, open_vault_archive, ArchiveOptions, ContentSource, ExportEntry,
    ExportKind, ExportOptions, ExportedSnapshot, VaultVersion, MIN_ITERATIONS,
};

const PASSWORD: &str = "correct horse battery";
/// The bound on peak resident memory, KiB.
const BOUND_KIB: u64 = 100 * 1024;

/// Pseudo-random file content generated on the fly (no memory, no disk).
struct Generated;

impl ContentSource for Generated {
    fn open(&self, entry: &ExportEntry) -> snap_engine::Result<Box<dyn Read + '_>> {
        struct Gen(u64, u64);
        impl Read for Gen {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.1 as usize) & !7;
                for c in buf[..n].chunks_exact_mut(8) {
                    self.0 ^= self.0 << 13;
                    self.0 ^= self.0 >> 7;
                    self.0 ^= self.0 << 17;
                    c.copy_from_slice(&self.0.to_le_bytes());
                }
                self.1 -= n as u64;
                Ok(n)
            }
        }
        Ok(Box::new(Gen(
            0x9e37_79b9_7f4a_7c15 ^ entry.size,
            entry.size,
        )))
    }
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = tempfile::tempdir()?;
    let entries: Vec<ExportEntry> = (0..2)
        .map(|i| ExportEntry {
            path: format!("big{i}.bin").into_bytes(),
            kind: ExportKind::File,
            mode: 0o644,
            mtime_ns: 0,
            size: 512 << 20,
            link_target: None,
        })
        .collect();
    let info = ExportedSnapshot {
        id: "ab".repeat(32),
        name: "backup-2024-01-01T00-00-00-000Z".into(),
        profile: "prof".into(),
        time_ms: 1_704_067_200_000,
    };
    let z = t.path().join("big.zip");
    export_zip(
        &info,
        &entries,
        &Generated,
        &ExportOptions::default(),
        fs::File::create(&z)?,
    )?;
    let v = t.path().join("big.stvault");
    let version = VaultVersion::for_len(fs::metadata(&z)?.len());
    assert_eq!(version, VaultVersion::V2);
    encrypt_vault(
        std::io::BufReader::new(fs::File::open(&z)?),
        std::io::BufWriter::new(fs::File::create(&v)?),
        PASSWORD,
        version,
        MIN_ITERATIONS,
    )?;
    fs::remove_file(&z)?;
    let a = open_vault_archive(&v, PASSWORD, &ArchiveOptions::default())?;
    for e in a.entries() {
        std::io::copy(&mut a.read_file(e), &mut std::io::sink())?;
    }
    let peak = peak_rss_kib();
    println!("peak RSS {peak} KiB (bound {BOUND_KIB} KiB)");
    if peak >= BOUND_KIB {
        return Err(format!("peak RSS {peak} KiB exceeds {BOUND_KIB} KiB").into());
    }
    Ok(())
}
