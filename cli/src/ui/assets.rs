//! The page's files, embedded in the binary at build time: hand-written
//! HTML, CSS and JavaScript, no build step, nothing fetched from elsewhere.

use super::http::Reply;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");
const ICON: &str = include_str!("assets/icon.svg");

/// The page.
pub fn page() -> Reply {
    Reply::bytes(200, "text/html; charset=utf-8", INDEX.as_bytes().to_vec())
}

/// The asset served at `path`, if there is one.
pub fn find(path: &str) -> Option<Reply> {
    let (ty, body) = match path {
        "/app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/app.css" => ("text/css; charset=utf-8", STYLE),
        "/icon.svg" => ("image/svg+xml", ICON),
        _ => return None,
    };
    Some(Reply::bytes(200, ty, body.as_bytes().to_vec()))
}
