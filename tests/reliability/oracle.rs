//! The oracle of issue 6, checked after every injected fault and crash.
//!
//! After the repository is reopened (which recovers):
//! (a) `snap check --read-data` exits 0 (store check + engine snapshot walk);
//! (b) every snapshot whose id `create` printed restores byte-identically to
//!     the tree it was taken from;
//! (c) every listed snapshot is complete (the engine walk finds nothing
//!     missing, and it restores without error);
//! (d) no temporary files in `tmp/`, no restore journal, no staging folder
//!     beside the profile remain after the reopen;
//! (e) the exclusive lock can be taken within 1 s;
//! (f) `index rebuild` on a copy gives the same blobs and snapshots as the
//!     live index.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use snap_engine::commands::restore::{restore, RestoreOptions};
use snap_engine::Repo;
use snap_store::{LockMode, OpenOptions, Repository, Unlock};

use crate::util::{copy_into, image_diff, remove_tree, snap_bin, tree_image, Run, TreeImage};

/// A snapshot `create` acknowledged (printed its id), with what it must hold.
#[derive(Clone)]
pub struct Acked {
    /// The full id printed by `create`.
    pub id: String,
    /// The tree the snapshot was taken from.
    pub image: TreeImage,
}

/// The password of the encrypted worlds ([`World::init_encrypted`]).
pub const PASSWORD: &str = "crash-loop password";

/// Whether `repo` is an encrypted repository (its `config.json` has key
/// slots): commands on it get [`PASSWORD`] in `SNAP_PASSWORD`.
fn encrypted(repo: &Path) -> bool {
    fs::read(repo.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|c| c.get("encryption").is_some_and(|e| !e.is_null()))
}

/// The cache directory (`XDG_CACHE_HOME`) of the world holding `repo`,
/// beside it: an encrypted repository's index lives there, inside the
/// world, so that resetting a world resets its index too.
pub fn cache_of(repo: &Path) -> PathBuf {
    repo.with_file_name("cache")
}

/// A `snap --repo REPO args` command, with [`PASSWORD`] and the world's
/// cache when the repository is encrypted, and no fault injection.
fn snap_command(repo: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(snap_bin());
    cmd.arg("--repo").arg(repo).args(args);
    cmd.env_remove("SNAP_FAULT").env_remove("SNAP_FAULT_COUNTS");
    if encrypted(repo) {
        cmd.env("SNAP_PASSWORD", PASSWORD)
            .env("XDG_CACHE_HOME", cache_of(repo));
    }
    cmd
}

/// `options` for `repo`, unlocking with [`PASSWORD`] and using the world's
/// cache ([`cache_of`]); a plain repository ignores both.
pub fn unlocking(repo: &Path, options: OpenOptions) -> OpenOptions {
    OpenOptions {
        unlock: Some(Unlock::with_password(PASSWORD)),
        cache_dir: Some(cache_of(repo).join("snap")),
        ..options
    }
}

/// Runs `snap --repo REPO args` with extra environment.
pub fn snap_env(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = snap_command(repo, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::of(cmd, Some(repo.to_path_buf()))
}

/// Starts `snap --repo REPO args`, waits until it ends or `delay` has
/// passed, then calls `interrupt` on it (a kill -9, a power cut), waits for
/// it, and returns its exit code, its stdout and, when it ended before the
/// interruption, how long it ran.
pub fn run_interrupted(
    repo: &Path,
    args: &[&str],
    delay: Duration,
    interrupt: impl FnOnce(&mut Child),
) -> (i32, String, Option<Duration>) {
    let mut child = snap_command(repo, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn snap");
    let start = Instant::now();
    let mut ended = None;
    while ended.is_none() && start.elapsed() < delay {
        if child.try_wait().expect("wait").is_some() {
            ended = Some(start.elapsed());
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    if ended.is_none() && child.try_wait().expect("wait").is_some() {
        ended = Some(start.elapsed());
    }
    interrupt(&mut child);
    let status = child.wait().expect("wait");
    let mut out = String::new();
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out);
    (status.code().unwrap_or(-1), out, ended)
}

/// `snap forget --keep-last N`, then drops from `acked` the snapshots it
/// removed (by the listed ids, not a text search: a forgotten id still
/// appears as the next one's parent).
pub fn forget_keeping_last(repo: &Path, n: u32, acked: &mut Vec<Acked>) {
    snap_env(repo, &["forget", "--keep-last", &n.to_string()], &[]);
    let listed = snap_env(repo, &["--json", "list"], &[]).json();
    let ids: Vec<&str> = listed
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["id"].as_str()).collect())
        .unwrap_or_default();
    acked.retain(|a| ids.contains(&a.id.as_str()));
}

/// The id a successful `snap create` printed (a new snapshot), if any.
pub fn created_id(run: &Run) -> Option<String> {
    let line = run.stdout.lines().next()?.trim();
    (run.code == 0 && line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| line.to_string())
}

/// Checks the whole oracle; `profile` is the profile folder (its parent is
/// searched for staging leftovers). `scratch` is an empty folder the oracle
/// may use. Returns the first violation.
pub fn check(repo: &Path, acked: &[Acked], profile: &Path, scratch: &Path) -> Result<(), String> {
    check_with(repo, acked, profile, scratch, Verify::All)
}

/// Which snapshots the oracle restores. Every listed snapshot is always
/// walked by the engine check (trees and chunks present) and has every blob
/// read and hashed by `check --read-data`; snapshots, trees and blobs are
/// content-addressed and never modified, so a snapshot that restored
/// byte-identically once and still passes both restores the same again.
/// That is what lets long loops restore each acknowledged snapshot once.
#[derive(Clone, Copy)]
pub enum Verify<'a> {
    /// Every listed snapshot (the acknowledged ones compared byte for byte).
    All,
    /// The acknowledged snapshots.
    Acked,
    /// These acknowledged snapshots.
    Only(&'a [&'a str]),
}

