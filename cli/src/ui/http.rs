//! The HTTP plumbing of `snap ui`: replies with the security headers every
//! answer carries, query strings, percent-decoding and request bodies.

use std::collections::HashMap;
use std::io::Read as _;

use serde::Serialize;

/// Largest request body accepted (an uploaded ZIP or vault).
pub const MAX_BODY: u64 = 1 << 30;

/// An answer, turned into a tiny_http response at the end.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A body of bytes with its content type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Reply {
            status,
            content_type: content_type.into(),
            headers: Vec::new(),
            body,
        }
    }

    /// A JSON document.
    pub fn json<T: Serialize>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::bytes(200, "application/json", body),
            Err(e) => Self::error(500, "error", &format!("encoding the answer: {e}")),
        }
    }

    /// An error as `{"error": {"kind", "message"}}`.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        let body = serde_json::json!({ "error": { "kind": kind, "message": message } });
        Self::bytes(status, "application/json", body.to_string().into_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The tiny_http response, with the headers every answer carries: no
    /// caching, no sniffing, no framing, no referrer, scripts and styles
    /// only from this page, and never a CORS header.
    pub fn into_response(self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let mut r = tiny_http::Response::from_data(self.body).with_status_code(self.status);
        let fixed = [
            ("Content-Type", self.content_type.as_str()),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            (
                "Content-Security-Policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ];
        let extra = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (k, v) in fixed.into_iter().chain(extra) {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                r.add_header(h);
            }
        }
        r
    }
}

/// Reads a request's body (up to [`MAX_BODY`]).
pub fn read_body(req: &mut tiny_http::Request) -> Result<Vec<u8>, Reply> {
    let mut body = Vec::new();
    req.as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| Reply::error(400, "bad_request", &format!("reading the request: {e}")))?;
    if body.len() as u64 > MAX_BODY {
        return Err(Reply::error(
            413,
            "too_large",
            "the upload is larger than 1 GiB",
        ));
    }
    Ok(body)
}

/// A header's value (first of that name).
pub fn header<'r>(req: &'r tiny_http::Request, name: &'static str) -> Option<&'r str> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// The path and the decoded query parameters of a request target.
pub fn split_url(url: &str) -> (&str, HashMap<String, String>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path, params)
}

/// Percent-decoding (and `+` as space) of one query component; invalid
/// escapes stay as they are, invalid UTF-8 becomes U+FFFD.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `name` with everything but ASCII letters, digits, `.`, `_` and `-`
/// replaced by `_`: safe in a `Content-Disposition` header and as a file
/// name in a folder of our own.
pub fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        let (path, q) = split_url("/api/file?snapshot=ab12&path=a%2Fb%20c.json&x");
        assert_eq!(path, "/api/file");
        assert_eq!(q["path"], "a/b c.json");
        assert_eq!(q["snapshot"], "ab12");
        assert_eq!(q["x"], "");
        assert_eq!(decode("%2e%2E%2f"), "../");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
