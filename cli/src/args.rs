//! Command-line arguments (clap derive). Only parsing lives here: every
//! command converts its arguments into library options in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// snap: deduplicated, crash-safe snapshots of a profile directory.
#[derive(Debug, Parser)]
#[command(name = "snap", version, about, propagate_version = true)]
pub struct Cli {
    /// Global options, valid before or after the command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The repository: a directory, or s3://BUCKET/PREFIX on an
    /// S3-compatible object store [default: $SNAP_REPO, else the platform
    /// data directory, ~/.local/share/snap on Linux].
    #[arg(long, global = true, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub repo: Option<PathBuf>,
    /// The object store's endpoint for an s3:// repository
    /// [default: $AWS_ENDPOINT_URL, else AWS S3].
    #[arg(long, global = true, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Address the bucket as BUCKET.ENDPOINT (virtual-host style) instead
    /// of ENDPOINT/BUCKET (path style, what self-hosted stores expect).
    #[arg(long, global = true)]
    pub s3_virtual_host_style: bool,
    /// Print one JSON document on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only what is essential (errors, problems found).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Read the password (of an encrypted repository, and of a vault) from
    /// the first line of this file [else --password-command, else
    /// $SNAP_PASSWORD, else a prompt].
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and take the first line of its output as the
    /// password (a keyring, a secrets manager).
    #[arg(
        long,
        global = true,
        value_name = "CMD",
        conflicts_with = "password_file"
    )]
    pub password_command: Option<String>,
    /// Seconds to wait for the repository lock before giving up (exit 11).
    #[arg(
        long,
        global = true,
        env = "SNAP_LOCK_WAIT",
        default_value_t = 30.0,
        value_name = "SECS"
    )]
    pub lock_wait: f64,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty repository.
    Init(InitArgs),
    /// Verify packs, index and snapshots; exit 1 when anything is wrong.
    Check(CheckArgs),
    /// Maintain the index.
    Index {
        /// What to do with the index.
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Totals: packs, blobs, stored and raw bytes, snapshots.
    Stats,
    /// Remove snapshots by retention policy or by id (their data stays until gc).
    Forget(ForgetArgs),
    /// Delete unreferenced data: drop empty packs, repack mostly-garbage ones.
    Gc(GcArgs),
    /// Take snapshots on a schedule and on changes; apply retention; collect garbage.
    Auto(AutoArgs),
    /// Rebuild the index, find snapshots whose data is gone, and make the
    /// next create store missing chunks again.
    Repair(RepairArgs),
    /// Take a snapshot of a profile directory.
    Create(CreateArgs),
    /// List snapshots, newest first.
    List(ListArgs),
    /// Show a snapshot's manifest.
    Show(SnapshotArg),
    /// Add or remove a snapshot's tags (`--add keep` pins it: forget and
    /// retention never remove it; `--remove keep` unpins it).
    Tag(TagArgs),
    /// List the entries of a snapshot.
    Ls(LsArgs),
    /// Print a file from a snapshot.
    Cat(CatArgs),
    /// What changed between two snapshots, or a snapshot and the live directory.
    Diff(DiffArgs),
    /// Restore a snapshot in place or into a new directory.
    Restore(RestoreArgs),
    /// Export a snapshot as a ZIP file or an encrypted vault.
    Export(ExportArgs),
    /// Import a ZIP or vault file as a new snapshot.
    Import(ImportArgs),
    /// Serve a local web page to see, compare and restore snapshots.
    Ui(UiArgs),
    /// Manage the passwords of an encrypted repository (its key slots).
    Key {
        /// What to do.
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Copy snapshots from one repository to another (an offsite copy),
    /// sending only the data the destination lacks.
    Copy(CopyArgs),
    /// Manage profiles.
    Profile {
        /// What to do.
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Keep a profile in step across machines through a shared repository.
    Sync {
        /// What to do.
        #[command(subcommand)]
        command: SyncCommand,
    },
}

/// `snap sync ...`.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Snapshot the profile if it changed, copy it into the shared
    /// repository, and move its head there (exit 15 when another device
    /// moved it first).
    Push {
        /// The shared repository: a directory or s3://BUCKET/PREFIX.
        #[arg(long, value_name = "REPO")]
        to: String,
        /// The profile (default: the only one).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Apply this scope of the profile to what is pushed (excluded
        /// files dropped, JSON keys redacted); remembered for later pushes.
        #[arg(long, value_name = "NAME")]
        scope: Option<String>,
    },
    /// Restore the shared head in place when only it changed (the replaced
    /// state is kept as an undo point); exit 15 when both sides changed.
    Pull {
        /// The shared repository: a directory or s3://BUCKET/PREFIX.
        #[arg(long, value_name = "REPO")]
        from: String,
        /// The profile (default: the only one).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// For a profile this machine does not have yet: its directory.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// On a conflict, take the shared head (local state kept as the undo point).
        #[arg(long, conflicts_with = "ours")]
        theirs: bool,
        /// On a conflict, push the local state over the head (the head stays in history).
        #[arg(long)]
        ours: bool,
        /// Restore even when another process has a file of the profile open.
        #[arg(long)]
        force: bool,
    },
    /// For each synced profile: local changes, whether the head moved, and
    /// what push or pull would do.
    Status {
        /// Only this shared repository (default: every one synced with).
        #[arg(long, value_name = "REPO")]
        with: Option<String>,
        /// Only this profile.
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
    },
}

/// `snap init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Encrypt the repository (AES-256-GCM; a password from --password-file,
    /// --password-command, $SNAP_PASSWORD or a prompt).
    #[arg(long)]
    pub encrypt: bool,
    /// Share this repository's chunker parameters and, when it is
    /// encrypted, its master key (the new repository is then encrypted
    /// too), so that `snap copy` between the two keeps snapshot ids.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub from_password: FromPasswordArgs,
}

