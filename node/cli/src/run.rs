//! `cinder node` and `cinder devnet`: open the chain, start RPC, metrics
//! and mining, run until Ctrl-C or SIGTERM, shut down cleanly.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cinder_chain::ChainConfig;
use cinder_engine::pow::{Backend, BackendKind, BackendOptions};
use cinder_mempool::MempoolConfig;
use cinder_node::{Node, NodeConfig, Producer, RpcConfig};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{DEVNET_ACCOUNTS, DEVNET_SEED, MineMode, NodeArgs, Settings};

/// `cinder devnet` flags.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Wipe the devnet's chain data first (the keystore stays).
    #[arg(long)]
    fresh: bool,
    /// `pow` (mined) or `pos` (this node the one validator: every block
    /// final as it is made). A PoS devnet keeps its data apart, in
    /// cinder/devnet-pos.
    #[arg(long, value_enum, default_value_t = DevnetConsensus::Pow)]
    consensus: DevnetConsensus,
    /// A new devnet's chain id (default: the built-in spec's). Two devnets
    /// that talk to each other over a channel need two.
    #[arg(long)]
    chain_id: Option<u64>,
    #[command(flatten)]
    node: NodeArgs,
}

/// The devnet's consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DevnetConsensus {
    /// Proof of work.
    Pow,
    /// Proof of stake with BFT finality.
    Pos,
}

/// A PoS devnet's least time between blocks.
const DEVNET_POS_INTERVAL_MS: u64 = 1_000;

/// `cinder node`.
pub(crate) fn node(args: NodeArgs) -> Result<()> {
    let s = args.resolve(false)?;
    runtime()?.block_on(serve(s))
}

/// `cinder devnet`.
pub(crate) fn devnet(args: DevnetArgs) -> Result<()> {
    let pos = (args.consensus == DevnetConsensus::Pos).then_some(DEVNET_POS_INTERVAL_MS);
    if args.fresh {
        // Resolve once to learn the data directory, wipe, resolve again
        // (a fresh devnet spec with genesis time now).
        let datadir = args.node.clone().resolve_with(true, pos, args.chain_id)?.datadir;
        for p in [datadir.join("chain"), datadir.join("devnet.toml"), datadir.join("validator_state.json")] {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).with_context(|| format!("wiping {}", p.display()))?;
            } else if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("wiping {}", p.display()))?;
            }
        }
        say!("Wiped the chain data in {}", datadir.display());
    }
    let s = args.node.resolve_with(true, pos, args.chain_id)?;
    say!("Development accounts (keys are public: for development only, never for real value):");
    let accounts = cinder_chain::workload::Accounts::derive(DEVNET_SEED, DEVNET_ACCOUNTS);
    for (i, (a, k)) in accounts.addresses.iter().zip(&accounts.keys).enumerate() {
        say!("  ({i}) {a}  key 0x{}", hex::encode(*k.to_seed()));
    }
    say!("  keys derive as BLAKE3(\"{DEVNET_SEED}/<i>\"); `cinder wallet import --devnet <i>` adds one to the wallet");
    write_example_contracts(&s.datadir.join("contracts"))?;
    runtime()?.block_on(serve(s))
}

