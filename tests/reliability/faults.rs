//! Fault injection sweep (issue 6, part 1).
//!
//! For each operation: count the I/O calls of a clean run of the real `snap`
//! binary (built with the `fault-injection` feature, see `store/src/fault.rs`),
//! then for every operation kind (write, fsync, rename, dirsync, unlink, read,
//! sql: a write to the SQLite index)
//! and every k = 1..N, in both modes (once, persistent), start from the same
//! repository, run the operation with `SNAP_FAULT=op:k:kind:mode`, and check:
//! no panic; no success when a fault was injected; the oracle
//! ([`super::oracle::check`]); the profile (in place) or the target is either
//! untouched or exactly the snapshot; and, with the fault cleared, a retry
//! succeeds. The error kind rotates with k (ENOSPC, EIO, short write).
//!
//! `export --zip` and `export --vault` write s1 to a file in `scratch/out/`:
//! on failure that folder must be empty (no output, no temporary file); on
//! success it holds only the output, byte-identical to a clean ZIP export
//! (ZIP export is deterministic) or, for the vault, restoring with
//! `snap restore FILE --target` to exactly s1's tree. `import` reads a ZIP
//! made once in the base, outside the repository, of the live profile
//! snapshotted in another repository (so about a third of its data is new
//! and packs are written), into the new profile `imported`: all or nothing,
//! i.e. on failure the snapshots are still exactly s0 and s1, on success
//! there is one more, which must restore to the live tree. Both also get
//! the whole oracle. `import staktrakr` imports a vault holding StakTrakr's
//! JSON payload (issue 10) the same way; its snapshot must restore to the
//! tree `snap restore FILE --target` makes of that vault.
//! `export --payload staktrakr` first imports that vault (unfaulted) as
//! profile `staktrakr`, then exports its snapshot as a vault with
//! StakTrakr's payload under the fault: on success the one file in the
//! output folder restores to the same tree, on failure the folder is empty.
//!
//! `tag --add keep` pins s0 through its tag record: on failure s0 has no
//! tags, on success exactly `keep` (the record is written whole or not).
//!
//! Every k is injected (about 2 200 runs, a minute: the worlds live in RAM,
//! see [`oracle::ram_tempdir`]); `SNAP_FAULT_QUICK=1` injects only at 12
//! points spread evenly over 1..=N (always including 1 and N) for a quick
//! look.
//! `SNAP_FAULT_ONLY=action:op` (e.g. `create:write`) limits the sweep to one
//! action and one operation kind (used by tests/negative-controls.sh);
//! `action` alone takes all its kinds, and a comma-separated list several
//! (`SNAP_FAULT_ONLY='export --zip,export --vault,import'`).

use std::fs;
use std::path::{Path, PathBuf};

use snap_store::fault::{Kind, Mode, Op, Spec, OPS};

use super::archives::{archive_problem, staktrakr_vault};
use super::oracle::{self, created_id, snap_env, Acked, World};
use crate::util::{
    copy_into, make_profile, mutate_profile, remove_tree, tree_image, Run, TreeImage,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    RestoreInPlace,
    RestoreTarget,
    IndexRebuild,
    Forget,
    Gc,
    GcRepack,
    ExportZip,
    ExportVault,
    /// `export --vault --payload staktrakr` of a StakTrakr-shaped snapshot.
    ExportStakTrakr,
    Import,
    ImportVault,
    ImportStakTrakr,
    Pin,
    /// `copy` of every snapshot into a new plain repository (the faults
    /// hit the reads of the source and the writes of the destination).
    Copy,
}

/// The vault password (`SNAP_PASSWORD`) of the sweep's runs, and the
/// repository's in the encrypted sweep.
const PASSWORD: &str = oracle::PASSWORD;

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::RestoreInPlace => "restore in place",
            Action::RestoreTarget => "restore --target",
            Action::IndexRebuild => "index rebuild",
            Action::Forget => "forget",
            Action::Gc => "gc",
            Action::GcRepack => "gc repack",
            Action::ExportZip => "export --zip",
            Action::ExportVault => "export --vault",
            Action::ExportStakTrakr => "export --payload staktrakr",
            Action::Import => "import",
            Action::ImportVault => "import vault",
            Action::ImportStakTrakr => "import staktrakr",
            Action::Pin => "tag --add keep",
            Action::Copy => "copy",
        }
    }
}

