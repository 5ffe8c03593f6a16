//! `cinder-bench import`: block import into RocksDB, phase by phase.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use cinder_chain::workload::{self, Accounts, Rng};
use cinder_chain::{Chain, ChainConfig, ImportStatus, Phases};
use cinder_consensus::Pos;
use cinder_engine::sig::SecretKey;
use cinder_primitives::{Address, Block, CONSENSUS_VERSION, CommitCertificate, VoteData, VoteType};
use cinder_state::{Overlay, State};

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
    /// Import one block at a time instead of pipelining (block i+1 checked,
    /// executed and its state root computed while block i is written).
    #[arg(long)]
    no_pipeline: bool,
    /// The chain's consensus: `pow` (sealed at the easiest target) or `pos`
    /// (one validator, whose key the benchmark holds: each block carries
    /// its proposer's VRF proof and its parent's certificate, and runs the
    /// staking and governance passes).
    #[arg(long, value_enum, default_value_t = Consensus::Pow)]
    consensus: Consensus,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// The benchmark chain's consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Consensus {
    /// Proof of work.
    Pow,
    /// Proof of stake, one validator.
    Pos,
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
    let validator = workload::key(&format!("{seed}/validator"), 0);
    let spec = match a.consensus {
        Consensus::Pow => workload::spec("cinder-bench", 9_000, &accounts.addresses, 1_000_000_000_000_000),
        Consensus::Pos => workload::pos_spec(
            "cinder-bench-pos",
            9_001,
            &accounts.addresses,
            1_000_000_000_000_000,
            &[validator.public_key()],
        ),
    };
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
    let blocks = match a.consensus {
        Consensus::Pow => workload::extend(&chain, &accounts, a.blocks as usize, a.txs_per_block as usize, &mut rng)?,
        Consensus::Pos => {
            extend_pos(&chain, &accounts, &validator, a.blocks as usize, a.txs_per_block as usize, &mut rng)?
        }
    };
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
            "consensus": format!("{:?}", a.consensus).to_lowercase(),
        });
        println!("{v}");
    } else {
        println!(
            "imported {} {:?} blocks ({txs} transfers, {} per block) on {} accounts, {threads} threads: heights {}..={}",
            blocks.len(),
            a.consensus,
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

/// Builds (without importing) `blocks` PoS blocks of `txs_per_block`
/// transfers on the head of `chain`, a second apart, each proposed by the
/// chain's one validator (`validator`) in round 0 and carrying its parent's
/// certificate (that validator's precommit). Nothing is written to the
/// chain's database.
fn extend_pos(
    chain: &Chain,
    accounts: &Accounts,
    validator: &SecretKey,
    blocks: usize,
    txs_per_block: usize,
    rng: &mut Rng,
) -> anyhow::Result<Vec<Block>> {
    let spec = chain.spec();
    let pos = Pos::new(spec)?;
    let head = chain.head()?;
    let mut ctx = chain.context(&head.id)?.context("the head has no context")?;
    let state = State::new(Overlay::new(chain.db()));
    let coinbase = Address::from_public_key(&validator.public_key());
    let certify = |id, height| {
        let vote = VoteData {
            version: CONSENSUS_VERSION,
            chain_id: spec.chain_id,
            height,
            round: 0,
            kind: VoteType::Precommit,
            block: Some(id),
            validator: 0,
        };
        CommitCertificate::from_votes(&[vote.sign(validator)]).map_err(|e| anyhow::anyhow!("a certificate: {e}"))
    };
    let mut cert = match head.height {
        0 => None,
        h => Some(certify(head.id, h)?),
    };
    let mut out = Vec::with_capacity(blocks);
    for _ in 0..blocks {
        let txs = workload::transfers(&state, &ctx, accounts, spec.chain_id, txs_per_block, rng)?;
        let n = txs.len();
        let (seed, parent_ms) = pos.parent_seed_and_time(&ctx.parent, &ctx.parent_id)?;
        let height = ctx.parent.height() + 1;
        let set = ctx.validators.as_ref().context("a PoS context without validators")?;
        let proposer = Pos::proposer(set, &seed, height, 0);
        anyhow::ensure!(
            set.public_keys.get(usize::from(proposer)) == Some(&validator.public_key()),
            "the proposer of height {height} is not the benchmark's validator"
        );
        let fields = cinder_pos::propose::proposal_fields(
            &pos,
            spec.chain_id,
            validator,
            proposer,
            &ctx.parent,
            &ctx.parent_id,
            0,
            parent_ms + 1_000,
            cert.as_ref(),
        )?;
        let threads = chain.config().exec_threads;
        let built = cinder_chain::build_block_proposed(
            chain.consensus(),
            spec,
            &state,
            &ctx,
            txs,
            coinbase,
            fields,
            cert.take(),
            threads,
        )?;
        anyhow::ensure!(built.block.transactions.len() == n, "a block left out transactions: {:?}", built.dropped);
        cinder_state::StateStore::commit(state.store(), &built.state)?;
        ctx = chain.child_context(&state, &ctx, &built.block, built.state.version)?;
        cert = Some(certify(built.block.id(), height)?);
        out.push(built.block);
    }
    Ok(out)
}
