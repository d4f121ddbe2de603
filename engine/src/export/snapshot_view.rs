//! A stored snapshot as the input of a view: its entries as
//! [`ExportEntry`] values and a [`ContentSource`] that streams each file
//! from the repository one verified chunk at a time; and the functions that
//! export a snapshot to a ZIP or a vault, to a stream or atomically to a file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use snap_store::{fault, BlobId};

use super::vault::{encrypt_vault, VaultVersion, DEFAULT_ITERATIONS};
use super::zip::{export_zip, ExportSummary};
use super::{ContentSource, ExportEntry, ExportKind, ExportOptions, ExportedSnapshot};
use crate::model::snapshot;
use crate::model::tree::NodeKind;
use crate::repo::Repo;
use crate::{Error, Result};

/// A snapshot seen as a list of entries plus their content.
pub struct SnapshotView<'r> {
    repo: &'r Repo,
    info: ExportedSnapshot,
    entries: Vec<ExportEntry>,
    chunks: HashMap<Vec<u8>, Vec<BlobId>>,
}

impl<'r> SnapshotView<'r> {
    /// Walks the snapshot's trees (each verified as it is read). Memory is
    /// one entry and one chunk list per file, never file content.
    ///
    /// # Errors
    /// A missing or damaged tree.
    pub fn new(repo: &'r Repo, snap: &snapshot::SnapshotInfo) -> Result<Self> {
        let mut view = SnapshotView {
            repo,
            info: ExportedSnapshot {
                id: snap.id.to_hex(),
                name: snap.manifest.name.clone(),
                profile: snap.manifest.profile.clone(),
                time_ms: snap.manifest.time_ms,
            },
            entries: Vec::new(),
            chunks: HashMap::new(),
        };
        view.walk(&snap.manifest.tree, &[])?;
        Ok(view)
    }

    fn walk(&mut self, tree: &BlobId, prefix: &[u8]) -> Result<()> {
        for node in self.repo.tree(tree)?.nodes {
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&node.name);
            let kind = match node.kind {
                NodeKind::File => ExportKind::File,
                NodeKind::Dir => ExportKind::Dir,
                NodeKind::Symlink => ExportKind::Symlink,
            };
            self.entries.push(ExportEntry {
                path: path.clone(),
                kind,
                mode: node.mode,
                mtime_ns: node.mtime_ns,
                size: if kind == ExportKind::File {
                    node.size
                } else {
                    0
                },
                link_target: (kind == ExportKind::Symlink).then(|| node.link_target.clone()),
            });
            match node.kind {
                NodeKind::File => {
                    self.chunks.insert(path, node.content);
                }
                NodeKind::Dir => {
                    if let Some(sub) = node.subtree {
                        self.walk(&sub, &path)?;
                    }
                }
                NodeKind::Symlink => {}
            }
        }
        Ok(())
    }

    /// The snapshot as the manifest records it.
    pub fn info(&self) -> &ExportedSnapshot {
        &self.info
    }

    /// Every entry, in tree order (parents before children).
    pub fn entries(&self) -> &[ExportEntry] {
        &self.entries
    }
}

impl ContentSource for SnapshotView<'_> {
    fn open(&self, entry: &ExportEntry) -> Result<Box<dyn Read + '_>> {
        let ids = self.chunks.get(&entry.path).ok_or_else(|| Error::Invalid {
            what: "export entry",
            value: String::from_utf8_lossy(&entry.path).into_owned(),
            reason: "not a file of this snapshot".into(),
        })?;
        Ok(Box::new(ChunkReader {
            repo: self.repo,
            ids,
            next: 0,
            buf: Vec::new(),
            pos: 0,
        }))
    }
}

