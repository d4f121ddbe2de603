//! Tampering: one flipped bit in each kind of file of an encrypted
//! repository is detected and the file named; then random single-bit flips
//! anywhere in the files snap reads, none of which may pass unnoticed.
//!
//! A flip counts as detected when `snap check --read-data` fails, or when
//! `check` or `profile list` names the flipped file (a damaged
//! `profiles.json` is recovered from its `.bak` with a warning naming it).
//! Every run starts from a pristine copy with an empty cache directory, so
//! nothing is answered from the index of the intact repository.
//!
//! Files flipped: `config.json`, `profiles.json`, `exports.json`, packs and
//! snapshots. Not flipped: `lock`, `locks/*` and `reserve` (content
//! meaningless, FORMAT.md sections 2 and 10), `tmp/`, and the `.bak`
//! copies (read only when the main file is damaged).
//!
//! `SNAP_TAMPER_FLIPS` sets the number of random flips (default 200, about
//! 20 s; the figure in README is from `SNAP_TAMPER_FLIPS=1000`).

use std::fs;
use std::path::{Path, PathBuf};

use super::{enc_env, env_or, files_under, history};
use crate::util::{copy_into, make_profile, remove_tree, Env, Gen, Run};

/// An encrypted repository with two snapshots, profile settings saved
/// twice (so `profiles.json.bak` exists) and an export record.
fn pristine() -> (Env, PathBuf) {
    let env = enc_env();
    env.snap(["init", "--encrypt"]).ok();
    let src = env.path("app");
    make_profile(&src, 20, 150_000, 8);
    history(&env, &src, "app", &env.path("out.zip"));
    let saved = env.path("pristine");
    copy_into(&env.repo, &saved);
    (env, saved)
}

/// The repository reset to the pristine copy, with an empty cache.
fn reset(env: &Env, saved: &Path) {
    remove_tree(&env.repo);
    remove_tree(&env.path("cache"));
    copy_into(saved, &env.repo);
}

fn flip(path: &Path, offset: usize, bit: u8) {
    let mut b = fs::read(path).unwrap();
    b[offset] ^= 1 << bit;
    fs::write(path, b).unwrap();
}

/// The files a flip may land in.
fn targets(repo: &Path) -> Vec<PathBuf> {
    files_under(repo)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(repo).unwrap().to_string_lossy().into_owned();
            !(rel == "lock"
                || rel == "reserve"
                || rel.starts_with("locks/")
                || rel.starts_with("tmp/")
                || rel.ends_with(".bak"))
        })
        .collect()
}

/// Runs the detectors; returns whether the flip in `file` was noticed and
/// the runs, for messages.
fn detected(env: &Env, file: &Path) -> (bool, Vec<Run>) {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let check = env.snap(["check", "--read-data"]);
    let profiles = env.snap(["profile", "list"]);
    let named = |r: &Run| r.stderr.contains(&name) || r.stdout.contains(&name);
    let seen = check.code != 0 || named(&check) || named(&profiles);
    (seen, vec![check, profiles])
}

fn offset_of(bytes: &[u8], needle: &str) -> usize {
    bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not found"))
        + needle.len()
}

#[test]
fn one_flipped_bit_in_each_kind_of_file_is_detected_and_named() {
    let (env, saved) = pristine();
    let config = env.repo.join("config.json");
    let cfg = fs::read(&config).unwrap();
    let packs: Vec<PathBuf> = files_under(&env.repo.join("packs"));
    let pack = packs
        .iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap()
        .clone();
    let pack_len = fs::metadata(&pack).unwrap().len() as usize;
    let snapshot = files_under(&env.repo.join("snapshots"))[0].clone();
    let cases: Vec<(&str, PathBuf, usize, &[&str])> = vec![
        // The chunker's avg_size: a valid value, caught by the config's MAC.
        (
            "config",
            config.clone(),
            offset_of(&cfg, "\"avg_size\": ") + 1,
            &["config.json", "authenticate"],
        ),
        (
            "key slot",
            config.clone(),
            offset_of(&cfg, "\"wrapped_key\": \"") + 5,
            &["config.json", "key slot"],
        ),
        ("pack data", pack.clone(), 100, &[]),
        // Inside the sealed header (it ends 44 bytes before the end).
        ("pack header", pack.clone(), pack_len - 60, &[]),
        ("snapshot", snapshot.clone(), 30, &[]),
        (
            "profiles.json",
            env.repo.join("profiles.json"),
            40,
            &["profiles.json"],
        ),
    ];
    for (what, file, offset, words) in cases {
        reset(&env, &saved);
        flip(&file, offset, 2);
        let (seen, runs) = detected(&env, &file);
        let all: String = runs.iter().map(Run::dump).collect();
        assert!(seen, "{what}: a flipped bit went unnoticed\n{all}");
        for w in words {
            assert!(all.contains(w), "{what}: no mention of {w:?}\n{all}");
        }
        // Wherever the damage is, it is named: the file or its id.
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(all.contains(&name), "{what}: {name} not named\n{all}");
    }
}

#[test]
fn random_bit_flips_never_pass_unnoticed() {
    let flips = env_or("SNAP_TAMPER_FLIPS", 200);
    let (env, saved) = pristine();
    let files = targets(&saved);
    let mut g = Gen(0x7a3b_0014);
    let mut silent = Vec::new();
    let mut by_kind = std::collections::BTreeMap::<String, u64>::new();
    for i in 0..flips {
        reset(&env, &saved);
        let f = &files[g.below(files.len() as u64) as usize];
        let rel = f.strip_prefix(&saved).unwrap();
        let target = env.repo.join(rel);
        let len = fs::metadata(&target).unwrap().len();
        let off = g.below(len) as usize;
        let bit = g.below(8) as u8;
        flip(&target, off, bit);
        let kind = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        *by_kind.entry(kind).or_default() += 1;
        let (seen, runs) = detected(&env, &target);
        if !seen {
            silent.push(format!(
                "flip {i}: {} byte {off} bit {bit}\n{}",
                rel.display(),
                runs.iter().map(Run::dump).collect::<String>()
            ));
        }
    }
    eprintln!(
        "{flips} random flips ({by_kind:?}): {} unnoticed",
        silent.len()
    );
    assert!(silent.is_empty(), "unnoticed flips:\n{}", silent.join("\n"));
}
