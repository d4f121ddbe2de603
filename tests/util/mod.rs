//! The test harness: temporary repositories, the `snap` binary, child
//! processes, deterministic data, and failures that print what happened.
//!
//! # Finding the `snap` binary
//! `CARGO_BIN_EXE_snap` is only set for integration tests of the package
//! that owns the binary (`snap-cli`), and a package without a library cannot
//! be a dev-dependency, so this root package cannot name it at compile time.
//! [`snap_bin`] instead runs `cargo build -p snap-cli --bin snap` once per
//! test process (a no-op when it is up to date; cargo releases its build
//! lock before running tests, so this does not deadlock), with the same
//! target directory and profile as the running test executable (`--profile
//! test`, or `--release`), and uses `<target>/<profile>/snap`. Set
//! `SNAP_BIN` to use another binary.
//!
//! # Child processes
//! Crash and lock tests re-invoke this test executable on one named test
//! (`--exact module::child_fn`) with an environment variable that tells the
//! child function to do its work; without it, the child function returns at
//! once, so it passes as an ordinary test.

#![allow(dead_code)]

mod disk;
mod env;
pub mod proxy;
mod tree;

pub use disk::{fill_completely, free_bytes, Tmpfs};
pub use env::Env;
pub use tree::*;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use std::sync::Arc;

use snap_store::backend::memory::MemoryBackend;
use snap_store::backend::{Backend, Precondition};
use snap_store::{BlobId, BlobKind, InitOptions, OpenOptions, PackId, Repository};
use tempfile::TempDir;

/// A repository for a test, removed on drop: in a temporary directory
/// (the directory backend, what `snap` uses), or in memory (the memory
/// backend, with its index in a temporary cache directory), so that the
/// store's tests run on both backends.
pub struct TestRepo {
    dir: TempDir,
    memory: Option<Arc<MemoryBackend>>,
}

/// The two backends the store's tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// A local directory (`Repository::init` / `open`).
    Directory,
    /// The memory backend (`Repository::init_in` / `open_in`).
    Memory,
}

/// Every backend, for tests that run once per backend.
pub const BACKINGS: [Backing; 2] = [Backing::Directory, Backing::Memory];

impl TestRepo {
    /// An initialised repository with default options.
    pub fn new() -> Self {
        Self::with_pack_size(None)
    }

    /// An initialised repository with a small pack target size (many packs).
    pub fn with_pack_size(pack_target_size: Option<u64>) -> Self {
        Self::on(Backing::Directory, pack_target_size)
    }

    /// An initialised repository on `backing`, with a small pack target
    /// size when given.
    pub fn on(backing: Backing, pack_target_size: Option<u64>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = InitOptions {
            pack_target_size,
            cache_dir: Some(dir.path().join("cache")),
            ..InitOptions::default()
        };
        let memory = match backing {
            Backing::Directory => {
                Repository::init(&dir.path().join("repo"), &opts).expect("init");
                None
            }
            Backing::Memory => {
                let mem = Arc::new(MemoryBackend::new());
                Repository::init_in(mem.clone(), &opts).expect("init in memory");
                Some(mem)
            }
        };
        Self { dir, memory }
    }