/// Where the password of a second repository (`--from`) comes from.
#[derive(Debug, Args)]
pub struct FromPasswordArgs {
    /// Read the --from repository's password from the first line of this
    /// file [else --from-password-command, else $SNAP_FROM_PASSWORD, else a
    /// prompt].
    #[arg(long, value_name = "FILE")]
    pub from_password_file: Option<PathBuf>,
    /// Run this shell command and take the first line of its output as the
    /// --from repository's password.
    #[arg(long, value_name = "CMD", conflicts_with = "from_password_file")]
    pub from_password_command: Option<String>,
}

/// `snap copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The repository to copy from (its password: --from-password-file,
    /// --from-password-command or $SNAP_FROM_PASSWORD).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub from: PathBuf,
    /// The repository to copy into [default: --repo] (its password:
    /// --password-file, --password-command or $SNAP_PASSWORD). It must
    /// exist: make it with `snap init --from SRC` to keep snapshot ids.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub to: Option<PathBuf>,
    /// Only snapshots of this profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Only these snapshots (full or short hex id, name, `latest`,
    /// `latest~N`, resolved in the source) [default: every snapshot].
    pub ids: Vec<String>,
    #[command(flatten)]
    pub from_password: FromPasswordArgs,
}

/// `snap key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List the key slots.
    List,
    /// Add a password (a new key slot).
    Add(NewPasswordArgs),
    /// Remove a key slot (never the last one).
    Remove {
        /// The slot's id (or a unique prefix of at least 4 digits).
        id: String,
    },
    /// Change the password that opened the repository.
    Passwd(NewPasswordArgs),
    /// Keep the repository's keys in $XDG_RUNTIME_DIR (RAM) for a while,
    /// so that commands run without a password source skip the password.
    Cache(KeyCacheArgs),
}

/// Arguments of `snap key cache`.
#[derive(Debug, Args)]
pub struct KeyCacheArgs {
    /// How long the keys stay (e.g. 30s, 15m, 2h).
    #[arg(long = "for", value_name = "DURATION", default_value = "15m")]
    pub ttl: String,
    /// Remove the cached keys of this repository now.
    #[arg(long, conflicts_with = "ttl")]
    pub clear: bool,
}

/// Where `key add` and `key passwd` take the new password from.
#[derive(Debug, Args)]
pub struct NewPasswordArgs {
    /// Read the new password from the first line of this file [else
    /// $SNAP_NEW_PASSWORD, else a prompt, twice].
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
}

/// `snap check`.
/// Arguments of `snap repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Also forget the snapshots whose data is gone.
    #[arg(long)]
    pub drop_broken: bool,
    /// Change nothing; print what would be done.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also read every blob and verify it against its id.
    #[arg(long)]
    pub read_data: bool,
}

/// `snap index ...`.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Recreate the index from packs and snapshots alone (exclusive lock).
    Rebuild,
}

