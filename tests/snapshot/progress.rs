//! Restore progress (issue 17): the callback of `RestoreOptions::progress`
//! counts every regular file once, whether written or kept in place, up to
//! the snapshot's totals; `--path` restores count only what they restore.

use std::sync::Mutex;

use snap_engine::commands::restore::{restore, RestoreOptions, RestoreProgress};
use snap_engine::Repo;
use snap_store::OpenOptions;

use crate::util::*;

fn run(
    repo: &Repo,
    s: &snap_engine::model::snapshot::SnapshotInfo,
    base: RestoreOptions<'static>,
) -> Vec<RestoreProgress> {
    let seen = Mutex::new(Vec::new());
    let cb = |p: RestoreProgress| seen.lock().unwrap().push(p);
    let opts = RestoreOptions {
        progress: Some(&cb),
        ..base
    };
    restore(repo, s, &opts).unwrap();
    drop(opts);
    seen.into_inner().unwrap()
}

#[test]
fn restore_reports_progress_to_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = init_repo(dir.path());
    let src = dir.path().join("profile");
    make_profile(&src, 60, 3_000_000, 17);
    std::fs::write(src.join("top.bin"), data(5, 12_345)).unwrap();
    let id = snapshot_at(&repo_dir, "app", &src, None, &[]);
    let repo = Repo::open(&repo_dir, &OpenOptions::shared("test")).unwrap();
    let s = repo.resolve(&id, None).unwrap();
    let (files, bytes) = (s.manifest.summary.files, s.manifest.summary.bytes);
    assert!(files >= 50, "{files}");

    // Into a new folder: every file written.
    let seen = run(
        &repo,
        &s,
        RestoreOptions {
            target: Some(dir.path().join("out")),
            ..Default::default()
        },
    );
    assert_eq!(
        seen.len() as u64,
        files + 1,
        "one report per file, and one at 0"
    );
    assert_eq!(seen[0].files_done, 0);
    let last = seen.iter().max_by_key(|p| p.files_done).unwrap();
    assert_eq!((last.files_done, last.bytes_done), (files, bytes));
    assert!(seen
        .iter()
        .all(|p| p.files_total == files && p.bytes_total == bytes));

    // In place with nothing changed: every file kept, still counted.
    let seen = run(
        &repo,
        &s,
        RestoreOptions {
            profile_path: Some(src.clone()),
            ..Default::default()
        },
    );
    let last = seen.iter().max_by_key(|p| p.files_done).unwrap();
    assert_eq!((last.files_done, last.bytes_done), (files, bytes));

    // Only one file: its totals.
    let seen = run(
        &repo,
        &s,
        RestoreOptions {
            target: Some(dir.path().join("one")),
            paths: vec!["top.bin".into()],
            ..Default::default()
        },
    );
    let last = seen.last().unwrap();
    assert_eq!((last.files_done, last.files_total), (1, 1));
    assert_eq!((last.bytes_done, last.bytes_total), (12_345, 12_345));
}
