//! Portable views of a snapshot: a ZIP file and an encrypted `.stvault`
//! vault (DESIGN.md section 6), and the hostile-input-safe import of both.
//!
//! The views do not know how snapshots are stored: the caller describes a
//! snapshot as a list of [`ExportEntry`] values and a [`ContentSource`]
//! that opens a file's bytes, and gets a ZIP ([`export_zip`]) that can be
//! wrapped in a vault ([`encrypt_vault`]). Import goes the other way:
//! [`open_archive`] validates a whole ZIP before anything is read, and
//! [`Archive::read_file`] / [`extract_to`] verify every byte as it streams.
//!
//! Path names are raw bytes, `/`-separated, relative, without a leading
//! `/`. The ZIP format stores UTF-8 names, so [`export_zip`] writes a name
//! that is not printable UTF-8 escaped ([`names`]) and records its exact
//! bytes in the manifest, which import puts back; a foreign ZIP's names
//! are taken as the bytes stored (no CP437 decoding).

mod cdir;
pub mod history;
mod manifest;
pub mod names;
mod read;
pub(crate) mod redact;
mod snapshot_view;
pub mod staktrakr;
/// Raw-ZIP builders for tests (cargo feature `testing`; never in a release).
#[cfg(feature = "testing")]
pub mod testing;
mod vault;
mod zip;

use std::io::Read;

pub use self::manifest::{
    ArchiveManifest, ManifestEntry, ManifestSnapshot, ManifestSummary, Redaction,
};
pub use self::read::{
    extract_to, open_archive, open_vault_archive, Archive, ArchiveEntry, ArchiveOptions,
    FileReader, Payload, DEFAULT_MAX_TOTAL, STAGING_INFIX,
};
pub use self::snapshot_view::{
    export_snapshot_to_file, export_snapshot_to_file_with, export_snapshot_vault,
    export_snapshot_zip, FileExport, FileFormat, SnapshotView, VaultSummary,
};
pub use self::vault::{
    decrypt_vault, encrypt_vault, VaultHeader, VaultVersion, DEFAULT_ITERATIONS, HEADER_LEN,
    MAX_ITERATIONS, MIN_ITERATIONS, MIN_PASSWORD_CHARS, SEGMENT_LEN, V1_MAX_PAYLOAD,
};
pub use self::zip::{export_zip, ExportSummary};

/// Vault framing with a raw key and a small segment length, for fuzzing
/// only (feature `fuzzing`; see `vault.rs`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use self::vault::fuzzing as vault_fuzzing;

/// Whether the file at `path` starts with the vault magic `STVAULT`.
///
/// # Errors
/// [`crate::Error::Io`] when it cannot be opened or read.
pub fn is_vault_file(path: &std::path::Path) -> crate::Result<bool> {
    let mut f = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let mut magic = [0u8; 7];
    let n = vault::fill(&mut f, &mut magic).map_err(|e| crate::Error::io(path, e))?;
    Ok(n == 7 && &magic == b"STVAULT")
}

/// The kind of an entry of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One entry of the snapshot being exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEntry {
    /// Relative path: raw bytes, `/`-separated, no leading `/`, no `.` or
    /// `..` components.
    pub path: Vec<u8>,
    /// File, directory or symlink.
    pub kind: ExportKind,
    /// Unix mode (permission bits; the file-type bits are ignored).
    pub mode: u32,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Size in bytes (files only; 0 otherwise).
    pub size: u64,
    /// Target of a symlink (raw bytes).
    pub link_target: Option<Vec<u8>>,
}

/// Where the bytes of a file come from (a snapshot's chunks, a directory).
pub trait ContentSource {
    /// Opens the content of `entry` (a file). It is read once to hash it
    /// and once more to write it, so it must return the same bytes twice.
    fn open(&self, entry: &ExportEntry) -> crate::Result<Box<dyn Read + '_>>;
}

/// The snapshot an export is made of, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportedSnapshot {
    /// The snapshot's id (hex).
    pub id: String,
    /// The snapshot's name (`backup-…`).
    pub name: String,
    /// The profile it belongs to.
    pub profile: String,
    /// Its time, milliseconds since the Unix epoch (UTC).
    pub time_ms: i64,
}

/// What to leave out of an export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Globs (globset syntax, matched against the relative path); a
    /// matching entry, and everything below a matching directory, is left
    /// out and listed in the manifest's `excluded`.
    pub exclude: Vec<String>,
    /// Globs on JSON key names (`*api_key*`, `*token*`); matching keys are
    /// removed at any depth from files whose name ends in `.json` and that
    /// parse as JSON, and listed in the manifest's `redacted`.
    pub redact_keys: Vec<String>,
}

/// Builds a glob set, mapping a bad pattern to [`crate::Error::Invalid`].
pub(crate) fn build_globs(patterns: &[String]) -> crate::Result<globset::GlobSet> {
    let mut builder = globset::GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p)
            .literal_separator(false)
            .build()
            .map_err(|e| crate::Error::Invalid {
                what: "glob",
                value: p.clone(),
                reason: e.to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| crate::Error::Invalid {
        what: "glob",
        value: patterns.join(","),
        reason: e.to_string(),
    })
}
