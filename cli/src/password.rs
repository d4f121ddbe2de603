//! Where a vault password comes from: `--password-file`, `$SNAP_PASSWORD`,
//! or a prompt on the terminal (`/dev/tty`, echo off), never an argument.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{bail, Context as _};
use snap_engine::export::MIN_PASSWORD_CHARS;

/// Reads the password. `confirm` (creating a vault) asks twice at a prompt.
/// A password shorter than 8 characters is refused.
pub fn read(password_file: Option<&Path>, confirm: bool) -> anyhow::Result<String> {
    let pw = if let Some(f) = password_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading password file {}", f.display()))?;
        first_line(&text)
    } else if let Some(v) = std::env::var_os("SNAP_PASSWORD").filter(|v| !v.is_empty()) {
        v.into_string()
            .map_err(|_| anyhow::anyhow!("SNAP_PASSWORD is not valid UTF-8"))?
    } else {
        let first = prompt("password: ")?;
        if confirm {
            check(&first)?;
            if prompt("password (again): ")? != first {
                bail!("the two passwords differ");
            }
        }
        first
    };
    check(&pw)?;
    Ok(pw)
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
            "a password is needed: pass --password-file FILE or set SNAP_PASSWORD (no terminal to ask on)"
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
