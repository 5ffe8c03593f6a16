//! `cinder-bench shards`: block import at one total load over K = 1, 2, 4
//! shards and several cross-shard fractions, next to the control
//! workload's scaling.
//!
//! The node's import path (`Chain::import`, one block at a time): the
//! chain's one RocksDB (WAL on) in a temporary directory, the K shards'
//! state trees in their own column families. A block is timed from its
//! checks and signatures (one batch over all chunks, all cores) through the
//! K chunks' execution in parallel (each with Block-STM inside, the
//! receipts of the previous block applied first) and their state roots to
//! the one atomic write of every shard. The blocks are built and sealed
//! beforehand on a producer chain (not timed). K = 1 is the chain without
//! sharding, imported block by block the same way.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cinder_chain::workload::{self, Accounts, Rng};
use cinder_chain::{Chain, ChainConfig, produce, unix_now};
use cinder_consensus::ChainSpec;
use cinder_engine::pow::{Backend, SearchControl};
use cinder_primitives::{Address, SignedTransaction, Transaction, TxKind, shard_of};

use crate::{Failure, control_scaling, table};

/// Options of `cinder-bench shards`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Funded accounts, spread over the shards by address.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(16..=10_000_000))]
    accounts: u32,
    /// Blocks per configuration.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    blocks: u32,
    /// Transfers per block, over all shards.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    txs_per_block: u32,
    /// Shard counts, comma-separated (1 to 64).
    #[arg(long, default_value = "1,2,4", value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=64))]
    shards: Vec<u16>,
    /// Cross-shard fractions in percent, comma-separated.
    #[arg(long, default_value = "0,10,50", value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..=100))]
    cross: Vec<u8>,
    /// Block-STM threads inside each chunk (default: all cores divided by
    /// the shard count, at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    exec_threads: Option<u32>,
    /// Seed of the accounts and blocks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Removes the shards' directories on every exit path.
struct TempDirs(Vec<PathBuf>);

impl Drop for TempDirs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// One configuration's figures.
struct Row {
    shards: u16,
    cross: u8,
    exec_threads: usize,
    tps: f64,
    per_block: Duration,
    signatures: Duration,
    execution: Duration,
    commit: Duration,
    receipts: usize,
    cross_measured: f64,
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    if a.shards.is_empty() || a.cross.is_empty() {
        return Err(Failure::Usage("--shards and --cross need at least one value".into()));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let seed = format!("cinder-bench-shards/{}", a.seed);
    let accounts = Accounts::derive(&seed, u64::from(a.accounts));
    if !a.json {
        eprintln!("{} accounts derived in {:.1} s", a.accounts, t.elapsed().as_secs_f64());
    }
    let mut rows = Vec::new();
    for &k in &a.shards {
        for &cross in &a.cross {
            let exec_threads = a.exec_threads.map_or_else(|| (cores / usize::from(k)).max(1), |t| t as usize);
            rows.push(one(&a, &accounts, k, cross, exec_threads)?);
        }
    }
    let control = if cores > 1 { control_scaling(cores)? } else { 1.0 };
    let base = |cross: u8| rows.iter().find(|r| r.shards == 1 && r.cross == cross).map(|r| r.tps);
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "shards": r.shards, "cross_percent": r.cross, "cross_measured": r.cross_measured,
                    "exec_threads": r.exec_threads, "tps": r.tps,
                    "vs_one_shard": base(r.cross).map(|b| r.tps / b),
                    "block_ms": r.per_block.as_secs_f64() * 1e3,
                    "signatures_ms": r.signatures.as_secs_f64() * 1e3,
                    "execution_ms": r.execution.as_secs_f64() * 1e3,
                    "commit_ms": r.commit.as_secs_f64() * 1e3,
                    "receipts_per_block": r.receipts,
                })
            })
            .collect();
        let out = serde_json::json!({
            "accounts": a.accounts, "blocks": a.blocks, "txs_per_block": a.txs_per_block, "cores": cores,
            "control_scaling": control, "rows": v,
        });
        println!("{out}");
    } else {
        println!(
            "{} transfers per block over {} accounts, {} blocks per row, {cores} cores",
            a.txs_per_block, a.accounts, a.blocks
        );
        let header = [
            "shards",
            "cross %",
            "threads/chunk",
            "tx/s",
            "vs K=1",
            "block ms",
            "sigs ms",
            "exec+root ms",
            "commit ms",
            "receipts",
        ];
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.shards.to_string(),
                    format!("{} ({:.1})", r.cross, r.cross_measured * 100.0),
                    r.exec_threads.to_string(),
                    format!("{:.0}", r.tps),
                    base(r.cross).map_or("-".into(), |b| format!("{:.2}x", r.tps / b)),
                    format!("{:.1}", r.per_block.as_secs_f64() * 1e3),
                    format!("{:.1}", r.signatures.as_secs_f64() * 1e3),
                    format!("{:.1}", r.execution.as_secs_f64() * 1e3),
                    format!("{:.1}", r.commit.as_secs_f64() * 1e3),
                    r.receipts.to_string(),
                ]
            })
            .collect();
        table(&header, &body);
        if cores > 1 {
            println!("control (rayon + sha2) scaling 1 -> {cores} threads: {control:.2}x");
        }
    }
    Ok(())
}

