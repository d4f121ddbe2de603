//! `snap import FILE [--profile NAME] [--force]`, and `snap restore FILE
//! --target DIR` (restore straight from a ZIP or vault, no repository).
//!
//! The profile an import goes to: `--profile`, else the archive manifest's
//! profile, else the file's stem. When that profile does not exist it is
//! registered once the archive's data is stored, just before the snapshot
//! is committed (so a failure to register it commits nothing), with `auto`
//! off and the placeholder path `<repo>/imported/<NAME>` (an archive does
//! not say where the files lived on this machine); point it at the real
//! directory with `snap profile set NAME --path DIR` before restoring in
//! place.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use snap_engine::commands::import::{self, ImportOptions, ProfileSource};
use snap_engine::export::{self, extract_to, is_vault_file, ExportKind};
use snap_store::OpenOptions;

use super::Context;
use crate::args::{ImportArgs, RestoreArgs, SnapshotArg};
use crate::render::bytes;

fn open_archive(
    ctx: &Context,
    file: &Path,
    force: bool,
    max_size: Option<u64>,
    vault_password_file: Option<&Path>,
) -> anyhow::Result<export::Archive> {
    let password = if is_vault_file(file)? {
        Some(ctx.vault_password(vault_password_file, false)?)
    } else {
        None
    };
    let opts = export::ArchiveOptions {
        force,
        max_total: max_size.unwrap_or(export::DEFAULT_MAX_TOTAL),
    };
    Ok(import::open(file, password.as_deref(), &opts)?)
}

/// The `--json` document of an import.
#[derive(serde::Serialize)]
struct ImportReport<'a> {
    /// The profile the snapshot went to.
    profile: &'a str,
    /// Where that name came from: `given`, `manifest` or `file-name`.
    profile_from: ProfileSource,
    /// Whether the profile was registered by this import.
    registered: bool,
    #[serde(flatten)]
    outcome: &'a import::ImportOutcome,
}

/// Imports an archive as a new snapshot.
pub fn run(ctx: &Context, args: &ImportArgs) -> anyhow::Result<()> {
    if !args.file.is_file() {
        bail!("{}: no such file", args.file.display());
    }
    let archive = open_archive(
        ctx,
        &args.file,
        args.force,
        args.max_size,
        args.vault_password_file.as_deref(),
    )?;
    let done = import_archive(
        ctx,
        &archive,
        &args.file,
        args.profile.as_deref(),
        args.encrypt,
    )?;
    let out = &done.outcome;
    for s in &out.skipped {
        ctx.out.warn(&format!("not imported (newer format): {s}"));
    }
    for w in &out.warnings {
        ctx.out.warn(w);
    }
    let report = ImportReport {
        profile: &done.profile,
        profile_from: done.from,
        registered: done.existing.is_none(),
        outcome: out,
    };
    ctx.out.emit(&report, |w, quiet| {
        if quiet {
            return writeln!(w, "{}", out.id.to_hex());
        }
        let m = &out.manifest;
        let from = match done.from {
            ProfileSource::Given => "given with --profile",
            ProfileSource::Manifest => "from the archive's manifest",
            ProfileSource::FileName => "from the file name",
        };
        let payload = match out.payload {
            export::Payload::StakTrakr => " (StakTrakr vault)",
            export::Payload::Zip => "",
        };
        writeln!(
            w,
            "imported {}{payload} as snapshot {} of profile {} ({from}): {} files ({}), {} new",
            args.file.display(),
            out.id.short(),
            m.profile,
            m.summary.files,
            bytes(m.summary.bytes),
            bytes(m.summary.new_bytes)
        )?;
        if done.existing.is_none() {
            writeln!(
                w,
                "registered profile {} (path {}; set the real one with `snap profile set {} --path DIR`)",
                m.profile,
                done.path.display(),
                m.profile
            )?;
        }
        Ok(())
    })
}

/// What [`import_archive`] did.
pub(crate) struct Imported {
    /// The new snapshot.
    pub outcome: import::ImportOutcome,
    /// The profile it went to.
    pub profile: String,
    /// Where that name came from.
    pub from: ProfileSource,
    /// The profile's path before the import (`None`: registered now).
    pub existing: Option<PathBuf>,
    /// The profile's path.
    pub path: PathBuf,
}