/// The state every run starts from. Runs happen in `world` itself (the
/// profile's absolute path is recorded in the repository); `saved` holds
/// pristine copies that [`reset`] puts back.
struct Base {
    world: World,
    saved: tempfile::TempDir,
    s0: Acked,
    s1: Acked,
    /// The profile as it is now (changed since s1).
    live: TreeImage,
    /// A clean ZIP export of s1, outside the repository: what `export
    /// --zip` must write byte for byte.
    zip: PathBuf,
    /// What `import` reads: a ZIP of `live` made in another repository.
    import_zip: PathBuf,
    /// The same ZIP in a vault (the fewest PBKDF2 iterations a reader
    /// accepts, to keep the sweep short).
    import_vault: PathBuf,
    /// A vault with StakTrakr's JSON payload (issue 10), and the tree it
    /// restores to (`snap restore FILE --target`).
    staktrakr_vault: PathBuf,
    staktrakr: TreeImage,
}

fn build_base(encrypted: bool) -> Base {
    let world = World::in_ram(64 << 20);
    // 16 KiB packs: each create writes several, so faults land between
    // packs of one session too, not only in its single pack.
    snap_store::Repository::init(
        &world.repo,
        &snap_store::InitOptions {
            chunker: snap_engine::chunker::DEFAULT_PARAMS,
            pack_target_size: Some(16 << 10),
            encryption: encrypted.then(|| snap_store::InitEncryption {
                password: PASSWORD.into(),
                kdf: snap_store::KdfParams::MIN,
            }),
            cache_dir: Some(oracle::cache_of(&world.repo).join("snap")),
            ..snap_store::InitOptions::default()
        },
    )
    .expect("init");
    make_profile(&world.profile, 40, 300_000, 7);
    let p = world.profile.to_str().expect("utf-8 path");
    let take = |w: &World| {
        let run = snap_env(&w.repo, &["create", p], &[]);
        let id = created_id(&run).unwrap_or_else(|| panic!("base create\n{}", run.dump()));
        Acked {
            id,
            image: tree_image(&w.profile),
        }
    };
    let s0 = take(&world);
    mutate_profile(&world.profile, 0.3, 11);
    let s1 = take(&world);
    mutate_profile(&world.profile, 0.3, 12);
    let live = tree_image(&world.profile);
    let saved = oracle::ram_tempdir(32 << 20);
    let zip = saved.path().join("s1.zip");
    let z = zip.to_str().expect("utf-8");
    let run = snap_env(&world.repo, &["export", &s1.id, "--zip", z], &[]);
    assert_eq!(run.code, 0, "base export\n{}", run.dump());
    if let Some(d) = archive_problem(&world.repo, &world.scratch, &zip, &s1.image) {
        panic!("the base ZIP does not restore to s1: {d}");
    }
    let other = saved.path().join("other-repo");
    let run = snap_env(&other, &["create", p], &[]);
    let id = created_id(&run).unwrap_or_else(|| panic!("other create\n{}", run.dump()));
    let import_zip = saved.path().join("live.zip");
    let z = import_zip.to_str().expect("utf-8");
    let run = snap_env(&other, &["export", &id, "--zip", z], &[]);
    assert_eq!(run.code, 0, "live export\n{}", run.dump());
    if let Some(d) = archive_problem(&world.repo, &world.scratch, &import_zip, &live) {
        panic!("the import ZIP does not restore to the live tree: {d}");
    }
    remove_tree(&other);
    let import_vault = saved.path().join("live.stvault");
    snap_engine::export::encrypt_vault(
        fs::File::open(&import_zip).expect("live.zip"),
        fs::File::create(&import_vault).expect("live.stvault"),
        PASSWORD,
        snap_engine::export::VaultVersion::Auto,
        snap_engine::export::MIN_ITERATIONS,
    )
    .expect("vault");
    let (staktrakr_vault, staktrakr) = staktrakr_vault(&world.repo, &world.scratch, saved.path());
    copy_into(&world.repo, &saved.path().join("repo"));
    copy_into(&world.profile, &saved.path().join("profile"));
    let cache = oracle::cache_of(&world.repo);
    if cache.exists() {
        copy_into(&cache, &saved.path().join("cache"));
    }
    Base {
        world,
        saved,
        s0,
        s1,
        live,
        zip,
        import_zip,
        import_vault,
        staktrakr_vault,
        staktrakr,
    }
}

/// The tags of snapshot `id` as listed (tag records applied).
fn snapshot_tags(repo: &Path, id: &str) -> Result<Vec<String>, String> {
    let r = snap_engine::Repo::open(repo, &snap_store::OpenOptions::shared("sweep"))
        .map_err(|e| format!("open: {e}"))?;
    let snaps = r.snapshots().map_err(|e| format!("list: {e}"))?;
    snaps
        .into_iter()
        .find(|s| s.id.to_hex() == id)
        .map(|s| s.manifest.tags)
        .ok_or_else(|| format!("{id} is not listed"))
}