    /// A temporary directory with no repository in it (yet).
    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            memory: None,
        }
    }

    /// The repository's path (a directory repository's).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The backend of a memory repository.
    pub fn memory(&self) -> Option<&Arc<MemoryBackend>> {
        self.memory.as_ref()
    }

    fn open_with(&self, opts: OpenOptions) -> Repository {
        let opts = OpenOptions {
            cache_dir: Some(self.dir.path().join("cache")),
            ..opts
        };
        match &self.memory {
            None => Repository::open(&self.path(), &opts).expect("open"),
            Some(mem) => Repository::open_in(mem.clone(), &opts).expect("open in memory"),
        }
    }

    /// Opens it with a shared lock.
    pub fn open(&self) -> Repository {
        self.open_with(OpenOptions::shared("test"))
    }

    /// Opens it with an exclusive lock.
    pub fn open_exclusive(&self) -> Repository {
        self.open_with(OpenOptions::exclusive("test"))
    }

    /// Where its SQLite index is (in the repository, or in the cache).
    pub fn index_path(&self) -> PathBuf {
        self.open().index_path().to_path_buf()
    }

    /// Runs `snap --repo <repo> args...`.
    pub fn snap(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(snap_bin());
        cmd.arg("--repo").arg(self.path()).args(args);
        Run::of(cmd, Some(self.path()))
    }

    /// Rewrites the bytes of `pack` with `change`, on either backing (the
    /// damage a disk or a store could do).
    pub fn rewrite_pack(&self, pack: &PackId, change: impl FnOnce(&mut Vec<u8>)) {
        let hex = pack.to_hex();
        let key = format!("packs/{}/{hex}", &hex[..2]);
        match &self.memory {
            Some(mem) => {
                let mut bytes = mem.read(&key).expect("pack in memory");
                change(&mut bytes);
                mem.write(&key, &bytes, Precondition::None)
                    .expect("rewrite pack in memory");
            }
            None => {
                let path = self.path().join(key);
                let mut bytes = fs::read(&path).expect("pack file");
                change(&mut bytes);
                fs::write(&path, bytes).expect("rewrite pack file");
            }
        }
    }

    /// Every pack file, sorted.
    pub fn pack_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for fan in fs::read_dir(self.path().join("packs")).expect("packs/") {
            for f in fs::read_dir(fan.expect("entry").path()).expect("fan-out dir") {
                out.push(f.expect("entry").path());
            }
        }
        out.sort();
        out
    }

    /// The names in `tmp/`.
    pub fn tmp_entries(&self) -> Vec<String> {
        fs::read_dir(self.path().join("tmp"))
            .expect("tmp/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// A finished `snap` run.
pub struct Run {
    /// What was run, for failure messages.
    pub cmd: String,
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    repo: Option<PathBuf>,
}

impl Run {
    /// A finished process's output as a run.
    pub fn from_output(cmd: String, out: Output) -> Self {
        Self {
            cmd,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            repo: None,
        }
    }

    /// Runs `cmd` to completion, capturing its output.
    pub fn of(mut cmd: Command, repo: Option<PathBuf>) -> Self {
        let text = format!("{cmd:?}");
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {text}: {e}"));
        Self {
            cmd: text,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            repo,
        }
    }

    /// Everything known about the run, for a failure message.
    pub fn dump(&self) -> String {
        let mut s = format!(
            "command: {}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.cmd, self.code, self.stdout, self.stderr
        );
        if let Some(r) = &self.repo {
            let _ = writeln!(s, "--- repository {} ---\n{}", r.display(), listing(r));
        }
        s
    }

    /// Panics with [`Run::dump`] unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }

    /// Panics unless stdout (`out`) or stderr contains `needle`.
    pub fn expect_contains(&self, out: bool, needle: &str) -> &Self {
        let hay = if out { &self.stdout } else { &self.stderr };
        assert!(
            hay.contains(needle),
            "expected {} to contain {needle:?}\n{}",
            if out { "stdout" } else { "stderr" },
            self.dump()
        );
        self
    }

    /// Parses stdout as exactly one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", self.dump()))
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.code(0)
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }

    /// Asserts a failure reported as exactly one line on stderr containing
    /// every one of `words`.
    #[track_caller]
    pub fn one_line_error(self, words: &[&str]) -> Self {
        assert_ne!(self.code, 0, "expected a failure\n{}", self.dump());
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr\n{}",
            self.dump()
        );
        for w in words {
            assert!(
                lines[0].contains(w),
                "stderr does not mention {w:?}\n{}",
                self.dump()
            );
        }
        self
    }

    /// The snapshot id `create` printed (new or unchanged).
    #[track_caller]
    pub fn id(&self) -> String {
        let last = self.stdout.lines().last().unwrap_or_default();
        last.split_whitespace()
            .last()
            .filter(|s| s.len() >= 8 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_else(|| panic!("no snapshot id on stdout\n{}", self.dump()))
            .to_string()
    }
}

/// Every file under `dir` with its size, one per line.
pub fn listing(dir: &Path) -> String {
    fn walk(dir: &Path, root: &Path, out: &mut String) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            if p.is_dir() {
                let _ = writeln!(out, "{rel}/");
                walk(&p, root, out);
            } else {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = writeln!(out, "{rel} ({len} bytes)");
            }
        }
    }
    let mut out = String::new();
    walk(dir, dir, &mut out);
    out
}

/// The `snap` binary, built on first use (see the module documentation).
pub fn snap_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("SNAP_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current exe");
        // <target>/<profile>/deps/tests-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target dir");
        let mut cmd = Command::new(env!("CARGO"));
        // Always with the fault-injecting layer (inert unless SNAP_FAULT is
        // set), so every test shares one binary and cargo never flips it.
        cmd.args(["build", "--quiet", "-p", "snap-cli", "--bin", "snap"])
            .args(["--features", "snap-cli/fault-injection"])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        // The `test` profile builds into `debug/` like `dev`, and reuses
        // the libraries this test executable was built from.
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        } else {
            cmd.args(["--profile", "test"]);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p snap-cli failed");
        profile_dir.join("snap")
    })
}

