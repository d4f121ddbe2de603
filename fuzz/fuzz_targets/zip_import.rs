//! The ZIP import validator (`open_archive`) on arbitrary bytes written to a
//! temporary file, then every accepted entry read to its end.
#![no_main]
use std::io::Read;

use libfuzzer_sys::fuzz_target;
use snap_engine::export::{open_archive, ImportOptions};

fuzz_target!(|data: &[u8]| {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut f, data).expect("write");
    let opts = ImportOptions {
        max_total: 1 << 22,
        ..ImportOptions::default()
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
});