/// The ids of the listed snapshots, sorted.
fn snapshot_ids(repo: &Path) -> Result<Vec<String>, String> {
    let r = snap_engine::Repo::open(
        repo,
        &oracle::unlocking(repo, snap_store::OpenOptions::shared("sweep")),
    )
    .map_err(|e| format!("open: {e}"))?;
    let mut ids: Vec<String> = r
        .snapshots()
        .map_err(|e| format!("list: {e}"))?
        .iter()
        .map(|s| s.id.to_hex())
        .collect();
    ids.sort();
    Ok(ids)
}

/// The destination of `copy` (made empty before each run).
fn copy_dir(w: &World) -> PathBuf {
    w.scratch.join("copy")
}

/// After `copy`: every snapshot the destination lists restores to s0's or
/// s1's files, its `snap check --read-data` passes, and a success copied
/// both.
fn copy_problem(base: &Base, w: &World, run: &Run) -> Option<String> {
    let dst = copy_dir(w);
    let ids = match snapshot_ids(&dst) {
        Ok(ids) => ids,
        Err(e) => return Some(format!("the copy's destination: {e}")),
    };
    if run.code == 0 && ids.len() != 2 {
        return Some(format!("copy succeeded with {ids:?} in the destination"));
    }
    let check = snap_env(&dst, &["check", "--read-data"], &[]);
    if check.code != 0 {
        return Some(format!(
            "the copy's destination fails check\n{}",
            check.dump()
        ));
    }
    let target = w.scratch.join("copy-check");
    for id in ids {
        remove_tree(&target);
        let r = snap_env(&dst, &["restore", &id, "--target", target.to_str()?], &[]);
        let got = tree_image(&target);
        if r.code != 0 || (got != base.s0.image && got != base.s1.image) {
            return Some(format!(
                "copied snapshot {id} restores to neither s0 nor s1\n{}",
                r.dump()
            ));
        }
    }
    remove_tree(&target);
    None
}

/// Where `export` writes (a folder of its own, so that a temporary file
/// left beside the output is seen).
fn out_dir(w: &World) -> PathBuf {
    w.scratch.join("out")
}

/// Resets `w` to the base state.
fn reset(base: &Base, w: &World) {
    remove_tree(&w.repo);
    remove_tree(&w.profile);
    remove_tree(&w.scratch);
    fs::create_dir_all(out_dir(w)).expect("scratch/out");
    copy_into(&base.saved.path().join("repo"), &w.repo);
    copy_into(&base.saved.path().join("profile"), &w.profile);
    let cache = oracle::cache_of(&w.repo);
    remove_tree(&cache);
    if base.saved.path().join("cache").exists() {
        copy_into(&base.saved.path().join("cache"), &cache);
    }
    let _ = fs::remove_file(w.repo.join("lock"));
}

fn args(a: Action, base: &Base, w: &World) -> Vec<String> {
    let target = w.scratch.join("target").display().to_string();
    match a {
        Action::Create => vec!["create".into(), w.profile.display().to_string()],
        Action::RestoreInPlace => vec!["restore".into(), base.s0.id.clone()],
        Action::RestoreTarget => vec![
            "restore".into(),
            base.s0.id.clone(),
            "--target".into(),
            target,
        ],
        Action::IndexRebuild => vec!["index".into(), "rebuild".into()],
        Action::Forget => vec!["forget".into(), "--keep-last".into(), "1".into()],
        Action::Gc => vec!["gc".into()],
        Action::Pin => vec![
            "tag".into(),
            base.s0.id.clone(),
            "--add".into(),
            "keep".into(),
        ],
        Action::GcRepack => vec!["gc".into(), "--repack-threshold".into(), "100".into()],
        Action::Copy => vec![
            "copy".into(),
            "--from".into(),
            w.repo.display().to_string(),
            "--to".into(),
            copy_dir(w).display().to_string(),
        ],
        Action::ExportZip | Action::ExportVault => {
            let (flag, name) = match a {
                Action::ExportZip => ("--zip", "s1.zip"),
                _ => ("--vault", "s1.stvault"),
            };
            let out = out_dir(w).join(name).display().to_string();
            vec!["export".into(), base.s1.id.clone(), flag.into(), out]
        }
        Action::ExportStakTrakr => vec![
            "export".into(),
            "latest".into(),
            "--profile".into(),
            STAKTRAKR_PROFILE.into(),
            "--vault".into(),
            out_dir(w).join("staktrakr.stvault").display().to_string(),
            "--payload".into(),
            "staktrakr".into(),
        ],
        Action::Import | Action::ImportVault | Action::ImportStakTrakr => vec![
            "--quiet".into(),
            "import".into(),
            match a {
                Action::Import => &base.import_zip,
                Action::ImportStakTrakr => &base.staktrakr_vault,
                _ => &base.import_vault,
            }
            .display()
            .to_string(),
            "--profile".into(),
            "imported".into(),
        ],
    }
}