/// This test executable, set up to run only the test `name` with `env` set.
pub fn child(name: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args([
        name,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A small deterministic generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Gen(pub u64);

impl Gen {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// `len` bytes determined by `seed`: random when `seed` is odd, text-like
/// (compressible) when it is even.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut g = Gen(seed);
    let mut v = Vec::with_capacity(len + 64);
    if seed % 2 == 1 {
        while v.len() < len {
            v.extend_from_slice(&g.next_u64().to_le_bytes());
        }
    } else {
        while v.len() < len {
            let r = g.next_u64();
            v.extend_from_slice(
                format!(
                    "{{\"key{}\": {}, \"on\": {}}},\n",
                    r % 50,
                    r >> 40,
                    r.is_multiple_of(3)
                )
                .as_bytes(),
            );
        }
    }
    v.truncate(len);
    v
}

/// Puts each `(seed, len)` blob in one session; returns the ids in order.
pub fn put_all(repo: &Repository, blobs: &[(u64, usize)]) -> Vec<BlobId> {
    let w = repo.writer();
    let ids = blobs
        .iter()
        .map(|&(s, l)| w.put(BlobKind::Data, &data(s, l)).expect("put").0)
        .collect();
    w.finish().expect("finish");
    ids
}

// Helpers for the lifecycle scenarios (forget, gc, auto).
use std::collections::BTreeMap;
use std::process::Output;

use chrono::{DateTime, Utc};
use snap_engine::commands::backup::{create, CreateOptions, CreateStatus};
use snap_engine::commands::restore::{restore, RestoreOptions};
use snap_engine::Repo;

/// `snap --repo REPO args...` with extra environment.
pub fn snap(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(snap_bin());
    c.arg("--repo").arg(repo).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running snap")
}

/// Like [`snap`], failing the test with stdout and stderr unless it exits 0.
pub fn snap_ok(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = snap(repo, args, env);
    assert!(
        out.status.success(),
        "snap {args:?} on {} failed ({}):\nstdout: {}\nstderr: {}",
        repo.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh repository at `dir/repo`.
pub fn init_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    Repo::init(&repo).unwrap();
    repo
}

/// Takes a snapshot of `src` as `profile` at time `t` (`None`: now).
pub fn snapshot_at(
    repo: &Path,
    profile: &str,
    src: &Path,
    t: Option<DateTime<Utc>>,
    tags: &[&str],
) -> String {
    let r = Repo::open(repo, &OpenOptions::shared("test")).unwrap();
    let mut o = CreateOptions::new(profile, src);
    o.now = t;
    o.tags = tags.iter().map(|s| s.to_string()).collect();
    let out = create(&r, &o).unwrap();
    assert_eq!(out.status, CreateStatus::Created);
    out.id.to_hex()
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough to
/// exercise the chunker.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every file under `dir` with its bytes, by relative path.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir(dir) {
        let rel = e.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        out.insert(rel, std::fs::read(&e).unwrap());
    }
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Restores every snapshot into `scratch/<id>` and returns their trees.
pub fn restore_all(repo: &Path, scratch: &Path) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let r = Repo::open(repo, &OpenOptions::shared("test")).unwrap();
    let mut out = BTreeMap::new();
    for s in r.snapshots().unwrap() {
        let target = scratch.join(s.id.to_hex());
        let _ = std::fs::remove_dir_all(&target);
        restore(
            &r,
            &s,
            &RestoreOptions {
                target: Some(target.clone()),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("restoring {} from {}: {e}", s.id, repo.display()));
        out.insert(s.id.to_hex(), read_tree(&target));
    }
    out
}

/// Bytes of every pack file.
pub fn pack_bytes(repo: &Path) -> u64 {
    walkdir(&repo.join("packs"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// Number of snapshot files.
pub fn snapshot_count(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("snapshots")).unwrap().count()
}

/// Copies a directory tree (files and folders only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A profile of constant files plus `changing.bin` whose content depends on `round`.
pub fn write_profile(dir: &Path, round: u64, changing_len: usize) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("settings.json"), br#"{"theme":"dark"}"#).unwrap();
    std::fs::write(dir.join("sub/constant.bin"), noise(7, 150_000)).unwrap();
    std::fs::write(dir.join("changing.bin"), noise(1000 + round, changing_len)).unwrap();
}

// ---- Profile trees (reliability suite) -------------------------------------

/// What a directory holds, for byte-identical comparison: relative path →
/// (kind and mode, content or link target). Directories map to empty content.
/// Content is kept as its length and blake3 digest, so that images of
/// 200 MB profiles stay small.
pub type TreeImage = std::collections::BTreeMap<String, (u32, Content)>;

/// A file's content (or a link's target) as length and blake3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Content {
    /// Bytes.
    pub len: u64,
    /// blake3 of the bytes.
    pub hash: blake3::Hash,
}

impl Content {
    fn of(bytes: &[u8]) -> Self {
        Self {
            len: bytes.len() as u64,
            hash: blake3::hash(bytes),
        }
    }
}

/// Reads every entry under `dir` (not following symlinks) into a [`TreeImage`].
pub fn tree_image(dir: &Path) -> TreeImage {
    use std::os::unix::fs::MetadataExt;
    let mut out = TreeImage::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(dir)
                .expect("under dir")
                .display()
                .to_string();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            let content = Content::of(&if m.file_type().is_symlink() {
                fs::read_link(&p)
                    .map(|t| t.into_os_string().into_encoded_bytes())
                    .unwrap_or_default()
            } else if m.is_dir() {
                stack.push(p.clone());
                Vec::new()
            } else {
                fs::read(&p).unwrap_or_default()
            });
            out.insert(rel, (m.mode(), content));
        }
    }
    out
}

/// Describes the first difference between two images, or `None`.
pub fn image_diff(want: &TreeImage, got: &TreeImage) -> Option<String> {
    for (k, v) in want {
        match got.get(k) {
            None => return Some(format!("{k}: missing")),
            Some(g) if g.0 != v.0 => return Some(format!("{k}: mode {:o} != {:o}", g.0, v.0)),
            Some(g) if g.1 != v.1 => {
                return Some(format!(
                    "{k}: content differs ({} vs {} bytes)",
                    g.1.len, v.1.len
                ))
            }
            _ => {}
        }
    }
    got.keys()
        .find(|k| !want.contains_key(*k))
        .map(|k| format!("{k}: unexpected"))
}

/// Fills `dir` with a profile-like tree: `files` files totalling about
/// `bytes` bytes in a few folders (settings JSON, small state files, a few
/// large incompressible "images"), deterministic in `seed`.
pub fn make_profile(dir: &Path, files: usize, bytes: usize, seed: u64) {
    let mut g = Gen(seed);
    let avg = (bytes / files.max(1)).max(16);
    for i in 0..files {
        let sub = match i % 4 {
            0 => "settings",
            1 => "state",
            2 => "images",
            _ => "cache/deep",
        };
        let d = dir.join(sub);
        fs::create_dir_all(&d).expect("profile dir");
        // Mostly small files, every 10th one large.
        let len = if i % 10 == 9 {
            avg * 6
        } else {
            (g.below(avg as u64 / 2 + 1) as usize) + 1
        };
        fs::write(
            d.join(format!("f{i:05}.dat")),
            data(g.next_u64() | (i as u64 % 2), len),
        )
        .expect("profile file");
    }
}

/// `$name` as a number, else `default`: the knobs of the test loops.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Changes about `fraction` of the files under `dir` (rewrites some, appends
/// to others, deletes a few, adds a few), deterministic in `seed`.
pub fn mutate_profile(dir: &Path, fraction: f64, seed: u64) {
    let mut g = Gen(seed);
    let mut files: Vec<PathBuf> = tree_image(dir)
        .into_iter()
        .filter(|(_, (mode, _))| mode & 0o170000 == 0o100000)
        .map(|(k, _)| dir.join(k))
        .collect();
    files.sort();
    for f in &files {
        if (g.below(1000) as f64) >= fraction * 1000.0 {
            continue;
        }
        match g.below(10) {
            0 => {
                let _ = fs::remove_file(f);
            }
            1..=3 => {
                let mut v = fs::read(f).unwrap_or_default();
                v.extend_from_slice(&data(g.next_u64(), 1000));
                fs::write(f, v).expect("append");
            }
            _ => {
                let len = fs::metadata(f)
                    .map(|m| m.len() as usize)
                    .unwrap_or(100)
                    .max(1);
                fs::write(f, data(g.next_u64(), len)).expect("rewrite");
            }
        }
    }
    fs::create_dir_all(dir.join("new")).expect("new dir");
    fs::write(
        dir.join(format!("new/n{}.json", g.below(1 << 20))),
        data(seed.wrapping_mul(2), 500),
    )
    .expect("new file");
}

/// Copies the tree `from` into `to`, creating or merging into it (files,
/// folders, symlinks, modes; not times: see [`copy_tree`] for an exact copy).
pub fn copy_into(from: &Path, to: &Path) {
    let m = fs::symlink_metadata(from).expect("copy source");
    if m.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from).expect("link"), to).expect("symlink");
    } else if m.is_dir() {
        fs::create_dir_all(to).expect("copy dir");
        for e in fs::read_dir(from).expect("read dir").flatten() {
            copy_into(&e.path(), &to.join(e.file_name()));
        }
        fs::set_permissions(to, m.permissions()).expect("dir mode");
    } else {
        fs::copy(from, to).expect("copy file");
    }
}

/// Removes `p` if it exists, making read-only folders writable first.
pub fn remove_tree(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if fs::symlink_metadata(p).is_err() {
        return;
    }
    for e in walkdir::WalkDir::new(p).into_iter().flatten() {
        if e.file_type().is_dir() {
            let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o755));
        }
    }
    let _ = fs::remove_dir_all(p);
}
