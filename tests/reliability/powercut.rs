//! Power cuts: the repository and the profile on a loop-mounted ext4
//! mounted `noauto_da_alloc,commit=1` (the default options hide a missing
//! fsync), the filesystem shut down in the middle of an operation with
//! `FS_IOC_SHUTDOWN` and `FS_SHUTDOWN_FLAGS_NOLOGFLUSH` (what was not flushed
//! is lost, as when the power goes), unmounted and mounted again (journal
//! replay), then the oracle.
//!
//! Needs root and loop devices; without them each test prints SKIPPED and
//! is not counted as passed. `SNAP_POWERCUTS` sets the cuts per operation
//! (default 30).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::oracle::{self, created_id, snap_env, Acked};
use crate::util::{make_profile, mutate_profile, snap_bin, tree_image, Gen};

/// `FS_IOC_SHUTDOWN` (`_IOR('X', 125, __u32)`) with flag 2, NOLOGFLUSH.
const SHUTDOWN: &str = "import fcntl, os, struct, sys\n\
fd = os.open(sys.argv[1], os.O_RDONLY)\n\
fcntl.ioctl(fd, 0x8004587D, struct.pack('I', 2))\n";

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An ext4 image mounted on a temporary directory, unmounted on drop.
struct Ext4 {
    _dir: tempfile::TempDir,
    img: PathBuf,
    mnt: PathBuf,
}

