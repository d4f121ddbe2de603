//! One module per command. Each converts its arguments into library
//! options, calls the library, and renders the result; errors propagate to
//! `main`, which reports them once.

mod auto;
mod browse;
mod check;
mod copy;
mod create;
mod export;
mod forget;
mod gc;
pub(crate) mod import;
mod index;
mod init;
mod key;
mod list;
pub(crate) mod profile;
mod repair;
pub(crate) mod restore;
mod stats;
mod sync;
mod tag;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};
use snap_engine::model::duration::Duration as Span;
use snap_engine::model::profile::Profiles;
use snap_engine::model::retention::Policy;
use snap_engine::Repo;
use snap_store::{InitEncryption, KdfParams, KeyCache, Keys, OpenOptions, Repository, Unlock};

use crate::args::{Cli, Command, Global, IndexCommand, PolicyArgs};
use crate::render::Output;

/// What every command needs: where the repository is and how to print.
pub struct Context {
    /// The repository path (`--repo`, `$SNAP_REPO` or the data directory).
    pub repo: PathBuf,
    /// The object store holding the repository, for `--repo s3://…`.
    pub remote: Option<Arc<dyn snap_store::backend::Backend>>,
    /// How to print.
    pub out: Output,
    /// How long to wait for the repository lock.
    pub lock_wait: Duration,
    /// Where the repository's password comes from.
    pub password: crate::password::Source,
    /// `--s3-endpoint` and `--s3-virtual-host-style`, for a second
    /// repository named on the command line (`sync --to`).
    pub s3: (Option<String>, bool),
    /// The password once read (asked once per run).
    password_cache: Arc<Mutex<Option<String>>>,
    /// The keys once a repository was unlocked (Argon2 runs once per run).
    keys: Mutex<Option<Keys>>,
    /// Whether an unexpired `snap key cache` entry may unlock the
    /// repository when no password source is given (not for the `key`
    /// commands that change or cache keys: they ask for the password).
    pub key_cache: bool,
}

impl Context {
    /// Resolves the global options.
    pub fn new(global: &Global) -> anyhow::Result<Self> {
        let repo = match &global.repo {
            Some(p) => p.clone(),
            None => match std::env::var_os("SNAP_REPO").filter(|v| !v.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => dirs::data_dir()
                    .context("no --repo given, $SNAP_REPO is unset and there is no data directory")?
                    .join("snap"),
            },
        };
        let remote = remote_backend(&repo, global)?;
        if !global.lock_wait.is_finite() || global.lock_wait < 0.0 {
            bail!(
                "--lock-wait must be a number of seconds, got {}",
                global.lock_wait
            );
        }
        if let Some(f) = &global.password_file {
            // Checked here so a typo is not silently ignored by a command
            // on an unencrypted repository.
            if !f.is_file() {
                bail!("password file {} does not exist", f.display());
            }
        }
        Ok(Self {
            repo,
            remote,
            out: Output {
                json: global.json,
                quiet: global.quiet,
            },
            lock_wait: Duration::from_secs_f64(global.lock_wait),
            password: crate::password::Source {
                file: global.password_file.clone(),
                command: global.password_command.clone(),
                env: Some("SNAP_PASSWORD"),
                what: "repository password",
            },
            password_cache: Arc::new(Mutex::new(None)),
            keys: Mutex::new(None),
            key_cache: true,
            s3: (global.s3_endpoint.clone(), global.s3_virtual_host_style),
        })
    }

