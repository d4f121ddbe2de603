//! `snap export` killed (-9) at random moments: the output is always the
//! previous file or a complete new one, a new one when the command
//! reported success, and the partial file a kill leaves beside it
//! (`.NAME.snap-partial-*`) is removed by the next export to that output.
//!
//! Two snapshots of a 300-file, 20 MB profile are exported, one picked at
//! random each time, over the same output; each run is killed after a
//! random delay (0 to 1.2x the last run that ended by itself). A ZIP must
//! be byte-identical to a clean export of its snapshot; a vault (new salt
//! and nonces each time) must extract to its snapshot's tree.
//! `SNAP_EXPORT_KILL_POINTS` sets the points of each (default 100: about
//! 15 s for ZIPs, 30 s for vaults).

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::archives::archive_problem;
use super::oracle::{created_id, run_interrupted, snap_env, PASSWORD};
use crate::util::{env_or, make_profile, mutate_profile, tree_image, Gen, TreeImage};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Zip,
    Vault,
}

struct Base {
    dir: tempfile::TempDir,
    repo: PathBuf,
    format: Format,
    /// Where every run exports to.
    out: PathBuf,
    /// The two snapshots, their trees, and their clean ZIP exports' bytes.
    ids: [String; 2],
    images: [TreeImage; 2],
    zips: [Vec<u8>; 2],
}

fn build(format: Format) -> Base {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("profile");
    let repo = dir.path().join("repo");
    make_profile(&profile, 300, 20_000_000, 7);
    let (mut ids, mut images, mut zips) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..2u64 {
        if i == 1 {
            mutate_profile(&profile, 0.3, 8);
        }
        let run = snap_env(&repo, &["create", profile.to_str().expect("utf-8")], &[]);
        let id = created_id(&run).unwrap_or_else(|| panic!("create\n{}", run.dump()));
        let zip = dir.path().join(format!("clean-{i}.zip"));
        let z = zip.to_str().expect("utf-8");
        let run = snap_env(&repo, &["export", &id, "--zip", z], &[]);
        assert_eq!(run.code, 0, "export\n{}", run.dump());
        zips.push(fs::read(&zip).expect("clean export"));
        images.push(tree_image(&profile));
        ids.push(id);
    }
    fs::write(dir.path().join("password"), PASSWORD).expect("password file");
    let name = match format {
        Format::Zip => "export.zip",
        Format::Vault => "export.stvault",
    };
    let out = dir.path().join("out").join(name);
    fs::create_dir_all(out.parent().expect("parent")).expect("out");
    Base {
        repo,
        format,
        out,
        ids: ids.try_into().expect("two"),
        images: images.try_into().expect("two"),
        zips: zips.try_into().expect("two"),
        dir,
    }
}

/// `snap export` of snapshot `i` to the output.
fn export(b: &Base, i: usize) -> Vec<String> {
    let mut args = vec!["export".to_string(), b.ids[i].clone()];
    let out = b.out.display().to_string();
    match b.format {
        Format::Zip => args.extend(["--zip".into(), out]),
        Format::Vault => args.extend([
            "--vault".into(),
            out,
            "--vault-password-file".into(),
            b.dir.path().join("password").display().to_string(),
        ]),
    }
    args
}

/// Partial files left beside the output.
fn partials(b: &Base) -> Vec<String> {
    let name = b.out.file_name().expect("name").to_string_lossy();
    let prefix = format!(".{name}{}", snap_store::fsutil::PARTIAL_INFIX);
    fs::read_dir(b.out.parent().expect("parent"))
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Whether `now` (not the previous file) is a complete export of
/// snapshot `i`.
fn is_export_of(b: &Base, i: usize, now: &[u8]) -> bool {
    match b.format {
        Format::Zip => now == b.zips[i],
        Format::Vault => archive_problem(&b.repo, b.dir.path(), &b.out, &b.images[i]).is_none(),
    }
}

/// What is wrong with the output after exporting snapshot `i` over
/// `previous`; `reported`: `None` when the run was killed.
fn problem(
    b: &Base,
    i: usize,
    previous: &Option<Vec<u8>>,
    reported: Option<bool>,
) -> Option<String> {
    let now = fs::read(&b.out).ok();
    let unchanged = now == *previous;
    let ok = match (reported, &now) {
        (Some(false), _) => unchanged,
        (_, Some(n)) if !unchanged => is_export_of(b, i, n),
        // Unchanged: a ZIP of the same snapshot is the same bytes, a new
        // vault never is.
        (Some(true), Some(n)) => b.format == Format::Zip && *n == b.zips[i],
        (Some(true), None) => false,
        (None, _) => unchanged,
    };
    if !ok {
        return Some(format!(
            "reported {reported:?}: the output ({} bytes) is neither the previous file ({:?} bytes) nor a complete new export",
            now.map_or(0, |n| n.len()),
            previous.as_ref().map(Vec::len),
        ));
    }
    let left = partials(b);
    (reported.is_some() && !left.is_empty())
        .then(|| format!("a run that ended by itself left {left:?}"))
}

fn kill_loop(format: Format, points: u64) {
    let b = build(format);
    let mut g = Gen(0xe59);
    let t = Instant::now();
    let clean = snap_env(&b.repo, &as_strs(&export(&b, 0)), &[]);
    assert_eq!(clean.code, 0, "clean run\n{}", clean.dump());
    let mut took = t.elapsed();
    let (mut killed, mut left_by_kills, mut failures) = (0u64, 0u64, Vec::new());
    for point in 0..points {
        let i = g.below(2) as usize;
        let previous = fs::read(&b.out).ok();
        let window = (took.as_micros() as u64 * 12 / 10).max(2_000);
        let delay = Duration::from_micros(g.below(window));
        let args = export(&b, i);
        let (code, _, ended) = run_interrupted(&b.repo, &as_strs(&args), delay, |c| {
            let _ = c.kill();
        });
        killed += u64::from(ended.is_none());
        left_by_kills += u64::from(ended.is_none() && !partials(&b).is_empty());
        if let Some(t) = ended {
            took = t;
        }
        if let Some(p) = problem(&b, i, &previous, ended.map(|_| code == 0)) {
            failures.push(format!("point {point} (delay {delay:?}): {p}"));
        }
    }
    // The next export completes and removes what the kills left.
    let previous = fs::read(&b.out).ok();
    let last = snap_env(&b.repo, &as_strs(&export(&b, 1)), &[]);
    if let Some(p) = problem(&b, 1, &previous, Some(last.code == 0)) {
        failures.push(format!("the run after the kills: {p}\n{}", last.dump()));
    }
    let what = match format {
        Format::Zip => "export --zip",
        Format::Vault => "export --vault",
    };
    eprintln!(
        "| {what} | crash points {points} | killed mid-run {killed} | partial file left by {left_by_kills} kills | failures {} |",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "kill -9 of {what}: {} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn zip_export_killed_at_random_moments_leaves_the_previous_file_or_the_new_one() {
    kill_loop(Format::Zip, env_or("SNAP_EXPORT_KILL_POINTS", 100));
}

#[test]
fn vault_export_killed_at_random_moments_leaves_the_previous_file_or_a_new_one() {
    kill_loop(Format::Vault, env_or("SNAP_EXPORT_KILL_POINTS", 100));
}
