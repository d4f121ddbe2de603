//! StakTrakr's own vault payload (FORMAT.md section 13.1): the UTF-8 JSON
//! `{"_meta": {...}, "data": {"key": "value", ...}}` that StakTrakr's
//! `vaultEncryptToBytes()` encrypts, read and written as a snapshot.
//!
//! Reading: every `data` key becomes a top-level file holding the value
//! string's UTF-8 bytes, named by [`names::key_to_file_name`]; the `_meta`
//! object is kept as the file [`META_FILE`] (pretty JSON), without its
//! `checksum`, which is checked (a warning when it differs) and recomputed
//! on export. Writing is the inverse: the
//! snapshot's top-level files are the `data` keys, [`META_FILE`] (when
//! present) gives `_meta`, whose `appVersion`, `exportTimestamp` and
//! `scope` are filled in when missing and whose `checksum` is recomputed:
//! StakTrakr's `simpleHash` over `JSON.stringify(data)` ([`simple_hash`],
//! [`data_json`]).

use std::io::{self, Read, Seek, SeekFrom, Write};

use serde_json::{Map, Value};

use super::manifest::format_time;
use super::{names, ContentSource, ExportEntry, ExportKind, ExportedSnapshot};
use crate::{Error, Result};

/// The file that keeps a StakTrakr payload's `_meta` object.
pub const META_FILE: &str = ".staktrakr-meta.json";
/// Largest StakTrakr payload read or written (StakTrakr itself stops at
/// 50 MB).
pub const MAX_PAYLOAD: u64 = 256 << 20;

/// StakTrakr's `simpleHash`: over the UTF-16 code units `c` of `s`,
/// `h = (h * 31 + c)` wrapping in 32 bits, written `sh:` + lowercase hex of
/// the unsigned value without leading zeros.
pub fn simple_hash(s: &str) -> String {
    let h = s
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    format!("sh:{:x}", h as u32)
}

/// Whether `key` is a JavaScript array index (`0`, or a digit string
/// without a leading zero below 2^32 - 1): `JSON.stringify` writes those
/// keys first, in numeric order, before the others in insertion order.
fn array_index(key: &str) -> Option<u32> {
    let canonical = key == "0" || (!key.starts_with('0') && !key.is_empty());
    if !canonical || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|&v| v != u32::MAX)
}

/// `JSON.stringify(data)` of a JavaScript object built from `pairs` in
/// order: array-index keys first (ascending), then the others as given;
/// strings escaped as JavaScript does (`"`, `\`, `\b \f \n \r \t`, other
/// control characters as lowercase `\u00xx`, nothing else).
pub fn data_json(pairs: &[(String, String)]) -> String {
    let mut ordered: Vec<&(String, String)> = pairs.iter().collect();
    ordered.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |v| (0, v)));
    let mut out = String::from("{");
    for (i, (k, v)) in ordered.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        js_string(&mut out, k);
        out.push(':');
        js_string(&mut out, v);
    }
    out.push('}');
    out
}