    /// The same options for another repository, `repo`, whose password
    /// comes from `password` (`copy --from`, `init --from`).
    pub fn for_repo(
        &self,
        global: &Global,
        repo: &Path,
        password: crate::password::Source,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            repo: repo.to_path_buf(),
            remote: remote_backend(repo, global)?,
            out: self.out,
            lock_wait: self.lock_wait,
            password,
            password_cache: Arc::new(Mutex::new(None)),
            keys: Mutex::new(None),
            key_cache: self.key_cache,
            s3: self.s3.clone(),
        })
    }

    /// The repository password (read once, then remembered for this run).
    pub fn repo_password(&self, confirm: bool) -> anyhow::Result<String> {
        read_cached(&self.password, &self.password_cache, confirm)
    }

    /// A vault's password: from `file` when given, else the repository's
    /// password sources (so an encrypted repository's vault export asks
    /// once and uses the same password).
    pub fn vault_password(&self, file: Option<&Path>, confirm: bool) -> anyhow::Result<String> {
        match file {
            Some(f) => crate::password::read_from(
                &crate::password::Source {
                    file: Some(f.to_path_buf()),
                    what: "vault password",
                    ..Default::default()
                },
                confirm,
            ),
            None => self.repo_password(confirm),
        }
    }

    /// How to unlock an encrypted repository: the keys found by an earlier
    /// open in this run; else, when no password source is given, an
    /// unexpired `snap key cache` entry that authenticates; else the
    /// password (asked only when needed).
    pub fn unlock(&self) -> Unlock {
        if let Some(k) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Unlock::Keys(k);
        }
        let password = self.password_unlock();
        if !self.key_cache || self.password.is_given() {
            return password;
        }
        match KeyCache::runtime() {
            Ok(cache) => Unlock::Cached {
                cache,
                otherwise: Box::new(password),
            },
            // No private runtime directory: no cache to read.
            Err(_) => password,
        }
    }

    /// Where the repository's files are (for reading its id unlocked).
    pub fn storage(&self) -> snap_store::storage::Storage {
        match &self.remote {
            Some(b) => snap_store::storage::Storage::remote(b.clone()),
            None => snap_store::storage::Storage::local(&self.repo),
        }
    }

    /// How to unlock a second repository (`sync --to`): always with the
    /// password (asked at most once per run), never with the keys of the
    /// first.
    pub fn password_unlock(&self) -> Unlock {
        let src = self.password.clone();
        let cache = Arc::clone(&self.password_cache);
        Unlock::Password(Arc::new(move || {
            read_cached(&src, &cache, false).map_err(|e| format!("{e:#}"))
        }))
    }

    /// `opts` with `--lock-wait` and the unlock of [`unlock`](Self::unlock).
    pub fn open_options(&self, mut opts: OpenOptions) -> OpenOptions {
        opts.wait = self.lock_wait;
        opts.unlock = Some(self.unlock());
        opts
    }

    fn remember(&self, store: &Repository) {
        if let Some(k) = store.keys() {
            *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = Some(k.clone());
        }
    }

    /// The encryption of a repository about to be created: `None` without
    /// `--encrypt`; with it, the password (asked twice at a prompt) and the
    /// Argon2id parameters ([`kdf_params`]).
    pub fn init_encryption(&self, encrypt: bool) -> anyhow::Result<Option<InitEncryption>> {
        if !encrypt {
            return Ok(None);
        }
        Ok(Some(InitEncryption {
            password: self.repo_password(true)?,
            kdf: kdf_params()?,
        }))
    }

    /// Opens the repository with `opts` (its wait replaced by `--lock-wait`)
    /// and prints the repairs made while opening as warnings.
    pub fn open(&self, opts: OpenOptions) -> anyhow::Result<Repository> {
        let repo = match &self.remote {
            Some(b) => Repository::open_in(b.clone(), &self.open_options(opts))?,
            None => Repository::open(&self.repo, &self.open_options(opts))?,
        };
        self.remember(&repo);
        for w in repo.warnings() {
            self.out.warn(w);
        }
        Ok(repo)
    }

    /// Opens the repository for the engine (warnings printed).
    pub fn open_engine(&self, opts: OpenOptions) -> anyhow::Result<Repo> {
        let repo = self.open_repo(opts)?;
        self.print_warnings(&repo);
        Ok(repo)
    }

    /// Opens the repository for the engine, printing nothing.
    pub fn open_repo(&self, opts: OpenOptions) -> anyhow::Result<Repo> {
        Ok(match &self.remote {
            Some(b) => Repo::open_in(b.clone(), &self.open_options(opts))?,
            None => Repo::open(&self.repo, &self.open_options(opts))?,
        })
    }

    /// Whether a repository exists at `--repo` (its `config.json`).
    pub fn repo_exists(&self) -> anyhow::Result<bool> {
        Ok(match &self.remote {
            Some(b) => b.version(snap_store::layout::CONFIG)?.is_some(),
            None => self.repo.join(snap_store::layout::CONFIG).exists(),
        })
    }

    /// Like [`open_engine`](Self::open_engine), creating the repository
    /// first when its path does not exist (for `create` and `import`).
    pub fn open_or_init_engine(&self, opts: OpenOptions, encrypt: bool) -> anyhow::Result<Repo> {
        let encryption = if self.repo_exists()? {
            None
        } else {
            self.init_encryption(encrypt)?
        };
        let repo = match &self.remote {
            Some(b) => Repo::open_or_init_in(b.clone(), &self.open_options(opts), encryption)?,
            None => Repo::open_or_init_with(&self.repo, &self.open_options(opts), encryption)?,
        };
        self.print_warnings(&repo);
        Ok(repo)
    }

    fn print_warnings(&self, repo: &Repo) {
        self.remember(repo.store());
        for w in repo.store().warnings() {
            self.out.warn(w);
        }
    }

    /// The clock: `$SNAP_NOW` (RFC 3339) when set, for tests.
    pub fn now(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        match std::env::var("SNAP_NOW") {
            Ok(v) if !v.is_empty() => Ok(Some(
                DateTime::parse_from_rfc3339(&v)
                    .with_context(|| format!("SNAP_NOW={v:?} is not an RFC 3339 time"))?
                    .with_timezone(&Utc),
            )),
            _ => Ok(None),
        }
    }

    /// Loads the profiles (recovering them under the `profiles` lock when
    /// damaged or gone: [`snap_engine::commands::registry::load`]), printing the
    /// warnings.
    pub fn profiles(&self, repo: &Repo) -> anyhow::Result<Profiles> {
        let (profiles, warnings) = snap_engine::commands::registry::load(repo, self.lock_wait)?;
        for w in &warnings {
            self.out.warn(w);
        }
        Ok(profiles)
    }

    /// Runs `change` on the profiles under the `profiles` lock and saves
    /// them ([`snap_engine::commands::registry::update`]), printing the warnings.
    pub fn update_profiles<T>(
        &self,
        repo: &Repo,
        change: impl FnOnce(&mut Profiles) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let (out, warnings) =
            snap_engine::commands::registry::update(repo, self.lock_wait, change)?;
        for w in &warnings {
            self.out.warn(w);
        }
        Ok(out)
    }

    /// The repository path.
    pub fn repo_path(&self) -> &Path {
        &self.repo
    }
}

