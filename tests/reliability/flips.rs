//! 1 000 random single-byte flips across packs, snapshot files and the index
//! (issue 6, part 3). Each flip is made in a fresh copy of a small pristine
//! repository, then the repository is opened and checked in process (the
//! store's `check --read-data` plus the engine's snapshot walk, exactly what
//! `snap check --read-data` runs).
//!
//! * A flip in a pack or a snapshot file must be detected (100%): every such
//!   file is named by the blake3 of its bytes.
//! * A flip in `index.sqlite` (a cache) is *detected* when the open rebuilds
//!   the index or check reports a problem, *harmless* when check passes and
//!   every snapshot still restores exactly (the flip hit free space, an
//!   unused page, or a stat-cache row), and *harmful* otherwise (must be 0).
//! * Every snapshot the flip does not touch still restores exactly (100%).
//! * `check` never changes the truth (packs, snapshots, config, profiles).
//!
//! `SNAP_FLIPS` sets the number of flips (default 1 000).

use std::collections::HashSet;
use std::fs;

use snap_engine::commands::restore::{restore, RestoreOptions};
use snap_engine::Repo;
use snap_store::{CheckOptions, OpenOptions, PackId};

use super::zoo::Zoo;
use crate::util::{image_diff, remove_tree, tree_image, Gen};

#[derive(Default, Debug)]
struct Tally {
    flips: u64,
    detected: u64,
    repaired_on_open: u64,
    harmless: u64,
    undetected_harmful: u64,
    unaffected_restored: u64,
    unaffected_total: u64,
    truth_modified: u64,
    /// Index flips after which some snapshot did not restore until the
    /// index was rebuilt (`snap repair`), and after it did.
    needed_rebuild: u64,
    restored_after_rebuild: u64,
}

