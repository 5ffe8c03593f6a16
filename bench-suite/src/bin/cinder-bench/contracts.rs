//! `cinder-bench contracts`: the per-call overhead, token transfers on one
//! core, Block-STM against sequential execution at low contention and on
//! one hot holder, and import of blocks of contract transfers into RocksDB.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cinder_bench_suite::contracts::{self, EMPTY, TokenContention, TokenState};
use cinder_bench_suite::time_median;
use cinder_chain::workload::{self, Accounts};
use cinder_chain::{Chain, ChainConfig, ImportStatus, Phases};
use cinder_engine::exec::{self, ExecStats, Mode, Strategy, TxStatus};
use cinder_primitives::{Address, SignedTransaction, Transaction, contract_address};
use cinder_vm::harness::TestChain;
use cinder_vm::{BlockEnv, Runner, StateKey, TxTask, Val};

use crate::{Failure, control_scaling};

/// Options of `cinder-bench contracts`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Token holders in the executor's state.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(2..=10_000_000))]
    holders: u64,
    /// Accounts that send transfers (with keys and gas money).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    senders: u64,
    /// Token transfers in the executor's block.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    txs: u32,
    /// Worker threads of the parallel runs (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// Empty calls timed for the per-call overhead.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    calls: u32,
    /// Blocks imported into RocksDB (0: no import part).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    blocks: u32,
    /// Contract transfers per imported block.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=4_000))]
    txs_per_block: u32,
    /// Run only this part: overhead, exec, or import.
    #[arg(long)]
    only: Option<String>,
    /// Repeat the parallel low-contention run this many times (to profile
    /// it); only with `--only exec`.
    #[arg(long, default_value_t = 0)]
    repeat: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn env() -> BlockEnv {
    BlockEnv { height: 2, time_ms: 1_767_225_600_000, coinbase: Address([0xcb; 32]) }
}

type Out = exec::BlockOutput<StateKey, Val, cinder_vm::Outcome>;

fn run_block(
    state: &std::collections::HashMap<StateKey, Val>,
    txs: &[SignedTransaction],
    strategy: Strategy,
) -> anyhow::Result<Out> {
    let vm = cinder_vm::Vm::shared()?;
    let runner = Runner::new(vm, env());
    let senders: Vec<Address> = txs.iter().map(|t| t.tx.sender_address()).collect();
    let tasks: Vec<TxTask<'_>> = txs.iter().zip(&senders).map(|(t, s)| TxTask::new(t, *s, &runner)).collect();
    let out = exec::execute(&tasks, state, strategy, Mode::Verify, u64::MAX).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(e) = runner.internal_error() {
        anyhow::bail!("internal error: {e}");
    }
    Ok(out)
}

/// Sequential and parallel runs of one block: seconds each and the median
/// parallel run's counters.
struct ExecResult {
    sequential_s: f64,
    parallel_s: f64,
    stats: ExecStats,
    equal: bool,
}

fn exec_pair(token: &TokenState, txs: &[SignedTransaction], threads: usize) -> anyhow::Result<ExecResult> {
    let seq = run_block(&token.state, txs, Strategy::Sequential)?;
    if let Some(bad) = seq.per_tx.iter().find(|o| o.status != TxStatus::Success) {
        anyhow::bail!("a benchmark transfer failed: {:?}", bad.status);
    }
    let mut err = None;
    let sequential_s = time_median(2.0, || {
        if let Err(e) = run_block(&token.state, txs, Strategy::Sequential) {
            err = Some(e);
        }
    });
    let mut stats = Vec::new();
    let mut equal = true;
    let parallel_s = time_median(2.0, || match run_block(&token.state, txs, Strategy::Parallel { threads }) {
        Ok(o) => {
            equal &= o.writes == seq.writes && o.per_tx == seq.per_tx;
            stats.push(o.stats);
        }
        Err(e) => err = Some(e),
    });
    if let Some(e) = err {
        return Err(e);
    }
    stats.sort_by_key(|s| s.reexecutions);
    Ok(ExecResult { sequential_s, parallel_s, stats: stats[stats.len() / 2], equal })
}

/// What the import part measured.
struct ImportResult {
    txs: usize,
    seconds: f64,
    phases: Phases,
    reexecutions: u64,
}

