//! A TCP fault proxy between `snap` and an S3 endpoint (SeaweedFS): a
//! thread-based forwarder on `127.0.0.1:<random port>` that counts the
//! bytes each way and, as configured, answers the first request of a
//! connection with `503 Slow Down` (an S3 XML error) instead of forwarding
//! it, delays what it forwards, and drops connections in the middle of a
//! transfer. The client's HTTP pool keeps connections alive, so a drop is
//! also what makes it open new connections that can meet a 503. An outage
//! (`cut_after`) lets a set number of bytes through and then drops every
//! read and answers every new connection with 503, so a command fails
//! part-way through for certain, not by chance.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::Gen;

/// What the proxy does to the traffic; all off by default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Chance that a new connection's first request gets `503 Slow Down`.
    pub slow_down: f64,
    /// Chance, per forwarded read of up to 16 KiB, that the connection is
    /// dropped (both sides closed) instead.
    pub drop: f64,
    /// Longest delay before forwarding a read, in milliseconds (uniform).
    pub delay_ms: u64,
    /// Bytes (both ways) forwarded after [`Proxy::set_faults`] before the
    /// network goes down entirely; 0: never.
    pub cut_after: u64,
}

struct Shared {
    faults: Mutex<Faults>,
    up: AtomicU64,
    down: AtomicU64,
    slow_downs: AtomicU64,
    drops: AtomicU64,
    /// Bytes forwarded (both ways) when the faults were last set.
    cut_base: AtomicU64,
    stop: AtomicBool,
    seed: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    shared: Arc<Shared>,
    port: u16,
}

const SLOW_DOWN_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

impl Proxy {
    /// Starts a proxy to `target` (`host:port`).
    pub fn start(target: &str, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            faults: Mutex::new(faults),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            slow_downs: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            cut_base: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            seed: AtomicU64::new(u64::from(port) * 7919),
        });
        let s = shared.clone();
        let target = target.to_string();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let (s, target) = (s.clone(), target.clone());
                thread::spawn(move || serve(client, &target, &s));
            }
        });
        Proxy { shared, port }
    }

    /// Starts a proxy to the endpoint of `$AWS_ENDPOINT_URL` (SeaweedFS).
    pub fn to_s3(faults: Faults) -> Self {
        let url = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
            panic!("AWS_ENDPOINT_URL is not set: eval \"$(bash tests/seaweedfs.sh env)\"")
        });
        let target = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Self::start(&target, faults)
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give `snap`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Changes the faults for new reads and connections.
    pub fn set_faults(&self, f: Faults) {
        let mut faults = self.shared.faults.lock().unwrap();
        self.shared
            .cut_base
            .store(self.shared.forwarded(), Ordering::SeqCst);
        *faults = f;
    }

    /// Bytes sent by the client towards the store (uploads and requests).
    pub fn bytes_up(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Bytes sent by the store towards the client.
    pub fn bytes_down(&self) -> u64 {
        self.shared.down.load(Ordering::SeqCst)
    }

    /// Faults injected so far: (503 answers, dropped connections).
    pub fn injected(&self) -> (u64, u64) {
        (
            self.shared.slow_downs.load(Ordering::SeqCst),
            self.shared.drops.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Shared {
    /// Bytes forwarded so far, both ways.
    fn forwarded(&self) -> u64 {
        self.up.load(Ordering::SeqCst) + self.down.load(Ordering::SeqCst)
    }

    /// True once an outage's byte budget is spent.
    fn is_cut(&self, faults: &Faults) -> bool {
        faults.cut_after > 0
            && self.forwarded() - self.cut_base.load(Ordering::SeqCst) >= faults.cut_after
    }
}

fn serve(mut client: TcpStream, target: &str, s: &Arc<Shared>) {
    let mut g = Gen(s.seed.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::SeqCst));
    let faults = *s.faults.lock().unwrap();
    if s.is_cut(&faults) || chance(&mut g, faults.slow_down) {
        // Read the request head, answer 503 and close.
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        s.up.fetch_add(head.len() as u64, Ordering::SeqCst);
        s.slow_downs.fetch_add(1, Ordering::SeqCst);
        let reply = format!(
            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SLOW_DOWN_BODY}",
            SLOW_DOWN_BODY.len()
        );
        let _ = client.write_all(reply.as_bytes());
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let (c2, s2) = (
        client.try_clone().expect("clone socket"),
        server.try_clone().expect("clone socket"),
    );
    let sh = s.clone();
    let seed = g.next_u64();
    let up = thread::spawn(move || pump(c2, s2, &sh, true, seed));
    pump(server, client, s, false, g.next_u64());
    let _ = up.join();
}

/// Copies `from` to `to` until either closes, counting and injecting faults.
fn pump(mut from: TcpStream, mut to: TcpStream, s: &Shared, up: bool, seed: u64) {
    let mut g = Gen(seed);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let faults = *s.faults.lock().unwrap();
        if faults.delay_ms > 0 {
            thread::sleep(Duration::from_millis(g.below(faults.delay_ms + 1)));
        }
        if s.is_cut(&faults) || chance(&mut g, faults.drop) {
            s.drops.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        let counter = if up { &s.up } else { &s.down };
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn chance(g: &mut Gen, p: f64) -> bool {
    p > 0.0 && (g.below(1_000_000) as f64) < p * 1_000_000.0
}
