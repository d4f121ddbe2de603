//! `snap`: the command-line tool. Parses arguments, runs one command, and
//! reports any error once, here, with its exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | error (one line on stderr) |
//! | 2 | usage (clap) |
//! | 10 | no repository at that path |
//! | 11 | the lock is held by another process (after the wait) |
//! | 12 | wrong password or damaged encrypted file |
//! | 13 | input refused as unsafe |
//! | 14 | in-place restore refused: another process has a file of the profile open |
//! | 15 | sync conflict: both sides changed, or another device moved the head first |

mod args;
mod commands;
mod password;
mod render;
mod ui;

/// A command that did its job but with warnings (exit code 3: a snapshot
/// was created but some files could not be read).
#[derive(Debug)]
pub struct Partial(pub String);

impl std::fmt::Display for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Partial {}

/// Exit code: done, with files that could not be read.
const PARTIAL: i32 = 3;

use std::process::ExitCode;

use clap::Parser;

/// Exit code: success.
const OK: i32 = 0;
/// Exit code: any other error.
const ERROR: i32 = 1;
/// Exit code: no repository at the path.
const NO_REPOSITORY: i32 = 10;
/// Exit code: the lock is held by another process.
const LOCKED: i32 = 11;
/// Exit code: wrong password or damaged encrypted file.
const WRONG_PASSWORD: i32 = 12;
/// Exit code: input refused as unsafe.
const UNSAFE: i32 = 13;
/// Exit code: in-place restore refused, a file of the profile is open elsewhere.
const IN_USE: i32 = 14;
/// Exit code: sync conflict.
const SYNC_CONFLICT: i32 = 15;

fn main() -> ExitCode {
    bound_heap();
    // Usage errors exit 2 from inside clap; --help and --version exit 0.
    let cli = args::Cli::parse();
    let code = match commands::run(&cli) {
        Ok(()) => OK,
        Err(err) => {
            eprintln!("snap: {}", message(&err));
            exit_code(&err)
        }
    };
    snap_store::fault::write_counts();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Keeps glibc's mmap threshold at its 128 KiB default. glibc otherwise
/// raises it after the first large buffer is freed (a chunk of up to 8 MiB,
/// a 2 MiB pack run), and every later large buffer then comes from a
/// thread's heap arena, which keeps it resident after it is freed: 15 MB
/// more peak RSS on a restore of `/usr/share` (README, Dependencies).
fn bound_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any
    // thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// The exit code for an error: the first library error in its chain decides.
/// A new library crate is one more `downcast_ref` arm here.
fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.downcast_ref::<Partial>().is_some() {
            return PARTIAL;
        }
        if let Some(e) = cause.downcast_ref::<snap_store::Error>() {
            return store_exit_code(e);
        }
        if let Some(e) = cause.downcast_ref::<snap_engine::Error>() {
            return engine_exit_code(e);
        }
    }
    ERROR
}

fn store_exit_code(e: &snap_store::Error) -> i32 {
    match e {
        snap_store::Error::NoRepository { .. } => NO_REPOSITORY,
        snap_store::Error::Locked { .. } | snap_store::Error::LockLost { .. } => LOCKED,
        snap_store::Error::WrongPassword | snap_store::Error::PasswordNeeded { .. } => {
            WRONG_PASSWORD
        }
        _ => ERROR,
    }
}

fn engine_exit_code(e: &snap_engine::Error) -> i32 {
    match e {
        snap_engine::Error::Store(e) => store_exit_code(e),
        snap_engine::Error::WrongPasswordOrDamaged { .. } => WRONG_PASSWORD,
        snap_engine::Error::Unsafe { .. } => UNSAFE,
        snap_engine::Error::InUse { .. } => IN_USE,
        snap_engine::Error::SyncConflict(_) => SYNC_CONFLICT,
        _ => ERROR,
    }
}

/// The error chain on one line, with guidance for the errors a user can act on.
fn message(err: &anyhow::Error) -> String {
    // A wrong password says so and nothing else: no path, no slot.
    let wrong = |e: &snap_store::Error| matches!(e, snap_store::Error::WrongPassword);
    if err.chain().any(|c| {
        c.downcast_ref::<snap_store::Error>().is_some_and(wrong)
            || matches!(c.downcast_ref::<snap_engine::Error>(), Some(snap_engine::Error::Store(e)) if wrong(e))
    }) {
        return "wrong password".into();
    }
    let text = format!("{err:#}");
    match exit_code(err) {
        NO_REPOSITORY => format!("{text} (create one with `snap init`, or pass --repo DIR)"),
        LOCKED => format!("{text}; try again when it is done, or raise --lock-wait"),
        IN_USE => in_use_line(err).unwrap_or(text),
        SYNC_CONFLICT => format!(
            "{text}; nothing was overwritten: take theirs with `snap sync pull --theirs`, keep yours with `snap sync pull --ours`"
        ),
        _ => text,
    }
}

/// `app.db is open in pid 4242 (myapp): close it first, or pass --force`.
fn in_use_line(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .find_map(|c| c.downcast_ref::<snap_engine::Error>())
        .filter(|e| matches!(e, snap_engine::Error::InUse { .. }))
        .map(|e| format!("{e}: close it first, or pass --force"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn exit_codes_follow_the_error_through_context_and_engine() {
        let no_repo = || snap_store::Error::NoRepository {
            path: PathBuf::from("/x"),
        };
        assert_eq!(exit_code(&anyhow::Error::new(no_repo())), NO_REPOSITORY);
        let wrapped = anyhow::Error::new(no_repo()).context("opening");
        assert_eq!(exit_code(&wrapped), NO_REPOSITORY);
        let engine = anyhow::Error::new(snap_engine::Error::Store(snap_store::Error::Locked {
            path: PathBuf::from("/x/lock"),
            holder: "pid 1".into(),
            waited_ms: 0,
        }));
        assert_eq!(exit_code(&engine), LOCKED);
        assert_eq!(exit_code(&anyhow::anyhow!("plain")), ERROR);
    }
}