/// A chain on RocksDB with the token deployed and held by the senders,
/// then `blocks` blocks of token transfers between them, imported
/// (pipelined) and timed.
fn import(a: &Args, threads: usize) -> anyhow::Result<ImportResult> {
    let dir = std::env::temp_dir().join(format!("cinder-bench-contracts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let senders = usize::try_from(a.senders)?;
    let accounts = Accounts::derive("cinder-bench-contracts", a.senders);
    let mut spec = workload::spec("cinder-bench-contracts", 9_001, &accounts.addresses, 10u128.pow(27));
    spec.block_gas_limit = spec.block_gas_limit.max(u64::from(a.txs_per_block + 10) * contracts::TRANSFER_GAS_LIMIT);
    let chain = Chain::open(&dir, spec, ChainConfig { exec_threads: threads, ..ChainConfig::default() })?;
    let chain_id = chain.spec().chain_id;
    let tx = |i: usize, nonce: u64, kind| {
        Transaction {
            chain_id,
            sender: accounts.keys[i].public_key(),
            nonce,
            gas_limit: contracts::TRANSFER_GAS_LIMIT * 4,
            gas_price: 1,
            kind,
        }
        .sign(&accounts.keys[i])
    };
    let token = contract_address(&accounts.addresses[0], 0);
    let supply = contracts::HOLDING * a.senders as u128;
    let deploy = TestChain::deploy_kind(cinder_contracts::TOKEN, &contracts::token_init(supply), 0, None)?;
    let mut setup = vec![vec![tx(0, 0, deploy)]];
    let mut nonce0 = 1;
    for chunk in (1..senders).collect::<Vec<_>>().chunks(usize::try_from(a.txs_per_block)?) {
        let mut block = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let args = contracts::transfer_args(&accounts.addresses[i], contracts::HOLDING);
            block.push(tx(0, nonce0, TestChain::call_kind(token, "transfer", &args, 0)?));
            nonce0 += 1;
        }
        setup.push(block);
    }
    let mut ctx = chain.context(&chain.head()?.id)?.ok_or_else(|| anyhow::anyhow!("no head context"))?;
    let setup_blocks = workload::build_chain(&chain, &mut ctx, setup, accounts.addresses[0])?;
    for b in &setup_blocks {
        chain.import(&b.block)?;
    }
    // The measured blocks: each sender sends to a random other sender (or
    // a new holder a tenth of the time).
    let mut rng = workload::Rng(7);
    let mut nonces: Vec<u64> = vec![0; senders];
    nonces[0] = nonce0;
    let mut blocks_txs = Vec::with_capacity(usize::try_from(a.blocks)?);
    for _ in 0..a.blocks {
        let mut block = Vec::with_capacity(usize::try_from(a.txs_per_block)?);
        for _ in 0..a.txs_per_block {
            let s = rng.below(senders);
            let to = if rng.below(10) == 0 {
                Address(blake3::derive_key("cinder bench new holder", &rng.next_u64().to_le_bytes()))
            } else {
                accounts.addresses[rng.below(senders)]
            };
            let kind = TestChain::call_kind(
                token,
                "transfer",
                &contracts::transfer_args(&to, 1 + u128::from(rng.next_u64() % 100)),
                0,
            )?;
            block.push(tx(s, nonces[s], kind));
            nonces[s] += 1;
        }
        blocks_txs.push(block);
    }
    let built = workload::build_chain(&chain, &mut ctx, blocks_txs, accounts.addresses[0])?;
    let blocks: Vec<_> = built.into_iter().map(|b| b.block).collect();
    let t = Instant::now();
    let (done, err) = chain.import_chain(&blocks, cinder_chain::unix_now());
    let seconds = t.elapsed().as_secs_f64();
    if let Some(e) = err {
        anyhow::bail!("import: {e}");
    }
    let mut phases = Phases::default();
    let mut reexecutions = 0;
    for r in &done {
        if r.status != ImportStatus::Head {
            anyhow::bail!("block {} imported as {:?}", r.id, r.status);
        }
        phases += r.phases;
        reexecutions += r.stats.reexecutions;
    }
    let txs = blocks.iter().map(|b| b.transactions.len()).sum();
    let failed = done
        .iter()
        .map(|r| {
            chain
                .db()
                .receipts(&r.id)
                .ok()
                .flatten()
                .map_or(0, |rs| rs.iter().filter(|r| !r.status.is_success()).count())
        })
        .sum::<usize>();
    if failed > 0 {
        anyhow::bail!("{failed} of the imported transfers failed");
    }
    Ok(ImportResult { txs, seconds, phases, reexecutions })
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    let threads = a.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
    let part = |p: &str| a.only.as_deref().is_none_or(|o| o == p);
    if let Some(o) = &a.only
        && !["overhead", "exec", "import"].contains(&o.as_str())
    {
        return Err(Failure::Usage(format!("--only {o}: overhead, exec or import")));
    }
    let mut json = serde_json::Map::new();
    if part("overhead") {
        let mut chain = TestChain::new()?;
        let from = chain.account(u128::MAX / 4);
        let code = wat::parse_str(EMPTY).map_err(|e| anyhow::anyhow!("{e}"))?;
        let empty = chain.deploy(from, &code, &[])?.success()?.created.ok_or_else(|| anyhow::anyhow!("no contract"))?;
        let calls = a.calls;
        let mut err = None;
        let s = time_median(2.0, || {
            for _ in 0..calls {
                if let Err(e) = chain.query_with(from, empty, "noop", &[], 1_000_000) {
                    err = Some(e);
                }
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        let us = s * 1e6 / f64::from(calls);
        json.insert("empty_call_us".into(), serde_json::json!(us));
        if !a.json {
            println!(
                "per-call overhead (a cached module instantiated, an empty method called, on one core): {us:.2} us"
            );
        }
    }
    if part("exec") {
        let t = Instant::now();
        let token = TokenState::new(a.holders, a.senders)?;
        let low = token.transfers(usize::try_from(a.txs).unwrap_or(0), TokenContention::Low, 7, 1);
        if !a.json {
            eprintln!(
                "{} holders, {} transfers generated in {:.1} s (not timed)",
                a.holders,
                low.len(),
                t.elapsed().as_secs_f64()
            );
        }
        if a.repeat > 0 {
            let t = Instant::now();
            for _ in 0..a.repeat {
                run_block(&token.state, &low, Strategy::Parallel { threads })?;
            }
            let s = t.elapsed().as_secs_f64() / f64::from(a.repeat);
            println!(
                "parallel, {threads} threads, {} runs: {:.2} ms a block ({:.0} tx/s)",
                a.repeat,
                s * 1e3,
                low.len() as f64 / s
            );
            return Ok(());
        }
        let hot = token.transfers(usize::try_from(a.txs).unwrap_or(0), TokenContention::Hot, 8, 1);
        let control = if threads > 1 { control_scaling(threads)? } else { 1.0 };
        for (name, txs) in [("low", &low), ("hot", &hot)] {
            let r = exec_pair(&token, txs, threads)?;
            let n = txs.len() as f64;
            let speedup = r.sequential_s / r.parallel_s;
            json.insert(
                format!("exec_{name}"),
                serde_json::json!({
                    "txs": txs.len(), "holders": a.holders, "threads": threads,
                    "sequential_s": r.sequential_s, "parallel_s": r.parallel_s,
                    "sequential_tps": n / r.sequential_s, "parallel_tps": n / r.parallel_s, "speedup": speedup,
                    "reexecutions": r.stats.reexecutions, "reexecution_rate": r.stats.reexecutions as f64 / n,
                    "suspensions": r.stats.suspensions, "hinted_chain": r.stats.hinted_chain, "outputs_equal": r.equal,
                }),
            );
            if !a.json {
                println!(
                    "{name} contention: {} token transfers over {} holders: sequential {:.0} tx/s, {threads} threads {:.0} tx/s, {speedup:.2}x; {} re-executions ({:.1}%), {} suspensions; outputs equal: {}",
                    txs.len(),
                    a.holders,
                    n / r.sequential_s,
                    n / r.parallel_s,
                    r.stats.reexecutions,
                    100.0 * r.stats.reexecutions as f64 / n,
                    r.stats.suspensions,
                    r.equal
                );
            }
            if !r.equal {
                return Err(Failure::Runtime(anyhow::anyhow!("parallel result differs from sequential")));
            }
        }
        json.insert("control_scaling".into(), serde_json::json!(control));
        if !a.json && threads > 1 {
            println!("control (rayon + sha2) scaling 1 -> {threads} threads: {control:.2}x");
        }
    }
    if part("import") && a.blocks > 0 {
        let r = import(&a, threads)?;
        let share = |d: Duration| d.as_secs_f64() / r.phases.total().as_secs_f64().max(1e-12);
        let names: [(&str, Duration); 6] = [
            ("checks", r.phases.checks),
            ("signatures", r.phases.signatures),
            ("state_read", r.phases.state_read),
            ("execution", r.phases.execution),
            ("state_root", r.phases.state_root),
            ("commit", r.phases.commit),
        ];
        let ph: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .map(|(k, d)| (k.to_string(), serde_json::json!({ "seconds": d.as_secs_f64(), "share": share(*d) })))
            .collect();
        json.insert(
            "import".into(),
            serde_json::json!({
                "blocks": a.blocks, "txs": r.txs, "seconds": r.seconds, "tx_per_s": r.txs as f64 / r.seconds,
                "threads": threads, "senders": a.senders, "reexecutions": r.reexecutions, "phases": ph,
            }),
        );
        if !a.json {
            println!(
                "import: {} blocks of {} token transfers ({} senders), {threads} threads: {:.2} s, {:.0} contract tx/s",
                a.blocks,
                a.txs_per_block,
                a.senders,
                r.seconds,
                r.txs as f64 / r.seconds
            );
            let rows: Vec<Vec<String>> = names
                .iter()
                .map(|(k, d)| {
                    vec![
                        k.to_string(),
                        format!("{:.1}", d.as_secs_f64() * 1e3 / f64::from(a.blocks)),
                        format!("{:.1}%", 100.0 * share(*d)),
                    ]
                })
                .collect();
            crate::table(&["phase", "ms/block", "share"], &rows);
        }
    }
    if a.json {
        println!("{}", serde_json::Value::Object(json));
    }
    Ok(())
}
