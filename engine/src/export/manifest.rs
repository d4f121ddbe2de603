//! `manifest.json`: the description of a snapshot at the root of a ZIP view
//! (DESIGN.md section 6). Format version 1, or 2 when some name or symlink
//! target is escaped (`path_hex` / `target_hex`, which a version-1 reader
//! would not know to decode); a reader refuses newer versions unless forced.

use serde::{Deserialize, Serialize};

use super::ExportKind;

/// The newest manifest format version this code writes and understands.
pub const FORMAT_VERSION: u32 = 2;

/// The version written when no name needs escaping.
pub const FORMAT_VERSION_PLAIN: u32 = 1;

/// The root document of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    /// Format version (1, or 2 with escaped names).
    pub format_version: u32,
    /// Tool that wrote the file (`snap`).
    pub tool: String,
    /// Version of that tool.
    pub tool_version: String,
    /// Operating system it ran on (`linux`, `macos`, `windows`).
    pub platform: String,
    /// The snapshot exported.
    pub snapshot: ManifestSnapshot,
    /// Counts of what is in the ZIP.
    pub summary: ManifestSummary,
    /// Paths left out by the export's exclude globs.
    #[serde(default)]
    pub excluded: Vec<String>,
    /// Keys removed from JSON files by the export's redaction patterns.
    #[serde(default)]
    pub redacted: Vec<Redaction>,
    /// Every entry under `files/`, sorted by path bytes.
    #[serde(default)]
    pub files: Vec<ManifestEntry>,
}

/// The snapshot part of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSnapshot {
    /// Snapshot id (hex).
    pub id: String,
    /// Snapshot name.
    pub name: String,
    /// Profile name.
    pub profile: String,
    /// Snapshot time, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// Snapshot time, milliseconds since the Unix epoch.
    pub time_ms: i64,
}

/// Counts of the entries in the ZIP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSummary {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Total bytes of the files (as stored in the ZIP, after redaction).
    pub bytes: u64,
}

/// One removed JSON key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// The file (relative path).
    pub path: String,
    /// The key's path inside the document, `/`-separated (`a/b/api_key`;
    /// array indices as numbers).
    pub key: String,
}

/// One entry under `files/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative path as the ZIP names it, without `files/`: the original
    /// bytes when they are clean, else their escaped form (`names.rs`).
    pub path: String,
    /// The exact original path bytes in hex, when `path` is escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    /// File, directory or symlink.
    pub kind: ExportKind,
    /// Unix permission bits.
    pub mode: u32,
    /// Exact modification time, nanoseconds since the Unix epoch (the ZIP's
    /// own timestamps have only 2-second precision).
    pub mtime_ns: i64,
    /// Size of the file in the ZIP (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Blake3 of the file's bytes in the ZIP, hex (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// Symlink target (symlinks only), escaped like `path` when needed;
    /// it is also the symlink entry's data in the ZIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The exact target bytes in hex, when `target` is escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_hex: Option<String>,
}

/// Formats `time_ms` as RFC 3339 UTC with milliseconds (no current time).
pub(crate) fn format_time(time_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(time_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}