/// The S3 backend for `--repo s3://BUCKET/PREFIX` (endpoint from
/// `--s3-endpoint`, else `AWS_ENDPOINT_URL`); `None` for a directory.
fn remote_backend(
    repo: &Path,
    global: &Global,
) -> anyhow::Result<Option<Arc<dyn snap_store::backend::Backend>>> {
    use snap_store::backend::s3::{S3Backend, S3Location};
    let Some(url) = repo.to_str().filter(|r| S3Location::is_s3_url(r)) else {
        return Ok(None);
    };
    let mut loc = S3Location::parse(url)?;
    if let Some(e) = &global.s3_endpoint {
        loc.endpoint = Some(e.clone());
    }
    loc.virtual_host_style = global.s3_virtual_host_style;
    Ok(Some(Arc::new(S3Backend::new(&loc)?)))
}

/// Reads the password from `src` once; later calls get the same one.
fn read_cached(
    src: &crate::password::Source,
    cache: &Mutex<Option<String>>,
    confirm: bool,
) -> anyhow::Result<String> {
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = c.as_ref() {
        return Ok(p.clone());
    }
    let p = crate::password::read_from(src, confirm)?;
    *c = Some(p.clone());
    Ok(p)
}

/// Argon2id parameters for new key slots: `$SNAP_ARGON2`
/// (`MEMORY_KIB,ITERATIONS,PARALLELISM`, for tests and slow machines) when
/// set, else [`KdfParams::DEFAULT`].
pub fn kdf_params() -> anyhow::Result<KdfParams> {
    match std::env::var("SNAP_ARGON2") {
        Ok(v) if !v.is_empty() => Ok(KdfParams::parse(&v).context("SNAP_ARGON2")?),
        _ => Ok(KdfParams::DEFAULT),
    }
}

