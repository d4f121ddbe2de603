//! The ZIP import validator (`open_archive`) on arbitrary bytes. The check
//! itself is in `fuzz/shared/zip_import.rs` (also replayed by `cargo test`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../shared/zip_import.rs"]
mod zip_import;

fuzz_target!(|data: &[u8]| {
    zip_import::check(data);
});
