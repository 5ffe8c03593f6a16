//! `cinder-bench net`: block propagation across nodes on loopback, and a
//! new node's sync speed next to the single-node import rate, in one run.
//!
//! N nodes (each its own RocksDB and libp2p network on 127.0.0.1) join
//! node 0. Blocks of signed transfers are built up front (not timed). For
//! propagation, node 0 imports each block and announces it; the time to
//! each other node's import of it is measured (newHeads), block by block.
//! For sync, node 0 gets more blocks, the others follow by gossip; the
//! same blocks are then imported into a fresh chain without a network (the
//! single-node rate) and a fresh node joins and syncs the whole chain.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cinder_chain::workload::{self, Accounts, Rng};
use cinder_chain::{Chain, ChainConfig};
use cinder_consensus::ChainSpec;
use cinder_mempool::MempoolConfig;
use cinder_net::{NetConfig, Network};
use cinder_node::{Node, NodeConfig};
use cinder_primitives::{Block, Hash};

use crate::{Failure, percentile, wait};

/// Options of `cinder-bench net`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Nodes in the network.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=16))]
    nodes: u32,
    /// Blocks whose propagation is timed one at a time.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    blocks: u32,
    /// More blocks for the sync measurement (the new node syncs all).
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    sync_blocks: u32,
    /// Signed transfers per block.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(0..=4_000))]
    txs_per_block: u32,
    /// Funded accounts.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(2..=10_000_000))]
    accounts: u32,
    /// Gossip each timed block's transactions first (through node 0's
    /// pool), as in a live network: the other nodes then skip the
    /// signatures their pools verified already.
    #[arg(long)]
    txs_first: bool,
    /// Pause between timed blocks, in milliseconds.
    #[arg(long, default_value_t = 250)]
    gap_ms: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

struct Member {
    node: Arc<Node>,
    net: Network,
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cinder-bench-net-{}-{name}", std::process::id()))
}

fn open(name: &str, spec: &ChainSpec) -> Result<Arc<Node>> {
    let dir = temp(name);
    let _ = std::fs::remove_dir_all(&dir);
    Node::open(NodeConfig {
        datadir: dir,
        spec: spec.clone(),
        chain: ChainConfig::default(),
        mempool: MempoolConfig::default(),
        coinbase: None,
    })
}

fn net_config(boot: Option<&Network>) -> Result<NetConfig> {
    Ok(NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().context("listen address")?],
        kad_server: true,
        autonat_only_global: false,
        status_interval: Duration::from_secs(1),
        bootnodes: boot.and_then(|b| b.dial_addr(false)).into_iter().collect(),
        ..NetConfig::default()
    })
}

async fn join(name: &str, spec: &ChainSpec, boot: Option<&Network>) -> Result<Member> {
    let node = open(name, spec)?;
    let net = Network::start(node.clone(), cinder_net::Keypair::generate_ed25519(), net_config(boot)?).await?;
    Ok(Member { node, net })
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    rt.block_on(bench(a)).map_err(Failure::Runtime)
}