/// [`check`], restoring the snapshots `verify` names.
pub fn check_with(
    repo: &Path,
    acked: &[Acked],
    profile: &Path,
    scratch: &Path,
    verify: Verify,
) -> Result<(), String> {
    // (e) + reopen: the exclusive lock within 1 s; the open sweeps tmp/ and
    // finishes interrupted restores.
    {
        let opts = unlocking(
            repo,
            OpenOptions {
                lock: LockMode::Exclusive,
                command: "oracle".into(),
                wait: Duration::from_secs(1),
                frees_space: false,
                ..OpenOptions::default()
            },
        );
        let r = Repo::open(repo, &opts).map_err(|e| format!("(e) reopen/lock: {e}"))?;
        drop(r);
    }
    // (d) leftovers.
    let tmp: Vec<_> = fs::read_dir(repo.join("tmp"))
        .map_err(|e| format!("(d) tmp/: {e}"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    if !tmp.is_empty() {
        return Err(format!("(d) tmp/ not empty after reopen: {tmp:?}"));
    }
    if let Ok(rd) = fs::read_dir(repo.join(snap_engine::commands::restore::JOURNAL_DIR)) {
        let j: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        if !j.is_empty() {
            return Err(format!("(d) restore journal left: {j:?}"));
        }
    }
    if let Some(parent) = profile.parent() {
        for e in fs::read_dir(parent).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().contains(".snap-staging-") {
                return Err(format!("(d) staging left: {}", e.path().display()));
            }
        }
    }
    // (a) check --read-data through the binary.
    let run = crate::reliability::oracle::snap_env(repo, &["check", "--read-data"], &[]);
    if run.code != 0 {
        return Err(format!("(a) check --read-data failed\n{}", run.dump()));
    }
    // (b), (c): every listed snapshot restores; acknowledged ones exactly.
    let r = Repo::open(repo, &unlocking(repo, OpenOptions::shared("oracle")))
        .map_err(|e| format!("open: {e}"))?;
    let listed = r.snapshots().map_err(|e| format!("list: {e}"))?;
    let walk =
        snap_engine::commands::check::check_snapshots(&r).map_err(|e| format!("walk: {e}"))?;
    if !walk.problems.is_empty() {
        return Err(format!("(c) partial snapshot: {:?}", walk.problems[0]));
    }
    for a in acked {
        if !listed.iter().any(|s| s.id.to_hex() == a.id) {
            return Err(format!("(b) acknowledged snapshot {} lost", a.id));
        }
    }
    for (i, s) in listed.iter().enumerate() {
        let hex = s.id.to_hex();
        let wanted = match verify {
            Verify::All => true,
            Verify::Acked => acked.iter().any(|a| a.id == hex),
            Verify::Only(ids) => ids.contains(&hex.as_str()),
        };
        if !wanted {
            continue;
        }
        let target = scratch.join(format!("restore-{i}"));
        remove_tree(&target);
        let opts = RestoreOptions {
            target: Some(target.clone()),
            ..RestoreOptions::default()
        };
        restore(&r, s, &opts)
            .map_err(|e| format!("(c) snapshot {} does not restore: {e}", s.id))?;
        if let Some(a) = acked.iter().find(|a| a.id == s.id.to_hex()) {
            if let Some(d) = image_diff(&a.image, &tree_image(&target)) {
                return Err(format!("(b) snapshot {} restores differently: {d}", a.id));
            }
        }
        remove_tree(&target);
    }
    // (f) rebuild on a copy: same blobs and snapshots.
    let live = r.store().stats().map_err(|e| format!("stats: {e}"))?;
    let mut live_snaps: Vec<_> = listed.iter().map(|s| s.id).collect();
    live_snaps.sort();
    drop(r);
    let copy = scratch.join("rebuild-copy");
    remove_tree(&copy);
    link_or_copy(repo, &copy);
    let _ = fs::remove_file(copy.join("lock"));
    // An encrypted copy has the live repository's id: its index is rebuilt
    // in a cache of its own, not over the live one.
    let copy_cache = scratch.join("rebuild-copy-cache");
    remove_tree(&copy_cache);
    let copy_opts = OpenOptions {
        cache_dir: Some(copy_cache.clone()),
        ..unlocking(&copy, OpenOptions::exclusive("oracle"))
    };
    let mut c = Repository::open(&copy, &copy_opts).map_err(|e| format!("(f) open copy: {e}"))?;
    c.rebuild_index().map_err(|e| format!("(f) rebuild: {e}"))?;
    let rebuilt = c.stats().map_err(|e| format!("(f) stats: {e}"))?;
    let mut snaps: Vec<_> = c
        .snapshots()
        .map_err(|e| format!("(f) {e}"))?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    snaps.sort();
    drop(c);
    remove_tree(&copy);
    remove_tree(&copy_cache);
    if (rebuilt.blobs, rebuilt.packs) != (live.blobs, live.packs) || snaps != live_snaps {
        return Err(format!(
            "(f) rebuild differs: {} blobs/{} packs/{} snapshots live, {}/{}/{} rebuilt",
            live.blobs,
            live.packs,
            live_snaps.len(),
            rebuilt.blobs,
            rebuilt.packs,
            snaps.len()
        ));
    }
    Ok(())
}

/// Copies the repository `from` into `to`, hard-linking the pack files
/// (immutable; `index rebuild` only reads them) when both are on one
/// filesystem.
fn link_or_copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("copy dir");
    for e in fs::read_dir(from).expect("read repository").flatten() {
        let dest = to.join(e.file_name());
        if e.file_name() != "packs" {
            copy_into(&e.path(), &dest);
            continue;
        }
        for f in walkdir::WalkDir::new(e.path()).into_iter().flatten() {
            let d = dest.join(f.path().strip_prefix(e.path()).expect("under packs"));
            if f.file_type().is_dir() {
                fs::create_dir_all(&d).expect("packs dir");
            } else if fs::hard_link(f.path(), &d).is_err() {
                fs::copy(f.path(), &d).expect("copy pack");
            }
        }
    }
}

