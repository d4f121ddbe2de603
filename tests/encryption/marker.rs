//! The marker test: a profile whose directory, profile name, file names,
//! paths and contents carry a unique marker goes through every kind of
//! write (create, no-change create, profile settings, export records,
//! in-place restore, forget, gc, index rebuild); then every byte of every
//! file under the repository directory is searched for the marker as
//! UTF-8, UTF-16LE and hex. Encrypted: 0 hits. The same steps on a plain
//! repository find it (the negative control, which shows the search works).

use std::fs;
use std::path::Path;

use super::{enc_env, files_under, history};
use crate::util::{make_profile, Env};

pub(super) const MARKER: &str = "qmarkerzx4917";

/// The forms searched for: UTF-8, UTF-16LE, lower- and upper-case hex.
fn forms() -> Vec<(&'static str, Vec<u8>)> {
    let utf16: Vec<u8> = MARKER.encode_utf16().flat_map(u16::to_le_bytes).collect();
    vec![
        ("utf-8", MARKER.as_bytes().to_vec()),
        ("utf-16le", utf16),
        ("hex", hex_of(MARKER, false)),
        ("HEX", hex_of(MARKER, true)),
    ]
}

fn hex_of(s: &str, upper: bool) -> Vec<u8> {
    s.bytes()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<String>()
        .into_bytes()
}

/// Every (file, form) where the marker occurs under `dir`.
pub(super) fn hits(dir: &Path) -> Vec<String> {
    let forms = forms();
    let mut out = Vec::new();
    for f in files_under(dir) {
        let bytes = fs::read(&f).unwrap_or_default();
        let name = f.to_string_lossy().into_owned();
        let rel = name.strip_prefix(&*dir.to_string_lossy()).unwrap_or(&name);
        for (what, needle) in &forms {
            // The file's own name, relative to the repository, counts too.
            if rel
                .as_bytes()
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
                || bytes.windows(needle.len()).any(|w| w == needle.as_slice())
            {
                out.push(format!("{rel} ({what})"));
            }
        }
    }
    out
}

/// Runs every kind of write on a marked profile; returns the hits.
fn scenario(env: &Env, init: &[&str]) -> Vec<String> {
    env.snap(init).ok();
    let src = env.path(&format!("{MARKER}-profile"));
    make_profile(&src.join(format!("dir-{MARKER}")), 20, 200_000, 5);
    for i in 0..5 {
        fs::write(
            src.join(format!("{MARKER}-{i}.json")),
            format!("{{\"secret\": \"{MARKER}\", \"n\": {i}}}\n").repeat(50 + i),
        )
        .unwrap();
    }
    let name = format!("app-{MARKER}");
    history(env, &src, &name, &env.path(&format!("out-{MARKER}.zip")));
    env.snap(["restore", "latest~1", "--profile", &name]).ok();
    env.snap(["forget", "--profile", &name, "--keep-last", "2"])
        .ok();
    env.snap(["gc"]).ok();
    env.snap(["index", "rebuild"]).ok();
    env.snap(["check", "--read-data"]).ok();
    hits(&env.repo)
}

#[test]
fn an_encrypted_repository_holds_no_trace_of_names_paths_or_contents() {
    let env = enc_env();
    let found = scenario(&env, &["init", "--encrypt"]);
    assert!(
        found.is_empty(),
        "the marker is in the encrypted repository:\n{}",
        found.join("\n")
    );
    // The index with its stat cache is outside, in the cache directory.
    assert!(!env.repo.join("index.sqlite").exists());
    let cache_hits = hits(&env.path("cache"));
    assert!(
        !cache_hits.is_empty(),
        "the index in the cache directory should name the files (it is a local cache)"
    );
}

#[test]
fn a_plain_repository_shows_the_marker_negative_control() {
    let env = Env::new();
    let found = scenario(&env, &["init"]);
    let text = found.join("\n");
    for needle in ["profiles.json (utf-8)", "index.sqlite (utf-8)"] {
        assert!(text.contains(needle), "expected a hit in {needle}:\n{text}");
    }
    assert!(
        found.iter().any(|h| h.contains("snapshots/")),
        "snapshot manifests name the profile:\n{text}"
    );
}
