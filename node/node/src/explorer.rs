//! The block explorer the node serves (`--explorer-addr`): a single-page
//! app of plain JavaScript, HTML and CSS built into the binary
//! (`node/node/explorer/`), which talks to the node only through its
//! public JSON-RPC over WebSocket. This server hands out the files and
//! `/config.json` (where the RPC is); it reads nothing from the node.
//! docs/design/explorer.md says why there is no front-end toolchain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// The files, by path.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../explorer/index.html")),
    ("/index.html", "text/html; charset=utf-8", include_str!("../explorer/index.html")),
    ("/app.js", "text/javascript; charset=utf-8", include_str!("../explorer/app.js")),
    ("/blake3.js", "text/javascript; charset=utf-8", include_str!("../explorer/blake3.js")),
    ("/style.css", "text/css; charset=utf-8", include_str!("../explorer/style.css")),
];

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;

/// Scripts only from this server, no inline code, network only to the
/// node's RPC (a WebSocket on another port of the same host).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A running explorer server.
pub struct Explorer {
    /// The address it listens on.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Explorer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    for (k, v) in [
        ("content-type", content_type),
        ("cache-control", "no-cache"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", CSP),
    ] {
        if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    }
    r
}

/// The answer to one request: a file, `/config.json`, 404 or 405.
fn answer(method: &Method, path: &str, config: &Bytes) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", Bytes::from_static(b"GET only\n"));
    }
    if path == "/config.json" {
        return respond(StatusCode::OK, "application/json", config.clone());
    }
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, ty, body)) => respond(StatusCode::OK, ty, Bytes::from_static(body.as_bytes())),
        None => respond(StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"not found\n")),
    }
}

/// Serves the explorer on `addr` until the returned value is dropped. The
/// page reaches the RPC at `rpc_port` on the host it was loaded from.
pub async fn serve(addr: SocketAddr, rpc_port: u16) -> Result<Explorer> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding the explorer address {addr}"))?;
    let bound = listener.local_addr()?;
    let config = Bytes::from(
        serde_json::json!({ "rpcPort": rpc_port, "version": env!("CARGO_PKG_VERSION") }).to_string().into_bytes(),
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let Ok((sock, _)) = listener.accept().await else { continue };
            let config = config.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let r = answer(req.method(), req.uri().path(), &config);
                    async move { Ok::<_, std::convert::Infallible>(r) }
                });
                // A client that sends no complete header in 10 s is cut
                // off: a slow one cannot hold a slot for ever.
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    Ok(Explorer { addr: bound, task })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_the_app_its_config_and_nothing_else() {
        let e = serve("127.0.0.1:0".parse().unwrap(), 8545).await.unwrap();
        let page = get(e.addr, "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("content-security-policy: default-src 'self'"), "{page}");
        assert!(page.contains("<script type=\"module\" src=\"/app.js\">"), "{page}");
        let cfg = get(e.addr, "GET /config.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert!(cfg.contains("{\"rpcPort\":8545,"), "{cfg}");
        for (p, ty) in [("/app.js", "text/javascript"), ("/blake3.js", "text/javascript"), ("/style.css", "text/css")] {
            let r = get(e.addr, &format!("GET {p} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).await;
            assert!(r.starts_with("HTTP/1.1 200") && r.contains(ty), "{p}: {r}");
        }
        let r = get(e.addr, "GET /../Cargo.toml HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = get(e.addr, "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        let r = get(e.addr, "nonsense\r\n\r\n").await;
        assert!(r.is_empty() || r.starts_with("HTTP/1.1 400"), "{r}");
    }
}
