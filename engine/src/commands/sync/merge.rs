//! What a pull puts in place when the pushed snapshot was scoped: the
//! shared head's files, plus what the scope kept out of it taken from the
//! local profile: files under the scope's excluded paths, and the values of
//! redacted JSON keys. A pull never deletes a local secret or cache file
//! that the pushing device did not send.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use globset::GlobSet;
use serde_json::Value;

use crate::commands::sync::head::HeadScope;
use crate::error::Result;
use crate::export::redact::MAX_REDACT_BYTES;
use crate::export::SnapshotView;
use crate::export::{build_globs, ContentSource, ExportEntry, ExportKind};

/// The entries of the merged state and their content.
pub(crate) struct Merged<'r> {
    remote: &'r SnapshotView<'r>,
    local: Option<&'r SnapshotView<'r>>,
    entries: Vec<ExportEntry>,
    from_local: HashSet<Vec<u8>>,
    rewritten: HashMap<Vec<u8>, Vec<u8>>,
    /// Paths carried over from the local profile (excluded by the scope).
    pub(crate) carried: Vec<String>,
    /// `file:key/path` of every local value put back into a JSON file.
    pub(crate) kept_keys: Vec<String>,
}

impl<'r> Merged<'r> {
    /// Merges `remote` (the head) with `local` (the local profile's
    /// latest snapshot) under `scope`, the scope the head was pushed with.
    ///
    /// # Errors
    /// A bad glob in the scope; a chunk that cannot be read.
    pub(crate) fn new(
        remote: &'r SnapshotView<'r>,
        local: Option<&'r SnapshotView<'r>>,
        scope: Option<&HeadScope>,
    ) -> Result<Self> {
        let mut m = Merged {
            remote,
            local,
            entries: remote.entries().to_vec(),
            from_local: HashSet::new(),
            rewritten: HashMap::new(),
            carried: Vec::new(),
            kept_keys: Vec::new(),
        };
        let (Some(scope), Some(local)) = (scope, local) else {
            return Ok(m);
        };
        let exclude = build_globs(&scope.exclude)?;
        let redact = build_globs(&scope.redact_keys)?;
        let remote_paths: HashSet<Vec<u8>> =
            remote.entries().iter().map(|e| e.path.clone()).collect();
        let mut excluded_dirs: Vec<Vec<u8>> = Vec::new();
        for e in local.entries() {
            let name = String::from_utf8_lossy(&e.path).into_owned();
            let under = excluded_dirs
                .iter()
                .any(|d| e.path.starts_with(d) && e.path.get(d.len()) == Some(&b'/'));
            if !(under || exclude.is_match(&name)) {
                continue;
            }
            if e.kind == ExportKind::Dir {
                excluded_dirs.push(e.path.clone());
            }
            if !remote_paths.contains(&e.path) {
                m.entries.push(e.clone());
                m.from_local.insert(e.path.clone());
                m.carried.push(name);
            }
        }
        if redact.is_empty() {
            return Ok(m);
        }
        let local_files: HashMap<&[u8], &ExportEntry> = local
            .entries()
            .iter()
            .filter(|e| e.kind == ExportKind::File)
            .map(|e| (e.path.as_slice(), e))
            .collect();
        for entry in &mut m.entries {
            let is_json = entry.path.ends_with(b".json");
            if !is_json || entry.kind != ExportKind::File || m.from_local.contains(&entry.path) {
                continue;
            }
            let Some(le) = local_files.get(entry.path.as_slice()) else {
                continue;
            };
            if entry.size > MAX_REDACT_BYTES || le.size > MAX_REDACT_BYTES {
                continue;
            }
            let theirs = read_all(remote.open(entry)?)?;
            let ours = read_all(local.open(le)?)?;
            if let Some((merged, keys)) = restore_redacted(&theirs, &ours, &redact) {
                let name = String::from_utf8_lossy(&entry.path).into_owned();
                m.kept_keys
                    .extend(keys.into_iter().map(|k| format!("{name}:{k}")));
                entry.size = merged.len() as u64;
                m.rewritten.insert(entry.path.clone(), merged);
            }
        }
        Ok(m)
    }

    /// Every entry of the merged state.
    pub(crate) fn entries(&self) -> &[ExportEntry] {
        &self.entries
    }
}

impl ContentSource for Merged<'_> {
    fn open(&self, entry: &ExportEntry) -> Result<Box<dyn Read + '_>> {
        if let Some(bytes) = self.rewritten.get(&entry.path) {
            return Ok(Box::new(std::io::Cursor::new(bytes.as_slice())));
        }
        match (self.from_local.contains(&entry.path), self.local) {
            (true, Some(local)) => local.open(entry),
            _ => self.remote.open(entry),
        }
    }
}

fn read_all(mut r: Box<dyn Read + '_>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| crate::Error::io("<snapshot file>", e))?;
    Ok(out)
}

/// Puts back into `theirs` every key of `ours` whose name matches `keys`
/// and that `theirs` lacks at the same place (objects matched by key,
/// arrays by index), at any depth. Returns `None` when either is not JSON
/// or nothing was put back; otherwise the document (pretty-printed, as
/// redaction writes it) and the key paths put back.
pub(crate) fn restore_redacted(
    theirs: &[u8],
    ours: &[u8],
    keys: &GlobSet,
) -> Option<(Vec<u8>, Vec<String>)> {
    let mut t: Value = serde_json::from_slice(theirs).ok()?;
    let o: Value = serde_json::from_slice(ours).ok()?;
    let mut put = Vec::new();
    walk(&mut t, &o, "", keys, &mut put);
    if put.is_empty() {
        return None;
    }
    let mut out = serde_json::to_vec_pretty(&t).ok()?;
    out.push(b'\n');
    Some((out, put))
}

fn walk(t: &mut Value, o: &Value, prefix: &str, keys: &GlobSet, put: &mut Vec<String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}/{k}")
        }
    };
    match (t, o) {
        (Value::Object(tm), Value::Object(om)) => {
            for (k, ov) in om {
                match tm.get_mut(k) {
                    None if keys.is_match(k) => {
                        tm.insert(k.clone(), ov.clone());
                        put.push(join(k));
                    }
                    Some(tv) => walk(tv, ov, &join(k), keys, put),
                    None => {}
                }
            }
        }
        (Value::Array(ta), Value::Array(oa)) => {
            for (i, (tv, ov)) in ta.iter_mut().zip(oa).enumerate() {
                walk(tv, ov, &join(&i.to_string()), keys, put);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_merge_puts_back_redacted_keys_only() {
        let keys = build_globs(&["*api_key*".into(), "*token*".into()]).unwrap();
        let theirs = br#"{"theme":"light","n":{"k":[{"v":3}]},"gone":null}"#;
        let ours = br#"{"theme":"dark","fal_api_key":"SECRET","n":{"oauth_token":"T","k":[{"token":1,"v":2}]},"other":1}"#;
        let (out, put) = restore_redacted(theirs, ours, &keys).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"theme":"light","fal_api_key":"SECRET","n":{"oauth_token":"T","k":[{"token":1,"v":3}]},"gone":null})
        );
        assert_eq!(put, vec!["fal_api_key", "n/k/0/token", "n/oauth_token"]);
        // Nothing to put back, or not JSON: unchanged.
        assert!(restore_redacted(br#"{"a":1}"#, br#"{"b":2}"#, &keys).is_none());
        assert!(restore_redacted(b"x", br#"{"api_key":2}"#, &keys).is_none());
    }
}