async fn bench(a: Args) -> Result<()> {
    let say = |m: String| {
        if !a.json {
            eprintln!("{m}");
        }
    };
    let accounts = Accounts::derive("cinder-bench-net", u64::from(a.accounts));
    let spec = workload::spec("cinder-bench-net", 9_100, &accounts.addresses, 1_000_000_000_000_000);

    // Every block up front, on a scratch chain (not timed).
    let t = Instant::now();
    let gen_dir = temp("gen");
    let _ = std::fs::remove_dir_all(&gen_dir);
    let scratch = Chain::open(&gen_dir, spec.clone(), ChainConfig::default())?;
    let total = (a.blocks + a.sync_blocks) as usize;
    let blocks = workload::extend(&scratch, &accounts, total, a.txs_per_block as usize, &mut Rng(7))?;
    drop(scratch);
    let _ = std::fs::remove_dir_all(&gen_dir);
    say(format!(
        "{total} blocks of {} transfers built in {:.1} s (not timed)",
        a.txs_per_block,
        t.elapsed().as_secs_f64()
    ));

    // The network.
    let origin = join("n0", &spec, None).await?;
    let mut others = Vec::new();
    for i in 1..a.nodes {
        others.push(join(&format!("n{i}"), &spec, Some(&origin.net)).await?);
    }
    let want = a.nodes as usize - 1;
    wait("a full mesh", Duration::from_secs(120), || {
        origin.node.network().is_some_and(|n| n.peer_count() == want)
            && others.iter().all(|m| m.node.network().is_some_and(|n| n.peer_count() == want))
    })
    .await?;
    say(format!("{} nodes in a full mesh", a.nodes));

    // Propagation, one block at a time. Each node's heads are stamped as
    // they happen, by a task of their own.
    // (node, kind 0 validated / 1 imported, block, when)
    let (stamp_tx, mut stamps) = tokio::sync::mpsc::unbounded_channel::<(usize, u8, Hash, Instant)>();
    for (i, m) in others.iter().enumerate() {
        let mut rx = m.net.shared().subscribe_validated();
        let tx = stamp_tx.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok((h, at)) => {
                        if tx.send((i, 0, h, at)).is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        let mut rx = m.node.subscribe_heads();
        let tx = stamp_tx.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if tx.send((i, 1, ev.hash, Instant::now())).is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
    }
    let mut to_all = Vec::new();
    let mut arrive_all = Vec::new();
    let mut per_node = Vec::new();
    for b in &blocks[..a.blocks as usize] {
        let id = b.id();
        if a.txs_first {
            let mut set = tokio::task::JoinSet::new();
            for tx in b.transactions.iter().cloned() {
                let node = origin.node.clone();
                set.spawn(async move { node.submit(tx).await });
            }
            while let Some(r) = set.join_next().await {
                if let Err(e) = r? {
                    bail!("node 0 refused a transaction: {e}");
                }
            }
            let n = b.transactions.len();
            wait("the block's transactions in every pool", Duration::from_secs(120), || {
                others.iter().all(|m| m.node.mempool().len() >= n)
            })
            .await?;
        }
        let node = origin.node.clone();
        let block = b.clone();
        tokio::task::spawn_blocking(move || node.import(&block)).await?.map_err(anyhow::Error::from)?;
        let t0 = Instant::now();
        origin.node.announce(b);
        let mut seen = vec![[false; 2]; others.len()];
        let mut worst = [0f64; 2];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while seen.iter().any(|s| !s[1]) {
            match tokio::time::timeout_at(deadline, stamps.recv()).await {
                Ok(Some((i, kind, h, at))) if h == id && !seen[i][usize::from(kind)] => {
                    let k = usize::from(kind);
                    seen[i][k] = true;
                    let ms = at.saturating_duration_since(t0).as_secs_f64() * 1e3;
                    if k == 1 {
                        per_node.push(ms);
                    }
                    worst[k] = worst[k].max(ms);
                }
                Ok(Some(_)) => {}
                Ok(None) => bail!("head events ended"),
                Err(_) => bail!("block {id} did not reach every node within 60 s"),
            }
        }
        // A node that got the block by sync rather than gossip has no
        // validation stamp: count its import.
        if seen.iter().any(|s| !s[0]) {
            worst[0] = worst[0].max(worst[1]);
        }
        arrive_all.push(worst[0]);
        to_all.push(worst[1]);
        tokio::time::sleep(Duration::from_millis(a.gap_ms)).await;
    }
    to_all.sort_by(f64::total_cmp);
    arrive_all.sort_by(f64::total_cmp);
    let (g50, g95, gmax) =
        (percentile(&arrive_all, 50), percentile(&arrive_all, 95), arrive_all.last().copied().unwrap_or(0.0));
    say(format!(
        "gossip arrival (validated and forwarded) of {} blocks at all {} nodes: p50 {g50:.1} ms, p95 {g95:.1} ms, max {gmax:.1} ms",
        a.blocks, a.nodes
    ));
    per_node.sort_by(f64::total_cmp);
    let (p50, p95, max) = (percentile(&to_all, 50), percentile(&to_all, 95), to_all.last().copied().unwrap_or(0.0));
    say(format!(
        "import of {} blocks at all {} nodes: p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms (per node p50 {:.1} ms)",
        a.blocks,
        a.nodes,
        percentile(&per_node, 50)
    ));

    // More blocks, spread by gossip, for the sync measurement.
    let last = blocks.last().map(Block::id).unwrap_or(Hash::default());
    for b in &blocks[a.blocks as usize..] {
        let node = origin.node.clone();
        let block = b.clone();
        tokio::task::spawn_blocking(move || node.import(&block)).await?.map_err(anyhow::Error::from)?;
        origin.node.announce(b);
    }
    wait("every node at the last block", Duration::from_secs(1800), || {
        others.iter().all(|m| m.node.chain().head().is_ok_and(|h| h.id == last))
    })
    .await?;

    // The single-node import rate of the same blocks (no network).
    let solo_dir = temp("solo");
    let _ = std::fs::remove_dir_all(&solo_dir);
    let solo = Chain::open(&solo_dir, spec.clone(), ChainConfig::default())?;
    let t = Instant::now();
    let (done, err) = tokio::task::block_in_place(|| solo.import_chain(&blocks, cinder_chain::unix_now()));
    if let Some(e) = err {
        bail!("single-node import: {e}");
    }
    let solo_s = t.elapsed().as_secs_f64();
    drop(solo);
    let _ = std::fs::remove_dir_all(&solo_dir);
    let txs = blocks.iter().map(|b| b.transactions.len()).sum::<usize>() as f64;
    let n = done.len() as f64;
    say(format!(
        "single-node import: {n} blocks in {solo_s:.2} s: {:.1} blocks/s, {:.0} tx/s",
        n / solo_s,
        txs / solo_s
    ));

    // A new node syncs everything from the others.
    let t = Instant::now();
    let fresh = join("fresh", &spec, Some(&origin.net)).await?;
    wait("the new node to sync", Duration::from_secs(3600), || fresh.node.chain().head().is_ok_and(|h| h.id == last))
        .await?;
    let sync_s = t.elapsed().as_secs_f64();
    let sources = fresh.net.shared().sync_sources();
    say(format!(
        "new node sync: {n} blocks in {sync_s:.2} s: {:.1} blocks/s, {:.0} tx/s = {:.2}x the single-node import rate; bodies from {sources} peers",
        n / sync_s,
        txs / sync_s,
        solo_s / sync_s
    ));
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "nodes": a.nodes, "txs_per_block": a.txs_per_block, "accounts": a.accounts, "txs_first": a.txs_first,
                "propagation": { "blocks": a.blocks,
                                 "arrival_all_ms": { "p50": g50, "p95": g95, "max": gmax },
                                 "imported_all_ms": { "p50": p50, "p95": p95, "max": max },
                                 "per_node_p50_ms": percentile(&per_node, 50) },
                "sync": { "blocks": n, "txs": txs, "seconds": sync_s, "blocks_per_s": n / sync_s, "tx_per_s": txs / sync_s,
                          "body_sources": sources },
                "single_node_import": { "seconds": solo_s, "blocks_per_s": n / solo_s, "tx_per_s": txs / solo_s },
                "sync_vs_import": solo_s / sync_s,
            })
        );
    }
    for m in std::iter::once(fresh).chain(std::iter::once(origin)).chain(others) {
        m.net.stop().await;
        drop(m.node);
    }
    for i in 0..a.nodes {
        let _ = std::fs::remove_dir_all(temp(&format!("n{i}")));
    }
    let _ = std::fs::remove_dir_all(temp("fresh"));
    Ok(())
}