/// The profile `export --payload staktrakr` exports.
const STAKTRAKR_PROFILE: &str = "staktrakr";

/// Imports the base's StakTrakr vault as profile [`STAKTRAKR_PROFILE`]
/// (no fault): the snapshot `export --payload staktrakr` then exports.
fn import_staktrakr(base: &Base, w: &World) -> Acked {
    let vault = base.staktrakr_vault.to_str().expect("utf-8");
    let run = snap_env(
        &w.repo,
        &["--quiet", "import", vault, "--profile", STAKTRAKR_PROFILE],
        &[("SNAP_PASSWORD", PASSWORD)],
    );
    let id = created_id(&run).unwrap_or_else(|| panic!("import before export\n{}", run.dump()));
    Acked {
        id,
        image: base.staktrakr.clone(),
    }
}

/// The checks beyond the oracle for export, import and create: the output
/// folder (export) and the snapshots listed (all or nothing: a failed
/// import or create adds none). `before` is a snapshot the action's
/// unfaulted first step made.
fn outcome_problem(
    a: Action,
    base: &Base,
    w: &World,
    run: &Run,
    before: Option<&Acked>,
) -> Option<String> {
    let mut want = vec![base.s0.id.clone(), base.s1.id.clone()];
    want.extend(before.map(|b| b.id.clone()));
    match a {
        Action::ExportZip | Action::ExportVault | Action::ExportStakTrakr => {
            let left = out_listing(w);
            if run.code != 0 && !left.is_empty() {
                return Some(format!("failed export left {left:?} in the output folder"));
            }
            if run.code == 0 {
                if left.len() != 1 {
                    return Some(format!("export left {left:?} in the output folder"));
                }
                let out = out_dir(w).join(&left[0]);
                if a == Action::ExportZip {
                    if fs::read(&out).ok()? != fs::read(&base.zip).ok()? {
                        return Some("the ZIP differs from a clean export's bytes".into());
                    }
                } else {
                    let want = match before {
                        Some(b) => &b.image,
                        None => &base.s1.image,
                    };
                    if let Some(d) = archive_problem(&w.repo, &w.scratch, &out, want) {
                        return Some(format!("the vault does not restore to its snapshot: {d}"));
                    }
                }
            }
        }
        Action::Copy => return copy_problem(base, w, run),
        Action::Pin => {
            // All or nothing: s0 pinned exactly when the command said so.
            let tags = snapshot_tags(&w.repo, &base.s0.id);
            let want: &[&str] = if run.code == 0 { &["keep"] } else { &[] };
            if tags.as_deref() != Ok(&want.iter().map(|t| t.to_string()).collect::<Vec<_>>()) {
                return Some(format!("s0's tags after tag (exit {}): {tags:?}", run.code));
            }
        }
        Action::Import | Action::ImportVault | Action::ImportStakTrakr | Action::Create => {
            match (run.code, created_id(run)) {
                (0, Some(id)) => want.push(id),
                (0, None) => return Some(format!("{} printed no id", a.name())),
                _ => {}
            }
        }
        _ => return None,
    }
    want.sort();
    match snapshot_ids(&w.repo) {
        Ok(ids) if ids == want => None,
        Ok(ids) => Some(format!(
            "snapshots after {} (exit {}): {ids:?}, expected {want:?}",
            a.name(),
            run.code
        )),
        Err(e) => Some(e),
    }
}

/// Totals for one action, printed as a table line.
#[derive(Default, Debug)]
struct Figures {
    calls: [u64; OPS],
    runs: u64,
    injections: u64,
    panics: u64,
    false_successes: u64,
    oracle_failures: u64,
    retries_ok: u64,
    /// Runs whose fault hit only post-commit cleanup (success is right).
    cleanup_faults: u64,
    failures: Vec<String>,
}