/// `snap create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The directory to snapshot (registers a profile named after it).
    pub path: Option<PathBuf>,
    /// Encrypt the repository if this creates it (see `init --encrypt`).
    #[arg(long)]
    pub encrypt: bool,
    /// The profile to snapshot (or to register PATH under).
    #[arg(long)]
    pub profile: Option<String>,
    /// Tag the snapshot (repeatable; `keep` pins it).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Leave out paths matching this glob, in addition to the profile's excludes.
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Write a snapshot even when nothing changed.
    #[arg(long)]
    pub force: bool,
}

/// `snap list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this profile's snapshots.
    #[arg(long)]
    pub profile: Option<String>,
}

/// A snapshot id as a user types it, with the profile that scopes it.
#[derive(Debug, Args)]
pub struct SnapshotArg {
    /// Snapshot: full or short hex id, name, `latest` or `latest~N`.
    pub id: String,
    /// Resolve `latest` and names within this profile.
    #[arg(long)]
    pub profile: Option<String>,
}

/// `snap tag`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("change").required(true).multiple(true).args(["add", "remove"])))]
pub struct TagArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// Add this tag (repeatable); `keep` pins the snapshot.
    #[arg(long, value_name = "TAG")]
    pub add: Vec<String>,
    /// Remove this tag (repeatable), also one written when it was created.
    #[arg(long, value_name = "TAG")]
    pub remove: Vec<String>,
}

/// `snap ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// Only what is under this path.
    pub path: Option<String>,
}

/// `snap cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// The file to print.
    pub path: String,
}

/// `snap diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// The newer snapshot; without it, the live directory.
    pub id2: Option<String>,
}

/// `snap restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// Restore into this new or empty directory instead of in place.
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Restore only this path (repeatable).
    #[arg(long = "path", value_name = "P")]
    pub paths: Vec<String>,
    /// Print what would be added, changed and removed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Restoring from a ZIP or vault file: refuse archives whose entries
    /// expand to more than SIZE in total (default 64GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Restore in place even when another process has a file of the
    /// profile open (its later writes to that file are lost; warned).
    #[arg(long)]
    pub force: bool,
}

/// What a vault holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Payload {
    /// snap's ZIP view (default).
    Zip,
    /// StakTrakr's JSON (`{"_meta", "data"}`): one `data` key per top-level file.
    Staktrakr,
}

/// Parses a size: a number with an optional unit (`B`, `K`/`KiB`,
/// `M`/`MiB`, `G`/`GiB`, `T`/`TiB`; powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 128GiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => return Err(format!("{s:?}: unknown unit (B, KiB, MiB, GiB, TiB)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// On or off.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Profile settings, for `profile add` and `profile set`.
#[derive(Debug, Args, Default)]
pub struct ProfileSettings {
    /// Leave out paths matching this glob (repeatable; `profile set` replaces the list).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Automatic snapshots by `snap auto`.
    #[arg(long)]
    pub auto: Option<Switch>,
    /// Time between automatic snapshots (`30s`, `15m`, `2h`).
    #[arg(long, value_name = "DUR")]
    pub interval: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Save a named export scope: `NAME=exclude:GLOB,redact:PATTERN,...` (repeatable).
    #[arg(long = "scope", value_name = "SPEC")]
    pub scopes: Vec<String>,
}

/// `snap profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Register a profile directory.
    Add {
        /// The profile's name.
        name: String,
        /// Its directory.
        path: PathBuf,
        #[command(flatten)]
        settings: ProfileSettings,
    },
    /// List profiles.
    List,
    /// Show one profile's settings.
    Show {
        /// The profile's name.
        name: String,
    },
    /// Change a profile's settings.
    Set {
        /// The profile's name.
        name: String,
        /// Move the profile to another directory.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        #[command(flatten)]
        settings: ProfileSettings,
    },
    /// Unregister a profile (its snapshots stay unless --purge).
    Remove {
        /// The profile's name.
        name: String,
        /// Also forget every snapshot of the profile (space comes back with gc).
        #[arg(long)]
        purge: bool,
    },
}

/// `snap forget`: retention policy flags and ids.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Only this profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove `keep`-pinned snapshots named by id too.
    #[arg(long)]
    pub force: bool,
    /// Remove exactly these snapshots instead of applying a policy.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
}

/// `snap gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Report what would be reclaimed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Repack a pack when less than this percentage of it is still in use.
    #[arg(long, value_name = "PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub repack_threshold: u8,
}

