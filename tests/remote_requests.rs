//! How many requests the commands make against a remote repository
//! (README, "Repositories on object storage"), counted by an HTTP
//! forwarder between `snap` and SeaweedFS: a no-change `create` and a
//! `list` cost a small fixed number whatever the profile's size, a
//! `restore` fetches only the byte ranges of the blobs it needs, and a
//! cache that another machine made stale reads only the new packs' headers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::remote_repo::s3_repo;
use crate::util::{noise, read_tree, Env};

/// One request seen by the forwarder.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    ranged: bool,
}

impl Request {
    /// A listing (`GET /bucket?list-type=2&prefix=…`), not a read.
    fn is_list(&self) -> bool {
        self.path.contains("list-type=")
    }

    /// A read of (part of) a pack.
    fn reads_pack(&self) -> bool {
        self.method == "GET" && !self.is_list() && self.path.contains("/packs/")
    }
}

/// A forwarder on 127.0.0.1 to the object store, recording each request
/// and counting the bytes of the responses.
struct Counter {
    port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
    down: Arc<AtomicU64>,
}

impl Counter {
    fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicU64::new(0));
        let (s, d) = (seen.clone(), down.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(&upstream).unwrap();
                let (s, d) = (s.clone(), d.clone());
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = s2.read(&mut buf) {
                        if n == 0 || c2.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        d.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    let _ = c2.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || forward_requests(client, server, &s));
            }
        });
        Self { port, seen, down }
    }

    /// The requests and response bytes since the last call.
    fn take(&self) -> (Vec<Request>, u64) {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        (seen, self.down.swap(0, Ordering::Relaxed))
    }
}

/// Copies HTTP requests from `client` to `server`, one at a time, noting
/// each: the head up to the empty line, then `Content-Length` bytes.
fn forward_requests(client: TcpStream, mut server: TcpStream, seen: &Mutex<Vec<Request>>) {
    let mut r = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut len = 0usize;
        let mut ranged = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            assert!(
                !lower.starts_with("transfer-encoding:"),
                "a chunked request: the counter cannot follow it"
            );
            ranged |= lower.starts_with("range:");
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" {
                break;
            }
        }
        let first = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let mut parts = first.split_whitespace();
        seen.lock().unwrap().push(Request {
            method: parts.next().unwrap_or_default().to_string(),
            path: parts.next().unwrap_or_default().to_string(),
            ranged,
        });
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err()
            || server.write_all(&head).is_err()
            || server.write_all(&body).is_err()
        {
            return;
        }
    }
}

/// The requests, one line per kind: `GET range packs` and so on.
fn summary(reqs: &[Request]) -> String {
    let mut kinds: std::collections::BTreeMap<String, u64> = Default::default();
    for r in reqs {
        let what = [
            "packs/",
            "snapshots/",
            "locks/",
            "config.json",
            "profiles.json",
            "tags/",
        ]
        .iter()
        .find(|k| r.path.contains(*k) || r.path.contains(&k.replace('/', "%2F")))
        .map_or("other", |k| k.trim_end_matches('/'));
        let range = if r.ranged { " range" } else { "" };
        let method = if r.is_list() { "LIST" } else { &r.method };
        *kinds.entry(format!("{method}{range} {what}")).or_default() += 1;
    }
    kinds.iter().map(|(k, n)| format!("{n} {k}\n")).collect()
}

fn machine(repo: &Path, port: u16) -> Env {
    let mut e = Env::new();
    e.repo = repo.to_path_buf();
    e.env("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{port}"));
    e
}

/// At most this many requests for a no-change `create` and for `list`
/// with a warm cache, whatever the profile's size (README states it).
const FIXED_REQUESTS: usize = 12;