/// (calls per operation, faults injected before the commit point, faults
/// injected in post-commit cleanup).
pub(super) fn parse_counts(path: &Path) -> ([u64; OPS], u64, u64) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut c = [0; OPS];
    let mut injected = 0;
    let mut cleanup = 0;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        if k == "injected_cleanup" {
            cleanup = v;
        } else if k == "injected" {
            injected = v;
        } else if let Some(i) = Op::ALL.iter().position(|o| o.name() == k) {
            c[i] = v;
        }
    }
    (c, injected - cleanup.min(injected), cleanup)
}

/// One run under `spec` (or none), then the checks; returns whether the
/// operation reported success.
fn run_once(base: &Base, w: &World, a: Action, spec: Option<Spec>, f: &mut Figures) {
    reset(base, w);
    // Garbage to collect. s1's pack holds only what s1 added, so without
    // s1 gc deletes that pack. Without s0, part of s0's pack is still used
    // by s1, and with the threshold at 100% gc copies the live part of
    // every pack into new packs.
    let forgotten = match a {
        Action::Gc => Some(&base.s1),
        Action::GcRepack => Some(&base.s0),
        _ => None,
    };
    if let Some(s) = forgotten {
        let run = snap_env(&w.repo, &["forget", &s.id], &[]);
        assert_eq!(run.code, 0, "forget before gc\n{}", run.dump());
    }
    if a == Action::Copy {
        let run = snap_env(&copy_dir(w), &["init"], &[]);
        assert_eq!(run.code, 0, "init before copy\n{}", run.dump());
    }
    let before = (a == Action::ExportStakTrakr).then(|| import_staktrakr(base, w));
    let counts = w.scratch.join("counts");
    let argv = args(a, base, w);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let env_spec = spec.map(|s| s.to_env()).unwrap_or_default();
    let mut env = vec![
        ("SNAP_FAULT_COUNTS", counts.to_str().expect("utf-8")),
        ("SNAP_PASSWORD", PASSWORD),
        ("SNAP_FROM_PASSWORD", PASSWORD),
    ];
    if spec.is_some() {
        env.push(("SNAP_FAULT", env_spec.as_str()));
    }
    let run = snap_env(&w.repo, &argv, &env);
    let (calls, injected, cleanup) = parse_counts(&counts);
    let what = format!("{} with SNAP_FAULT={env_spec}", a.name());
    f.runs += 1;
    if spec.is_none() {
        assert_eq!(run.code, 0, "clean run of {what}\n{}", run.dump());
        f.calls = calls;
    }
    if injected + cleanup > 0 {
        f.injections += 1;
    }
    if cleanup > 0 {
        f.cleanup_faults += 1;
    }
    if run.code == 101 || run.stderr.contains("panicked") {
        f.panics += 1;
        f.failures.push(format!("panic: {what}\n{}", run.dump()));
    }
    if injected > 0 && run.code == 0 {
        f.false_successes += 1;
        f.failures
            .push(format!("success despite a fault: {what}\n{}", run.dump()));
    }
    // The acknowledged snapshots and what the profile / target must hold.
    let mut acked = match a {
        Action::Forget | Action::GcRepack => vec![base.s1.clone()],
        Action::Gc => vec![base.s0.clone()],
        _ => vec![base.s1.clone(), base.s0.clone()],
    };
    acked.extend(before.clone());
    if matches!(
        a,
        Action::Create | Action::Import | Action::ImportVault | Action::ImportStakTrakr
    ) {
        if let Some(id) = created_id(&run) {
            acked.push(Acked {
                id,
                image: match a {
                    Action::ImportStakTrakr => base.staktrakr.clone(),
                    _ => base.live.clone(),
                },
            });
        }
    }
    let mut problem = None;
    let now = tree_image(&w.profile);
    match a {
        Action::RestoreInPlace if run.code == 0 && now != base.s0.image => {
            problem = Some("profile is not the snapshot after a successful restore".to_string())
        }
        Action::RestoreInPlace if run.code != 0 && now != base.live => {
            problem = Some("failed restore left the profile changed".to_string())
        }
        Action::RestoreTarget => {
            let t = tree_image(&w.scratch.join("target"));
            if run.code == 0 && t != base.s0.image {
                problem = Some("target is not the snapshot after success".into());
            } else if run.code != 0 && !t.is_empty() {
                problem = Some("failed restore --target left files in the target".into());
            }
            remove_tree(&w.scratch.join("target"));
        }
        _ if a != Action::RestoreInPlace && now != base.live => {
            problem = Some(format!("{} changed the profile", a.name()))
        }
        _ => {}
    }
    if problem.is_none() {
        problem = outcome_problem(a, base, w, &run, before.as_ref());
    }
    if problem.is_none() {
        problem = oracle::check(&w.repo, &acked, &w.profile, &w.scratch).err();
    }
    if spec.is_some() && problem.is_none() {
        // Retry with the fault cleared.
        let retry = snap_env(
            &w.repo,
            &argv,
            &[
                ("SNAP_PASSWORD", PASSWORD),
                ("SNAP_FROM_PASSWORD", PASSWORD),
            ],
        );
        if retry.code == 0 {
            f.retries_ok += 1;
        } else {
            problem = Some(format!("retry failed\n{}", retry.dump()));
        }
    }
    if let Some(p) = problem {
        f.oracle_failures += 1;
        f.failures
            .push(format!("{what}: exit {}: {p}\n{}", run.code, run.stderr));
    }
}

