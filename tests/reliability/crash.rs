//! kill -9 crash loops (issue 6, part 2) for `create`, `restore` in place,
//! `gc`, `import` and `tag` (pin/unpin, on a 100-file profile), on a profile-like tree (2 000 files, 200 MB) with 30%
//! of the files changed per round, killed after a random delay, then the
//! oracle.
//!
//! The worlds live in RAM (`/dev/shm`, see [`World::in_ram`]): SIGKILL
//! does not lose the page cache, so this is the same test as on a disk,
//! minus the fsync waits. Each acknowledged snapshot is restored and
//! compared at the first oracle after its create; at later points it is
//! walked and its blobs read and hashed ([`oracle::Verify`] says why that
//! is enough).
//!
//! Knobs (environment): `SNAP_CRASH_POINTS` per operation (default 100;
//! 30 for `tag`),
//! `SNAP_CRASH_FILES` (default 2 000), `SNAP_CRASH_BYTES` (default 200 MB),
//! `SNAP_CRASH_PER_REPO` (points per fresh repository, default 10),
//! `SNAP_CRASH_SEED`. `tests/soak.sh N` runs N points per operation.
//!
//! The same loops run on an encrypted repository (`create` and `restore`,
//! `SNAP_CRASH_ENC_POINTS` each, default 20, on a smaller tree): the
//! oracle then opens with the password, and the index lives in the world's
//! cache folder ([`oracle::cache_of`]).

use std::process::Command;
use std::time::{Duration, Instant};

use super::oracle::{self, created_id, snap_env, Acked, World};
use crate::util::{env_or, make_profile, mutate_profile, tree_image, Gen};

/// Crash-loop figures for one operation.
#[derive(Default, Debug)]
struct Figures {
    points: u64,
    killed: u64,
    oracle_failures: u64,
    acked_lost: u64,
    partial_visible: u64,
    stale_locks: u64,
    failures: Vec<String>,
}

impl Figures {
    fn record(&mut self, what: &str, r: Result<(), String>) {
        if let Err(e) = r {
            self.oracle_failures += 1;
            if e.starts_with("(b) acknowledged") {
                self.acked_lost += 1;
            } else if e.starts_with("(c)") {
                self.partial_visible += 1;
            } else if e.starts_with("(e)") {
                self.stale_locks += 1;
            }
            self.failures.push(format!("{what}: {e}"));
        }
    }

    fn line(&self, op: &str) -> String {
        format!(
            "| {op} | {} | {} | {} | {} | {} | {} |",
            self.points,
            self.killed,
            self.oracle_failures,
            self.acked_lost,
            self.partial_visible,
            self.stale_locks
        )
    }
}

/// Starts `snap args`, kills it with SIGKILL after `delay` (unless it ended),
/// and returns (killed, exit code, stdout, time it ran when not killed).
fn run_and_kill(
    repo: &std::path::Path,
    args: &[&str],
    delay: Duration,
) -> (bool, i32, String, Option<Duration>) {
    let (code, out, ended) = oracle::run_interrupted(repo, args, delay, |c| {
        let _ = c.kill();
    });
    (ended.is_none(), code, out, ended)
}

fn as_run(code: i32, stdout: String) -> crate::util::Run {
    let mut cmd = Command::new("true");
    cmd.arg("(killed run)");
    let mut r = crate::util::Run::of(cmd, None);
    r.code = code;
    r.stdout = stdout;
    r
}

/// A fresh world with a profile and one acknowledged snapshot; returns it and
/// the duration of a clean create.
fn fresh(shape: &Shape, seed: u64) -> (World, Vec<Acked>, Duration) {
    let (files, bytes, per_world) = (shape.files, shape.bytes, shape.per_world);
    // The profile, the repository growing by ~30% a point, a restore and
    // the rebuild copy's index.
    let w = World::in_ram(bytes as u64 * (per_world * 4 / 10 + 4));
    if shape.encrypted {
        let init = snap_env(
            &w.repo,
            &["init", "--encrypt"],
            &[
                ("SNAP_PASSWORD", oracle::PASSWORD),
                ("SNAP_ARGON2", "8192,1,1"),
                (
                    "XDG_CACHE_HOME",
                    oracle::cache_of(&w.repo).to_str().expect("utf-8"),
                ),
            ],
        );
        assert_eq!(init.code, 0, "init --encrypt\n{}", init.dump());
    }
    make_profile(&w.profile, files, bytes, seed);
    let p = w.profile.to_str().expect("utf-8").to_string();
    let t = Instant::now();
    let run = snap_env(&w.repo, &["create", &p], &[]);
    let took = t.elapsed();
    let id = created_id(&run).unwrap_or_else(|| panic!("first create\n{}", run.dump()));
    let acked = vec![Acked {
        id,
        image: tree_image(&w.profile),
    }];
    (w, acked, took)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Create,
    Restore,
    Gc,
    Import,
    /// `tag ID --add keep` / `--remove keep` on an acknowledged snapshot.
    Pin,
}

