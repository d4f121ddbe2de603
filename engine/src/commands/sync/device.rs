//! The device id: a random name for this machine's side of a sync,
//! generated once and kept with the local repository (FORMAT.md "Sync
//! heads"). `SNAP_DEVICE_ID` overrides it (tests run two "devices" on one
//! machine).

use std::path::PathBuf;

use snap_store::fsutil;

use crate::error::{Error, Result};
use crate::repo::Repo;

/// The file holding the device id: in a local repository's directory, or
/// for a repository on an object store in its state directory.
pub const DEVICE_FILE: &str = "device-id";
/// The environment variable that overrides the device id.
pub const DEVICE_ENV: &str = "SNAP_DEVICE_ID";

/// Where `local`'s device id is kept.
pub fn device_file(local: &Repo) -> PathBuf {
    local.store().root().join(DEVICE_FILE)
}

/// This device's id for the local repository `local`: `$SNAP_DEVICE_ID`
/// when set, else the one in [`device_file`], created (32 random hex
/// digits) when there is none. Two processes creating it at once agree:
/// the file is published with a link that refuses to replace, and the
/// loser reads the winner's.
///
/// # Errors
/// I/O errors on the file; [`Error::Format`] when it holds no id.
pub fn device_id(local: &Repo) -> Result<String> {
    if let Ok(v) = std::env::var(DEVICE_ENV) {
        if !v.trim().is_empty() {
            return Ok(v.trim().to_string());
        }
    }
    let path = device_file(local);
    if let Some(id) = read(&path)? {
        return Ok(id);
    }
    let tmp_dir = local.store().tmp_dir();
    fsutil::create_dir_durable(&tmp_dir)?;
    let tmp = tmp_dir.join(format!(
        ".device-{}",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    let id = hex::encode(rand::random::<[u8; 16]>());
    fsutil::atomic_write(&tmp_dir, &tmp, format!("{id}\n").as_bytes())?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            fsutil::sync_dir(fsutil::parent_dir(&path))?;
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&path)?.ok_or_else(|| Error::Format {
                path: path.clone(),
                detail: "empty device id".into(),
            })
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

fn read(path: &std::path::Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}
