//! Engine API: snapshot → ZIP / vault → import gives the same content digest.

use std::fs::File;

use snap_engine::commands::backup::{create, CreateOptions};
use snap_engine::commands::import::{self, ImportOptions};
use snap_engine::export::{
    export_snapshot_vault, export_snapshot_zip, ArchiveOptions, ExportOptions, VaultVersion,
};
use snap_engine::Repo;
use snap_store::OpenOptions;

use super::{make_profile, PASSWORD};

fn setup() -> (
    tempfile::TempDir,
    Repo,
    snap_engine::model::snapshot::SnapshotInfo,
) {
    let t = tempfile::tempdir().unwrap();
    let profile = t.path().join("app");
    make_profile(&profile);
    let repo = Repo::open_or_init(&t.path().join("repo"), &OpenOptions::shared("test")).unwrap();
    create(&repo, &CreateOptions::new("app", &profile)).unwrap();
    let snap = repo.latest("app").unwrap().unwrap();
    (t, repo, snap)
}

fn import_into(
    repo: &Repo,
    path: &std::path::Path,
    password: Option<&str>,
    profile: &str,
) -> String {
    let archive = import::open(path, password, &ArchiveOptions::default()).unwrap();
    let out = import::import(
        repo,
        &archive,
        profile,
        &ImportOptions {
            source_path: "/nowhere".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(out.manifest.tags, vec!["import".to_string()]);
    assert!(out.chunks_new <= out.chunks);
    out.manifest.content_digest
}

#[test]
fn views_zip_round_trip_keeps_content_digest() {
    let (t, repo, snap) = setup();
    let zip = t.path().join("a.zip");
    export_snapshot_zip(
        &repo,
        &snap,
        &ExportOptions::default(),
        File::create(&zip).unwrap(),
    )
    .unwrap();
    let digest = import_into(&repo, &zip, None, "copy");
    assert_eq!(digest, snap.manifest.content_digest);
    // Deduplicated: the import stored no new data chunks.
    let copy = repo.latest("copy").unwrap().unwrap();
    assert_eq!(copy.manifest.summary.files, snap.manifest.summary.files);
    assert_eq!(copy.manifest.summary.dirs, snap.manifest.summary.dirs);
    assert_eq!(
        copy.manifest.summary.symlinks,
        snap.manifest.summary.symlinks
    );
    assert!(
        copy.manifest.summary.new_bytes < 4096,
        "only trees are new: {}",
        copy.manifest.summary.new_bytes
    );
}

#[test]
fn views_vault_round_trip_v1_and_v2() {
    let (t, repo, snap) = setup();
    for (v, want) in [(VaultVersion::V1, 1u8), (VaultVersion::V2, 2u8)] {
        let path = t.path().join(format!("v{want}.stvault"));
        let sum = export_snapshot_vault(
            &repo,
            &snap,
            &ExportOptions::default(),
            PASSWORD,
            Some(v),
            File::create(&path).unwrap(),
        )
        .unwrap();
        assert_eq!(sum.version, want);
        assert_eq!(std::fs::read(&path).unwrap()[7], want);
        let digest = import_into(&repo, &path, Some(PASSWORD), &format!("v{want}"));
        assert_eq!(digest, snap.manifest.content_digest, "vault v{want}");
        let err =
            import::open(&path, Some("wrong password"), &ArchiveOptions::default()).unwrap_err();
        assert!(
            matches!(err, snap_engine::Error::WrongPasswordOrDamaged { .. }),
            "{err}"
        );
    }
}

#[test]
fn views_import_of_redacted_export_differs_and_lacks_key() {
    let (t, repo, snap) = setup();
    let zip = t.path().join("r.zip");
    let opts = ExportOptions {
        exclude: vec!["cache".into()],
        redact_keys: vec!["*api_key*".into()],
    };
    let sum = export_snapshot_zip(&repo, &snap, &opts, File::create(&zip).unwrap()).unwrap();
    assert_eq!(
        sum.excluded,
        vec!["cache", "cache/deep", "cache/deep/c.txt"]
    );
    let digest = import_into(&repo, &zip, None, "scoped");
    assert_ne!(digest, snap.manifest.content_digest);
}
