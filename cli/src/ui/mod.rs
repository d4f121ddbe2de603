//! `snap ui`: a local web page to see, compare and restore snapshots.
//!
//! A small synchronous server (tiny_http) answers one request at a time
//! through the engine's library API (a restore runs on a thread of its own,
//! `jobs`, so the page can show its progress); the page itself (HTML, CSS, JS) is
//! embedded in the binary (`assets`). Security lives in `auth`: loopback
//! by default, a one-time token exchanged for a session cookie, the `Host`
//! header checked on every request and the `Origin` on every POST.

mod actions;
mod assets;
mod auth;
mod http;
mod jobs;
mod routes;

use std::io::Write as _;

use anyhow::{anyhow, bail};
use snap_store::OpenOptions;

use crate::args::UiArgs;
use crate::commands::Context;

/// Serves the page until the process is stopped (Ctrl-C).
pub fn run(ctx: &Context, args: &UiArgs) -> anyhow::Result<()> {
    let addr = args.listen;
    if !addr.ip().is_loopback() {
        if !args.allow_remote {
            bail!(
                "--listen {addr} is not a loopback address; pass --allow-remote as well to serve \
                 the page to other machines"
            );
        }
        ctx.out.warn(&format!(
            "listening on {addr}: anyone on the network who has the URL can read and restore \
             your snapshots, and the traffic is not encrypted"
        ));
    }
    // Exit 10 now, not on the first request, when there is no repository.
    drop(ctx.open_engine(OpenOptions::shared("ui"))?);
    let server =
        tiny_http::Server::http(addr).map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| anyhow!("{addr} is not an IP address"))?;
    let mut gate = auth::Gate::new(bound);
    let jobs = std::sync::Arc::new(jobs::Jobs::default());
    let url = format!("http://{}/?token={}", gate.host(), gate.token());
    {
        let mut out = std::io::stdout().lock();
        if ctx.out.json {
            writeln!(
                out,
                "{}",
                serde_json::json!({ "url": url, "listen": bound.to_string() })
            )?;
        } else {
            writeln!(out, "snap ui: open {url}")?;
        }
        out.flush()?;
    }
    if !ctx.out.quiet && !ctx.out.json {
        eprintln!("snap ui: the link works once; press Ctrl-C to stop");
    }
    for mut request in server.incoming_requests() {
        let reply = match gate.admit(&request) {
            auth::Admission::Refused(reply) | auth::Admission::Exchanged(reply) => reply,
            auth::Admission::Admitted => match http::read_body(&mut request) {
                Ok(body) => routes::dispatch(ctx, &jobs, &request, &body),
                Err(reply) => reply,
            },
        };
        // A client that went away is not our problem.
        let _ = request.respond(reply.into_response());
    }
    Ok(())
}