impl Ext4 {
    fn new(mib: u64) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let img = dir.path().join("fs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).ok()?;
        std::fs::File::create(&img).ok()?.set_len(mib << 20).ok()?;
        if !quiet(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&img)) {
            return None;
        }
        let fs = Self {
            _dir: dir,
            img,
            mnt,
        };
        fs.mount().then_some(fs)
    }

    fn mount(&self) -> bool {
        quiet(
            Command::new("mount")
                .args(["-o", "loop,noauto_da_alloc,commit=1"])
                .arg(&self.img)
                .arg(&self.mnt),
        )
    }

    /// Unmounts (retrying while the killed process lets go) and mounts again.
    fn remount(&self) {
        let mut unmounted = false;
        for _ in 0..100 {
            if quiet(Command::new("umount").arg(&self.mnt)) {
                unmounted = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(unmounted, "cannot unmount {}", self.mnt.display());
        assert!(self.mount(), "cannot mount {} again", self.img.display());
    }

    /// The power cut.
    fn cut(&self) {
        let ok = quiet(
            Command::new("python3")
                .args(["-c", SHUTDOWN])
                .arg(&self.mnt),
        );
        assert!(ok, "FS_IOC_SHUTDOWN failed on {}", self.mnt.display());
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = quiet(Command::new("umount").arg(&self.mnt));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Restore,
    Gc,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sync() {
    assert!(quiet(&mut Command::new("sync")), "sync failed");
}

/// Runs `snap args`, cuts the power after `delay` (or when it ends, if
/// sooner), and returns its exit code and stdout.
fn run_and_cut(fs: &Ext4, repo: &Path, args: &[&str], delay: Duration) -> (i32, String) {
    let mut child = Command::new(snap_bin())
        .arg("--repo")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn snap");
    let start = Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    fs.cut();
    let status = child.wait().expect("wait");
    let mut out = String::new();
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out);
    (status.code().unwrap_or(-1), out)
}

/// Cuts the power `n` times during `op`; returns a figures line.
fn power_cuts(op: Op) -> Option<String> {
    let cuts = env_or("SNAP_POWERCUTS", 30);
    let mut g = Gen(0xc07 ^ op as u64);
    let scratch = tempfile::tempdir().expect("scratch");
    let (mut acked_lost, mut failures, mut mixed) = (0u64, Vec::new(), 0u64);
    let mut fs = None;
    let mut acked: Vec<Acked> = Vec::new();
    let mut took = Duration::ZERO;
    for cut in 0..cuts {
        // A fresh filesystem every 10 cuts keeps the oracle's cost bounded.
        if cut % 10 == 0 {
            drop(fs.take());
            fs = Some(Ext4::new(160)?);
            acked.clear();
        }
        let fs = fs.as_ref().expect("mounted");
        let repo = fs.mnt.join("repo");
        let profile = fs.mnt.join("profile");
        let p = profile.to_str().expect("utf-8").to_string();
        if cut % 10 == 0 {
            make_profile(&profile, 120, 2_000_000, g.next_u64());
            let t = Instant::now();
            let run = snap_env(&repo, &["create", &p], &[]);
            took = t.elapsed();
            let id = created_id(&run).unwrap_or_else(|| panic!("first create\n{}", run.dump()));
            acked.push(Acked {
                id,
                image: tree_image(&profile),
            });
        }
        mutate_profile(&profile, 0.3, g.next_u64());
        let before = tree_image(&profile);
        let mut target = None;
        let args: Vec<String> = match op {
            Op::Create => vec!["create".into(), p.clone()],
            Op::Restore => {
                let t = acked[g.below(acked.len() as u64) as usize].clone();
                let id = t.id.clone();
                target = Some(t);
                vec!["restore".into(), id]
            }
            Op::Gc => {
                let run = snap_env(&repo, &["create", &p], &[]);
                if let Some(id) = created_id(&run) {
                    acked.push(Acked {
                        id,
                        image: before.clone(),
                    });
                }
                snap_env(&repo, &["forget", "--keep-last", "2"], &[]);
                let listed = snap_env(&repo, &["--json", "list"], &[]).json();
                let ids: Vec<&str> = listed
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s["id"].as_str()).collect())
                    .unwrap_or_default();
                acked.retain(|a| ids.contains(&a.id.as_str()));
                vec!["gc".into()]
            }
        };
        // Everything before the operation is durable, as on a real disk
        // where the profile was written long ago.
        sync();
        let window = (took.as_micros() as u64 * 12 / 10).max(2_000);
        let delay = Duration::from_micros(g.below(window));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = run_and_cut(fs, &repo, &args, delay);
        fs.remount();
        let what = format!("{op:?} cut {cut} (delay {delay:?})");
        // `create` prints the id only after the commit point.
        let printed = out.lines().next().map(str::trim).filter(|l| l.len() == 64);
        if let (Op::Create, 0, Some(id)) = (op, code, printed) {
            acked.push(Acked {
                id: id.to_string(),
                image: before.clone(),
            });
        }
        let r = oracle::check_with(
            &repo,
            &acked,
            &profile,
            scratch.path(),
            oracle::Verify::Acked,
        );
        if let Err(e) = r {
            if e.starts_with("(b) acknowledged") {
                acked_lost += 1;
            }
            failures.push(format!("{what}: {e}"));
        }
        if let Some(t) = target {
            let now = tree_image(&profile);
            if now != before && now != t.image {
                mixed += 1;
                failures.push(format!(
                    "{what}: profile is neither the old state nor the snapshot"
                ));
            }
        }
    }
    let line = format!(
        "| {op:?} | {cuts} | {} | {acked_lost} | {mixed} |",
        failures.len()
    );
    println!("| operation | power cuts | oracle failures | acknowledged lost | mixed profiles |");
    println!("{line}");
    assert!(
        failures.is_empty(),
        "{} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
    Some(line)
}

fn run(op: Op) {
    if power_cuts(op).is_none() {
        eprintln!(
            "SKIPPED (not counted as passed): power cuts need root, mkfs.ext4 and loop mounts"
        );
    }
}

#[test]
fn power_cuts_during_create() {
    run(Op::Create);
}

#[test]
fn power_cuts_during_restore_in_place() {
    run(Op::Restore);
}

#[test]
fn power_cuts_during_gc() {
    run(Op::Gc);
}
