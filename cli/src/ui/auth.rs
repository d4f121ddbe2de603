//! Who may use the page: the one-time token printed by `snap ui`, exchanged
//! for a session cookie (HttpOnly, SameSite=Strict); the `Host` header
//! checked on every request (a DNS-rebinding page sends its own host name);
//! the `Origin` checked on every request that changes something (another
//! site cannot post to us); and no `..` in any request path.

use std::net::SocketAddr;

use super::http::{header, split_url, Reply};

/// The session cookie's name.
const COOKIE: &str = "snap_session";

/// The outcome of checking one request.
pub enum Admission {
    /// Let it through to the routes.
    Admitted,
    /// The token was exchanged: redirect to the page with the cookie set.
    Exchanged(Reply),
    /// Refused, with the reason.
    Refused(Reply),
}

/// The gate's secrets and the host names it answers to.
pub struct Gate {
    token: String,
    token_used: bool,
    session: String,
    hosts: Vec<String>,
}

/// 256 random bits as hex.
pub fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b[..]);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Gate {
    /// A gate for a server bound to `addr`, with fresh secrets.
    pub fn new(addr: SocketAddr) -> Self {
        let port = addr.port();
        let mut hosts = vec![match addr {
            SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
            SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
        }];
        if addr.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
        }
        Gate {
            token: random_hex(),
            token_used: false,
            session: random_hex(),
            hosts,
        }
    }

    /// The host (and port) of the printed URL.
    pub fn host(&self) -> &str {
        &self.hosts[0]
    }

    /// The one-time token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Checks one request.
    pub fn admit(&mut self, req: &tiny_http::Request) -> Admission {
        let refuse = |status, kind, msg: &str| Admission::Refused(Reply::error(status, kind, msg));
        let url = req.url();
        let (path, query) = split_url(url);
        let lower = path.to_ascii_lowercase();
        if lower.contains("..")
            || lower.contains("%2e")
            || lower.contains("%2f")
            || lower.contains('\\')
        {
            return refuse(400, "path_traversal", "the request path is refused");
        }
        let host = header(req, "Host").unwrap_or_default();
        if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return refuse(
                403,
                "foreign_host",
                "this server answers only to the address it printed",
            );
        }
        let has_session = header(req, "Cookie")
            .into_iter()
            .flat_map(|c| c.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && same(v, &self.session));
        if let Some(t) = query.get("token") {
            if path != "/" || *req.method() != tiny_http::Method::Get {
                return refuse(403, "bad_token", "the token is only taken by GET /");
            }
            if !has_session {
                if self.token_used || !same(t, &self.token) {
                    return refuse(
                        403,
                        "bad_token",
                        "wrong or already used token; restart `snap ui` for a new link",
                    );
                }
                self.token_used = true;
            }
            let cookie = format!(
                "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                self.session
            );
            return Admission::Exchanged(
                Reply::bytes(303, "text/plain", b"see /".to_vec())
                    .header("Location", "/")
                    .header("Set-Cookie", &cookie),
            );
        }
        if !has_session {
            return refuse(
                401,
                "no_session",
                "open the link that `snap ui` printed (it carries a one-time token)",
            );
        }
        let safe = matches!(
            req.method(),
            tiny_http::Method::Get | tiny_http::Method::Head
        );
        if !safe {
            let origin = header(req, "Origin").unwrap_or_default();
            let expected = format!("http://{host}");
            if !origin.eq_ignore_ascii_case(&expected) {
                return refuse(
                    403,
                    "cross_origin",
                    "changes are only accepted from the page itself",
                );
            }
        }
        Admission::Admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_compared_whole() {
        let g = Gate::new("127.0.0.1:8080".parse().unwrap());
        assert_eq!(g.token().len(), 64);
        assert_ne!(g.token(), g.session);
        assert_eq!(g.host(), "127.0.0.1:8080");
        assert!(g.hosts.contains(&"localhost:8080".to_string()));
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        let remote = Gate::new("192.0.2.1:80".parse().unwrap());
        assert_eq!(remote.hosts, ["192.0.2.1:80"]);
    }
}
