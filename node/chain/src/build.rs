//! Building a block on a parent: what a producer (and the import benchmark)
//! does. Transactions that are invalid at their position are left out,
//! the block stops at the gas limit, and the header commits to the result.
//! The block comes back unsealed; [`seal_cpu`] seals easy targets (tests,
//! benchmarks), the engine's miners seal real ones.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use cinder_consensus::{ChainSpec, Consensus, Proposal, SealJob};
use cinder_engine::exec::Mode;
use cinder_primitives::{
    Address, Block, Bounded, BoundedBytes, CommitCertificate, Header, HeaderFields, Receipt, SignedTransaction, encode,
    receipts_root, verify_signatures,
};
use cinder_state::{State, StateBatch, StateStore};
use rayon::prelude::*;

use crate::exec::{BlockContext, BlockRules, block_time_ms, execute_block};

/// A built block and what committing it writes.
pub struct Built {
    /// The block (unsealed).
    pub block: Block,
    /// Its receipts.
    pub receipts: Vec<Receipt>,
    /// Its state.
    pub state: StateBatch,
    /// Candidates left out, with the reason.
    pub dropped: Vec<(usize, String)>,
    /// A sharded block's: the states of shards 1, 2, ... (`state` is shard
    /// 0's) and each chunk's emitted receipts; empty otherwise.
    pub shards: Vec<StateBatch>,
    /// See `shards`.
    pub outgoing: Vec<Vec<cinder_primitives::ShardReceipt>>,
}

/// Builds a block on `ctx` from `candidates` (in order) at local time
/// `now`, fees to `coinbase`, executing on `threads`.
#[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
pub fn build_block<S: StateStore>(
    consensus: &dyn Consensus,
    spec: &ChainSpec,
    state: &State<S>,
    ctx: &BlockContext,
    candidates: Vec<SignedTransaction>,
    coinbase: Address,
    now: u64,
    threads: usize,
) -> Result<Built> {
    build_block_from(consensus, spec, state, ctx, candidates, coinbase, now, threads, false)
}

/// [`build_block`] with `signatures_verified`: the caller has verified
/// every candidate's signature already (the mempool admits only verified
/// transactions), so the batch verification is skipped. Import still
/// verifies every signature of every block, our own included.
#[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
pub fn build_block_from<S: StateStore>(
    consensus: &dyn Consensus,
    spec: &ChainSpec,
    state: &State<S>,
    ctx: &BlockContext,
    candidates: Vec<SignedTransaction>,
    coinbase: Address,
    now: u64,
    threads: usize,
    signatures_verified: bool,
) -> Result<Built> {
    let started = Instant::now();
    let (txs, index, dropped) = screen(candidates, spec.chain_id, signatures_verified);
    let proposal = consensus.propose(&ctx.ancestry(), now);
    build_with(consensus, spec, state, ctx, txs, index, dropped, coinbase, proposal, None, threads, started)
}

/// Builds a proof-of-stake block: as [`build_block_from`] with the
/// candidates' signatures verified already, but with the consensus fields
/// the validator made (`proposal`: time and signed PoS data) and the
/// parent's certificate in the body.
#[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
pub fn build_block_proposed<S: StateStore>(
    consensus: &dyn Consensus,
    spec: &ChainSpec,
    state: &State<S>,
    ctx: &BlockContext,
    candidates: Vec<SignedTransaction>,
    coinbase: Address,
    proposal: Proposal,
    last_commit: Option<CommitCertificate>,
    threads: usize,
) -> Result<Built> {
    let started = Instant::now();
    let (txs, index, dropped) = screen(candidates, spec.chain_id, true);
    build_with(consensus, spec, state, ctx, txs, index, dropped, coinbase, proposal, last_commit, threads, started)
}

/// Envelope and (unless `signatures_verified`) signature checks, so a
/// producer never includes what import rejects: the candidates kept, their
/// original indexes, and the dropped ones with the reason.
type Screened = (Vec<SignedTransaction>, Vec<usize>, Vec<(usize, String)>);

pub(crate) fn screen(candidates: Vec<SignedTransaction>, chain_id: u64, signatures_verified: bool) -> Screened {
    let mut dropped = Vec::new();
    let ok: Vec<bool> = candidates.par_iter().map(|t| t.check_envelope(chain_id).is_ok()).collect();
    let mut txs = Vec::with_capacity(candidates.len());
    let mut index = Vec::with_capacity(candidates.len());
    for (i, (t, ok)) in candidates.into_iter().zip(ok).enumerate() {
        if ok {
            txs.push(t);
            index.push(i);
        } else {
            dropped.push((i, "bad chain id or oversized".to_string()));
        }
    }
    if let Err(mut bad) = if signatures_verified { Ok(()) } else { verify_signatures(&txs) } {
        bad.sort_unstable();
        bad.dedup();
        for &b in bad.iter().rev() {
            txs.remove(b);
            dropped.push((index.remove(b), "bad signature".to_string()));
        }
    }
    (txs, index, dropped)
}