/// Imports an opened archive (read from `file`) into `profile` (default:
/// the archive's), registering the profile first when it is new. Shared by
/// `snap import` and `snap ui`. `encrypt`: encrypt the repository if this
/// creates it.
pub(crate) fn import_archive(
    ctx: &Context,
    archive: &export::Archive,
    file: &Path,
    profile: Option<&str>,
    encrypt: bool,
) -> anyhow::Result<Imported> {
    let repo = ctx.open_or_init_engine(OpenOptions::shared("import"), encrypt)?;
    let (name, from) = match profile {
        Some(p) => (
            snap_engine::model::profile::sanitize_name(p)?,
            ProfileSource::Given,
        ),
        None => import::default_profile(archive),
    };
    let existing = ctx.profiles(&repo)?.get(&name).map(|p| p.path.clone());
    let path = match &existing {
        Some(p) => p.clone(),
        None => std::fs::canonicalize(repo.store().root())
            .unwrap_or_else(|_| repo.store().root().to_path_buf())
            .join("imported")
            .join(&name),
    };
    let options = ImportOptions {
        now: ctx.now()?,
        source_path: path.to_string_lossy().into_owned(),
        ..Default::default()
    };
    let failed = || format!("import of {} failed; nothing was added", file.display());
    let pending = import::prepare(&repo, archive, &name, &options).with_context(failed)?;
    let (outcome, _, warnings) = pending.commit_registering(ctx.lock_wait).map_err(|e| {
        // Say exactly what is on disk: a new profile may have been
        // registered before the commit failed.
        let registered = existing.is_none()
            && snap_engine::model::profile::Profiles::load_in(repo.store())
                .is_ok_and(|(ps, _)| ps.get(&name).is_some());
        anyhow::Error::new(e).context(if registered {
            format!(
                "import of {} failed; no snapshot was added (profile {name} stays registered)",
                file.display()
            )
        } else {
            failed()
        })
    })?;
    for w in warnings.iter().chain(&outcome.post_commit_warnings) {
        ctx.out.warn(w);
    }
    Ok(Imported {
        outcome,
        profile: name,
        from,
        existing,
        path,
    })
}

/// Whether `restore`'s ID names an archive file rather than a snapshot:
/// an existing file that is not a snapshot of the repository (or there is
/// no repository).
pub fn names_archive(ctx: &Context, id: &SnapshotArg) -> bool {
    if !Path::new(&id.id).is_file() {
        return false;
    }
    match ctx.open_repo(OpenOptions::shared("restore")) {
        Ok(repo) => repo.resolve(&id.id, id.profile.as_deref()).is_err(),
        Err(_) => true,
    }
}

/// The `--json` document of a restore from a file.
#[derive(serde::Serialize)]
struct FileRestore {
    archive: PathBuf,
    target: PathBuf,
    payload: export::Payload,
    files: u64,
    dirs: u64,
    symlinks: u64,
    bytes: u64,
    /// Dropped privilege bits, unusual symlink targets.
    warnings: Vec<String>,
}

/// `snap restore FILE --target DIR`: checks and extracts a ZIP or vault.
pub fn restore_file(ctx: &Context, args: &RestoreArgs) -> anyhow::Result<()> {
    let file = PathBuf::from(&args.snapshot.id);
    let Some(target) = &args.target else {
        bail!(
            "restoring from the file {} needs --target DIR (an empty or new directory)",
            file.display()
        );
    };
    if !args.paths.is_empty() {
        bail!("--path is not supported when restoring from a file");
    }
    let archive = open_archive(ctx, &file, false, args.max_size, None)?;
    let mut r = FileRestore {
        archive: file.clone(),
        target: target.clone(),
        payload: archive.payload(),
        files: 0,
        dirs: 0,
        symlinks: 0,
        bytes: 0,
        warnings: archive.warnings().to_vec(),
    };
    for e in archive.entries() {
        match e.kind {
            ExportKind::File => {
                r.files += 1;
                r.bytes += e.size;
            }
            ExportKind::Dir => r.dirs += 1,
            ExportKind::Symlink => r.symlinks += 1,
        }
    }
    for w in &r.warnings {
        ctx.out.warn(w);
    }
    if !args.dry_run {
        extract_to(&archive, target).with_context(|| {
            format!(
                "restore from {} failed; nothing was left in {}",
                file.display(),
                target.display()
            )
        })?;
    }
    ctx.out.emit(&r, |w, quiet| {
        if quiet {
            return Ok(());
        }
        let verb = if args.dry_run {
            "would restore"
        } else {
            "restored"
        };
        writeln!(
            w,
            "{verb} {} files ({}), {} dirs, {} symlinks from {} into {}",
            r.files,
            bytes(r.bytes),
            r.dirs,
            r.symlinks,
            file.display(),
            target.display()
        )
    })
}
