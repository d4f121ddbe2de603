//! The damaged-repository zoo (issue 6, part 3): each kind of damage is
//! built by a test, `snap --json check --read-data` must report it with the
//! expected kind and name the pack, blob or snapshot involved, `check` must
//! not modify the repository's truth (packs, snapshots, config, profiles;
//! the index cache may be repaired by the open, see docs/reliability.md),
//! and every snapshot the damage does not touch must still restore exactly.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use snap_engine::Repo;
use snap_store::{BlobId, OpenOptions, PackId, SnapshotId};

use super::oracle::{created_id, snap_env};
use crate::util::{
    data, image_diff, make_profile, mutate_profile, remove_tree, tree_image, TreeImage,
};

/// A small repository: profiles A and B, snapshots A1, B1, A2.
pub struct Zoo {
    _dir: tempfile::TempDir,
    /// The repository.
    pub repo: PathBuf,
    /// Space for restores.
    pub scratch: PathBuf,
    /// (id, image) of each snapshot, in creation order (A1, B1, A2).
    pub snaps: Vec<(SnapshotId, TreeImage)>,
}

impl Zoo {
    /// Builds the zoo's pristine repository.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = dir.path().join("repo");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        make_profile(&a, 24, 120_000, 1);
        make_profile(&b, 24, 120_000, 2);
        let mut snaps = Vec::new();
        for (p, change) in [(&a, false), (&b, false), (&a, true)] {
            if change {
                mutate_profile(p, 0.3, 3);
            }
            let run = snap_env(&repo, &["create", p.to_str().expect("utf-8")], &[]);
            let id = created_id(&run).unwrap_or_else(|| panic!("zoo create\n{}", run.dump()));
            snaps.push((SnapshotId::from_hex(&id).expect("id"), tree_image(p)));
        }
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).expect("scratch");
        Self {
            _dir: dir,
            repo,
            scratch,
            snaps,
        }
    }

    /// Opens the engine repository (shared).
    pub fn open(&self) -> Repo {
        Repo::open(&self.repo, &OpenOptions::shared("zoo")).expect("open zoo")
    }

    /// Every blob (trees and chunks) a snapshot references.
    pub fn blobs_of(&self, snap: &SnapshotId) -> HashSet<BlobId> {
        let r = self.open();
        let info = r.resolve(&snap.to_hex(), None).expect("resolve");
        let mut out = HashSet::new();
        let mut stack = vec![info.manifest.tree];
        while let Some(t) = stack.pop() {
            if !out.insert(t) {
                continue;
            }
            for n in r.tree(&t).expect("tree").nodes {
                stack.extend(n.subtree);
                out.extend(n.content);
            }
        }
        out
    }

    /// The packs holding a snapshot's blobs.
    pub fn packs_of(&self, snap: &SnapshotId) -> HashSet<PackId> {
        let r = self.open();
        self.blobs_of(snap)
            .iter()
            .filter_map(|b| r.store().locate(b).expect("locate").map(|l| l.pack))
            .collect()
    }

    /// A pack used by snapshot `i` and by no other snapshot.
    pub fn own_pack(&self, i: usize) -> PackId {
        let others: HashSet<PackId> = (0..self.snaps.len())
            .filter(|j| *j != i)
            .flat_map(|j| self.packs_of(&self.snaps[j].0))
            .collect();
        let mine = self.packs_of(&self.snaps[i].0);
        *mine
            .iter()
            .filter(|p| !others.contains(*p))
            .min()
            .expect("a pack of its own")
    }

    /// The path of a pack file.
    pub fn pack_path(&self, p: &PackId) -> PathBuf {
        let hex = p.to_hex();
        self.repo.join("packs").join(&hex[..2]).join(hex)
    }

    /// The path of a snapshot file.
    pub fn snap_path(&self, s: &SnapshotId) -> PathBuf {
        self.repo.join("snapshots").join(s.to_hex())
    }

    /// Blake3 of every file of the repository's truth (everything but the
    /// index cache, its SQLite sidecars and the lock file).
    pub fn truth_hash(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for e in walkdir::WalkDir::new(&self.repo).into_iter().flatten() {
            let rel = e
                .path()
                .strip_prefix(&self.repo)
                .expect("under")
                .display()
                .to_string();
            // `last-check.json` is check's own record of its outcome.
            let derived =
                rel.starts_with("index.sqlite") || rel == "lock" || rel == "last-check.json";
            if e.file_type().is_file() && !derived {
                let h = blake3::hash(&fs::read(e.path()).unwrap_or_default());
                out.insert(rel, h.to_hex().to_string());
            }
        }
        out
    }

    /// Restores every snapshot not in `affected` with `snap restore --target`
    /// and compares it; returns how many restored exactly.
    pub fn restore_unaffected(&self, affected: &HashSet<SnapshotId>) -> Result<usize, String> {
        let mut ok = 0;
        for (i, (id, image)) in self.snaps.iter().enumerate() {
            if affected.contains(id) {
                continue;
            }
            let t = self.scratch.join(format!("r{i}"));
            remove_tree(&t);
            let run = snap_env(
                &self.repo,
                &[
                    "restore",
                    &id.to_hex(),
                    "--target",
                    t.to_str().expect("utf-8"),
                ],
                &[],
            );
            if run.code != 0 {
                return Err(format!("snapshot {id} does not restore\n{}", run.dump()));
            }
            if let Some(d) = image_diff(image, &tree_image(&t)) {
                return Err(format!("snapshot {id} restores differently: {d}"));
            }
            remove_tree(&t);
            ok += 1;
        }
        Ok(ok)
    }
}