/// The worlds of one loop.
struct Shape {
    points: u64,
    files: usize,
    bytes: usize,
    per_world: u64,
    encrypted: bool,
}

impl Shape {
    /// The loop on a plain repository, as the environment sets it.
    fn plain() -> Self {
        Self {
            points: env_or("SNAP_CRASH_POINTS", 100),
            files: env_or("SNAP_CRASH_FILES", 2_000) as usize,
            bytes: env_or("SNAP_CRASH_BYTES", 200_000_000) as usize,
            per_world: env_or("SNAP_CRASH_PER_REPO", 10).max(1),
            encrypted: false,
        }
    }

    /// The loop on an encrypted repository: a quarter of the tree.
    fn encrypted() -> Self {
        let plain = Self::plain();
        Self {
            points: env_or("SNAP_CRASH_ENC_POINTS", 20),
            files: plain.files / 4,
            bytes: plain.bytes / 4,
            encrypted: true,
            ..plain
        }
    }

    /// The tag loop: a tag change writes one small record, so the
    /// profile's size does not matter; 30 points on a small one.
    fn pin() -> Self {
        let plain = Self::plain();
        Self {
            points: env_or("SNAP_CRASH_POINTS", 30),
            files: plain.files.min(100),
            bytes: plain.bytes.min(1_000_000),
            ..plain
        }
    }
}