fn js_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether a decrypted payload is JSON (its first non-blank byte is `{`)
/// rather than a ZIP.
pub(crate) fn is_json(head: &[u8]) -> bool {
    head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The payload document; `data` keeps its keys in the file's order, which
/// the checksum depends on.
#[derive(serde::Deserialize)]
struct Doc {
    #[serde(rename = "_meta")]
    meta: Option<Value>,
    data: Option<Ordered>,
}

/// A JSON object's members in document order.
struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = map.next_entry::<String, Value>()? {
                    out.push(kv);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn format_err(path: &std::path::Path, detail: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        detail,
    }
}

/// A StakTrakr payload as snapshot entries with their bytes, plus
/// warnings (a `checksum` that does not match the data).
pub struct Decoded {
    /// One entry per file.
    pub entries: Vec<ExportEntry>,
    /// Each entry's bytes, in the same order.
    pub contents: Vec<Vec<u8>>,
    /// What did not stop the decoding.
    pub warnings: Vec<String>,
    /// The payload's time, milliseconds since the Unix epoch.
    pub time_ms: i64,
}

/// Parses the JSON payload read from `input` (at most [`MAX_PAYLOAD`]
/// bytes). `path` names the vault in errors.
///
/// # Errors
/// [`Error`] naming `path` for a payload that is too large or not
/// StakTrakr's JSON.
pub fn decode(mut input: impl Read, path: &std::path::Path) -> Result<Decoded> {
    let mut bytes = Vec::new();
    input
        .by_ref()
        .take(MAX_PAYLOAD + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_PAYLOAD {
        return Err(format_err(
            path,
            format!("StakTrakr payload larger than {MAX_PAYLOAD} bytes"),
        ));
    }
    let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| {
        format_err(
            path,
            format!("vault payload is neither a ZIP nor StakTrakr JSON: {e}"),
        )
    })?;
    let Some(Ordered(data)) = doc.data else {
        return Err(format_err(
            path,
            "StakTrakr payload has no \"data\" object".into(),
        ));
    };
    let mut meta = match doc.meta {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(format_err(
                path,
                "StakTrakr payload's \"_meta\" is not an object".into(),
            ))
        }
    };
    let time_ms = meta
        .get("exportTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp_millis());
    let mtime_ns = time_ms.saturating_mul(1_000_000);
    let mut out = Decoded {
        entries: Vec::new(),
        contents: Vec::new(),
        warnings: Vec::new(),
        time_ms,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, v) in &data {
        let Value::String(text) = v else {
            return Err(format_err(
                path,
                format!("StakTrakr data key {key:?} holds no string (every value is a localStorage string)"),
            ));
        };
        let name = names::key_to_file_name(key).ok_or_else(|| {
            format_err(
                path,
                "StakTrakr data has an empty key, which no file can be named".into(),
            )
        })?;
        if name == META_FILE.as_bytes() {
            return Err(format_err(
                path,
                format!("StakTrakr data key {key:?} clashes with {META_FILE}"),
            ));
        }
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(format_err(
                path,
                format!("StakTrakr data has the key {key:?} twice"),
            ));
        }
        pairs.push((key.clone(), text.clone()));
        out.push(name, text.as_bytes().to_vec(), mtime_ns);
    }
    // The checksum is checked here and recomputed on export, so it is not
    // kept: the file then stays the same through an export and re-import.
    if let Some(Value::String(sum)) = meta.remove("checksum") {
        let want = simple_hash(&data_json(&pairs));
        if sum != want {
            out.warnings.push(format!(
                "{}: _meta.checksum {sum} differs from the data's simpleHash {want}",
                path.display()
            ));
        }
    }
    let mut meta_bytes = serde_json::to_vec_pretty(&Value::Object(meta))
        .map_err(|e| format_err(path, e.to_string()))?;
    meta_bytes.push(b'\n');
    out.push(META_FILE.as_bytes().to_vec(), meta_bytes, mtime_ns);
    Ok(out)
}

impl Decoded {
    fn push(&mut self, name: Vec<u8>, content: Vec<u8>, mtime_ns: i64) {
        self.entries.push(ExportEntry {
            path: name,
            kind: ExportKind::File,
            mode: 0o644,
            mtime_ns,
            size: content.len() as u64,
            link_target: None,
        });
        self.contents.push(content);
    }

    /// Writes the entries as a snap ZIP into `out` (from its start).
    pub(crate) fn write_zip(&self, out: &mut std::fs::File) -> Result<()> {
        let info = ExportedSnapshot {
            id: String::new(),
            name: "staktrakr".into(),
            profile: String::new(),
            time_ms: self.time_ms,
        };
        out.set_len(0).map_err(|e| Error::io("<payload>", e))?;
        out.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("<payload>", e))?;
        let mut w = io::BufWriter::new(&mut *out);
        super::export_zip(&info, &self.entries, self, &Default::default(), &mut w)?;
        w.flush().map_err(|e| Error::io("<payload>", e))?;
        Ok(())
    }
}

impl ContentSource for Decoded {
    fn open(&self, entry: &ExportEntry) -> Result<Box<dyn Read + '_>> {
        let i = self
            .entries
            .iter()
            .position(|e| e.path == entry.path)
            .unwrap_or(usize::MAX);
        let bytes = self.contents.get(i).map_or(&[][..], Vec::as_slice);
        Ok(Box::new(bytes))
    }
}

fn refuse(path: &[u8], reason: &str) -> Error {
    Error::Invalid {
        what: "StakTrakr payload",
        value: names::escape(path),
        reason: reason.into(),
    }
}