/// `snap auto`.
#[derive(Debug, Args)]
pub struct AutoArgs {
    /// Only these profiles (default: every profile with auto on).
    #[arg(long, value_name = "NAME")]
    pub profile: Vec<String>,
    /// Run one round (snapshot, retention, maybe gc) and exit.
    #[arg(long)]
    pub once: bool,
    /// Quiet time after a change before a snapshot, in milliseconds.
    #[arg(
        long,
        hide = true,
        env = "SNAP_AUTO_DEBOUNCE_MS",
        default_value_t = 10_000
    )]
    pub debounce_ms: u64,
    /// Minimum time between two change-triggered snapshots, in milliseconds.
    #[arg(
        long,
        hide = true,
        env = "SNAP_AUTO_MIN_GAP_MS",
        default_value_t = 60_000
    )]
    pub min_gap_ms: u64,
    /// Sync every served profile with this shared repository: push after
    /// each snapshot, pull when only the head moved (conflicts are
    /// reported, never resolved).
    #[arg(long, value_name = "REPO")]
    pub sync: Option<String>,
}

/// `snap export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The snapshot (id, name, `latest`).
    #[command(flatten)]
    pub snapshot: SnapshotArg,
    /// Write a ZIP file.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "vault",
        conflicts_with = "vault"
    )]
    pub zip: Option<PathBuf>,
    /// Write an encrypted `.stvault` vault.
    #[arg(long, value_name = "FILE")]
    pub vault: Option<PathBuf>,
    /// Leave out paths matching this glob (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Remove JSON keys whose names match this glob (repeatable).
    #[arg(long = "redact-keys", value_name = "PAT")]
    pub redact_keys: Vec<String>,
    /// Use the profile's saved scope NAME (its excludes and redactions).
    #[arg(long, value_name = "NAME")]
    pub scope: Option<String>,
    /// Read the vault's password from this file [default: the password
    /// options that also open the repository].
    #[arg(long, value_name = "FILE", requires = "vault")]
    pub vault_password_file: Option<PathBuf>,
    /// Force vault version 1 or 2 (default: 1 up to 256 MiB, else 2).
    #[arg(long, value_name = "1|2", value_parser = clap::value_parser!(u8).range(1..=2), requires = "vault")]
    pub vault_version: Option<u8>,
    /// Skip the export when the content equals the last export of the same
    /// scope to the same file.
    #[arg(long)]
    pub if_changed: bool,
    /// What the vault holds: snap's ZIP (default), or StakTrakr's JSON so
    /// that StakTrakr itself can restore it (top-level text files only).
    #[arg(long, value_enum, requires = "vault")]
    pub payload: Option<Payload>,
}

/// `snap import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The ZIP or vault file.
    pub file: PathBuf,
    /// The profile to import into (default: the archive's profile, else its
    /// file name).
    #[arg(long)]
    pub profile: Option<String>,
    /// Import an archive of a newer format: take what is understood.
    #[arg(long)]
    pub force: bool,
    /// Refuse archives whose entries expand to more than SIZE in total
    /// (default 64GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Encrypt the repository if this creates it (see `init --encrypt`).
    #[arg(long)]
    pub encrypt: bool,
    /// Read the vault's password from this file [default: the password
    /// options that also open the repository].
    #[arg(long, value_name = "FILE")]
    pub vault_password_file: Option<PathBuf>,
}

/// Retention flags, shared by `forget` and `profile add|set`.
#[derive(Debug, Args, Default)]
pub struct PolicyArgs {
    /// Keep at most N snapshots (not counting pinned and pre-restore ones).
    #[arg(long, value_name = "N")]
    pub max_count: Option<u32>,
    /// Remove snapshots older than DUR, measured from the newest (`30d`, `never`).
    #[arg(long, value_name = "DUR")]
    pub max_age: Option<String>,
    /// Keep the newest N (replaces max-count).
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep those taken within DUR before the newest.
    #[arg(long, value_name = "DUR")]
    pub keep_within: Option<String>,
    /// Keep the newest of each of the N newest hours with snapshots.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest of each of the N newest days with snapshots.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest of each of the N newest weeks with snapshots.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest of each of the N newest months with snapshots.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest of each of the N newest years with snapshots.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep snapshots carrying this tag (repeatable).
    #[arg(long = "keep-tag", value_name = "TAG")]
    pub keep_tags: Vec<String>,
}

/// `snap ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Allow a non-loopback --listen address (the page is then reachable,
    /// unencrypted, by anyone on the network who has the URL).
    #[arg(long)]
    pub allow_remote: bool,
}
