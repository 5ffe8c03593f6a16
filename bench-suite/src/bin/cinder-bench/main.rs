//! `cinder-bench`: throughput tables of the engine's verification and
//! execution paths.
//!
//! - `sig`: ed25519 single vs batch, keys as bytes vs decoded, 1 thread vs
//!   all, with the scaling of a control workload; `sig --vectors FILE`
//!   verifies a speccheck-format file singly and as one batch;
//! - `merkle`: the naive sequential root vs the fast root on 1 and all
//!   threads, and the GPU;
//! - `exec`: Block-STM on a block of transfers vs the sequential loop, with
//!   the re-execution rate and the control's scaling;
//! - `import`: block import into RocksDB (signatures, execution, state root,
//!   commit), blocks/s, tx/s and each phase's share;
//! - `load`: transfers through a running node's JSON-RPC at a set rate,
//!   end-to-end TPS and inclusion latency;
//! - `net`: block propagation across N libp2p nodes on loopback, and a new
//!   node's sync speed as a ratio to the single-node import rate;
//! - `pos`: proof-of-stake finality latency and finalized throughput;
//! - `contracts`: the per-call overhead of a contract, token transfers on
//!   one core, Block-STM vs sequential on contract blocks, and import of
//!   blocks of contract transfers;
//! - `shards`: sharded execution over 1, 2, 4 shards at one total load,
//!   with 0, 10 and 50 % of the transfers crossing shards.
//!
//! Exit status 0, 2 on bad input (one line on stderr), 1 otherwise.

mod contracts;
mod exec;
mod ibc;
mod import;
mod load;
mod merkle;
mod net;
mod pos;
mod shards;
mod sig;
mod usecases;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Engine throughput: signatures, Merkle trees, parallel execution and block import.
#[derive(Debug, Parser)]
#[command(name = "cinder-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// ed25519: single vs batch, 1 thread vs all.
    Sig(sig::Args),
    /// BLAKE3 Merkle roots: naive vs fast, CPU vs GPU.
    Merkle(merkle::Args),
    /// Block-STM vs sequential execution of a block of transfers.
    Exec(exec::Args),
    /// Import of signed-transfer blocks into RocksDB, phase by phase.
    Import(import::Args),
    /// End-to-end transfers through a running node's JSON-RPC.
    Load(load::Args),
    /// Block propagation across nodes on loopback, and a new node's sync
    /// speed next to the single-node import rate.
    Net(net::Args),
    /// Proof-of-stake finality latency and finalized throughput of
    /// validators on loopback, next to the single-node import rate.
    Pos(pos::Args),
    /// Contracts: per-call overhead, token transfers per second, Block-STM
    /// on contract blocks, import of contract blocks.
    Contracts(contracts::Args),
    /// The use-case contracts: gas and time of an AMM swap, a DAO vote, a
    /// credential's Groth16 verification, a custody handover.
    Usecases(usecases::Args),
    /// Inter-blockchain: the verify cost of a light-client header update
    /// and of a packet proof, and packets relayed per second between two
    /// chains.
    Ibc(ibc::Args),
    /// Sharded execution: tx/s over 1, 2, 4 shards at one total load and
    /// several cross-shard fractions, next to the control's scaling.
    Shards(shards::Args),
}

/// Polls `f` every 5 ms until it holds, or fails after `limit`.
pub(crate) async fn wait(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    while !f() {
        if t.elapsed() > limit {
            anyhow::bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The `p`th percentile (nearest rank) of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) * p + 50) / 100;
    sorted[rank.min(sorted.len() - 1)]
}

/// A failure and whose fault it is.
pub(crate) enum Failure {
    /// Bad input: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments").trim());
            return ExitCode::from(2);
        }
    };
    let r = match cli.command {
        Command::Sig(a) => sig::run(a),
        Command::Merkle(a) => merkle::run(a),
        Command::Exec(a) => exec::run(a),
        Command::Import(a) => import::run(a),
        Command::Load(a) => load::run(a),
        Command::Net(a) => net::run(a),
        Command::Pos(a) => pos::run(a),
        Command::Contracts(a) => contracts::run(a),
        Command::Usecases(a) => usecases::run(a),
        Command::Ibc(a) => ibc::run(a),
        Command::Shards(a) => shards::run(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

/// A pool of `n` threads.
pub(crate) fn pool(n: usize) -> Result<rayon::ThreadPool, Failure> {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| Failure::Runtime(e.into()))
}

/// Scaling of the control workload (rayon over `Sha256::digest` twice) from
/// 1 to `threads` threads.
pub(crate) fn control_scaling(threads: usize) -> Result<f64, Failure> {
    let header = [7u8; 80];
    let n = 1u32 << 20;
    let one = pool(1)?;
    let all = pool(threads)?;
    let t1 = cinder_bench_suite::time_median(0.5, || {
        std::hint::black_box(cinder_bench_suite::control_rayon_sha256d(&one, &header, n));
    });
    let tn = cinder_bench_suite::time_median(0.5, || {
        std::hint::black_box(cinder_bench_suite::control_rayon_sha256d(&all, &header, n));
    });
    Ok(t1 / tn)
}

/// Prints rows as an aligned table.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = w[i])).collect::<Vec<_>>().join("  ")
    };
    println!("{}", line(header.iter().map(|s| s.to_string()).collect()));
    for r in rows {
        println!("{}", line(r.clone()));
    }
}