/// Reads a file's chunks in order, one at a time, each verified by the store.
struct ChunkReader<'a> {
    repo: &'a Repo,
    ids: &'a [BlobId],
    next: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            let Some(id) = self.ids.get(self.next) else {
                return Ok(0);
            };
            self.buf = self.repo.store().read_blob(id).map_err(io::Error::other)?;
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes the ZIP view of `snap` to `writer` (see [`export_zip`]).
///
/// # Errors
/// Those of [`SnapshotView::new`] and [`export_zip`].
pub fn export_snapshot_zip<W: Write + Seek>(
    repo: &Repo,
    snap: &snapshot::SnapshotInfo,
    options: &ExportOptions,
    writer: W,
) -> Result<ExportSummary> {
    let view = SnapshotView::new(repo, snap)?;
    export_zip(view.info(), view.entries(), &view, options, writer)
}

/// What a vault export wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VaultSummary {
    /// The ZIP inside.
    pub zip: ExportSummary,
    /// Bytes of the ZIP (the vault's plaintext).
    pub zip_len: u64,
    /// The vault version written (1 or 2).
    pub version: u8,
}

/// Writes the vault view of `snap` to `out`: the ZIP is first written to an
/// anonymous temporary file in the repository's `tmp/` (so its length is
/// known and memory stays bounded), then encrypted into `out` streaming.
/// `version` `None` picks [`VaultVersion::for_len`] (v1 up to 256 MiB).
///
/// # Errors
/// Those of [`export_snapshot_zip`] and [`encrypt_vault`] (a password shorter
/// than 8 characters is [`Error::Invalid`]).
pub fn export_snapshot_vault(
    repo: &Repo,
    snap: &snapshot::SnapshotInfo,
    options: &ExportOptions,
    password: &str,
    version: Option<VaultVersion>,
    out: impl Write,
) -> Result<VaultSummary> {
    super::vault::check_password(password)?;
    let (zip, mut tmp, zip_len) = zip_to_temp(repo, snap, options)?;
    encrypt_temp(&mut tmp, zip_len, password, version, out).map(|version| VaultSummary {
        zip,
        zip_len,
        version,
    })
}

fn zip_to_temp(
    repo: &Repo,
    snap: &snapshot::SnapshotInfo,
    options: &ExportOptions,
) -> Result<(ExportSummary, File, u64)> {
    let dir = repo.store().scratch_dir();
    let mut tmp = tempfile::tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut w = BufWriter::new(fault::Writer(&mut tmp));
    let summary = export_snapshot_zip(repo, snap, options, &mut w)?;
    w.flush().map_err(|e| Error::io(&dir, e))?;
    drop(w);
    let len = tmp.seek(SeekFrom::End(0)).map_err(|e| Error::io(&dir, e))?;
    Ok((summary, tmp, len))
}

fn encrypt_temp(
    tmp: &mut File,
    zip_len: u64,
    password: &str,
    version: Option<VaultVersion>,
    out: impl Write,
) -> Result<u8> {
    tmp.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("<zip>", e))?;
    let version = version.unwrap_or(VaultVersion::for_len(zip_len));
    let header = encrypt_vault(
        BufReader::new(tmp),
        out,
        password,
        version,
        DEFAULT_ITERATIONS,
    )?;
    Ok(header.version)
}

/// Which view [`export_snapshot_to_file`] writes.
#[derive(Debug, Clone, Copy)]
pub enum FileFormat<'a> {
    /// A ZIP file.
    Zip,
    /// A `.stvault` vault.
    Vault {
        /// The password (at least 8 characters).
        password: &'a str,
        /// `None`: by the ZIP's length.
        version: Option<VaultVersion>,
    },
    /// A `.stvault` vault (version 1, the only one StakTrakr reads) whose
    /// payload is StakTrakr's JSON instead of the ZIP (see
    /// [`super::staktrakr::encode`]; the snapshot must hold only top-level
    /// UTF-8 text files). The export's options still apply to the summary,
    /// not to the payload, so [`export_snapshot_to_file`] refuses options
    /// with it.
    StakTrakrVault {
        /// The password (at least 8 characters).
        password: &'a str,
    },
}