/// Whether `SNAP_FAULT_ONLY` (empty: everything) selects action `a` (and
/// operation kind `op`, when given).
fn selected(only: &str, a: Action, op: Option<Op>) -> bool {
    only.is_empty()
        || only.split(',').any(|item| {
            let (act, o) = item
                .split_once(':')
                .map_or((item, None), |(act, o)| (act, Some(o)));
            act.trim() == a.name() && (o.is_none() || op.is_none_or(|op| Some(op.name()) == o))
        })
}

/// What [`sweep_calls`] counted.
#[derive(Default)]
pub(super) struct Swept {
    pub runs: u64,
    pub false_successes: u64,
    pub failures: Vec<String>,
}

/// Runs one command under a fault at [`points`] of every kind of call its
/// clean run made (`calls`), ENOSPC and EIO in turn, once and persistent:
/// `run` gets the `SNAP_FAULT` value and runs the command with
/// `SNAP_FAULT_COUNTS` at `counts`; `check` says what is wrong with its
/// outcome. A panic, and a success despite an injected fault, are failures
/// too.
pub(super) fn sweep_calls(
    calls: [u64; OPS],
    full: bool,
    counts: &Path,
    mut run: impl FnMut(&str) -> Run,
    mut check: impl FnMut(&Run) -> Option<String>,
) -> Swept {
    let mut s = Swept::default();
    for (i, op) in Op::ALL.into_iter().enumerate() {
        for k in points(calls[i], full) {
            for mode in [Mode::Once, Mode::Persistent] {
                let spec = Spec {
                    op,
                    n: k,
                    kind: if k % 2 == 0 { Kind::Eio } else { Kind::Enospc },
                    mode,
                }
                .to_env();
                let _ = fs::remove_file(counts);
                let r = run(&spec);
                s.runs += 1;
                let (_, injected, _) = parse_counts(counts);
                let what = format!("SNAP_FAULT={spec}: exit {}", r.code);
                if r.code == 101 || r.stderr.contains("panicked") {
                    s.failures.push(format!("{what}: panic\n{}", r.dump()));
                }
                if injected > 0 && r.code == 0 {
                    s.false_successes += 1;
                    s.failures
                        .push(format!("{what}: success despite a fault\n{}", r.dump()));
                }
                if let Some(e) = check(&r) {
                    s.failures.push(format!("{what}: {e}\n{}", r.stderr));
                }
            }
        }
    }
    s
}

/// The k to inject at: all of 1..=n, or 12 spread evenly.
pub(super) fn points(n: u64, full: bool) -> Vec<u64> {
    const MAX: u64 = 12;
    if full || n <= MAX {
        return (1..=n).collect();
    }
    let mut v: Vec<u64> = (0..MAX).map(|i| 1 + i * (n - 1) / (MAX - 1)).collect();
    v.dedup();
    v
}

/// ENOSPC, EIO and short writes in turn; reads fail with EIO (a short read
/// that is not at the end of the file is retried by `read_exact_at`, and one
/// at the end is indistinguishable from a truncated pack, i.e. damage).
pub(super) fn kind_for(op: Op, k: u64) -> Kind {
    match (op, k % 3) {
        (Op::Read, _) => Kind::Eio,
        (Op::Write, 0) => Kind::Short,
        (_, 1) => Kind::Eio,
        _ => Kind::Enospc,
    }
}

#[test]
fn fault_sweep() {
    sweep(
        &build_base(false),
        &[
            Action::Create,
            Action::RestoreInPlace,
            Action::RestoreTarget,
            Action::IndexRebuild,
            Action::Forget,
            Action::Gc,
            Action::GcRepack,
            Action::ExportZip,
            Action::ExportVault,
            Action::ExportStakTrakr,
            Action::Import,
            Action::ImportVault,
            Action::ImportStakTrakr,
            Action::Pin,
        ],
        std::env::var_os("SNAP_FAULT_QUICK").is_none(),
    );
}