#[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
fn build_with<S: StateStore>(
    consensus: &dyn Consensus,
    spec: &ChainSpec,
    state: &State<S>,
    ctx: &BlockContext,
    txs: Vec<SignedTransaction>,
    index: Vec<usize>,
    mut dropped: Vec<(usize, String)>,
    coinbase: Address,
    proposal: Proposal,
    last_commit: Option<CommitCertificate>,
    threads: usize,
    started: Instant,
) -> Result<Built> {
    let height = ctx.parent.height() + 1;
    let consensus_data = BoundedBytes::new(proposal.consensus_data.clone())
        .map_err(|d| anyhow::anyhow!("consensus data of {} bytes", d.len()))?;
    let draft = HeaderFields { height, coinbase, consensus_data, ..HeaderFields::default() };
    let draft = Header::new(ctx.parent_id, proposal.time, proposal.bits, draft);
    let credits = consensus.block_credits(&draft);
    let rules = BlockRules::of(
        spec,
        state,
        ctx.parent_version,
        height,
        last_commit.as_ref(),
        ctx.parent_validators.as_deref(),
        &ctx.upgrades,
        ctx.genesis,
    )?;
    let (txs, index) = {
        let (mut kept, mut kept_index) = (Vec::with_capacity(txs.len()), Vec::with_capacity(txs.len()));
        for (t, i) in txs.into_iter().zip(index) {
            match rules.refuse(&t) {
                Some(reason) => dropped.push((i, reason)),
                None => {
                    kept.push(t);
                    kept_index.push(i);
                }
            }
        }
        (kept, kept_index)
    };
    let env = cinder_vm::BlockEnv { height, time_ms: block_time_ms(&draft), coinbase: consensus.fee_recipient(&draft) };
    let ex = match execute_block(state, ctx.parent_version, &txs, env, &credits, Mode::Build, threads, &rules)? {
        Ok(ex) => ex,
        Err(e) => bail!("building a block: {e}"),
    };
    let mut keep = vec![false; txs.len()];
    for &i in &ex.included {
        keep[i] = true;
    }
    let mut included = Vec::with_capacity(ex.included.len());
    for (i, (t, k)) in txs.into_iter().zip(keep).enumerate() {
        if k {
            included.push(t);
        } else {
            dropped.push((index[i], "invalid at its position or over the gas limit".to_string()));
        }
    }
    let (state_root, batch) = state.apply_records(Some(ctx.parent_version), &ex.updates, &ex.data, &ex.ordered)?;
    let transactions = Bounded::new(included).map_err(|v| anyhow::anyhow!("{} transactions: too many", v.len()))?;
    let mut block = Block {
        header: Header::new(ctx.parent_id, 0, 0, HeaderFields::default()),
        transactions,
        last_commit,
        chunks: Default::default(),
    };
    let fields = HeaderFields {
        height,
        state_root,
        transactions_root: block.transactions_root(),
        receipts_root: receipts_root(&ex.receipts),
        coinbase,
        extra_nonce: 0,
        consensus_data: BoundedBytes::new(proposal.consensus_data)
            .map_err(|d| anyhow::anyhow!("consensus data of {} bytes", d.len()))?,
    };
    block.header = Header::new(ctx.parent_id, proposal.time, proposal.bits, fields);
    let size = encode(&block).len() as u64;
    if size > spec.max_block_bytes {
        bail!("the block is {size} bytes, above the limit {}: pass fewer candidates", spec.max_block_bytes);
    }
    dropped.sort_unstable();
    tracing::debug!(height, txs = block.transactions.len(), ms = started.elapsed().as_millis(), "built a block");
    Ok(Built { block, receipts: ex.receipts, state: batch, dropped, shards: Vec::new(), outgoing: Vec::new() })
}

/// Seals `header` by trying nonces with the reference hash, rolling the
/// extra nonce when the 2^32 nonces run out; gives up after `max_hashes`.
/// For easy targets (tests, benchmarks); real mining runs the engine's
/// backends on the same [`SealJob`].
pub fn seal_cpu(consensus: &dyn Consensus, header: &mut Header, max_hashes: u64) -> Result<()> {
    let mut tried = 0u64;
    loop {
        let SealJob::Pow(job) = consensus.seal_job(header).context("sealing")?;
        for nonce in 0..=u32::MAX {
            if tried >= max_hashes {
                bail!("no seal within {max_hashes} hashes");
            }
            tried += 1;
            if job.target.is_met_by(&job.hash_at(nonce).0) {
                header.pow.set_nonce(nonce);
                return Ok(());
            }
        }
        header.fields.extra_nonce = header.fields.extra_nonce.wrapping_add(1);
        let (prev, time, bits) = (header.prev(), header.pow.time(), header.pow.bits());
        *header = Header::new(prev, time, bits, header.fields.clone());
    }
}