/// Runs `a.blocks` blocks on a fresh chain of `k` shards with `cross`
/// percent of the transfers crossing shards.
fn one(a: &Args, accounts: &Accounts, k: u16, cross: u8, exec_threads: usize) -> Result<Row, Failure> {
    let spec = ChainSpec { shards: k, ..workload::spec("cinder-bench-shards", 9_002, &accounts.addresses, 1 << 60) };
    let dirs: Vec<PathBuf> = ["producer", "importer"]
        .iter()
        .map(|r| std::env::temp_dir().join(format!("cinder-bench-shards-{}-{k}-{cross}-{r}", std::process::id())))
        .collect();
    let _temp = TempDirs(dirs.clone());
    let config = ChainConfig { exec_threads, max_reorg_depth: 64, ..ChainConfig::default() };
    let producer = Chain::open(&dirs[0], spec.clone(), config.clone())?;
    let importer = Chain::open(&dirs[1], spec.clone(), config)?;

    // The blocks, generated beforehand: senders drawn without repeats in a
    // block, the recipient on another shard with probability `cross`.
    let on: Vec<Vec<usize>> = (0..k)
        .map(|s| (0..accounts.addresses.len()).filter(|&i| shard_of(&accounts.addresses[i], k) == s).collect())
        .collect();
    let mut rng = Rng::new(a.seed ^ (u64::from(k) << 32) ^ u64::from(cross));
    let mut nonces = vec![0u64; accounts.addresses.len()];
    let per_block = (a.txs_per_block as usize).min(accounts.addresses.len());
    let mut blocks: Vec<Vec<SignedTransaction>> = Vec::with_capacity(a.blocks as usize);
    let mut crossing = 0usize;
    for _ in 0..a.blocks {
        let mut used = std::collections::HashSet::new();
        let mut plan = Vec::with_capacity(per_block);
        while plan.len() < per_block {
            let from = rng.below(accounts.addresses.len());
            if !used.insert(from) {
                continue;
            }
            let home = shard_of(&accounts.addresses[from], k);
            let away = k > 1 && rng.below(100) < usize::from(cross);
            let step = u16::try_from(rng.below(usize::from(k) - 1)).unwrap_or(0);
            let dest = if away { (home + 1 + step) % k } else { home };
            let pool = &on[usize::from(dest)];
            let to: Address = accounts.addresses[pool[rng.below(pool.len())]];
            crossing += usize::from(dest != home);
            plan.push((from, to));
        }
        let txs: Vec<SignedTransaction> = plan
            .into_iter()
            .map(|(from, to)| {
                nonces[from] += 1;
                Transaction {
                    chain_id: spec.chain_id,
                    sender: accounts.keys[from].public_key(),
                    nonce: nonces[from] - 1,
                    gas_limit: cinder_chain::vm::TRANSFER_GAS,
                    gas_price: 1,
                    kind: TxKind::Transfer { to, amount: 1 + rng.below_u64(1_000) as u128 },
                }
                .sign(&accounts.keys[from])
            })
            .collect();
        blocks.push(txs);
    }

    // Built, sealed and imported on the producer (not timed).
    let coinbase = accounts.addresses[0];
    let mut built = Vec::with_capacity(blocks.len());
    for (h, txs) in blocks.iter().enumerate() {
        let (_, block) =
            produce(&producer, txs.clone(), coinbase, &Backend::Reference, &SearchControl::new(), unix_now())?
                .ok_or_else(|| Failure::Runtime(anyhow::anyhow!("block {} was not sealed", h + 1)))?;
        if block.transactions.len() != txs.len() {
            let msg = format!("block {} holds {} of {} transfers", h + 1, block.transactions.len(), txs.len());
            return Err(Failure::Runtime(anyhow::anyhow!(msg)));
        }
        built.push(block);
    }
    let (mut signatures, mut execution, mut commit) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    for block in &built {
        let r = importer.import(block).map_err(|e| Failure::Runtime(anyhow::anyhow!("importing: {e}")))?;
        signatures += r.phases.signatures;
        execution += r.phases.state_read + r.phases.execution + r.phases.state_root;
        commit += r.phases.commit;
    }
    let receipts: usize =
        (1..built.len()).map(|i| built[i].chunks.iter().map(|c| c.incoming.len()).sum::<usize>()).sum::<usize>()
            / built.len().saturating_sub(1).max(1);
    let total = started.elapsed();
    let n = a.blocks;
    let txs = blocks.iter().map(Vec::len).sum::<usize>();
    Ok(Row {
        shards: k,
        cross,
        exec_threads,
        tps: txs as f64 / total.as_secs_f64(),
        per_block: total / n,
        signatures: signatures / n,
        execution: execution / n,
        commit: commit / n,
        receipts,
        cross_measured: crossing as f64 / txs.max(1) as f64,
    })
}
