//! `snap ui` refuses what it must: no or a wrong or reused token, a foreign
//! `Host` (DNS rebinding), a POST from another origin, and paths that climb
//! out of a snapshot (`..`, percent-encoded or not). Each refusal has a
//! positive control on the same request done right.

use super::{world, Ui};
use crate::util::Env;

fn snapshot_count(env: &Env) -> usize {
    let out = env.cmd(["--json", "list"]).output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        .unwrap()
        .len()
}

#[test]
fn ui_refuses_missing_wrong_and_reused_tokens() {
    let env = Env::new();
    world(&env);
    let ui = Ui::start(&env);
    for target in ["/", "/api/profiles", "/app.js", "/api/snapshots"] {
        let r = ui.request("GET", target, &[], b"");
        assert_eq!(r.status, 401, "{target} without a session: {r:?}");
        assert!(!r.text().contains("settings.json"));
    }
    let wrong = format!("/?token={}", "0".repeat(64));
    assert_eq!(ui.request("GET", &wrong, &[], b"").status, 403);
    let r = ui.request(
        "GET",
        "/api/profiles",
        &[("Cookie", "snap_session=guess")],
        b"",
    );
    assert_eq!(r.status, 401);
    // The wrong guess did not burn the token: the right one still works, once.
    let cookie = ui.login();
    let again = ui.request("GET", &format!("/?token={}", ui.token()), &[], b"");
    assert_eq!(
        again.status, 403,
        "a used token must not give a second session"
    );
    let r = ui.request("GET", "/api/profiles", &[("Cookie", &cookie)], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("\"app\""));
    assert!(r.header("access-control-allow-origin").is_none(), "no CORS");
    let page = ui.request("GET", "/", &[("Cookie", &cookie)], b"");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-security-policy")
        .is_some_and(|c| c.contains("default-src 'none'")));
}

#[test]
fn ui_refuses_a_foreign_host_and_cross_origin_posts() {
    let env = Env::new();
    world(&env);
    let ui = Ui::start(&env);
    let cookie = ui.login();
    let port = ui.host.rsplit(':').next().unwrap().to_string();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".into(),
        format!("127.0.0.2:{port}"),
    ] {
        let r = ui.request(
            "GET",
            "/api/profiles",
            &[("Host", &host), ("Cookie", &cookie)],
            b"",
        );
        assert_eq!(r.status, 403, "Host {host}: {r:?}");
    }
    let localhost = format!("localhost:{port}");
    let r = ui.request(
        "GET",
        "/api/profiles",
        &[("Host", &localhost), ("Cookie", &cookie)],
        b"",
    );
    assert_eq!(r.status, 200, "localhost is the same machine");

    let before = snapshot_count(&env);
    let body = br#"{"profile":"app"}"#;
    let own = format!("http://{}", ui.host);
    for origin in [
        Some("http://evil.example"),
        Some("null"),
        None,
        Some(&format!("https://{}", ui.host)[..]),
    ] {
        let mut h = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        let r = ui.request("POST", "/api/create", &h, body);
        assert_eq!(r.status, 403, "Origin {origin:?}: {r:?}");
    }
    assert_eq!(
        snapshot_count(&env),
        before,
        "a refused POST changed nothing"
    );
    // Without the cookie, even the right origin is refused.
    let r = ui.request("POST", "/api/create", &[("Origin", &own)], body);
    assert_eq!(r.status, 401);
    let r = ui.request(
        "POST",
        "/api/create",
        &[("Cookie", &cookie), ("Origin", &own)],
        body,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        snapshot_count(&env),
        before + 1,
        "the live folder had changed"
    );
}

#[test]
fn ui_refuses_path_traversal_in_file_and_download_urls() {
    let env = Env::new();
    let (_, second) = world(&env);
    std::fs::write(env.path("secret.txt"), "TOP SECRET").unwrap();
    let ui = Ui::start(&env);
    let cookie = ui.login();
    let get = |target: &str| ui.request("GET", target, &[("Cookie", &cookie)], b"");
    let ok = get(&format!(
        "/api/file?snapshot={second}&path=settings.json&download=1"
    ));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.text().contains("light"));
    assert!(ok
        .header("content-disposition")
        .is_some_and(|d| d.contains("settings.json")));
    let climbs = [
        "../secret.txt",
        "../../../../etc/passwd",
        "img/../../secret.txt",
        "%2e%2e/secret.txt",
        "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "img%2f..%2f..%2fsecret.txt",
        "..%5csecret.txt",
    ];
    for p in climbs {
        for target in [
            format!("/api/file?snapshot={second}&path={p}"),
            format!("/api/file?snapshot={second}&path={p}&download=1"),
            format!("/api/versions?profile=app&path={p}"),
            format!("/api/textdiff?a={second}&b=live&path={p}"),
            format!("/api/ls?snapshot={second}&path={p}"),
        ] {
            let r = get(&target);
            assert_eq!(r.status, 400, "{target}: {r:?}");
            assert!(
                !r.text().contains("TOP SECRET") && !r.text().contains("root:"),
                "{target}"
            );
        }
    }
    for raw in [
        "/../secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/app.js/..%2f..%2fsecret.txt",
        "/%2E%2E%2Fsecret.txt",
    ] {
        let r = get(raw);
        assert_eq!(r.status, 400, "{raw}: {r:?}");
    }
}

#[test]
fn ui_needs_a_repository_and_an_explicit_flag_for_other_machines() {
    let env = Env::new();
    let r = env.snap(["ui"]);
    assert_eq!(r.code, 10, "no repository: {}", r.stderr);
    world(&env);
    let r = env.snap(["ui", "--listen", "0.0.0.0:0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--allow-remote"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "no URL printed: {}", r.stdout);
}