#[test]
fn random_byte_flips() {
    let total: u64 = std::env::var("SNAP_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let pristine = Zoo::new();
    let packs_of: Vec<HashSet<PackId>> = pristine
        .snaps
        .iter()
        .map(|(s, _)| pristine.packs_of(s))
        .collect();
    let mut pack_files: Vec<(PackId, String)> = Vec::new();
    for e in walkdir::WalkDir::new(pristine.repo.join("packs"))
        .into_iter()
        .flatten()
    {
        if e.file_type().is_file() {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = PackId::from_hex(&name).expect("pack name");
            let rel = e
                .path()
                .strip_prefix(&pristine.repo)
                .unwrap()
                .display()
                .to_string();
            pack_files.push((id, rel));
        }
    }
    pack_files.sort();
    let mut g = Gen(0xf11b);
    let mut tallies = [Tally::default(), Tally::default(), Tally::default()];
    let mut failures = Vec::new();
    for n in 0..total {
        let cat = match n % 4 {
            0 | 1 => 0, // packs: half the flips
            2 => 1,     // snapshot files
            _ => 2,     // index
        };
        let z = Zoo::new_copy_of(&pristine);
        let (rel, affected): (String, HashSet<usize>) = match cat {
            0 => {
                let (id, rel) = &pack_files[g.below(pack_files.len() as u64) as usize];
                let hit = (0..z.snaps.len())
                    .filter(|i| packs_of[*i].contains(id))
                    .collect();
                (rel.clone(), hit)
            }
            1 => {
                let i = g.below(z.snaps.len() as u64) as usize;
                (format!("snapshots/{}", z.snaps[i].0.to_hex()), [i].into())
            }
            _ => ("index.sqlite".to_string(), HashSet::new()),
        };
        let path = z.repo.join(&rel);
        let mut bytes = fs::read(&path).expect("read");
        let at = g.below(bytes.len() as u64) as usize;
        let mask = (g.below(255) + 1) as u8;
        bytes[at] ^= mask;
        fs::write(&path, &bytes).expect("write");
        let what = format!("flip {n}: {rel} byte {at} ^ {mask:#04x}");
        let t = &mut tallies[cat];
        t.flips += 1;
        let before = z.truth_hash();
        let (problems, warnings) = match Repo::open(&z.repo, &OpenOptions::shared("flips")) {
            Err(e) => (vec![format!("open failed: {e}")], vec![]),
            Ok(r) => {
                let mut p: Vec<String> =
                    match snap_store::check(r.store(), CheckOptions { read_data: true }) {
                        Ok(rep) => rep.problems.iter().map(|p| p.kind.clone()).collect(),
                        Err(e) => vec![format!("check failed: {e}")],
                    };
                match snap_engine::commands::check::check_snapshots(&r) {
                    Ok(w) => p.extend(w.problems.iter().map(|p| p.kind.clone())),
                    Err(e) => p.push(format!("walk failed: {e}")),
                }
                (p, r.store().warnings().to_vec())
            }
        };
        if z.truth_hash() != before {
            t.truth_modified += 1;
            failures.push(format!("{what}: check modified the truth"));
        }
        let detected = !problems.is_empty();
        let repaired = warnings.iter().any(|w| w.contains("rebuilt"));
        // Restore: unaffected snapshots must be exact; for the index, all of
        // them decide between harmless and harmful.
        let r = Repo::open(&z.repo, &OpenOptions::shared("flips")).ok();
        let mut all_exact = r.is_some();
        for (i, (id, image)) in z.snaps.iter().enumerate() {
            let exact = r.as_ref().is_some_and(|r| {
                let target = z.scratch.join(format!("t{i}"));
                remove_tree(&target);
                let ok = r
                    .resolve(&id.to_hex(), None)
                    .and_then(|info| {
                        restore(
                            r,
                            &info,
                            &RestoreOptions {
                                target: Some(target.clone()),
                                ..RestoreOptions::default()
                            },
                        )
                    })
                    .is_ok()
                    && image_diff(image, &tree_image(&target)).is_none();
                remove_tree(&target);
                ok
            });
            all_exact &= exact;
            if !affected.contains(&i) {
                t.unaffected_total += 1;
                if exact {
                    t.unaffected_restored += 1;
                } else if cat != 2 || !detected {
                    failures.push(format!(
                        "{what}: unaffected snapshot {id} does not restore exactly"
                    ));
                }
            }
        }
        drop(r);
        if cat == 2 && !all_exact {
            t.needed_rebuild += 1;
            let rebuilt = Repo::open(&z.repo, &OpenOptions::exclusive("flips"))
                .ok()
                .and_then(|mut r| r.store_mut().rebuild_index().ok().map(|_| r));
            let all = rebuilt.is_some_and(|r| {
                z.snaps.iter().enumerate().all(|(i, (id, image))| {
                    let target = z.scratch.join(format!("again{i}"));
                    remove_tree(&target);
                    let ok = r
                        .resolve(&id.to_hex(), None)
                        .and_then(|info| {
                            restore(
                                &r,
                                &info,
                                &RestoreOptions {
                                    target: Some(target.clone()),
                                    ..RestoreOptions::default()
                                },
                            )
                        })
                        .is_ok()
                        && image_diff(image, &tree_image(&target)).is_none();
                    remove_tree(&target);
                    ok
                })
            });
            if all {
                t.restored_after_rebuild += 1;
            } else {
                failures.push(format!(
                    "{what}: snapshots do not restore even after an index rebuild"
                ));
            }
        }
        if detected {
            t.detected += 1;
        } else if repaired {
            t.repaired_on_open += 1;
        } else if cat == 2 && all_exact {
            t.harmless += 1;
        } else {
            t.undetected_harmful += 1;
            failures.push(format!("{what}: not detected"));
        }
    }
    eprintln!("| flipped in | flips | detected by check | repaired on open | harmless | undetected harmful | unaffected snapshots restored | truth modified | needed a rebuild (all restored after it) |");
    for (name, t) in ["packs", "snapshots", "index"].iter().zip(&tallies) {
        eprintln!(
            "| {name} | {} | {} | {} | {} | {} | {}/{} | {} | {} ({}) |",
            t.flips,
            t.detected,
            t.repaired_on_open,
            t.harmless,
            t.undetected_harmful,
            t.unaffected_restored,
            t.unaffected_total,
            t.truth_modified,
            t.needed_rebuild,
            t.restored_after_rebuild
        );
    }
    assert!(
        failures.is_empty(),
        "{} failure(s); first: {}",
        failures.len(),
        failures[0]
    );
}
