//! The `zip_import` check, shared word for word by the fuzz target
//! (`fuzz/fuzz_targets/zip_import.rs`) and its corpus replay
//! (`tests/reliability/corpus.rs`), both of which include this file with
//! `#[path]`: the ZIP import validator (`open_archive`) on arbitrary bytes
//! written to a temporary file, then every accepted entry read to its end.

use std::io::Read;

use snap_engine::export::{open_archive, ArchiveOptions};

/// Opens `data` as an archive and reads every entry; must not panic.
pub fn check(data: &[u8]) {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut f, data).expect("write");
    let opts = ArchiveOptions {
        max_total: 1 << 22,
        ..ArchiveOptions::default()
    };
    if let Ok(a) = open_archive(f.path(), &opts) {
        let _ = a.manifest();
        for e in a.entries() {
            let mut r = a.read_file(e);
            let mut buf = [0u8; 8192];
            let mut total = 0usize;
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 || total > 1 << 22 {
                    break;
                }
                total += n;
            }
        }
    }
}
