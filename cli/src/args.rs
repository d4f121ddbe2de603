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
    /// The repository [default: $SNAP_REPO, else the platform data
    /// directory, ~/.local/share/snap on Linux].
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Print one JSON document on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only what is essential (errors, problems found).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Read the repository password from this file (for encrypted
    /// repositories; accepted, not used yet).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
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
    Init,
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
}

/// `snap check`.
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