/// What `check` must say about one kind of damage.
struct Expect {
    /// Exit code of `snap check --read-data`.
    code: i32,
    /// (problem kind, id that must be named in it), all required.
    problems: Vec<(&'static str, Option<String>)>,
    /// Text that must appear on stderr (warnings, errors).
    stderr: Option<&'static str>,
    /// Snapshots the damage legitimately breaks.
    affected: HashSet<SnapshotId>,
}

impl Expect {
    fn clean() -> Self {
        Self {
            code: 0,
            problems: vec![],
            stderr: None,
            affected: HashSet::new(),
        }
    }

    fn problem(kind: &'static str, id: impl ToString, affected: &[SnapshotId]) -> Self {
        Self {
            code: 1,
            problems: vec![(kind, Some(id.to_string()))],
            stderr: None,
            affected: affected.iter().copied().collect(),
        }
    }
}

fn flip_at(path: &Path, at: usize) {
    let mut b = fs::read(path).expect("read");
    let at = at.min(b.len() - 1);
    b[at] ^= 0x5a;
    fs::write(path, b).expect("write");
}

fn truncate(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open")
        .set_len(len)
        .expect("truncate");
}

/// Writes a manifest like snapshot `i`'s with `edit` applied, as a new
/// snapshot file (through the store, so it is named by its hash).
fn forged_snapshot(z: &Zoo, i: usize, edit: impl FnOnce(&mut serde_json::Value)) -> SnapshotId {
    let r = z.open();
    let bytes = r.store().read_snapshot(&z.snaps[i].0).expect("read");
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    edit(&mut v);
    r.store()
        .put_snapshot(&serde_json::to_vec(&v).expect("json"))
        .expect("put")
}

/// Runs one SQL statement on the index.
fn sql(z: &Zoo, statement: &str) {
    let c = rusqlite::Connection::open(z.repo.join("index.sqlite")).expect("open index");
    c.execute_batch(statement)
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Every kind of damage: (name, damage) where damage returns the expectation.
type Case = (&'static str, fn(&Zoo) -> Expect);

fn cases() -> Vec<Case> {
    vec![
        ("pack missing", |z| {
            let p = z.own_pack(1);
            fs::remove_file(z.pack_path(&p)).unwrap();
            let s = z.snaps[1].0;
            let mut e = Expect::problem("tree-missing", s.to_hex(), &[s]);
            e.stderr = Some("rebuilt");
            e
        }),
        ("pack truncated", |z| {
            let p = z.own_pack(1);
            let path = z.pack_path(&p);
            truncate(&path, fs::metadata(&path).unwrap().len() / 2);
            Expect::problem("pack-damaged", p.to_hex(), &[z.snaps[1].0])
        }),
        ("pack zero-length", |z| {
            let p = z.own_pack(1);
            truncate(&z.pack_path(&p), 0);
            Expect::problem("pack-damaged", p.to_hex(), &[z.snaps[1].0])
        }),
        ("pack duplicated under a wrong name", |z| {
            let p = z.own_pack(1);
            let fake = PackId::of(b"not this pack");
            let dst = z.pack_path(&fake);
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            fs::copy(z.pack_path(&p), &dst).unwrap();
            Expect::problem("pack-damaged", fake.to_hex(), &[])
        }),
        ("pack trailer magic damaged", |z| {
            let p = z.own_pack(1);
            let path = z.pack_path(&p);
            let len = fs::metadata(&path).unwrap().len() as usize;
            flip_at(&path, len - 2);
            Expect::problem("pack-damaged", p.to_hex(), &[z.snaps[1].0])
        }),
        ("pack header length damaged", |z| {
            let p = z.own_pack(1);
            let path = z.pack_path(&p);
            let len = fs::metadata(&path).unwrap().len() as usize;
            flip_at(&path, len - 44 + 1);
            Expect::problem("pack-damaged", p.to_hex(), &[z.snaps[1].0])
        }),
        ("pack header entry damaged", |z| {
            let p = z.own_pack(1);
            let path = z.pack_path(&p);
            let len = fs::metadata(&path).unwrap().len() as usize;
            flip_at(&path, len - 44 - 10);
            Expect::problem("pack-damaged", p.to_hex(), &[z.snaps[1].0])
        }),
        ("pack magic damaged", |z| {
            let p = z.own_pack(1);
            flip_at(&z.pack_path(&p), 0);
            Expect::problem("pack-damaged", p.to_hex(), &[z.snaps[1].0])
        }),
        ("pack of an unknown version", |z| {
            let p = z.own_pack(1);
            flip_at(&z.pack_path(&p), 8);
            Expect::problem("pack-damaged", p.to_hex(), &[z.snaps[1].0])
        }),
        ("flipped byte in a blob", |z| {
            let p = z.own_pack(1);
            let path = z.pack_path(&p);
            let f = fs::File::open(&path).unwrap();
            let entries = snap_store::pack::reader::read_header(&f, &path).unwrap();
            let e = entries[entries.len() / 2];
            flip_at(
                &z.pack_path(&p),
                (e.offset + e.stored_len as u64 / 2) as usize,
            );
            let mut x = Expect::problem("blob-damaged", e.id.to_hex(), &[z.snaps[1].0]);
            x.problems.push(("pack-damaged", Some(p.to_hex())));
            x
        }),
        ("snapshot pointing to a missing tree", |z| {
            let missing = BlobId::of(b"no such tree");
            let s = forged_snapshot(z, 0, |v| v["tree"] = missing.to_hex().into());
            let mut e = Expect::problem("tree-missing", s.to_hex(), &[]);
            e.problems.push(("tree-missing", Some(missing.to_hex())));
            e
        }),
        ("snapshot whose manifest does not parse", |z| {
            let s = forged_snapshot(z, 0, |v| v["version"] = 99.into());
            Expect::problem("snapshot-damaged", s.to_hex(), &[])
        }),
        ("snapshot file truncated", |z| {
            let s = z.snaps[0].0;
            let path = z.snap_path(&s);
            truncate(&path, fs::metadata(&path).unwrap().len() / 2);
            Expect::problem("snapshot-damaged", s.to_hex(), &[s])
        }),
        ("snapshot file zero-length", |z| {
            let s = z.snaps[0].0;
            truncate(&z.snap_path(&s), 0);
            Expect::problem("snapshot-damaged", s.to_hex(), &[s])
        }),
        ("snapshot file with a flipped byte", |z| {
            let s = z.snaps[0].0;
            flip_at(&z.snap_path(&s), 20);
            Expect::problem("snapshot-damaged", s.to_hex(), &[s])
        }),
        ("tree referencing a missing chunk", |z| {
            let r = z.open();
            let info = r.resolve(&z.snaps[0].0.to_hex(), None).unwrap();
            let mut t = r.tree(&info.manifest.tree).unwrap();
            let missing = BlobId::of(b"no such chunk");
            let n = t
                .nodes
                .iter_mut()
                .find(|n| n.name == b"images")
                .expect("the images folder");
            // A folder in the root gets a new subtree with one bad file.
            let sub = r.tree(&n.subtree.unwrap()).unwrap();
            let mut sub = sub;
            sub.nodes[0].content = vec![missing];
            let w = r.store().writer();
            let bytes = sub.encode();
            let (sid, _) = w.put(snap_store::BlobKind::Tree, &bytes).unwrap();
            n.subtree = Some(sid);
            let bytes = t.encode();
            let (root, _) = w.put(snap_store::BlobKind::Tree, &bytes).unwrap();
            w.finish().unwrap();
            drop(r);
            let s = forged_snapshot(z, 0, |v| v["tree"] = root.to_hex().into());
            let mut e = Expect::problem("blob-missing", s.to_hex(), &[]);
            e.problems.push(("blob-missing", Some(missing.to_hex())));
            e
        }),
        ("index missing blob entries", |z| {
            sql(
                z,
                "DELETE FROM blobs WHERE id IN (SELECT id FROM blobs LIMIT 3)",
            );
            Expect {
                code: 1,
                problems: vec![("index-mismatch", None)],
                stderr: None,
                affected: z.snaps.iter().map(|s| s.0).collect(),
            }
        }),
        ("index pointing to a deleted pack", |z| {
            sql(z, "INSERT INTO packs (id, size) VALUES (x'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 100)");
            let mut e = Expect::clean();
            e.stderr = Some("rebuilt");
            e
        }),
        ("index missing a snapshot", |z| {
            sql(z, "DELETE FROM snapshots");
            Expect::clean()
        }),
        ("index.sqlite with corrupt pages", |z| {
            let p = z.repo.join("index.sqlite");
            let mut b = fs::read(&p).unwrap();
            let n = b.len();
            for x in b[n / 4..n - 100].iter_mut() {
                *x ^= 0xa5;
            }
            fs::write(&p, b).unwrap();
            let mut e = Expect::clean();
            e.stderr = Some("rebuilt");
            e
        }),
        ("index.sqlite garbage", |z| {
            fs::write(z.repo.join("index.sqlite"), data(9, 5000)).unwrap();
            let _ = fs::remove_file(z.repo.join("index.sqlite-wal"));
            let mut e = Expect::clean();
            e.stderr = Some("rebuilt");
            e
        }),
        ("index.sqlite missing", |z| {
            for s in ["", "-wal", "-shm"] {
                let _ = fs::remove_file(z.repo.join(format!("index.sqlite{s}")));
            }
            let mut e = Expect::clean();
            e.stderr = Some("rebuilt");
            e
        }),
        ("stray temporary files", |z| {
            fs::write(z.repo.join("tmp/.tmp-abandoned"), data(4, 3000)).unwrap();
            fs::write(z.repo.join("tmp/.tmp-empty"), b"").unwrap();
            Expect::clean()
        }),
        ("lock file left by a dead process", |z| {
            fs::write(
                z.repo.join("lock"),
                "pid 999999 command create since 2020-01-01T00:00:00Z\n",
            )
            .unwrap();
            Expect::clean()
        }),
        ("config.json of a future version", |z| {
            let p = z.repo.join("config.json");
            let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
            v["format_version"] = 99.into();
            fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
            Expect {
                code: 1,
                problems: vec![],
                stderr: Some("version"),
                affected: z.snaps.iter().map(|s| s.0).collect(),
            }
        }),
        ("config.json missing", |z| {
            fs::remove_file(z.repo.join("config.json")).unwrap();
            Expect {
                code: 10,
                problems: vec![],
                stderr: None,
                affected: z.snaps.iter().map(|s| s.0).collect(),
            }
        }),
    ]
}

/// One line per kind for docs/reliability.md.
#[test]
fn damaged_repository_zoo() {
    let pristine = Zoo::new();
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    let all = cases();
    for (name, damage) in &all {
        let z = Zoo::new_copy_of(&pristine);
        let expect = damage(&z);
        let before = z.truth_hash();
        let run = snap_env(&z.repo, &["--json", "check", "--read-data"], &[]);
        let after = z.truth_hash();
        let mut why = Vec::new();
        if run.code != expect.code {
            why.push(format!("exit {} (expected {})", run.code, expect.code));
        }
        let problems: Vec<serde_json::Value> =
            serde_json::from_str::<serde_json::Value>(&run.stdout)
                .ok()
                .and_then(|v| v.get("problems").cloned())
                .and_then(|p| p.as_array().cloned())
                .unwrap_or_default();
        for (kind, id) in &expect.problems {
            let found = problems.iter().any(|p| {
                p["kind"] == *kind
                    && id.as_ref().is_none_or(|id| {
                        ["pack", "blob", "snapshot"]
                            .iter()
                            .any(|k| p[k] == id.as_str())
                    })
            });
            if !found {
                why.push(format!("no {kind} problem naming {id:?}"));
            }
        }
        if let Some(s) = expect.stderr {
            if !run.stderr.contains(s) {
                why.push(format!("stderr lacks {s:?}"));
            }
        }
        if before != after {
            why.push("check modified the repository's truth".into());
        }
        let restored = if expect.code == 10 || expect.stderr == Some("version") {
            Ok(0)
        } else {
            z.restore_unaffected(&expect.affected)
        };
        if let Err(e) = &restored {
            why.push(e.clone());
        }
        let summary = problems
            .iter()
            .map(|p| p["kind"].as_str().unwrap_or("?").to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ");
        lines.push(format!(
            "| {name} | {} | {} | {} |",
            run.code,
            if summary.is_empty() {
                "-".into()
            } else {
                summary
            },
            restored
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "FAIL".into())
        ));
        if !why.is_empty() {
            failures.push(format!("{name}: {}\n{}", why.join("; "), run.dump()));
        }
    }
    eprintln!("| damage | check exit | problem kinds reported | unaffected snapshots restored |");
    for l in &lines {
        eprintln!("{l}");
    }
    eprintln!(
        "zoo: {} kinds of damage, {} failures",
        all.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s); first:\n{}",
        failures.len(),
        failures[0]
    );
}

impl Zoo {
    /// A copy of `other` in a new temporary directory (same layout).
    pub fn new_copy_of(other: &Zoo) -> Zoo {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = dir.path().join("repo");
        crate::util::copy_into(&other.repo, &repo);
        let _ = fs::remove_file(repo.join("lock"));
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).expect("scratch");
        Zoo {
            _dir: dir,
            repo,
            scratch,
            snaps: other.snaps.clone(),
        }
    }
}
