//! One module per command. Each converts its arguments into library
//! options, calls the library, and renders the result; errors propagate to
//! `main`, which reports them once.

mod auto;
mod check;
mod forget;
mod gc;
mod index;
mod init;
mod stats;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use snap_store::{OpenOptions, Repository};

use crate::args::{Cli, Command, Global, IndexCommand};
use crate::render::Output;

/// What every command needs: where the repository is and how to print.
pub struct Context {
    /// The repository path (`--repo`, `$SNAP_REPO` or the data directory).
    pub repo: PathBuf,
    /// How to print.
    pub out: Output,
    /// How long to wait for the repository lock.
    pub lock_wait: Duration,
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
        if !global.lock_wait.is_finite() || global.lock_wait < 0.0 {
            bail!(
                "--lock-wait must be a number of seconds, got {}",
                global.lock_wait
            );
        }
        if let Some(f) = &global.password_file {
            // Accepted for the encrypted repositories to come; checked so a
            // typo is not silently ignored.
            if !f.is_file() {
                bail!("password file {} does not exist", f.display());
            }
        }
        Ok(Self {
            repo,
            out: Output {
                json: global.json,
                quiet: global.quiet,
            },
            lock_wait: Duration::from_secs_f64(global.lock_wait),
        })
    }

    /// Opens the repository with `opts` (its wait replaced by `--lock-wait`)
    /// and prints the repairs made while opening as warnings.
    pub fn open(&self, mut opts: OpenOptions) -> anyhow::Result<Repository> {
        opts.wait = self.lock_wait;
        let repo = Repository::open(&self.repo, &opts)?;
        for w in repo.warnings() {
            self.out.warn(w);
        }
        Ok(repo)
    }

    /// The repository path.
    pub fn repo_path(&self) -> &Path {
        &self.repo
    }
}

/// Runs the parsed command.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let ctx = Context::new(&cli.global)?;
    match &cli.command {
        Command::Init => init::run(&ctx),
        Command::Check(args) => check::run(&ctx, args),
        Command::Index {
            command: IndexCommand::Rebuild,
        } => index::rebuild(&ctx),
        Command::Stats => stats::run(&ctx),
        Command::Forget(args) => forget::run(&ctx, args),
        Command::Gc(args) => gc::run(&ctx, args),
        Command::Auto(args) => auto::run(&ctx, args),
    }
}
