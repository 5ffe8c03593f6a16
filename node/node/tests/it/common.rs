//! A node on a temporary directory, its RPC server on an ephemeral port,
//! and a raw HTTP client for malformed requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cinder_chain::workload::{self, Accounts};
use cinder_chain::{ChainConfig, produce, unix_now};
use cinder_engine::pow::{Backend, SearchControl};
use cinder_mempool::MempoolConfig;
use cinder_node::{Node, NodeConfig, RpcConfig, RpcServer};
use cinder_primitives::{Address, SignedTransaction, Transaction, TxKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const CHAIN_ID: u64 = 4242;
pub(crate) const BALANCE: u128 = 1_000_000_000_000;

pub(crate) struct TestNode {
    pub node: Arc<Node>,
    pub rpc: RpcServer,
    pub accounts: Accounts,
    pub dir: PathBuf,
}

impl TestNode {
    pub(crate) async fn start(name: &str, rpc: RpcConfig) -> TestNode {
        Self::start_sharded(name, rpc, 1).await
    }

    /// A node of a chain of `shards` shards.
    pub(crate) async fn start_sharded(name: &str, rpc: RpcConfig, shards: u16) -> TestNode {
        let dir = std::env::temp_dir().join(format!("cinder-node-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let accounts = Accounts::derive("node-it", 8);
        let spec =
            cinder_consensus::ChainSpec { shards, ..workload::spec("node-it", CHAIN_ID, &accounts.addresses, BALANCE) };
        let cfg = NodeConfig {
            datadir: dir.clone(),
            spec,
            chain: ChainConfig { exec_threads: 2, max_reorg_depth: 16, prune: true, ..ChainConfig::default() },
            mempool: MempoolConfig::default(),
            coinbase: Some(accounts.addresses[7]),
        };
        let node = Node::open(cfg).unwrap();
        let rpc =
            cinder_node::rpc::serve(node.clone(), &RpcConfig { addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..rpc })
                .await
                .unwrap();
        TestNode { node, rpc, accounts, dir }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.rpc.addr)
    }

    /// A transfer from account `from`.
    pub(crate) fn tx(&self, from: usize, nonce: u64, to: Address, amount: u128) -> SignedTransaction {
        Transaction {
            chain_id: CHAIN_ID,
            sender: self.accounts.keys[from].public_key(),
            nonce,
            gas_limit: 21_000,
            gas_price: 1,
            kind: TxKind::Transfer { to, amount },
        }
        .sign(&self.accounts.keys[from])
    }

    /// Mines one block from the pool on the head (CPU, the easiest target).
    pub(crate) fn mine(&self) -> cinder_primitives::Block {
        let node = self.node.clone();
        let chain = node.chain();
        let (_, _, v) = node.head_version().unwrap();
        let view = |a: &Address| chain.account_at(v, a);
        let txs = node.mempool().select(&view, chain.spec().block_gas_limit, 10_000).unwrap();
        let backend = Backend::Reference;
        let (imported, block) =
            produce(chain, txs, self.accounts.addresses[7], &backend, &SearchControl::new(), unix_now())
                .unwrap()
                .unwrap();
        node.after_import(&imported, Some(&block));
        block
    }

    pub(crate) async fn stop(self) {
        self.rpc.stop().await;
        drop(self.node);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// POSTs `body` to `addr` over a fresh connection: (HTTP status, body).
pub(crate) async fn post(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before reading all of a large body.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let (headers, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut b = String::new();
        let mut r = rest;
        while let Some((len, tail)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            b.push_str(&tail[..n]);
            r = tail[n..].trim_start_matches("\r\n");
        }
        b
    } else {
        rest.to_string()
    };
    (status, body)
}

/// The error code of a JSON-RPC response body.
pub(crate) fn code(body: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error in {body}"))
}
