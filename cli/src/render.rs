//! Output: one JSON document on stdout with `--json`, human text otherwise.
//! Warnings and errors go to stderr, never to stdout.

use std::io::{self, Write};

use anyhow::Context as _;
use serde::Serialize;

/// Where and how a command prints its result.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: exactly one JSON document on stdout.
    pub json: bool,
    /// `--quiet`: no human summary lines.
    pub quiet: bool,
}

impl Output {
    /// Prints `value` as JSON, or calls `human` to write text (unless quiet).
    ///
    /// `essential` lines (problems found) are printed even when quiet.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&mut dyn Write, bool) -> io::Result<()>,
    ) -> anyhow::Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        if self.json {
            serde_json::to_writer_pretty(&mut out, value).context("writing JSON to stdout")?;
            writeln!(out).context("writing to stdout")?;
        } else {
            human(&mut out, self.quiet).context("writing to stdout")?;
        }
        out.flush().context("writing to stdout")
    }

    /// A warning on stderr: `snap: warning: ...`.
    pub fn warn(&self, message: &str) {
        eprintln!("snap: warning: {message}");
    }
}

/// Bytes in binary units with one decimal ("1.5 MiB").
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// "1 pack", "2 packs".
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// A UTC time in milliseconds as `YYYY-MM-DD HH:MM:SS`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A progress bar on stderr: bytes, rate, files.
pub fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .expect("the template is valid"),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_counts() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(count(1, "pack", "packs"), "1 pack");
        assert_eq!(count(2, "pack", "packs"), "2 packs");
    }
}
