//! Small real filesystems for disk-full tests: a tmpfs of a given size
//! (needs root), how much of it is free, and filling it to the last block.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a given size mounted on a directory, unmounted on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB on `dir` (created); `None` without root.
    pub fn mount_kib(dir: &Path, kib: u64) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Mounts a tmpfs of `mib` MiB on `dir`.
    pub fn mount(dir: &Path, mib: u64) -> Option<Self> {
        Self::mount_kib(dir, mib << 10)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Bytes free on the filesystem holding `p`.
pub fn free_bytes(p: &Path) -> u64 {
    let st = rustix::fs::statvfs(p).expect("statvfs");
    st.f_bavail * st.f_frsize
}

/// Fills the filesystem holding `dir` completely, appending to `dir/filler`.
pub fn fill_completely(dir: &Path) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("filler"))
        .expect("filler");
    let block = vec![0x5au8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&block[..512]).is_ok() {}
    while f.write_all(&block[..1]).is_ok() {}
    let _ = f.sync_all();
}