/// The sweep on an encrypted repository (index in the world's cache): the
/// operations that write the repository, at 12 points per I/O kind (every
/// point with `SNAP_FAULT_FULL_ENCRYPTED=1`).
#[test]
fn fault_sweep_encrypted() {
    sweep(
        &build_base(true),
        &[
            Action::Create,
            Action::RestoreInPlace,
            Action::IndexRebuild,
            Action::Forget,
            Action::Gc,
            Action::GcRepack,
            Action::Import,
        ],
        std::env::var_os("SNAP_FAULT_FULL_ENCRYPTED").is_some(),
    );
}

/// `copy` under faults into a new plain destination each run, at 12
/// points per I/O kind: from an encrypted repository (its snapshots are
/// decrypted and re-encoded: every step a plain copy takes, and more).
/// `SNAP_FAULT_FULL_COPY=1` injects at every point, from a plain
/// repository as well (about 4 minutes on 2 loaded cores at 12 points).
#[test]
fn fault_sweep_copy() {
    let full = std::env::var_os("SNAP_FAULT_FULL_COPY").is_some();
    let worlds: &[bool] = if full { &[true, false] } else { &[true] };
    for &encrypted in worlds {
        sweep(&build_base(encrypted), &[Action::Copy], full);
    }
}

/// Injects every fault of `actions` (every k when `full`, else 12 points
/// per I/O kind) and checks each run.
fn sweep(base: &Base, actions: &[Action], full: bool) {
    let w = &base.world;
    let only = std::env::var("SNAP_FAULT_ONLY").unwrap_or_default();
    let mut all_failures = Vec::new();
    let mut total = Figures::default();
    eprintln!("| operation | calls w/f/r/d/u/rd/sql | runs | injections | of which in post-commit cleanup | panics | false successes | oracle failures | retries ok |");
    for &a in actions {
        if !selected(&only, a, None) {
            continue;
        }
        let started = std::time::Instant::now();
        let mut f = Figures::default();
        run_once(base, w, a, None, &mut f);
        let clean = f.calls;
        for (i, op) in Op::ALL.into_iter().enumerate() {
            if !selected(&only, a, Some(op)) {
                continue;
            }
            for k in points(clean[i], full) {
                for mode in [Mode::Once, Mode::Persistent] {
                    let kind = kind_for(op, k);
                    run_once(
                        base,
                        w,
                        a,
                        Some(Spec {
                            op,
                            n: k,
                            kind,
                            mode,
                        }),
                        &mut f,
                    );
                }
            }
        }
        let c = clean.map(|n| n.to_string()).join("/");
        eprintln!(
            "| {} | {c} | {} | {} | {} | {} | {} | {} | {}/{} |",
            a.name(),
            f.runs,
            f.injections,
            f.cleanup_faults,
            f.panics,
            f.false_successes,
            f.oracle_failures,
            f.retries_ok,
            f.runs - 1
        );
        eprintln!("({}: {:.0} s)", a.name(), started.elapsed().as_secs_f64());
        total.runs += f.runs;
        total.injections += f.injections;
        total.panics += f.panics;
        total.false_successes += f.false_successes;
        total.oracle_failures += f.oracle_failures;
        total.retries_ok += f.retries_ok;
        all_failures.extend(f.failures);
    }
    eprintln!(
        "fault sweep total: runs {}, injections {}, panics {}, false successes {}, oracle failures {}, retries ok {}",
        total.runs, total.injections, total.panics, total.false_successes, total.oracle_failures, total.retries_ok
    );
    for f in &all_failures {
        eprintln!("FAILED: {}", f.lines().next().unwrap_or_default());
    }
    assert!(
        all_failures.is_empty(),
        "{} failure(s); first:\n{}",
        all_failures.len(),
        all_failures[0]
    );
}

/// The write protocol, from the clean runs' counts: every rename into the
/// repository (or the profile) is preceded by an fsync of what it renames and
/// followed by an fsync of its directory. Counting is what a fault layer can
/// prove; the power-cut tests would prove the effect.
#[test]
fn durability_protocol() {
    let base = build_base(false);
    let w = &base.world;
    for a in [
        Action::Create,
        Action::RestoreInPlace,
        Action::IndexRebuild,
        Action::ExportZip,
        Action::Import,
    ] {
        let mut f = Figures::default();
        run_once(&base, w, a, None, &mut f);
        let [writes, fsyncs, renames, dirsyncs, ..] = f.calls;
        eprintln!(
            "{}: {writes} writes, {fsyncs} fsyncs, {renames} renames, {dirsyncs} directory fsyncs",
            a.name()
        );
        assert!(renames > 0, "{}: no rename counted", a.name());
        assert!(
            fsyncs >= renames,
            "{}: {renames} renames but only {fsyncs} fsyncs",
            a.name()
        );
        assert!(
            dirsyncs >= renames,
            "{}: {renames} renames but only {dirsyncs} directory fsyncs",
            a.name()
        );
    }
}