/// Applies the retention flags given to `policy`; returns whether any was.
pub fn apply_policy(a: &PolicyArgs, policy: &mut Policy) -> anyhow::Result<bool> {
    let dur = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<Span>> {
        v.as_deref()
            .map(|s| s.parse::<Span>().with_context(|| format!("--{flag}")))
            .transpose()
    };
    let mut any = false;
    if a.max_count.is_some() {
        policy.max_count = a.max_count;
        any = true;
    }
    if let Some(age) = dur("max-age", &a.max_age)? {
        policy.max_age = age;
        any = true;
    }
    if let Some(w) = dur("keep-within", &a.keep_within)? {
        policy.keep_within = Some(w);
        any = true;
    }
    for (field, value) in [
        (&mut policy.keep_last, a.keep_last),
        (&mut policy.keep_hourly, a.keep_hourly),
        (&mut policy.keep_daily, a.keep_daily),
        (&mut policy.keep_weekly, a.keep_weekly),
        (&mut policy.keep_monthly, a.keep_monthly),
        (&mut policy.keep_yearly, a.keep_yearly),
    ] {
        if value.is_some() {
            *field = value;
            any = true;
        }
    }
    if !a.keep_tags.is_empty() {
        policy.keep_tags = a.keep_tags.clone();
        any = true;
    }
    Ok(any)
}

/// Runs the parsed command.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let mut ctx = Context::new(&cli.global)?;
    ctx.key_cache = key::may_use_key_cache(&cli.command);
    match &cli.command {
        Command::Init(args) => init::run(&ctx, &cli.global, args),
        Command::Key { command } => key::run(&ctx, command),
        Command::Check(args) => check::run(&ctx, args),
        Command::Index {
            command: IndexCommand::Rebuild,
        } => index::rebuild(&ctx),
        Command::Stats => stats::run(&ctx),
        Command::Forget(args) => forget::run(&ctx, args),
        Command::Gc(args) => gc::run(&ctx, args),
        Command::Auto(args) => auto::run(&ctx, args),
        Command::Repair(args) => repair::run(&ctx, args),
        Command::Create(args) => create::run(&ctx, args),
        Command::List(args) => list::list(&ctx, args),
        Command::Show(args) => list::show(&ctx, args),
        Command::Tag(args) => tag::run(&ctx, args),
        Command::Ls(args) => browse::ls(&ctx, args),
        Command::Cat(args) => browse::cat(&ctx, args),
        Command::Diff(args) => browse::diff(&ctx, args),
        Command::Restore(args) => restore::run(&ctx, args),
        Command::Export(args) => export::run(&ctx, args),
        Command::Import(args) => import::run(&ctx, args),
        Command::Copy(args) => copy::run(&ctx, &cli.global, args),
        Command::Profile { command } => profile::run(&ctx, command),
        Command::Sync { command } => sync::run(&ctx, command),
        Command::Ui(args) => crate::ui::run(&ctx, args),
    }
}
