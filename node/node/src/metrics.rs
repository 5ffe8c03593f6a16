//! Prometheus metrics: counters kept as atomics, rendered in the text
//! exposition format at `GET /metrics` on the metrics address.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::node::Node;

/// Counters of the node.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Blocks imported (own, external miners', peers').
    pub blocks_imported: AtomicU64,
    /// Time spent importing, in microseconds.
    pub import_micros: AtomicU64,
    /// Time from template to imported own block, in microseconds.
    pub produce_micros: AtomicU64,
    /// Transactions the pool admitted.
    pub txs_accepted: AtomicU64,
    /// Transactions the pool refused.
    pub txs_rejected: AtomicU64,
    /// RPC calls answered.
    pub rpc_calls: AtomicU64,
    /// RPC calls refused by the rate limit.
    pub rpc_rate_limited: AtomicU64,
    /// RPC connections closed at once: too many from one address.
    pub rpc_connections_refused: AtomicU64,
    /// Blocks this node's consensus finalized.
    pub pos_finalized: AtomicU64,
    /// Double-vote evidence seen or raised.
    pub pos_evidence: AtomicU64,
    /// Transactions in blocks that became the head.
    pub txs_included: AtomicU64,
    /// Import time by phase ([`PHASES`]), microseconds.
    pub phase_micros: [AtomicU64; 6],
    /// Finality latency (decided minus the block's own time) summed over
    /// finalized blocks, ms.
    pub finality_ms_sum: AtomicU64,
    /// The last block's finality latency, ms.
    pub finality_ms_last: AtomicU64,
}

/// The import phases, in the order of [`Metrics::phase_micros`].
pub const PHASES: [&str; 6] = ["checks", "signatures", "state_read", "execution", "state_root", "commit"];

/// The bytes of the files under `dir` (RocksDB's tables, logs and
/// manifests).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

/// The metrics in the text exposition format.
pub fn render(node: &Node) -> String {
    let mut o = String::new();
    let m = &node.metrics;
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let height = node.chain().head().map(|h| h.height).unwrap_or(0);
    metric(&mut o, "cinder_chain_height", "gauge", "Height of the canonical head.", height);
    let net = node.network();
    metric(&mut o, "cinder_peers", "gauge", "Connected peers.", net.map_or(0, |n| n.peer_count()));
    let sync = net.and_then(|n| n.syncing());
    metric(&mut o, "cinder_syncing", "gauge", "1 while catching up with a heavier peer.", u8::from(sync.is_some()));
    metric(
        &mut o,
        "cinder_sync_target_height",
        "gauge",
        "Best height known from peers while syncing (the head height otherwise).",
        sync.map_or(height, |s| s.highest_block),
    );
    metric(&mut o, "cinder_mempool_transactions", "gauge", "Transactions in the pool.", node.mempool().len());
    metric(&mut o, "cinder_blocks_imported_total", "counter", "Blocks imported.", l(&m.blocks_imported));
    metric(
        &mut o,
        "cinder_transactions_included_total",
        "counter",
        "Transactions in blocks that became the head.",
        l(&m.txs_included),
    );
    let _ = writeln!(
        o,
        "# HELP cinder_import_phase_seconds_total Import time by phase.\n# TYPE cinder_import_phase_seconds_total counter"
    );
    for (name, v) in PHASES.iter().zip(&m.phase_micros) {
        let _ = writeln!(o, "cinder_import_phase_seconds_total{{phase=\"{name}\"}} {}", l(v) as f64 / 1e6);
    }
    metric(
        &mut o,
        "cinder_finality_latency_seconds_sum",
        "counter",
        "Finality latency (decided minus the block's time) summed over the finalized blocks.",
        l(&m.finality_ms_sum) as f64 / 1e3,
    );
    metric(
        &mut o,
        "cinder_finality_latency_last_seconds",
        "gauge",
        "The last finalized block's finality latency.",
        l(&m.finality_ms_last) as f64 / 1e3,
    );
    metric(&mut o, "cinder_db_size_bytes", "gauge", "Bytes of the chain database's files.", dir_bytes(&node.chain_dir));
    if node.chain().spec().consensus == cinder_consensus::ConsensusKind::Pos {
        let fin = node.finalized_height().ok().flatten().unwrap_or(0);
        metric(&mut o, "cinder_finalized_height", "gauge", "Height of the newest finalized block.", fin);
        metric(
            &mut o,
            "cinder_pos_finalized_total",
            "counter",
            "Blocks this node's consensus decided.",
            l(&m.pos_finalized),
        );
        metric(
            &mut o,
            "cinder_pos_evidence_total",
            "counter",
            "Double-vote evidence seen or raised.",
            l(&m.pos_evidence),
        );
    }
    metric(
        &mut o,
        "cinder_import_seconds_total",
        "counter",
        "Time spent importing blocks.",
        l(&m.import_micros) as f64 / 1e6,
    );
    metric(
        &mut o,
        "cinder_produce_seconds_total",
        "counter",
        "Time from template to imported block for the node's own blocks.",
        l(&m.produce_micros) as f64 / 1e6,
    );
    metric(&mut o, "cinder_txs_accepted_total", "counter", "Transactions the pool admitted.", l(&m.txs_accepted));
    metric(&mut o, "cinder_txs_rejected_total", "counter", "Transactions the pool refused.", l(&m.txs_rejected));
    metric(&mut o, "cinder_rpc_calls_total", "counter", "JSON-RPC calls answered.", l(&m.rpc_calls));
    metric(
        &mut o,
        "cinder_rpc_rate_limited_total",
        "counter",
        "JSON-RPC calls refused by the rate limit.",
        l(&m.rpc_rate_limited),
    );
    metric(
        &mut o,
        "cinder_rpc_connections_refused_total",
        "counter",
        "JSON-RPC connections closed at once: too many open from one address.",
        l(&m.rpc_connections_refused),
    );
    let mi = &node.mining;
    metric(&mut o, "cinder_mining_hashrate", "gauge", "The node's own miner, hashes per second.", mi.hashrate());
    metric(&mut o, "cinder_mining_hashes_total", "counter", "Hashes of the node's own miner.", l(&mi.hashes_done));
    metric(&mut o, "cinder_blocks_sealed_total", "counter", "Blocks the node sealed itself.", l(&mi.blocks_found));
    metric(
        &mut o,
        "cinder_external_blocks_total",
        "counter",
        "Blocks submitted by external miners.",
        l(&mi.external_blocks),
    );
    metric(&mut o, "cinder_shares_accepted_total", "counter", "Work API shares accepted.", l(&mi.shares_accepted));
    metric(&mut o, "cinder_shares_rejected_total", "counter", "Work API submissions rejected.", l(&mi.shares_rejected));
    o
}

/// Serves `GET /metrics` on `addr` until the task is dropped; returns the
/// bound address.
pub async fn serve(node: Arc<Node>, addr: SocketAddr) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding the metrics address {addr}"))?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let node = node.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let node = node.clone();
                    async move {
                        if req.method() == Method::GET && req.uri().path() == "/metrics" {
                            let body = tokio::task::spawn_blocking(move || render(&node)).await.unwrap_or_default();
                            Response::builder()
                                .header("content-type", "text/plain; version=0.0.4")
                                .body(Full::new(Bytes::from(body)))
                        } else {
                            Response::builder()
                                .status(StatusCode::NOT_FOUND)
                                .body(Full::new(Bytes::from_static(b"only GET /metrics\n")))
                        }
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(sock), svc).await;
            });
        }
    });
    Ok((bound, task))
}
