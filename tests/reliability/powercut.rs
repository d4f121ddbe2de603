//! Power cuts: the repository and the profile on a loop-mounted ext4
//! mounted `noauto_da_alloc,commit=1` (the default options hide a missing
//! fsync), the filesystem shut down in the middle of an operation with
//! `FS_IOC_SHUTDOWN` and `FS_SHUTDOWN_FLAGS_NOLOGFLUSH` (what was not flushed
//! is lost, as when the power goes), unmounted and mounted again (journal
//! replay), then the oracle.
//!
//! `export` writes its ZIP on the same filesystem, over the previous cut's
//! output: afterwards the output must be absent (when there was none), the
//! previous file, or byte-identical to a clean export of the same snapshot
//! (and exactly that when `export` reported success). `import` reads a ZIP
//! of the latest snapshot, also on that filesystem, into another profile;
//! what it acknowledged (printed) must restore to that snapshot's tree.
//! `restore FILE --target DIR` extracts such a ZIP (no repository) to a
//! target on that filesystem: afterwards the target must be absent or
//! exactly the snapshot's tree, and exactly the tree when it reported
//! success. `export --payload staktrakr` writes a StakTrakr vault of an
//! imported StakTrakr snapshot over the previous cut's: the output must be
//! absent (when there was none), the previous file, or a vault that
//! extracts to that snapshot's tree, and a new file when it reported
//! success.
//!
//! Needs root, mkfs.ext4 (e2fsprogs), python3 and loop devices: the tests
//! are `#[ignore]`d (listed as ignored by the runner) and `.ci/run` runs them
//! as root with `--include-ignored`; run without those they fail. `SNAP_POWERCUTS` sets the cuts per operation
//! (default 30).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::archives::{archive_problem, staktrakr_vault};
use super::oracle::{self, created_id, snap_env, Acked, PASSWORD};
use crate::util::{
    env_or, make_profile, mutate_profile, remove_tree, tree_image, Gen, Run, TreeImage,
};

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
    Export,
    Import,
    Extract,
    ExportStakTrakr,
}

fn sync() {
    assert!(quiet(&mut Command::new("sync")), "sync failed");
}

/// Runs `snap args` to completion; returns the run and how long it took.
fn timed(repo: &Path, args: &[&str]) -> (Run, Duration) {
    let t = Instant::now();
    let run = snap_env(repo, args, &[]);
    (run, t.elapsed())
}

/// `snap create PROFILE`, remembering the snapshot as acknowledged.
fn take(repo: &Path, profile: &Path, acked: &mut Vec<Acked>) -> (String, Duration) {
    let p = profile.to_str().expect("utf-8");
    let (run, took) = timed(repo, &["create", p]);
    let id = created_id(&run).unwrap_or_else(|| panic!("create\n{}", run.dump()));
    acked.push(Acked {
        id: id.clone(),
        image: tree_image(profile),
    });
    (id, took)
}