#[test]
#[ignore = "needs SeaweedFS (bash tests/seaweedfs.sh start); .ci/run runs it with --include-ignored"]
fn remote_commands_make_few_requests_and_restore_reads_only_its_blobs() {
    let upstream = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .and_then(|u| u.strip_prefix("http://").map(str::to_string))
        .expect("AWS_ENDPOINT_URL=http://HOST:PORT (eval \"$(bash tests/seaweedfs.sh env)\")");
    let counter = Counter::start(upstream);
    let repo = s3_repo("requests");
    let a = machine(&repo, counter.port);
    // A profile of 200 small files, and a large one in another profile
    // that the restore below must not fetch.
    let prof = a.path("prof");
    std::fs::create_dir_all(prof.join("sub")).unwrap();
    for i in 0..200u64 {
        std::fs::write(
            prof.join(format!("sub/f{i}.txt")),
            format!("file {i}\n").repeat(20),
        )
        .unwrap();
    }
    let big = a.path("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(big.join("big.bin"), noise(7, 4 << 20)).unwrap();
    a.create(&prof, &["--profile", "p"]);
    a.create(&big, &["--profile", "big"]);

    counter.take();
    let again = a
        .snap(["--json", "create", prof.to_str().unwrap(), "--profile", "p"])
        .ok();
    assert_eq!(again.json()["status"], "unchanged");
    let (reqs, _) = counter.take();
    eprintln!(
        "no-change create: {} requests\n{}",
        reqs.len(),
        summary(&reqs)
    );
    assert!(
        reqs.len() <= FIXED_REQUESTS,
        "no-change create: {}",
        summary(&reqs)
    );
    assert!(
        !reqs.iter().any(Request::reads_pack),
        "no-change create read packs"
    );

    a.snap(["list"]).ok();
    let (reqs, _) = counter.take();
    eprintln!("list: {} requests\n{}", reqs.len(), summary(&reqs));
    assert!(reqs.len() <= FIXED_REQUESTS, "list: {}", summary(&reqs));

    // Restore: only the byte ranges it needs, nothing of the other
    // profile's 4 MiB. The 200 small files' chunks lie side by side in one
    // pack and come back in one coalesced range request (runs of up to
    // 2 MiB joining blobs at most 256 KiB apart, store/src/pack/runs.rs);
    // each tree (root, `sub`) is one request of its own. Before reads were
    // coalesced this was one request per chunk: 200 to 210.
    let out = a.path("out");
    a.snap([
        "restore",
        "latest",
        "--profile",
        "p",
        "--target",
        out.to_str().unwrap(),
    ])
    .ok();
    let (reqs, down) = counter.take();
    eprintln!(
        "restore: {} requests, {down} bytes\n{}",
        reqs.len(),
        summary(&reqs)
    );
    assert_eq!(read_tree(&out), read_tree(&prof));
    let ranged = reqs.iter().filter(|r| r.ranged && r.reads_pack()).count();
    assert!((2..=6).contains(&ranged), "restore: {}", summary(&reqs));
    assert!(
        down < 1 << 20,
        "restore fetched {down} bytes for a 40 KB profile"
    );

    // Another machine adds a snapshot: the first one's next command reads
    // the headers of the new packs only (two or three ranged reads each).
    let b = machine(&repo, counter.port);
    std::fs::write(prof.join("new.txt"), "added elsewhere\n").unwrap();
    b.create(&prof, &["--profile", "p"]);
    counter.take();
    a.snap(["list"]).ok();
    let (reqs, _) = counter.take();
    eprintln!(
        "list after another machine's create: {} requests\n{}",
        reqs.len(),
        summary(&reqs)
    );
    let headers = reqs.iter().filter(|r| r.ranged && r.reads_pack()).count();
    assert!(
        (2..=6).contains(&headers),
        "stale cache refresh: {}",
        summary(&reqs)
    );
    let snaps = reqs
        .iter()
        .filter(|r| r.method == "GET" && !r.is_list() && r.path.contains("/snapshots/"))
        .count();
    assert_eq!(snaps, 1, "stale cache refresh: {}", summary(&reqs));
}
