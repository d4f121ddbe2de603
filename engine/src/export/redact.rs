//! Removal of JSON keys whose names match glob patterns, at any depth.

use globset::GlobSet;
use serde_json::Value;

/// JSON files larger than this are exported unchanged (they would have to
/// be held in memory to be parsed).
pub const MAX_REDACT_BYTES: u64 = 64 << 20;

/// Parses `bytes` as JSON and removes every object key matching `keys`.
/// Returns `None` when the bytes are not JSON or nothing matched (the file
/// is then exported unchanged); otherwise the new document (compact
/// serde_json output, keys sorted) and the key paths removed.
pub(crate) fn redact_json(bytes: &[u8], keys: &GlobSet) -> Option<(Vec<u8>, Vec<String>)> {
    if keys.is_empty() {
        return None;
    }
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let mut removed = Vec::new();
    walk(&mut value, "", keys, &mut removed);
    if removed.is_empty() {
        return None;
    }
    let mut out = serde_json::to_vec_pretty(&value).ok()?;
    out.push(b'\n');
    Some((out, removed))
}

fn walk(value: &mut Value, prefix: &str, keys: &GlobSet, removed: &mut Vec<String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}/{k}")
        }
    };
    match value {
        Value::Object(map) => {
            let names: Vec<String> = map.keys().cloned().collect();
            for name in names {
                if keys.is_match(&name) {
                    map.remove(&name);
                    removed.push(join(&name));
                } else if let Some(child) = map.get_mut(&name) {
                    walk(child, &join(&name), keys, removed);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &join(&i.to_string()), keys, removed);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_redact_nested_keys() {
        let keys = crate::export::build_globs(&["*api_key*".into(), "*token*".into()]).unwrap();
        let doc = br#"{"a":1,"fal_api_key":"x","n":{"oauth_token":"t","k":[{"token":1,"v":2}]}}"#;
        let (out, removed) = redact_json(doc, &keys).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"a":1,"n":{"k":[{"v":2}]}}));
        assert_eq!(removed, vec!["fal_api_key", "n/k/0/token", "n/oauth_token"]);
        assert!(redact_json(b"not json", &keys).is_none());
        assert!(redact_json(br#"{"a":1}"#, &keys).is_none());
    }
}