/// A temporary directory in RAM (`/dev/shm`, when it is a tmpfs with room
/// for `need` bytes), else in the usual temporary directory. For kill -9
/// loops and fault injection: killing a process or failing a system call
/// leaves the page cache intact, so a RAM filesystem tests the same thing
/// as a disk, without waiting on every fsync. (Power cuts, which do lose
/// unflushed data, run on a real ext4 instead.)
pub fn ram_tempdir(need: u64) -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let is_tmpfs = rustix::fs::statfs(shm).is_ok_and(|s| s.f_type == 0x0102_1994);
    let roomy = rustix::fs::statvfs(shm).is_ok_and(|s| s.f_bavail * s.f_frsize > need);
    match tempfile::tempdir_in(shm) {
        Ok(dir) if is_tmpfs && roomy => dir,
        _ => tempfile::tempdir().expect("temp dir"),
    }
}

/// A working area: `repo/`, `profile/` and `scratch/` in one temp dir.
pub struct World {
    _dir: tempfile::TempDir,
    /// The repository.
    pub repo: PathBuf,
    /// The profile folder.
    pub profile: PathBuf,
    /// Space for the oracle.
    pub scratch: PathBuf,
}

impl World {
    /// An empty world (nothing created yet but `scratch/`).
    pub fn new() -> Self {
        Self::in_dir(tempfile::tempdir().expect("temp dir"))
    }

    /// An empty world in RAM ([`ram_tempdir`]).
    pub fn in_ram(need: u64) -> Self {
        Self::in_dir(ram_tempdir(need))
    }

    fn in_dir(dir: tempfile::TempDir) -> Self {
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).expect("scratch");
        Self {
            repo: dir.path().join("repo"),
            profile: dir.path().join("profile"),
            scratch,
            _dir: dir,
        }
    }
}