/// A clean ZIP export of `id` to `dest`; how long it took.
fn export_clean(repo: &Path, id: &str, dest: &Path) -> Duration {
    let (run, took) = timed(
        repo,
        &["export", id, "--zip", dest.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 0, "export\n{}", run.dump());
    took
}

/// What a cut must leave, besides the oracle.
enum Expect {
    Nothing,
    /// In-place restore: the profile is the old state or this snapshot.
    Profile(Acked),
    /// Export: the output is absent (when there was none), the previous
    /// file, or exactly these bytes (a clean export of the same snapshot).
    Output {
        previous: Option<Vec<u8>>,
        complete: Vec<u8>,
    },
    /// Extraction: the target is absent or exactly this tree.
    Tree(TreeImage),
    /// Vault export: the output is absent (when there was none), the
    /// previous file, or a vault of this tree (a new one on success).
    Vault {
        previous: Option<Vec<u8>>,
        tree: TreeImage,
    },
}

/// The operation's command line for this cut (after its setup), what the
/// cut must leave, and a clean run's length to aim the cut at (`None`:
/// that of the first `create`).
fn prepare(
    op: Op,
    w: &Paths,
    g: &mut Gen,
    acked: &mut Vec<Acked>,
    staktrakr: Option<&TreeImage>,
) -> (Vec<String>, Expect, Option<Duration>) {
    let p = w.profile.to_str().expect("utf-8").to_string();
    match op {
        Op::Create => (vec!["create".into(), p], Expect::Nothing, None),
        Op::Restore => {
            let t = acked[g.below(acked.len() as u64) as usize].clone();
            (
                vec!["restore".into(), t.id.clone()],
                Expect::Profile(t),
                None,
            )
        }
        Op::Gc => {
            take(&w.repo, &w.profile, acked);
            oracle::forget_keeping_last(&w.repo, 2, acked);
            (vec!["gc".into()], Expect::Nothing, None)
        }
        Op::Export => {
            // A new snapshot, exported over the previous cut's output.
            let (id, _) = take(&w.repo, &w.profile, acked);
            let reference = w.scratch.join("reference.zip");
            let took = export_clean(&w.repo, &id, &reference);
            let complete = std::fs::read(&reference).expect("reference export");
            let previous = std::fs::read(&w.output).ok();
            let out = w.output.to_str().expect("utf-8").to_string();
            let args = vec!["export".into(), id, "--zip".into(), out];
            (args, Expect::Output { previous, complete }, Some(took))
        }
        Op::Import => {
            // A new snapshot, its ZIP (on the same filesystem), imported
            // into another profile.
            let (id, _) = take(&w.repo, &w.profile, acked);
            let _ = std::fs::remove_file(&w.archive);
            export_clean(&w.repo, &id, &w.archive);
            let args = import_args(w);
            (args, Expect::Nothing, None)
        }
        Op::Extract => {
            // A new snapshot's ZIP extracted to a fresh target, both on
            // the ext4.
            let (id, _) = take(&w.repo, &w.profile, acked);
            let _ = std::fs::remove_file(&w.archive);
            export_clean(&w.repo, &id, &w.archive);
            remove_tree(&w.extracted);
            let image = acked.last().expect("acked").image.clone();
            let args = [
                "restore",
                path_str(&w.archive),
                "--target",
                path_str(&w.extracted),
            ];
            (args.map(String::from).to_vec(), Expect::Tree(image), None)
        }
        Op::ExportStakTrakr => {
            // The imported StakTrakr snapshot, exported over the previous
            // cut's vault.
            let previous = std::fs::read(&w.vault).ok();
            let tree = staktrakr.expect("the StakTrakr vault's tree").clone();
            (
                staktrakr_export_args(w),
                Expect::Vault { previous, tree },
                None,
            )
        }
    }
}

/// The profile the StakTrakr vault is imported into.
const STAKTRAKR_PROFILE: &str = "staktrakr";

/// `export --payload staktrakr` of [`STAKTRAKR_PROFILE`]'s latest snapshot
/// to `w.vault`.
fn staktrakr_export_args(w: &Paths) -> Vec<String> {
    let password = w.scratch.join("password");
    std::fs::write(&password, PASSWORD).expect("password file");
    let args = [
        "export",
        "latest",
        "--profile",
        STAKTRAKR_PROFILE,
        "--vault",
        path_str(&w.vault),
        "--payload",
        "staktrakr",
        "--vault-password-file",
        path_str(&password),
    ];
    args.map(String::from).to_vec()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

fn import_args(w: &Paths) -> Vec<String> {
    let zip = w.archive.to_str().expect("utf-8").to_string();
    ["--quiet", "import", &zip, "--profile", "imported"]
        .map(String::from)
        .to_vec()
}

/// Where a cut's files live: all on the ext4 but `scratch`.
struct Paths {
    repo: PathBuf,
    profile: PathBuf,
    /// Export's output, beside other files it must not leave.
    output: PathBuf,
    /// Import's and extraction's input.
    archive: PathBuf,
    /// Extraction's target, beside export's output.
    extracted: PathBuf,
    /// `export --payload staktrakr`'s output, beside export's.
    vault: PathBuf,
    scratch: PathBuf,
}

/// Cuts the power `n` times during `op`; returns a figures line.
fn power_cuts(op: Op) -> Option<String> {
    let cuts = env_or("SNAP_POWERCUTS", 30);
    let mut g = Gen(0xc07 ^ op as u64);
    let scratch = tempfile::tempdir().expect("scratch");
    let (mut acked_lost, mut failures, mut mixed) = (0u64, Vec::new(), 0u64);
    let (mut leftovers, mut mid_run) = (0u64, 0u64);
    let mut fs = None;
    let mut acked: Vec<Acked> = Vec::new();
    let mut took = Duration::ZERO;
    // The StakTrakr vault export's snapshot is imported from (outside the
    // ext4), and its tree.
    let staktrakr = (op == Op::ExportStakTrakr).then(|| {
        staktrakr_vault(
            &scratch.path().join("no-repo"),
            scratch.path(),
            scratch.path(),
        )
    });
    for cut in 0..cuts {
        // A fresh filesystem every 10 cuts keeps the oracle's cost bounded.
        if cut % 10 == 0 {
            drop(fs.take());
            fs = Some(Ext4::new(160)?);
            acked.clear();
        }
        let fs = fs.as_ref().expect("mounted");
        let w = Paths {
            repo: fs.mnt.join("repo"),
            profile: fs.mnt.join("profile"),
            output: fs.mnt.join("out").join("export.zip"),
            archive: fs.mnt.join("in.zip"),
            extracted: fs.mnt.join("out").join("extracted"),
            vault: fs.mnt.join("out").join("staktrakr.stvault"),
            scratch: scratch.path().to_path_buf(),
        };
        if cut % 10 == 0 {
            make_profile(&w.profile, 120, 2_000_000, g.next_u64());
            std::fs::create_dir_all(w.output.parent().expect("out")).expect("out dir");
            let (id, t) = take(&w.repo, &w.profile, &mut acked);
            took = t;
            if op == Op::Import {
                // Aim the cuts at a clean import's length.
                export_clean(&w.repo, &id, &w.archive);
                let args = import_args(&w);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (run, t) = timed(&w.repo, &args);
                let id = created_id(&run).unwrap_or_else(|| panic!("import\n{}", run.dump()));
                let image = acked.last().expect("acked").image.clone();
                acked.push(Acked { id, image });
                took = t;
            }
            if let Some((vault, tree)) = &staktrakr {
                // Import it, and aim the cuts at a clean export's length.
                let v = path_str(vault);
                let args = ["--quiet", "import", v, "--profile", STAKTRAKR_PROFILE];
                let run = snap_env(&w.repo, &args, &[("SNAP_PASSWORD", PASSWORD)]);
                let id = created_id(&run).unwrap_or_else(|| panic!("import\n{}", run.dump()));
                acked.push(Acked {
                    id,
                    image: tree.clone(),
                });
                let args = staktrakr_export_args(&w);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (run, t) = timed(&w.repo, &args);
                assert_eq!(run.code, 0, "export\n{}", run.dump());
                took = t;
            }
        }
        mutate_profile(&w.profile, 0.3, g.next_u64());
        let before = tree_image(&w.profile);
        let tree = staktrakr.as_ref().map(|(_, t)| t);
        let (args, expect, aim) = prepare(op, &w, &mut g, &mut acked, tree);
        took = aim.unwrap_or(took);
        // What an import must restore to: the snapshot just exported.
        let imported = acked.last().map(|a| a.image.clone());
        // Everything before the operation is durable, as on a real disk
        // where the profile was written long ago.
        sync();
        let window = (took.as_micros() as u64 * 12 / 10).max(2_000);
        let delay = Duration::from_micros(g.below(window));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, ended) = oracle::run_interrupted(&w.repo, &args, delay, |_| fs.cut());
        mid_run += u64::from(ended.is_none());
        // Aim the next cut at this operation's own length: a run that
        // ended first sets it, a cut that caught it running widens it.
        took = ended.unwrap_or(took * 11 / 10);
        fs.remount();
        let what = format!("{op:?} cut {cut} (delay {delay:?})");
        // `create` and `import --quiet` print the id only after the commit
        // point.
        let printed = out.lines().next().map(str::trim).filter(|l| l.len() == 64);
        if let (0, Some(id)) = (code, printed) {
            match op {
                Op::Create => acked.push(Acked {
                    id: id.to_string(),
                    image: before.clone(),
                }),
                Op::Import => acked.push(Acked {
                    id: id.to_string(),
                    image: imported.expect("exported snapshot"),
                }),
                _ => {}
            }
        }
        let r = oracle::check_with(
            &w.repo,
            &acked,
            &w.profile,
            &w.scratch,
            oracle::Verify::Acked,
        );
        if matches!(op, Op::Export | Op::Import | Op::Extract) {
            // Each cut adds snapshots; the older ones were restored after
            // earlier cuts (and are still walked and read by the oracle):
            // keep its restores bounded.
            let old = acked.len().saturating_sub(4);
            acked.drain(..old);
        }
        if let Err(e) = r {
            if e.starts_with("(b) acknowledged") {
                acked_lost += 1;
            }
            failures.push(format!("{what}: {e}"));
        }
        match expect {
            Expect::Nothing => {}
            Expect::Profile(t) => {
                let now = tree_image(&w.profile);
                if now != before && now != t.image {
                    mixed += 1;
                    failures.push(format!(
                        "{what}: profile is neither the old state nor the snapshot"
                    ));
                }
            }
            Expect::Output { previous, complete } => {
                let now = std::fs::read(&w.output).ok();
                let ok = match &now {
                    Some(b) if *b == complete => true,
                    _ if code == 0 => false,
                    None => previous.is_none(),
                    Some(b) => previous.as_ref() == Some(b),
                };
                if !ok {
                    mixed += 1;
                    failures.push(format!(
                        "{what}: exit {code}, the output is {} bytes, neither the previous file ({:?} bytes) nor the complete export ({} bytes)",
                        now.map_or(0, |b| b.len()),
                        previous.map(|b| b.len()),
                        complete.len()
                    ));
                }
                // The next export would remove a partial file left beside
                // the output; count them instead.
                leftovers += remove_left(&w.output, &partial_prefix(&w.output));
            }
            Expect::Tree(image) => {
                let now = std::fs::symlink_metadata(&w.extracted)
                    .ok()
                    .map(|_| tree_image(&w.extracted));
                let ok = match &now {
                    Some(t) => *t == image,
                    None => code != 0,
                };
                if !ok {
                    mixed += 1;
                    failures.push(format!(
                        "{what}: exit {code}, the target is {}",
                        if now.is_some() {
                            "neither absent nor the snapshot's tree"
                        } else {
                            "absent"
                        }
                    ));
                }
                // The next extraction to the same target would remove a
                // staging folder; count them instead.
                let staging = format!(".extracted{}", snap_engine::export::STAGING_INFIX);
                leftovers += remove_left(&w.extracted, &staging);
            }
            Expect::Vault { previous, tree } => {
                let now = std::fs::read(&w.vault).ok();
                let problem = match &now {
                    None if code == 0 => Some("reported success, no output".to_string()),
                    None => previous
                        .is_some()
                        .then(|| "the previous output is gone".into()),
                    Some(b) if previous.as_ref() == Some(b) => (code == 0)
                        .then(|| "reported success, the output is the previous file".into()),
                    Some(_) => archive_problem(&w.repo, &w.scratch, &w.vault, &tree)
                        .map(|d| format!("the output does not extract to the snapshot: {d}")),
                };
                if let Some(p) = problem {
                    mixed += 1;
                    failures.push(format!("{what}: exit {code}, {p}"));
                }
                leftovers += remove_left(&w.vault, &partial_prefix(&w.vault));
            }
        }
    }
    let line = format!(
        "| {op:?} | {cuts} | {} | {acked_lost} | {mixed} |",
        failures.len()
    );
    println!("| operation | power cuts | oracle failures | acknowledged lost | mixed profiles / outputs |");
    println!("{line}");
    println!("{op:?}: {mid_run} of {cuts} cuts while snap was running");
    if matches!(op, Op::Export | Op::Extract | Op::ExportStakTrakr) {
        println!("temporary files or folders left beside the output: {leftovers}");
    }
    assert!(
        failures.is_empty(),
        "{} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
    Some(line)
}

/// `.NAME.snap-partial-`: what names a partial file of `output`.
fn partial_prefix(output: &Path) -> String {
    let name = output.file_name().expect("name").to_string_lossy();
    format!(".{name}{}", snap_store::fsutil::PARTIAL_INFIX)
}

/// Removes the entries beside `output` whose names start with `prefix`;
/// how many there were.
fn remove_left(output: &Path, prefix: &str) -> u64 {
    let dir = output.parent().expect("parent");
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("output's folder").flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            n += 1;
            if e.path().is_dir() {
                remove_tree(&e.path());
            } else {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    n
}

fn run(op: Op) {
    assert!(
        power_cuts(op).is_some(),
        "power cuts need root, mkfs.ext4 (e2fsprogs), python3 and loop mounts"
    );
}

#[test]
#[ignore = "needs root, mkfs.ext4 and loop devices; .ci/run runs it with --include-ignored"]
fn power_cuts_during_create() {
    run(Op::Create);
}

#[test]
#[ignore = "needs root, mkfs.ext4 and loop devices; .ci/run runs it with --include-ignored"]
fn power_cuts_during_restore_in_place() {
    run(Op::Restore);
}

#[test]
#[ignore = "needs root, mkfs.ext4 and loop devices; .ci/run runs it with --include-ignored"]
fn power_cuts_during_gc() {
    run(Op::Gc);
}

#[test]
#[ignore = "needs root, mkfs.ext4 and loop devices; .ci/run runs it with --include-ignored"]
fn power_cuts_during_export() {
    run(Op::Export);
}

#[test]
#[ignore = "needs root, mkfs.ext4 and loop devices; .ci/run runs it with --include-ignored"]
fn power_cuts_during_import() {
    run(Op::Import);
}

#[test]
#[ignore = "needs root, mkfs.ext4 and loop devices; .ci/run runs it with --include-ignored"]
fn power_cuts_during_extraction() {
    run(Op::Extract);
}

#[test]
#[ignore = "needs root, mkfs.ext4 and loop devices; .ci/run runs it with --include-ignored"]
fn power_cuts_during_staktrakr_export() {
    run(Op::ExportStakTrakr);
}
