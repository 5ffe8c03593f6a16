//! Nodes with networks on loopback, and waiting helpers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cinder_chain::workload::{self, Accounts};
use cinder_chain::{ChainConfig, produce, unix_now};
use cinder_engine::pow::{Backend, SearchControl};
use cinder_mempool::MempoolConfig;
use cinder_net::{Multiaddr, NetConfig, Network};
use cinder_node::{Node, NodeConfig};
use cinder_primitives::{Address, Block, Hash, SignedTransaction, Transaction, TxKind};

pub(crate) const CHAIN_ID: u64 = 4343;
pub(crate) const BALANCE: u128 = 1_000_000_000_000;

/// A generous bound for anything that should take a second or two.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

pub(crate) struct Peer {
    pub node: Arc<Node>,
    pub net: Network,
    pub accounts: Accounts,
    pub dir: PathBuf,
}

pub(crate) fn test_config() -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        kad_server: true,
        autonat_only_global: false,
        status_interval: Duration::from_secs(1),
        ban_duration: Duration::from_secs(600),
        ..NetConfig::default()
    }
}

impl Peer {
    pub(crate) async fn start(name: &str, cfg: NetConfig) -> Peer {
        let dir = std::env::temp_dir().join(format!("cinder-net-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Peer::restart(dir, cfg).await
    }

    /// Opens the node in `dir` (new or existing) with a network.
    pub(crate) async fn restart(dir: PathBuf, cfg: NetConfig) -> Peer {
        let accounts = Accounts::derive("net-it", 8);
        let spec = workload::spec("net-it", CHAIN_ID, &accounts.addresses, BALANCE);
        Peer::open(dir, cfg, spec, Some(accounts.addresses[7])).await
    }

    /// A fresh node of `spec` (the test accounts funded) with a network.
    pub(crate) async fn start_spec(name: &str, cfg: NetConfig, spec: cinder_consensus::ChainSpec) -> Peer {
        let dir = std::env::temp_dir().join(format!("cinder-net-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Peer::open(dir, cfg, spec, None).await
    }

    async fn open(dir: PathBuf, cfg: NetConfig, spec: cinder_consensus::ChainSpec, coinbase: Option<Address>) -> Peer {
        let accounts = Accounts::derive("net-it", 8);
        let node = Node::open(NodeConfig {
            datadir: dir.clone(),
            spec,
            chain: ChainConfig { exec_threads: 2, max_reorg_depth: 1_000, prune: true, ..ChainConfig::default() },
            mempool: MempoolConfig::default(),
            coinbase,
        })
        .unwrap();
        let key = cinder_net::load_or_create_key(&dir.join("node.key")).unwrap();
        let net = Network::start(node.clone(), key, cfg).await.unwrap();
        Peer { node, net, accounts, dir }
    }

    /// This node's TCP address with its peer id.
    pub(crate) fn addr(&self) -> Multiaddr {
        self.net.dial_addr(false).unwrap()
    }

    pub(crate) fn height(&self) -> u64 {
        self.node.chain().head().unwrap().height
    }

    pub(crate) fn head(&self) -> Hash {
        self.node.chain().head().unwrap().id
    }

    /// Mines a block from the pool on the head and announces it.
    pub(crate) fn mine(&self) -> Block {
        let node = &self.node;
        let chain = node.chain();
        let (_, _, v) = node.head_version().unwrap();
        let state = chain.state();
        let view = |a: &Address| state.account(v, a);
        let txs = node.mempool().select(&view, chain.spec().block_gas_limit, 10_000).unwrap();
        let (imported, block) =
            produce(chain, txs, self.accounts.addresses[7], &Backend::Reference, &SearchControl::new(), unix_now())
                .unwrap()
                .unwrap();
        node.after_import(&imported, Some(&block));
        node.announce(&block);
        block
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

    pub(crate) fn connected_to(&self, other: &Peer) -> bool {
        let id = other.net.peer_id().to_string();
        self.net.shared().peers().iter().any(|p| p.id == id)
    }

    pub(crate) async fn stop(self) {
        self.net.stop().await;
        drop(self.node);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until `f` holds, polling; panics with `what` after `limit`.
pub(crate) async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

use cinder_node::NetworkView as _;