/// The StakTrakr payload of a snapshot (see the module doc). `info` gives
/// the default `exportTimestamp`.
///
/// # Errors
/// [`Error::Invalid`] naming the entry for what the payload cannot carry:
/// a directory, a symlink, a file that is not UTF-8 text, a name that is
/// not a key, two names giving one key, a [`META_FILE`] that is not a JSON
/// object, more than [`MAX_PAYLOAD`] bytes; errors of `source`.
pub fn encode(
    info: &ExportedSnapshot,
    entries: &[ExportEntry],
    source: &dyn ContentSource,
) -> Result<Vec<u8>> {
    let mut sorted: Vec<&ExportEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut meta = Map::new();
    let mut total = 0u64;
    for e in sorted {
        match e.kind {
            ExportKind::Dir => {
                return Err(refuse(
                    &e.path,
                    "a StakTrakr payload holds only top-level files; this is a directory",
                ))
            }
            ExportKind::Symlink => {
                return Err(refuse(
                    &e.path,
                    "a StakTrakr payload holds only files; this is a symlink",
                ))
            }
            ExportKind::File => {}
        }
        total = total.saturating_add(e.size);
        if total > MAX_PAYLOAD {
            return Err(refuse(
                &e.path,
                "the files exceed the 256 MiB a StakTrakr payload may hold",
            ));
        }
        let mut bytes = Vec::new();
        source
            .open(e)?
            .take(MAX_PAYLOAD + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| Error::io(names::escape(&e.path), err))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            refuse(
                &e.path,
                "a binary file (not UTF-8 text) cannot be a StakTrakr value",
            )
        })?;
        if e.path == META_FILE.as_bytes() {
            match serde_json::from_str(&text) {
                Ok(Value::Object(m)) => meta = m,
                _ => return Err(refuse(&e.path, "not a JSON object")),
            }
            continue;
        }
        let key = names::file_name_to_key(&e.path)
            .ok_or_else(|| refuse(&e.path, "the name does not decode to a UTF-8 key"))?;
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(refuse(&e.path, "another file name gives the same key"));
        }
        pairs.push((key, text));
    }
    let data = data_json(&pairs);
    let defaults = [
        ("appVersion", format!("snap-{}", env!("CARGO_PKG_VERSION"))),
        ("exportTimestamp", format_time(info.time_ms)),
        ("scope", "full".to_string()),
    ];
    for (k, v) in defaults {
        meta.entry(k).or_insert(Value::String(v));
    }
    meta.insert("checksum".into(), Value::String(simple_hash(&data)));
    let meta = serde_json::to_string(&Value::Object(meta)).map_err(|e| Error::Format {
        path: META_FILE.into(),
        detail: e.to_string(),
    })?;
    Ok(format!("{{\"_meta\":{meta},\"data\":{data}}}").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors computed with node from StakTrakr's published formula
    /// (`h = ((h << 5) - h + s.charCodeAt(i)) | 0`, `"sh:" + (h >>> 0).toString(16)`).
    #[test]
    fn simple_hash_vectors() {
        for (s, want) in [
            ("", "sh:0"),
            ("a", "sh:61"),
            ("{\"a\":\"b\"}", NODE_1),
            ("{\"metalInventory\":\"[]\"}", NODE_2),
            ("caf\u{e9} \u{1F4B0}", NODE_3),
        ] {
            assert_eq!(simple_hash(s), want, "{s:?}");
        }
    }

    const NODE_1: &str = "sh:514cc02d";
    const NODE_2: &str = "sh:59cf24eb";
    const NODE_3: &str = "sh:20b1ca72";

    #[test]
    fn data_json_is_javascripts() {
        let pairs = vec![
            ("b".to_string(), "x\"\\\n\u{1}\u{7f}\u{e9}".to_string()),
            ("10".to_string(), "ten".to_string()),
            ("a".to_string(), "".to_string()),
            ("2".to_string(), "two".to_string()),
            ("01".to_string(), "not an index".to_string()),
        ];
        assert_eq!(data_json(&pairs), NODE_JSON);
    }

    const NODE_JSON: &str = "{\"2\":\"two\",\"10\":\"ten\",\"b\":\"x\\\"\\\\\\n\\u0001\u{7f}\u{e9}\",\"a\":\"\",\"01\":\"not an index\"}";
}
