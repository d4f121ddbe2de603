//! Where a password comes from (a repository's or a vault's): a file
//! (`--password-file`), a command's standard output (`--password-command`,
//! for a keyring or a secrets manager), an environment variable
//! (`$SNAP_PASSWORD`), or a prompt on the terminal (`/dev/tty`, echo off);
//! never an argument.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use snap_engine::export::MIN_PASSWORD_CHARS;

/// Where one password comes from, in this order of preference.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// Its first line is the password.
    pub file: Option<PathBuf>,
    /// Run with `sh -c`; the first line of its standard output is the password.
    pub command: Option<String>,
    /// An environment variable holding the password.
    pub env: Option<&'static str>,
    /// What the prompt asks for ("password", "new password").
    pub what: &'static str,
}

impl Source {
    /// Whether a password source is given (a file, a command, or the
    /// variable set): then it is used, never the key cache.
    pub fn is_given(&self) -> bool {
        self.file.is_some()
            || self.command.is_some()
            || self
                .env
                .is_some_and(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
    }
}

/// Reads the password from `src`; `confirm` asks twice at a prompt.
/// A password shorter than 8 characters is refused.
pub fn read_from(src: &Source, confirm: bool) -> anyhow::Result<String> {
    let pw = if let Some(f) = &src.file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading password file {}", f.display()))?;
        first_line(&text)
    } else if let Some(cmd) = &src.command {
        run_command(cmd)?
    } else if let Some(v) = src
        .env
        .and_then(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
    {
        v.into_string()
            .map_err(|_| anyhow::anyhow!("{} is not valid UTF-8", src.env.unwrap_or_default()))?
    } else {
        let what = if src.what.is_empty() {
            "password"
        } else {
            src.what
        };
        let first = prompt(&format!("{what}: "))?;
        if confirm {
            check(&first)?;
            if prompt(&format!("{what} (again): "))? != first {
                bail!("the two passwords differ");
            }
        }
        first
    };
    check(&pw)?;
    Ok(pw)
}

/// Runs `cmd` with `sh -c` and returns the first line of its output. Its
/// standard error goes to ours; a failure names the command, never the output.
fn run_command(cmd: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running --password-command {cmd:?}"))?;
    if !out.status.success() {
        bail!("--password-command {cmd:?} failed ({})", out.status);
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| anyhow::anyhow!("--password-command {cmd:?} printed invalid UTF-8"))?;
    Ok(first_line(&text))
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

fn check(pw: &str) -> anyhow::Result<()> {
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password is shorter than {MIN_PASSWORD_CHARS} characters");
    }
    Ok(())
}

/// Asks on `/dev/tty` with echo off, restoring the terminal afterwards.
fn prompt(text: &str) -> anyhow::Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let no_tty = || {
        anyhow::anyhow!(
            "a password is needed: pass --password-file FILE or --password-command CMD, or set SNAP_PASSWORD (no terminal to ask on)"
        )
    };
    let mut tty = File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| no_tty())?;
    let saved = tcgetattr(&tty).map_err(|_| no_tty())?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tty.write_all(text.as_bytes())
        .context("writing to the terminal")?;
    tty.flush().context("writing to the terminal")?;
    tcsetattr(&tty, OptionalActions::Flush, &quiet).context("turning terminal echo off")?;
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    let _ = tcsetattr(&tty, OptionalActions::Flush, &saved);
    read.context("reading the password from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_first_line_and_length() {
        assert_eq!(first_line("secret123\n"), "secret123");
        assert_eq!(first_line("secret123\r\nrest"), "secret123");
        assert!(check("short").is_err());
        assert!(check("long enough").is_ok());
    }
}