/// A world with two snapshots of a small profile (their ids), and where
/// to export them (`out/x.zip`, not written yet).
fn export_world() -> (World, String, String, PathBuf) {
    let w = World::new();
    make_profile(&w.profile, 12, 60_000, 3);
    let p = w.profile.to_str().expect("utf-8");
    let first = created_id(&snap_env(&w.repo, &["create", p], &[])).expect("create");
    mutate_profile(&w.profile, 0.5, 4);
    let second = created_id(&snap_env(&w.repo, &["create", p], &[])).expect("create");
    fs::create_dir_all(out_dir(&w)).expect("out");
    let dest = out_dir(&w).join("x.zip");
    (w, first, second, dest)
}

/// The names in the export's output folder, sorted.
fn out_listing(w: &World) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(out_dir(w))
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Regression: when flushing the directory fails after the new file was
/// moved into place, `export` said "nothing was written there" but left
/// the new file (and had destroyed the previous one). Now the previous
/// file is exchanged back, or a new one removed.
#[test]
fn failed_export_leaves_the_destination_as_it_was() {
    let (w, first, second, dest) = export_world();
    let d = dest.to_str().expect("utf-8");
    for mode in ["once", "persistent"] {
        let _ = fs::remove_file(&dest);
        let spec = format!("dirsync:1:eio:{mode}");
        let run = snap_env(
            &w.repo,
            &["export", &first, "--zip", d],
            &[("SNAP_FAULT", &spec)],
        );
        assert_ne!(run.code, 0, "{spec}\n{}", run.dump());
        assert!(out_listing(&w).is_empty(), "{spec}: {:?}", out_listing(&w));
        let run = snap_env(&w.repo, &["export", &first, "--zip", d], &[]);
        assert_eq!(run.code, 0, "{}", run.dump());
        let old = fs::read(&dest).expect("export");
        let run = snap_env(
            &w.repo,
            &["export", &second, "--zip", d],
            &[("SNAP_FAULT", &spec)],
        );
        assert_ne!(run.code, 0, "{spec}\n{}", run.dump());
        assert_eq!(out_listing(&w), ["x.zip"], "{spec}");
        assert!(
            fs::read(&dest).expect("dest") == old,
            "{spec}: not the previous file"
        );
        let run = snap_env(&w.repo, &["export", &second, "--zip", d], &[]);
        assert_eq!(run.code, 0, "{}", run.dump());
        assert!(fs::read(&dest).expect("dest") != old);
        assert_eq!(out_listing(&w), ["x.zip"], "the previous file is removed");
    }
}

/// Regression: a failure to update `exports.json` after the file was
/// written made `export` fail (the file complete and in place), and left
/// the previous record, so a later `--if-changed` export of the previous
/// content wrongly said "unchanged". Now the record of the destination is
/// dropped before the file changes and a failure to write the new one is
/// a warning.
#[test]
fn export_record_failure_is_a_warning_and_never_stale() {
    let (w, first, second, dest) = export_world();
    let d = dest.to_str().expect("utf-8");
    let export = |id: &str, env: &[(&str, &str)]| {
        snap_env(
            &w.repo,
            &["--json", "export", id, "--zip", d, "--if-changed"],
            env,
        )
    };
    let status = |run: &Run| {
        run.json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let run = export(&first, &[]);
    assert_eq!(status(&run), "written", "{}", run.dump());
    let clean_first = fs::read(&dest).expect("dest");
    // fsyncs: 1 = exports.json without the record, 2 = the file, 3 = the
    // new record.
    let run = export(&second, &[("SNAP_FAULT", "fsync:3:eio:persistent")]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(
        run.stderr.contains("could not be recorded"),
        "{}",
        run.dump()
    );
    assert!(fs::read(&dest).expect("dest") != clean_first);
    let run = export(&first, &[]);
    assert_eq!(status(&run), "written", "{}", run.dump());
    assert!(fs::read(&dest).expect("dest") == clean_first);
    assert_eq!(status(&export(&first, &[])), "unchanged");
}
