//! `snap export ID (--zip FILE | --vault FILE) [--exclude GLOB]...
//! [--redact-keys PAT]... [--scope NAME] [--vault-version 1|2] [--if-changed]
//! [--payload zip|staktrakr]`.

use anyhow::{bail, Context as _};
use serde::Serialize;
use snap_engine::export::history;
use snap_engine::export::{ExportOptions, ExportSummary, FileFormat, VaultVersion};
use snap_store::OpenOptions;

use super::Context;
use crate::args::{ExportArgs, Payload};
use crate::render::bytes;

/// The `--json` document.
#[derive(Serialize)]
struct Report<'a> {
    /// `written` or `unchanged`.
    status: &'a str,
    dest: String,
    format: &'a str,
    vault_version: Option<u8>,
    /// `zip` or `staktrakr` (what the file holds).
    payload: &'a str,
    snapshot: String,
    scope: Option<&'a str>,
    bytes: u64,
    #[serde(flatten)]
    export: &'a ExportSummary,
}

/// Exports a snapshot to a ZIP or vault file, atomically.
pub fn run(ctx: &Context, args: &ExportArgs) -> anyhow::Result<()> {
    let repo = ctx.open_engine(OpenOptions::shared("export"))?;
    let s = repo.resolve(&args.snapshot.id, args.snapshot.profile.as_deref())?;
    let mut options = ExportOptions::default();
    if let Some(name) = &args.scope {
        let profiles = ctx.profiles(&repo)?;
        let profile = profiles.require(&s.manifest.profile)?;
        let Some(scope) = profile.scopes.get(name) else {
            bail!(
                "profile {} has no scope {name:?} (known: {}); add one with `snap profile set {} --scope {name}=exclude:GLOB,redact:PATTERN`",
                profile.name,
                profile.scopes.keys().cloned().collect::<Vec<_>>().join(", "),
                profile.name
            );
        };
        options.exclude = scope.exclude.clone();
        options.redact_keys = scope.redact_keys.clone();
    }
    options.exclude.extend(args.excludes.iter().cloned());
    options.redact_keys.extend(args.redact_keys.iter().cloned());

    let (dest, password) = match (&args.zip, &args.vault) {
        (Some(z), None) => (z.clone(), None),
        (None, Some(v)) => (
            v.clone(),
            Some(ctx.vault_password(args.vault_password_file.as_deref(), true)?),
        ),
        _ => bail!("give exactly one of --zip FILE and --vault FILE"),
    };
    let staktrakr = args.payload == Some(Payload::Staktrakr);
    if staktrakr && args.vault_version == Some(2) {
        bail!("--payload staktrakr writes vault version 1, the only one StakTrakr reads");
    }
    let format = match &password {
        None => FileFormat::Zip,
        Some(pw) if staktrakr => FileFormat::StakTrakrVault { password: pw },
        Some(pw) => FileFormat::Vault {
            password: pw,
            version: args.vault_version.map(|v| match v {
                1 => VaultVersion::V1,
                _ => VaultVersion::V2,
            }),
        },
    };
    let scope_key = args.scope.clone().unwrap_or_default();
    let time_ms = ctx
        .now()?
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis();
    let recorded = history::export_recorded(
        &repo,
        &s,
        &options,
        format,
        history::Destination {
            path: &dest,
            scope: &scope_key,
            if_changed: args.if_changed,
            time_ms,
        },
    )
    .with_context(|| {
        format!(
            "export of snapshot {} to {} failed; nothing was written there",
            s.short_id,
            dest.display()
        )
    })?;
    for w in &recorded.warnings {
        ctx.out.warn(w);
    }
    let done = recorded.export;
    let report = Report {
        status: if done.written { "written" } else { "unchanged" },
        dest: dest.display().to_string(),
        format: if password.is_some() { "vault" } else { "zip" },
        vault_version: done.vault_version,
        payload: if staktrakr { "staktrakr" } else { "zip" },
        snapshot: s.id.to_hex(),
        scope: args.scope.as_deref(),
        bytes: done.bytes,
        export: &done.zip,
    };
    ctx.out.emit(&report, |w, quiet| {
        if quiet {
            return Ok(());
        }
        if !done.written {
            return writeln!(
                w,
                "unchanged since the last export{} to {}; not written",
                args.scope
                    .as_deref()
                    .map(|n| format!(" of scope {n}"))
                    .unwrap_or_default(),
                dest.display()
            );
        }
        let sum = &done.zip.summary;
        let kind = match done.vault_version {
            Some(v) if staktrakr => format!("vault v{v}, StakTrakr payload"),
            Some(v) => format!("vault v{v}"),
            None => "zip".into(),
        };
        writeln!(
            w,
            "exported {} to {} ({kind}, {}): {} files ({}), {} dirs, {} symlinks",
            s.short_id,
            dest.display(),
            bytes(done.bytes),
            sum.files,
            bytes(sum.bytes),
            sum.dirs,
            sum.symlinks
        )?;
        if !done.zip.excluded.is_empty() {
            writeln!(w, "excluded: {}", done.zip.excluded.len())?;
        }
        if !done.zip.redacted.is_empty() {
            writeln!(w, "redacted keys: {}", done.zip.redacted.len())?;
        }
        Ok(())
    })
}