/// Writes the example contracts (built into this binary from
/// contracts/examples) to `dir`, so a new user can deploy one at once.
fn write_example_contracts(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    say!("Example contracts (contracts/examples; deploy with `cinder wallet deploy --wasm FILE`):");
    for (name, code) in cinder_contracts::ALL {
        let path = dir.join(format!("{name}.wasm"));
        let tmp = dir.join(format!(".{name}.wasm.tmp"));
        std::fs::write(&tmp, code).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        say!("  {}  ({} bytes, code hash {})", path.display(), code.len(), cinder_primitives::Hash::of(code));
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cinder-rpc")
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn backend(s: &Settings) -> Result<Option<Backend>> {
    let kind = match s.mine {
        MineMode::Off => return Ok(None),
        MineMode::Cpu => BackendKind::Cpu,
        MineMode::Gpu => BackendKind::Gpu,
        MineMode::Auto => BackendKind::Auto,
    };
    let mut opts = BackendOptions::new(kind);
    opts.cpu_threads = s.mine_threads;
    Ok(Some(Backend::from_options(&opts).context("starting the miner")?))
}

async fn serve(s: Settings) -> Result<()> {
    let chain_cfg = ChainConfig {
        max_reorg_depth: if s.prune_depth == 0 { 1_000 } else { s.prune_depth },
        prune: s.prune_depth != 0,
        upgrades: match s.test_upgrade {
            true => cinder_chain::gov::Upgrades::release().with_test_upgrade(),
            false => cinder_chain::gov::Upgrades::release(),
        },
        track_shards: s.track_shards.clone(),
        ..ChainConfig::default()
    };
    let cfg = NodeConfig {
        datadir: s.datadir.clone(),
        spec: s.spec.clone(),
        chain: chain_cfg,
        mempool: MempoolConfig::default(),
        coinbase: s.coinbase,
    };
    // The node key first: a bad one stops us before anything is opened.
    let net_key = match &s.net {
        Some(n) => Some(cinder_net::load_or_create_key(&n.node_key)?),
        None => None,
    };
    let node = tokio::task::spawn_blocking(move || Node::open(cfg)).await.context("opening the node")??;
    let head = node.chain().head()?;
    say!("Chain: {} (id {}), data in {}", s.spec.name, s.spec.chain_id, s.datadir.display());
    say!("Genesis: {}", node.chain().genesis_id());
    say!("Head: {} at height {}", head.id, head.height);
    let rpc_cfg = RpcConfig {
        addr: s.rpc,
        rate_per_sec: s.rpc_rate_limit,
        admin_token: s.admin_token.clone(),
        ..RpcConfig::default()
    };
    if let Some(control) = crate::log_control() {
        node.set_log_control(control);
    }
    let rpc = cinder_node::rpc::serve(node.clone(), &rpc_cfg).await?;
    let metrics = match s.metrics {
        Some(a) => Some(cinder_node::metrics::serve(node.clone(), a).await?),
        None => None,
    };
    let mut producer = None;
    let mut pos_start = None;
    match s.spec.pow() {
        Some(pow) => {
            producer = match (backend(&s)?, s.coinbase) {
                (Some(b), Some(coinbase)) => {
                    say!("Mining: {}, paying {coinbase}", b.describe(pow.algorithm));
                    Some(Producer::start(node.clone(), b, coinbase)?)
                }
                _ => {
                    let note = if s.coinbase.is_some() { "" } else { " once --coinbase is set" };
                    say!("Mining: off (the work API serves external miners{note})");
                    None
                }
            };
        }
        None => {
            let key = match &s.validator_key {
                Some(p) => Some(cinder_pos::validator::load_or_create_validator_key(p)?),
                None => None,
            };
            let set = node.chain().validators_at_height(head.height + 1)?;
            match &key {
                Some(k) => match set.and_then(|v| v.index_of(&k.public_key())) {
                    Some(i) => {
                        say!("Consensus: proof of stake, validator {i} (key 0x{})", hex::encode(k.public_key().0))
                    }
                    None => say!(
                        "Consensus: proof of stake, following: key 0x{} is not in the validator set",
                        hex::encode(k.public_key().0)
                    ),
                },
                None => say!("Consensus: proof of stake, following (no --validator-key)"),
            }
            pos_start = Some(key);
        }
    }
    if let Some((a, _)) = &metrics {
        say!("Metrics: http://{a}/metrics");
    }
    let _explorer = match s.explorer {
        Some((a, asked)) => match cinder_node::explorer::serve(a, rpc.addr.port()).await {
            Ok(e) => {
                say!("Explorer: http://{}/", e.addr);
                Some(e)
            }
            Err(e) if !asked => {
                say!("Explorer: off ({e:#}; pass --explorer-addr IP:PORT)");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let network = match (&s.net, net_key) {
        (Some(n), Some(key)) => {
            let net = cinder_net::Network::start(node.clone(), key, n.config.clone()).await?;
            say!("Peer id: {}", net.peer_id());
            for a in net.listen_addrs() {
                say!("P2P: {a}/p2p/{}", net.peer_id());
            }
            Some(net)
        }
        _ => {
            say!("P2P: off");
            None
        }
    };
    // After the network, so the first proposal and votes are gossiped.
    let validator = match pos_start {
        Some(key) => {
            let state = s.datadir.join("validator_state.json");
            let node = node.clone();
            Some(tokio::task::spawn_blocking(move || cinder_node::Validator::start(node, key, state)).await??)
        }
        None => None,
    };
    say!("RPC: http://{}", rpc.addr);
    std::io::stdout().flush().ok();
    let status = tokio::spawn(status_line(node.clone()));
    let mut halted = node.halted();
    let halt = tokio::select! {
        _ = shutdown_signal() => None,
        h = halted.wait_for(Option::is_some) => h.ok().and_then(|h| h.clone()),
    };
    say!();
    say!("Shutting down...");
    status.abort();
    if let Some(n) = network {
        n.stop().await;
    }
    rpc.stop().await;
    if let Some((_, task)) = metrics {
        task.abort();
    }
    if let Some(p) = producer {
        tokio::task::spawn_blocking(move || p.stop()).await.ok();
    }
    if let Some(v) = validator {
        tokio::task::spawn_blocking(move || v.stop()).await.ok();
    }
    let head = node.chain().head()?;
    drop(node);
    say!("Stopped at height {} ({})", head.height, head.id);
    match halt {
        Some(why) => Err(anyhow::anyhow!("{why}")),
        None => Ok(()),
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn human_rate(h: f64) -> String {
    let units = [("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)];
    let (u, d) = units.iter().rev().find(|(_, d)| h >= *d).copied().unwrap_or(("", 1.0));
    format!("{:.2} {u}H/s", h / d)
}

/// A live line of height, hashrate and tx/s: redrawn in place on a
/// terminal, a log line every 10 s otherwise.
async fn status_line(node: Arc<Node>) {
    let tty = std::io::stdout().is_terminal();
    let every = if tty { Duration::from_secs(1) } else { Duration::from_secs(10) };
    let mut last_txs = 0u64;
    let mut window: std::collections::VecDeque<(Instant, u64)> = Default::default();
    let mut rx = node.subscribe_heads();
    let mut tick = tokio::time::interval(every);
    let mut bar: Option<ProgressBar> = None;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                if let Ok(ev) = ev {
                    last_txs += ev.transaction_count as u64;
                    window.push_back((Instant::now(), ev.transaction_count as u64));
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        while window.front().is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(30)) {
            window.pop_front();
        }
        let span = window.front().map_or(Duration::from_secs(1), |(t, _)| t.elapsed()).max(Duration::from_secs(1));
        let tps = window.iter().map(|(_, n)| *n).sum::<u64>() as f64 / span.as_secs_f64();
        let height = node.chain().head().map(|h| h.height).unwrap_or(0);
        let net = node.network();
        match net.and_then(|n| n.syncing()) {
            Some(sync) => {
                let total = sync.highest_block.saturating_sub(sync.starting_block);
                let done = height.saturating_sub(sync.starting_block).min(total);
                let bar = bar.get_or_insert_with(|| {
                    let b = if tty { ProgressBar::new(total) } else { ProgressBar::hidden() };
                    b.set_style(
                        ProgressStyle::with_template(
                            "syncing {bar:40} {pos}/{len} blocks ({per_sec}, eta {eta}) {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b
                });
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(format!("height {height}"));
                if !tty {
                    say!("syncing: height {height} of {} ({done}/{total})", sync.highest_block);
                }
                continue;
            }
            None => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                    say!("synced to height {height}");
                }
            }
        }
        let peers = net.map_or(String::new(), |n| format!(" | {} peers", n.peer_count()));
        let work = match node.finalized_height() {
            Ok(Some(f)) => format!("finalized {f}"),
            _ => human_rate(node.mining.hashrate()),
        };
        let line = format!(
            "height {height}{peers} | {work} | {:.0} tx/s (30 s) | pool {} | {} txs since start | up {}s",
            tps,
            node.mempool().len(),
            last_txs,
            node.uptime().as_secs()
        );
        if tty {
            let _ = write!(std::io::stdout(), "\r\x1b[2K{line}");
            std::io::stdout().flush().ok();
        } else {
            say!("{line}");
        }
    }
}
