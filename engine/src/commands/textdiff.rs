//! Line-by-line differences of one file between two snapshots, or between
//! a snapshot and the live folder, for display (`snap ui`'s diff view).

use std::path::Path;

use serde::Serialize;
use similar::{ChangeTag, TextDiff as Similar};

use crate::commands::browse;
use crate::error::{Error, Result};
use crate::model::snapshot::SnapshotInfo;
use crate::repo::Repo;

/// Files larger than this are not diffed line by line.
pub const MAX_DIFF_BYTES: usize = 4 << 20;

/// Lines of unchanged context around each change.
const CONTEXT: usize = 3;

/// One side of a comparison.
#[derive(Debug, Clone, Copy)]
pub enum Side<'a> {
    /// A file in a snapshot.
    Snapshot(&'a SnapshotInfo),
    /// A file in the live folder rooted here.
    Live(&'a Path),
}

/// What a line of a hunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineOp {
    /// In both.
    Same,
    /// Only in the new file.
    Added,
    /// Only in the old file.
    Removed,
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// Same, added or removed.
    pub op: LineOp,
    /// The line, without its line ending.
    pub text: String,
}

/// A run of changes with their context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// First old line (1-based).
    pub old_start: usize,
    /// First new line (1-based).
    pub new_start: usize,
    /// The lines.
    pub lines: Vec<DiffLine>,
}

/// The difference of two versions of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextDiff {
    /// Either side is not UTF-8 text (or is too large): no hunks.
    pub binary: bool,
    /// The hunks; empty when the contents are equal (or binary).
    pub hunks: Vec<Hunk>,
}

fn is_text(b: &[u8]) -> bool {
    b.len() <= MAX_DIFF_BYTES && !b.contains(&0) && std::str::from_utf8(b).is_ok()
}

/// The line diff of `old` and `new` (hunks with three lines of context).
/// Bytes that are not UTF-8 text give `binary: true`.
pub fn text_diff(old: &[u8], new: &[u8]) -> TextDiff {
    if !is_text(old) || !is_text(new) {
        return TextDiff {
            binary: true,
            hunks: Vec::new(),
        };
    }
    let (old, new) = (
        std::str::from_utf8(old).unwrap_or_default(),
        std::str::from_utf8(new).unwrap_or_default(),
    );
    let diff = Similar::from_lines(old, new);
    let hunks = diff
        .grouped_ops(CONTEXT)
        .iter()
        .map(|group| {
            let first = &group[0];
            let lines = group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|c| DiffLine {
                    op: match c.tag() {
                        ChangeTag::Equal => LineOp::Same,
                        ChangeTag::Insert => LineOp::Added,
                        ChangeTag::Delete => LineOp::Removed,
                    },
                    text: c.value().trim_end_matches(['\n', '\r']).to_string(),
                })
                .collect();
            Hunk {
                old_start: first.old_range().start + 1,
                new_start: first.new_range().start + 1,
                lines,
            }
        })
        .collect();
    TextDiff {
        binary: false,
        hunks,
    }
}

/// The content of `rel` on one side, `None` when it is not a file there.
/// On the live side, a path through a symlink is not followed.
///
/// # Errors
/// [`Error::Invalid`] for a path with `..` or an absolute path; repository
/// or I/O errors.
pub fn read_side(repo: &Repo, side: Side, rel: &str) -> Result<Option<Vec<u8>>> {
    let rel = browse::check_rel(rel)?;
    match side {
        Side::Snapshot(s) => match browse::find(repo, &s.manifest.tree, &rel)? {
            Some(n) if n.kind == crate::model::tree::NodeKind::File => {
                browse::read(repo, &s.manifest.tree, &rel).map(Some)
            }
            _ => Ok(None),
        },
        Side::Live(root) => {
            let mut p = root.to_path_buf();
            for part in rel.split('/') {
                p.push(part);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.file_type().is_symlink() => return Ok(None),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(Error::io(&p, e)),
                }
            }
            if !p.is_file() {
                return Ok(None);
            }
            std::fs::read(&p).map(Some).map_err(|e| Error::io(&p, e))
        }
    }
}

/// The line diff of `rel` between `old` and `new` (a missing file counts
/// as empty).
///
/// # Errors
/// As [`read_side`].
pub fn file_diff(repo: &Repo, old: Side, new: Side, rel: &str) -> Result<TextDiff> {
    let a = read_side(repo, old, rel)?.unwrap_or_default();
    let b = read_side(repo, new, rel)?.unwrap_or_default();
    Ok(text_diff(&a, &b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_carry_context_and_line_numbers() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let d = text_diff(old.as_bytes(), new.as_bytes());
        assert!(!d.binary);
        assert_eq!(d.hunks.len(), 1);
        let h = &d.hunks[0];
        assert_eq!((h.old_start, h.new_start), (2, 2));
        let ops: Vec<(LineOp, &str)> = h.lines.iter().map(|l| (l.op, l.text.as_str())).collect();
        assert!(ops.contains(&(LineOp::Removed, "e")));
        assert!(ops.contains(&(LineOp::Added, "E")));
        assert!(ops.contains(&(LineOp::Added, "j")));
        assert_eq!(ops[0], (LineOp::Same, "b"));
    }

    #[test]
    fn equal_text_has_no_hunks_and_binary_is_flagged() {
        assert_eq!(text_diff(b"x\n", b"x\n").hunks, Vec::new());
        assert!(text_diff(b"\x89PNG\0", b"x").binary);
        assert!(text_diff(b"ok", &[0xff, 0xfe]).binary);
    }

    #[test]
    fn live_side_refuses_dotdot_and_does_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::open_or_init(
            &dir.path().join("repo"),
            &snap_store::OpenOptions::shared("t"),
        )
        .unwrap();
        let live = dir.path().join("live");
        std::fs::create_dir(&live).unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::fs::write(live.join("f.txt"), "hello\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), live.join("link")).unwrap();
        let side = Side::Live(&live);
        assert_eq!(
            read_side(&repo, side, "f.txt").unwrap().unwrap(),
            b"hello\n"
        );
        assert!(read_side(&repo, side, "../secret").is_err());
        assert!(read_side(&repo, side, "a/../../secret").is_err());
        // A leading slash is the live folder's root, not the filesystem's.
        assert_eq!(read_side(&repo, side, "/secret").unwrap(), None);
        assert_eq!(read_side(&repo, side, "link").unwrap(), None);
    }
}