fn crash_loop(op: Op, shape: &Shape) -> Figures {
    let points = shape.points;
    let per_world = shape.per_world;
    let mut g = Gen(env_or("SNAP_CRASH_SEED", 0x5eed) ^ op as u64 ^ shape.encrypted as u64);
    let mut f = Figures::default();
    let (mut w, mut acked, mut took) = fresh(shape, g.next_u64());
    // Acknowledged snapshots already restored and compared once.
    let mut verified: Vec<String> = Vec::new();
    for point in 0..points {
        if point > 0 && point % per_world == 0 {
            (w, acked, took) = fresh(shape, g.next_u64());
            verified.clear();
        }
        // Kill anywhere from the start to a little past a clean run's time.
        let window = (took.as_micros() as u64 * 12 / 10).max(2_000);
        let delay = Duration::from_micros(g.below(window));
        let p = w.profile.to_str().expect("utf-8").to_string();
        mutate_profile(&w.profile, 0.3, g.next_u64());
        let before = tree_image(&w.profile);
        let what = format!("{op:?} point {point} (delay {delay:?})");
        let (killed, code, out, ran) = match op {
            Op::Create => run_and_kill(&w.repo, &["create", &p], delay),
            Op::Restore => {
                let target = acked[g.below(acked.len() as u64) as usize].clone();
                let r = run_and_kill(&w.repo, &["restore", &target.id], delay);
                // After the reopen the profile is the old state or the snapshot.
                let reopen = snap_engine::Repo::open(
                    &w.repo,
                    &oracle::unlocking(&w.repo, snap_store::OpenOptions::shared("crash-oracle")),
                );
                drop(reopen);
                let now = tree_image(&w.profile);
                if now != before && now != target.image {
                    f.record(
                        &what,
                        Err("(g) profile is neither the old state nor the snapshot".into()),
                    );
                }
                if r.1 == 0 && now != target.image {
                    f.record(
                        &what,
                        Err("(g) restore succeeded but the profile differs".into()),
                    );
                }
                r
            }
            Op::Pin => {
                let target = acked[g.below(acked.len() as u64) as usize].id.clone();
                let was = oracle_tags(&w.repo, &target);
                let (flag, now) = if was.iter().any(|t| t == "keep") {
                    ("--remove", Vec::new())
                } else {
                    ("--add", vec!["keep".to_string()])
                };
                let r = run_and_kill(&w.repo, &["tag", &target, flag, "keep"], delay);
                let after = oracle_tags(&w.repo, &target);
                if after != was && after != now {
                    f.record(
                        &what,
                        Err(format!(
                            "(g) tags are {after:?}, neither {was:?} nor {now:?}"
                        )),
                    );
                }
                if r.1 == 0 && after != now {
                    f.record(&what, Err("(g) tag succeeded but did not change".into()));
                }
                r
            }
            Op::Gc => {
                let run = snap_env(&w.repo, &["create", &p], &[]);
                if let Some(id) = created_id(&run) {
                    acked.push(Acked {
                        id,
                        image: before.clone(),
                    });
                }
                oracle::forget_keeping_last(&w.repo, 3, &mut acked);
                run_and_kill(&w.repo, &["gc"], delay)
            }
            Op::Import => {
                // A snapshot, its ZIP, then an import of that ZIP killed at
                // a random moment: all or nothing.
                let run = snap_env(&w.repo, &["create", &p], &[]);
                if let Some(id) = created_id(&run) {
                    acked.push(Acked {
                        id,
                        image: before.clone(),
                    });
                }
                let zip = w.profile.with_file_name("export.zip");
                let zip = zip.to_str().expect("utf-8");
                let _ = std::fs::remove_file(zip);
                let exported = snap_env(
                    &w.repo,
                    &["export", "latest", "--profile", "profile", "--zip", zip],
                    &[],
                );
                assert_eq!(exported.code, 0, "export\n{}", exported.dump());
                run_and_kill(
                    &w.repo,
                    &["--quiet", "import", zip, "--profile", "imported"],
                    delay,
                )
            }
        };
        f.points += 1;
        f.killed += killed as u64;
        // Aim the next kill at this run's real length (later rounds change
        // 30% of the files and are faster than the first); a window that
        // became too short (after a run with little to do) grows back.
        took = ran.unwrap_or(took * 11 / 10);
        if op == Op::Create || op == Op::Import {
            if let Some(id) = created_id(&as_run(code, out)) {
                acked.push(Acked { id, image: before });
            }
        }
        let verify: Vec<&str> = acked
            .iter()
            .map(|a| a.id.as_str())
            .filter(|id| !verified.iter().any(|v| v == id))
            .collect();
        let r = oracle::check_with(
            &w.repo,
            &acked,
            &w.profile,
            &w.scratch,
            oracle::Verify::Only(&verify),
        );
        let ok = r.is_ok();
        f.record(&what, r);
        if ok {
            let new: Vec<String> = verify.iter().map(|s| s.to_string()).collect();
            verified.extend(new);
        }
    }
    f
}

/// The tags of snapshot `id` as listed (its tag record applied).
fn oracle_tags(repo: &std::path::Path, id: &str) -> Vec<String> {
    let r = snap_engine::Repo::open(repo, &snap_store::OpenOptions::shared("crash-oracle"))
        .expect("open");
    r.snapshots()
        .expect("list")
        .into_iter()
        .find(|s| s.id.to_hex() == id)
        .map(|s| s.manifest.tags)
        .unwrap_or_default()
}

fn report(op: &str, f: &Figures) {
    eprintln!("| operation | crash points | killed mid-run | oracle failures | acked lost | partial visible | stale locks |");
    eprintln!("{}", f.line(op));
    assert!(
        f.failures.is_empty(),
        "{} failure(s); first: {}",
        f.failures.len(),
        f.failures[0]
    );
}

#[test]
fn crash_loop_create() {
    report("create", &crash_loop(Op::Create, &Shape::plain()));
}

#[test]
fn crash_loop_restore_in_place() {
    report(
        "restore in place",
        &crash_loop(Op::Restore, &Shape::plain()),
    );
}

#[test]
fn crash_loop_import() {
    report("import", &crash_loop(Op::Import, &Shape::plain()));
}

#[test]
fn crash_loop_gc() {
    report("gc", &crash_loop(Op::Gc, &Shape::plain()));
}

#[test]
fn crash_loop_create_encrypted() {
    report(
        "create (encrypted)",
        &crash_loop(Op::Create, &Shape::encrypted()),
    );
}

#[test]
fn crash_loop_restore_in_place_encrypted() {
    report(
        "restore in place (encrypted)",
        &crash_loop(Op::Restore, &Shape::encrypted()),
    );
}

#[test]
fn crash_loop_pin() {
    report("tag (pin/unpin)", &crash_loop(Op::Pin, &Shape::pin()));
}
