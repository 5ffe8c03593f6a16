//! `cinder-bench import`: block import into RocksDB, phase by phase.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cinder_chain::workload::{self, Accounts, Rng};
use cinder_chain::{Chain, ChainConfig, ImportStatus, Phases};

use crate::Failure;

/// Options of `cinder-bench import`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Blocks to import.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    blocks: u32,
    /// Signed transfers per block.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=4_000))]
    txs_per_block: u32,
    /// Funded accounts in the genesis state.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(2..=50_000_000))]
    accounts: u32,
    /// Database directory; a chain found there (made by the same
    /// --accounts and --seed) is continued. Default: a temporary directory,
    /// removed afterwards.
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// Seed of the accounts and the transfers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Executor threads (default: all cores; 1: sequential).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// Import one block at a time instead of pipelining (block i+1 checked
    /// and executed while block i's state root is computed).
    #[arg(long)]
    no_pipeline: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Removes a temporary data directory on every exit path.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    let threads = a.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
    let (dir, _temp) = match &a.datadir {
        Some(d) => (d.clone(), TempDir(None)),
        None => {
            let d = std::env::temp_dir().join(format!("cinder-bench-import-{}", std::process::id()));
            (d.clone(), TempDir(Some(d)))
        }
    };
    let progress = |m: &str| {
        if !a.json {
            eprintln!("{m}");
        }
    };
    let t = Instant::now();
    let seed = format!("cinder-bench/{}", a.seed);
    let accounts = Accounts::derive(&seed, u64::from(a.accounts));
    let spec = workload::spec("cinder-bench", 9_000, &accounts.addresses, 1_000_000_000_000_000);
    progress(&format!("{} accounts derived in {:.1} s", a.accounts, t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let config = ChainConfig { exec_threads: threads, ..ChainConfig::default() };
    let chain = Chain::open(&dir, spec, config)?;
    let start = chain.head()?;
    progress(&format!(
        "chain open at height {} in {:.1} s ({})",
        start.height,
        t.elapsed().as_secs_f64(),
        dir.display()
    ));
    let t = Instant::now();
    let mut rng = Rng(a.seed ^ start.height.rotate_left(32));
    let blocks = workload::extend(&chain, &accounts, a.blocks as usize, a.txs_per_block as usize, &mut rng)?;
    progress(&format!("{} blocks generated in {:.1} s (not timed)", blocks.len(), t.elapsed().as_secs_f64()));

    let mut phases = Phases::default();
    let mut reexecutions = 0u64;
    let mut txs = 0usize;
    let t = Instant::now();
    let imported = if a.no_pipeline {
        let mut v = Vec::with_capacity(blocks.len());
        for b in &blocks {
            v.push(chain.import(b).map_err(|e| Failure::Runtime(e.into()))?);
        }
        v
    } else {
        match chain.import_chain(&blocks, cinder_chain::unix_now()) {
            (v, None) => v,
            (_, Some(e)) => return Err(Failure::Runtime(e.into())),
        }
    };
    for (r, b) in imported.iter().zip(&blocks) {
        if r.status != ImportStatus::Head {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "block {} imported as {:?}, not as the head",
                r.id,
                r.status
            )));
        }
        phases += r.phases;
        reexecutions += r.stats.reexecutions;
        txs += b.transactions.len();
    }
    let seconds = t.elapsed().as_secs_f64();
    let head = chain.head()?;
    let n = blocks.len() as f64;
    let share = |d: Duration| d.as_secs_f64() / phases.total().as_secs_f64().max(1e-12);
    let names: [(&str, Duration); 6] = [
        ("checks", phases.checks),
        ("signatures", phases.signatures),
        ("state_read", phases.state_read),
        ("execution", phases.execution),
        ("state_root", phases.state_root),
        ("commit", phases.commit),
    ];
    if a.json {
        let ph: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .map(|(k, d)| (k.to_string(), serde_json::json!({ "seconds": d.as_secs_f64(), "share": share(*d) })))
            .collect();
        let v = serde_json::json!({
            "blocks": blocks.len(), "txs": txs, "txs_per_block": a.txs_per_block, "accounts": a.accounts,
            "threads": threads, "seed": a.seed, "seconds": seconds, "blocks_per_s": n / seconds,
            "tx_per_s": txs as f64 / seconds, "start_height": start.height, "head_height": head.height,
            "reexecutions": reexecutions, "pipelined": !a.no_pipeline, "phases": ph,
        });
        println!("{v}");
    } else {
        println!(
            "imported {} blocks ({txs} transfers, {} per block) on {} accounts, {threads} threads: heights {}..={}",
            blocks.len(),
            a.txs_per_block,
            a.accounts,
            start.height + 1,
            head.height
        );
        println!("{seconds:.2} s: {:.1} blocks/s, {:.0} tx/s", n / seconds, txs as f64 / seconds);
        if !a.no_pipeline {
            println!(
                "pipelined: the phases overlap, their sum ({:.2} s) exceeds the wall time",
                phases.total().as_secs_f64()
            );
        }
        let rows: Vec<Vec<String>> = names
            .iter()
            .map(|(k, d)| {
                vec![k.to_string(), format!("{:.1}", d.as_secs_f64() * 1e3 / n), format!("{:.1}%", 100.0 * share(*d))]
            })
            .collect();
        crate::table(&["phase", "ms/block", "share"], &rows);
    }
    Ok(())
}
