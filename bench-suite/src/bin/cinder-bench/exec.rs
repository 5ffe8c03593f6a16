//! `cinder-bench exec`.

use cinder_bench_suite::exec::{Accounts, BlockSpec, Contention, Work, generate, same_result};
use cinder_bench_suite::time_median;
use cinder_engine::exec::{self, ExecStats, Mode, Strategy};

use crate::{Failure, control_scaling};

/// Options of `cinder-bench exec`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Worker threads of the parallel run (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// Transfers in the block.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    txs: u32,
    /// Accounts in the state.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(2..=100_000_000))]
    accounts: u32,
    /// none (distinct accounts), zipf (Zipf(1) senders and recipients) or
    /// hotspot (every transfer to one account).
    #[arg(long, default_value = "none")]
    contention: Contention,
    /// Busy work per transaction execution, in microseconds (the rest of a
    /// VM's cost).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    work_us: u32,
    /// Seed of the block.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    let threads = a.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
    let work = Work::calibrate();
    let spec = BlockSpec {
        accounts: a.accounts,
        txs: a.txs,
        contention: a.contention,
        work_iters: work.iters(f64::from(a.work_us)),
        seed: a.seed,
    };
    let txs = generate(&spec).map_err(|e| Failure::Usage(e.to_string()))?;
    let base = Accounts::new(a.accounts);
    let budget = 2.0;
    let mut seq = None;
    let mut err = None;
    let sequential_s =
        time_median(budget, || match exec::execute(&txs, &base, Strategy::Sequential, Mode::Verify, u64::MAX) {
            Ok(o) => seq = Some(o),
            Err(e) => err = Some(e),
        });
    let mut par = None;
    let mut stats: Vec<ExecStats> = Vec::new();
    let mut outputs_equal = true;
    let parallel_s = time_median(budget, || {
        match exec::execute(&txs, &base, Strategy::Parallel { threads }, Mode::Verify, u64::MAX) {
            Ok(o) => {
                stats.push(o.stats);
                if let Some(s) = &seq {
                    outputs_equal &= same_result(s, &o);
                }
                par = Some(o);
            }
            Err(e) => err = Some(e),
        }
    });
    if let Some(e) = err {
        return Err(Failure::Runtime(anyhow::anyhow!("the generated block is invalid: {e}")));
    }
    let (Some(seq), Some(_)) = (seq, par) else {
        return Err(Failure::Runtime(anyhow::anyhow!("no run finished")));
    };
    // The median run's counters (they vary a little between runs).
    stats.sort_by_key(|s| s.reexecutions);
    let st = stats[stats.len() / 2];
    let speedup = sequential_s / parallel_s;
    let control = if threads > 1 { control_scaling(threads)? } else { 1.0 };
    let failed = seq.per_tx.iter().filter(|t| t.status != exec::TxStatus::Success).count();
    let reexecution_rate = st.reexecutions as f64 / f64::from(a.txs);
    if a.json {
        let v = serde_json::json!({
            "threads": threads, "txs": a.txs, "accounts": a.accounts, "contention": a.contention,
            "work_us": a.work_us, "seed": a.seed,
            "sequential_s": sequential_s, "parallel_s": parallel_s, "speedup": speedup,
            "sequential_tps": f64::from(a.txs) / sequential_s, "parallel_tps": f64::from(a.txs) / parallel_s,
            "reexecutions": st.reexecutions, "reexecution_rate": reexecution_rate,
            "suspensions": st.suspensions, "validations": st.validations, "aborts": st.aborts,
            "fell_back": st.fell_back, "hinted_chain": st.hinted_chain, "runs": stats.len(), "failed_txs": failed,
            "outputs_equal": outputs_equal, "control_scaling": control,
        });
        println!("{v}");
    } else {
        println!(
            "{} transfers over {} accounts, contention {}, {} us of work each, seed {}",
            a.txs, a.accounts, a.contention, a.work_us, a.seed
        );
        println!("sequential: {:.2} ms ({:.0} tx/s)", sequential_s * 1e3, f64::from(a.txs) / sequential_s);
        println!(
            "parallel, {threads} threads: {:.2} ms ({:.0} tx/s), {speedup:.2}x",
            parallel_s * 1e3,
            f64::from(a.txs) / parallel_s
        );
        println!(
            "conflicts: {} re-executions ({:.1}% of txs), {} suspensions, {} aborts; outputs equal: {outputs_equal}",
            st.reexecutions,
            100.0 * reexecution_rate,
            st.suspensions,
            st.aborts
        );
        if st.hinted_chain {
            println!("the write hints put most of the block on one key: the parallel strategy ran it sequentially");
        }
        if threads > 1 {
            println!("control (rayon + sha2) scaling 1 -> {threads} threads: {control:.2}x");
        }
    }
    if outputs_equal {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!("parallel result differs from sequential")))
    }
}
