//! `snap ui` end to end: the real binary serving a temporary repository.
//! `security` speaks plain HTTP to it (token, Host, Origin, traversal);
//! `browser` drives Debian's Chromium through Playwright for Python
//! (`browser.py`).

mod browser;
mod security;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::util::Env;

/// An 8×8 RGB PNG (a colour gradient), for the image preview.
pub const PNG: &str = "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc0000006c4944415478da0dc941010030080331a4540a522aa55290c2f3642065cb3755858a2e5ca498628b2baa84440b8b88112b4e3f1a35ddb84933cd36d73f8c4c1b9b98316bce3f8242078784091b2e3f060d3d78c830c30e373f162dbd78c932cb2eb73f0e1d7df8c831c71e773cbce46a018f52e4800000000049454e44ae426082";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A repository with profile `app` (folder `app/`) and two snapshots:
/// `first` (2026-01-01) and `second` (2026-01-02, `settings.json` and
/// `notes.txt` changed, `new.txt` added); then the live folder is edited
/// (`settings.json` broken, `junk.txt` added). Returns the two ids.
pub fn world(env: &Env) -> (String, String) {
    let app = env.path("app");
    std::fs::create_dir_all(app.join("img")).unwrap();
    std::fs::write(
        app.join("settings.json"),
        br#"{"theme":"dark","font":{"size":12,"family":"serif"}}"#,
    )
    .unwrap();
    std::fs::write(app.join("notes.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(app.join("img/photo.png"), unhex(PNG)).unwrap();
    let create = |env: &Env, now: &str| {
        let mut c = env.cmd(["create", app.to_str().unwrap(), "--profile", "app"]);
        c.env("SNAP_NOW", now);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let first = create(env, "2026-01-01T10:00:00Z");
    std::fs::write(
        app.join("settings.json"),
        br#"{"theme":"light","font":{"size":14,"family":"serif"}}"#,
    )
    .unwrap();
    std::fs::write(app.join("notes.txt"), "one\ntwo\nthree\nfour\n").unwrap();
    std::fs::write(app.join("new.txt"), "new\n").unwrap();
    let second = create(env, "2026-01-02T10:00:00Z");
    std::fs::write(app.join("settings.json"), b"{broken").unwrap();
    std::fs::write(app.join("junk.txt"), "junk\n").unwrap();
    (first, second)
}

/// A running `snap ui`, stopped on drop.
pub struct Ui {
    child: Child,
    /// Kept open: a closed pipe would make the server's next write fail.
    _stdout: BufReader<std::process::ChildStdout>,
    /// The printed URL, with its token.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl Ui {
    /// Starts `snap ui` on a free loopback port and reads the URL it prints.
    pub fn start(env: &Env) -> Ui {
        let mut child = env
            .cmd(["ui", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn snap ui");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("snap ui: open ")
            .unwrap_or_else(|| panic!("snap ui printed {line:?}"))
            .to_string();
        let host = url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_string();
        Ui {
            child,
            _stdout: stdout,
            url,
            host,
        }
    }

    /// The token from the URL.
    pub fn token(&self) -> &str {
        self.url.rsplit('=').next().unwrap()
    }

    /// Exchanges the token for the session cookie (`name=value`).
    pub fn login(&self) -> String {
        let r = self.request("GET", &format!("/?token={}", self.token()), &[], b"");
        assert_eq!(r.status, 303, "token exchange: {r:?}");
        let cookie = r.header("set-cookie").expect("a cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        cookie.split(';').next().unwrap().to_string()
    }

    /// One HTTP/1.1 request with the right `Host` unless `headers` has one.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut s = TcpStream::connect(&self.host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: {}\r\n", self.host));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        Answer::parse(&raw)
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect::<Vec<_>>();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let len = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + len]);
        b = &b[eol + 4 + len..];
    }
}

/// The repository root of this checkout (for `tests/ui/browser.py`).
pub fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
