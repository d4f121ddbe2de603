//! Lossless names in the ZIP view (FORMAT.md section 12.2): how a
//! snapshot's raw path or symlink target bytes become a printable UTF-8
//! ZIP name, and back.
//!
//! A name is **clean** when it is valid UTF-8 and has no control
//! character (`char::is_control`: U+0000..U+001F, U+007F..U+009F), no `%`
//! and no `\`. A clean name is written as it is. Any other name is
//! **escaped**: every byte of an invalid UTF-8 sequence, every byte of a
//! control character, and every `%` and `\` becomes `%XX` (two uppercase
//! hex digits); all other characters (including `/`) stay. The escaped
//! form of a name that is not clean always differs from the original
//! bytes, and escaping is one-to-one, so `unescape(escape(b)) == b`; the
//! manifest also records the exact bytes in hex whenever the two differ.

use std::fmt::Write as _;

/// Whether `c` must be written as `%XX` bytes.
fn needs_escape(c: char) -> bool {
    c.is_control() || c == '%' || c == '\\'
}

fn push_escaped(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "%{b:02X}");
    }
}

/// The ZIP form of `bytes` (see the module doc); `/` is kept.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if needs_escape(c) {
                let mut buf = [0u8; 4];
                push_escaped(&mut out, c.encode_utf8(&mut buf).as_bytes());
            } else {
                out.push(c);
            }
        }
        push_escaped(&mut out, chunk.invalid());
    }
    out
}

/// Whether [`escape`] leaves `bytes` as they are.
pub fn is_clean(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(needs_escape))
}

/// Decodes every `%XX` (hex, either case) of `s`; `None` when a `%` is not
/// followed by two hex digits.
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A StakTrakr `data` key as a file name: [`escape`], plus `/` as `%2F`,
/// and the names `.` and `..` as `%2E` and `%2E%2E`. `None` for the empty
/// key, which no file can be named.
pub fn key_to_file_name(key: &str) -> Option<Vec<u8>> {
    match key {
        "" => None,
        "." => Some(b"%2E".to_vec()),
        ".." => Some(b"%2E%2E".to_vec()),
        _ => Some(escape(key.as_bytes()).replace('/', "%2F").into_bytes()),
    }
}

/// The inverse of [`key_to_file_name`] for a file name of a snapshot: the
/// `%XX` escapes decoded (a `%` not followed by two hex digits is kept),
/// `None` when the result is not UTF-8.
pub fn file_name_to_key(name: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let hex = name
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (name[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names_stay_and_others_escape() {
        assert_eq!(escape(b"settings.json"), "settings.json");
        assert_eq!(escape("caf\u{e9}/x y".as_bytes()), "caf\u{e9}/x y");
        assert!(is_clean("caf\u{e9}/x y".as_bytes()));
        assert_eq!(escape(b"a\nb"), "a%0Ab");
        assert_eq!(escape(b"100%"), "100%25");
        assert_eq!(escape(b"a\\b"), "a%5Cb");
        assert_eq!(escape(b"\xff\xfeok"), "%FF%FEok");
        assert_eq!(escape("\u{85}".as_bytes()), "%C2%85");
        assert_eq!(escape(b"\x7f"), "%7F");
        assert!(!is_clean(b"100%"));
        assert!(!is_clean(b"\xff"));
    }

    #[test]
    fn escape_is_one_to_one() {
        for b in [
            &b"a%0A"[..],
            b"a\n",
            b"%",
            b"%25",
            b"\xc3",
            b"\xc3\xa9",
            b"x/\x01/y",
            b"",
        ] {
            assert_eq!(unescape(&escape(b)).as_deref(), Some(b), "{b:?}");
        }
        assert_ne!(escape(b"a%0A"), escape(b"a\n"));
        assert_eq!(unescape("%4"), None);
        assert_eq!(unescape("%zz"), None);
    }

    #[test]
    fn keys_and_file_names() {
        for k in ["metalInventory", "a/b", ".", "..", "100%", "x\ny", "\u{e9}"] {
            let f = key_to_file_name(k).unwrap();
            assert!(!f.contains(&b'/'), "{k}");
            assert_ne!(f, b".");
            assert_ne!(f, b"..");
            assert_eq!(file_name_to_key(&f).as_deref(), Some(k));
        }
        assert_eq!(key_to_file_name(""), None);
        assert_eq!(file_name_to_key(b"50%off").as_deref(), Some("50%off"));
        assert_eq!(file_name_to_key(b"\xff"), None);
    }
}