/// What [`export_snapshot_to_file`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileExport {
    /// False when skipped because the content equals `unless_digest`.
    pub written: bool,
    /// The ZIP's summary (with its `files_digest`).
    pub zip: ExportSummary,
    /// The vault version written, for vaults.
    pub vault_version: Option<u8>,
    /// Bytes of the destination file (0 when skipped).
    pub bytes: u64,
}

/// Exports `snap` to the file `dest`, atomically
/// ([`snap_store::fsutil::replace_file_with`]): the content goes to a
/// temporary file beside `dest`, which is flushed and moved over `dest`,
/// and the directory is flushed; on any error (including that last flush)
/// `dest` is left as it was and the temporary file removed. When
/// `unless_digest` equals the ZIP's [`ExportSummary::files_digest`],
/// nothing is written (`written: false`).
///
/// # Errors
/// Those of [`export_snapshot_zip`] and [`export_snapshot_vault`];
/// [`Error::Io`] naming `dest` or its temporary file.
pub fn export_snapshot_to_file(
    repo: &Repo,
    snap: &snapshot::SnapshotInfo,
    options: &ExportOptions,
    format: FileFormat<'_>,
    dest: &Path,
    unless_digest: Option<&str>,
) -> Result<FileExport> {
    export_snapshot_to_file_with(repo, snap, options, format, dest, unless_digest, || Ok(()))
}

/// [`export_snapshot_to_file`], running `before_write` once it is known
/// that `dest` will be written, just before anything is (the CLI forgets
/// the destination's `exports.json` record there); its error stops the
/// export with `dest` untouched.
///
/// # Errors
/// Those of [`export_snapshot_to_file`] and of `before_write`.
pub fn export_snapshot_to_file_with(
    repo: &Repo,
    snap: &snapshot::SnapshotInfo,
    options: &ExportOptions,
    format: FileFormat<'_>,
    dest: &Path,
    unless_digest: Option<&str>,
    before_write: impl FnOnce() -> Result<()>,
) -> Result<FileExport> {
    let payload = match format {
        FileFormat::Zip => None,
        FileFormat::Vault { password, .. } => {
            super::vault::check_password(password)?;
            None
        }
        FileFormat::StakTrakrVault { password } => {
            super::vault::check_password(password)?;
            if !options.exclude.is_empty() || !options.redact_keys.is_empty() {
                return Err(Error::Invalid {
                    what: "export options",
                    value: "--payload staktrakr".into(),
                    reason: "excludes and redactions apply to ZIP payloads only".into(),
                });
            }
            let view = SnapshotView::new(repo, snap)?;
            Some(super::staktrakr::encode(
                view.info(),
                view.entries(),
                &view,
            )?)
        }
    };
    let (zip, mut tmp, zip_len) = zip_to_temp(repo, snap, options)?;
    if unless_digest == Some(zip.files_digest.as_str()) {
        return Ok(FileExport {
            written: false,
            zip,
            vault_version: None,
            bytes: 0,
        });
    }
    before_write()?;
    let mut failure = None;
    let mut vault_version = None;
    let result = snap_store::fsutil::replace_file_with(dest, |f| {
        let r = match format {
            FileFormat::Zip => {
                tmp.seek(SeekFrom::Start(0))?;
                io::copy(&mut tmp, f)
                    .map(|_| ())
                    .map_err(|e| Error::io("<zip>", e))
            }
            FileFormat::Vault { password, version } => {
                encrypt_temp(&mut tmp, zip_len, password, version, BufWriter::new(f))
                    .map(|v| vault_version = Some(v))
            }
            FileFormat::StakTrakrVault { password } => encrypt_vault(
                payload.as_deref().unwrap_or_default(),
                BufWriter::new(f),
                password,
                VaultVersion::V1,
                DEFAULT_ITERATIONS,
            )
            .map(|h| vault_version = Some(h.version)),
        };
        r.map_err(|e| {
            failure = Some(e);
            io::Error::other("export failed")
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(FileExport {
        written: true,
        zip,
        vault_version,
        bytes,
    })
}
