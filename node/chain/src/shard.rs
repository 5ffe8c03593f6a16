//! Sharded execution (docs/design/sharding.md): a block of a chain with
//! `shards = K > 1` is made of K chunks, one per shard, each executed on
//! its shard's own state tree, all K in parallel (rayon), each with
//! Block-STM inside (the chain's one executor, [`crate::exec`], under a
//! [`ShardRule`]).
//!
//! A transfer to an account on another shard debits the sender at once
//! and leaves its chunk as a [`ShardReceipt`]; the destination shard
//! applies the receipts of block h in block h+1, before its transactions,
//! in the canonical order (by source shard, then by the sequence number of
//! the `(source, dest)` stream), each proven by a Merkle proof against the
//! source chunk's outgoing root. Each shard keeps, in its own state, the
//! next sequence number it expects from every source and the next it
//! gives to every destination: a receipt applies exactly once, and all of
//! them must apply (the source chunk header says how many it sent where).
//! A receipt that cannot be credited goes back as a refund receipt.
//!
//! The block producer and the importer share [`execute_chunks`]: Build
//! leaves out invalid transactions, Verify refuses the block; the importer
//! then compares each computed [`ChunkHeader`] with the carried one
//! ([`check_header`]).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cinder_consensus::{ChainSpec, Validators};
use cinder_engine::exec::{ExecStats, Mode};
use cinder_engine::merkle;
use cinder_primitives::{
    Address, Bounded, ChunkHeader, CommitCertificate, Hash, IncomingReceipt, OUTBOX_ADDRESS, Receipt, ReceiptProof,
    STAKING_ADDRESS, ShardId, ShardReceipt, SignedTransaction, receipts_root,
    shard::{incoming_root, outgoing_root},
};
use cinder_state::{KeyHash, State, StateBatch, StateStore, Version};
use cinder_vm::{BlockEnv, ShardRule};
use rayon::prelude::*;

use crate::error::{BlockInvalid, ChunkInvalid, ReceiptInvalid};
use crate::exec::{BlockRules, Payment, ShardExec, execute_block};
use crate::gov::Upgrades;

/// The namespace of the shard's stream counters in its state.
const NAMESPACE: &str = "cinder/shard/v1";

/// A shard index as a [`ShardId`] (a chain has at most 64 shards).
fn sid(i: usize) -> ShardId {
    ShardId::try_from(i).unwrap_or(ShardId::MAX)
}

/// The record holding the next sequence number a shard expects from
/// `source`.
pub fn next_in_key(source: ShardId) -> KeyHash {
    let mut k = b"in/".to_vec();
    k.extend(source.to_be_bytes());
    cinder_state::data_key(NAMESPACE, &k)
}

/// The record holding the next sequence number a shard gives to `dest`.
pub fn next_out_key(dest: ShardId) -> KeyHash {
    let mut k = b"out/".to_vec();
    k.extend(dest.to_be_bytes());
    cinder_state::data_key(NAMESPACE, &k)
}

/// A stream counter as stored (absent: 0).
fn counter<S: StateStore>(state: &State<S>, version: Version, key: KeyHash) -> Result<u64> {
    match state.data(version, key)? {
        None => Ok(0),
        Some(b) => {
            let b: [u8; 8] =
                b.as_slice().try_into().map_err(|_| anyhow::anyhow!("a stream counter of {} bytes", b.len()))?;
            Ok(u64::from_le_bytes(b))
        }
    }
}

/// The next sequence numbers shard state `state` at `version` expects
/// from each of `shards` sources.
pub fn next_in<S: StateStore>(state: &State<S>, version: Version, shards: u16) -> Result<Vec<u64>> {
    (0..shards).map(|s| counter(state, version, next_in_key(s))).collect()
}

/// The chunk headers of a sharded genesis block: each shard's genesis
/// state root, nothing sent.
pub fn genesis_chunks(roots: &[Hash]) -> Vec<ChunkHeader> {
    let k = roots.len();
    roots
        .iter()
        .enumerate()
        .map(|(s, root)| ChunkHeader {
            shard: sid(s),
            state_root: *root,
            transactions_root: Hash(merkle::empty_root()),
            receipts_root: receipts_root(&[]),
            outgoing_root: outgoing_root(&[]),
            outgoing_to: Bounded::new(vec![0; k]).unwrap_or_default(),
            incoming_root: incoming_root(&[]),
            ..ChunkHeader::default()
        })
        .collect()
}

/// Checks the receipts a chunk of shard `dest` carries against the
/// previous block's chunk headers `prev` (its height `prev_height`), given
/// the next sequence numbers the shard expects (`next`, one per source):
/// exactly the receipts the previous block sent to `dest`, in the
/// canonical order, each proven against its source chunk's outgoing root
/// at the position its stream holds there. The proofs of each source are
/// verified as one batch (engine::merkle, SIMD).
pub fn check_incoming(
    dest: ShardId,
    prev: &[ChunkHeader],
    prev_height: u64,
    next: &[u64],
    incoming: &[IncomingReceipt],
) -> Result<(), ChunkInvalid> {
    let k = next.len();
    if prev.len() != k {
        return Err(ChunkInvalid::PreviousCount { got: prev.len(), expected: k });
    }
    let refuse = |index: usize, reason: ReceiptInvalid| Err(ChunkInvalid::Receipt { index, reason });
    let mut i = 0;
    for (s, chunk) in prev.iter().enumerate() {
        let source = sid(s);
        let expected = chunk.sent_to(dest);
        let first = chunk.first_for(dest);
        let start = i;
        for n in 0..expected {
            let Some(inc) = incoming.get(i) else {
                return Err(ChunkInvalid::MissingReceipts { from: source, got: n, expected });
            };
            let r = &inc.receipt;
            if r.dest != dest {
                return refuse(i, ReceiptInvalid::WrongDestination { dest: r.dest, shard: dest });
            }
            if r.source > source {
                return Err(ChunkInvalid::MissingReceipts { from: source, got: n, expected });
            }
            if r.source < source {
                return refuse(i, ReceiptInvalid::Order { from: r.source, after: source });
            }
            let want = next[s].saturating_add(n);
            if r.seq < want {
                return refuse(i, ReceiptInvalid::Replayed { from: source, seq: r.seq, next: want });
            }
            if r.height != prev_height {
                return refuse(i, ReceiptInvalid::Height { got: r.height, expected: prev_height });
            }
            if r.seq > want {
                return refuse(i, ReceiptInvalid::Gap { from: source, seq: r.seq, next: want });
            }
            let index = first + n;
            if inc.proof.index != index || inc.proof.leaf_count != chunk.outgoing_count() {
                return refuse(i, ReceiptInvalid::Proof { from: source, root: chunk.outgoing_root, index });
            }
            i += 1;
        }
        // This source's receipts, as one batch of proofs.
        let group = &incoming[start..i];
        let proofs: Vec<merkle::Proof> = group.iter().map(|r| r.proof.to_engine()).collect();
        let items: Vec<([u8; 32], &merkle::Proof)> =
            group.iter().zip(&proofs).map(|(r, p)| (r.receipt.id().0, p)).collect();
        if let Some(&bad) = merkle::verify_proofs(&chunk.outgoing_root.0, &items).first() {
            let index = first + bad as u64;
            return refuse(start + bad, ReceiptInvalid::Proof { from: source, root: chunk.outgoing_root, index });
        }
    }
    if let Some(extra) = incoming.get(i) {
        let r = &extra.receipt;
        let reason = if r.dest != dest {
            ReceiptInvalid::WrongDestination { dest: r.dest, shard: dest }
        } else if usize::from(r.source) >= k {
            ReceiptInvalid::Order { from: r.source, after: sid(k - 1) }
        } else {
            let s = usize::from(r.source);
            let next = next[s].saturating_add(prev[s].sent_to(dest));
            if r.seq < next {
                ReceiptInvalid::Replayed { from: r.source, seq: r.seq, next }
            } else if r.height != prev_height {
                ReceiptInvalid::Height { got: r.height, expected: prev_height }
            } else {
                ReceiptInvalid::Gap { from: r.source, seq: r.seq, next }
            }
        };
        return refuse(i, reason);
    }
    Ok(())
}

/// What the K chunks of one block share.
pub struct ShardedBlock<'a> {
    /// The chain spec (`shards` > 1).
    pub spec: &'a ChainSpec,
    /// The block: height, time, coinbase.
    pub env: BlockEnv,
    /// The consensus credits (the PoW block reward); shard 0's chunk
    /// applies them, as receipts where the account is on another shard.
    pub credits: &'a [(Address, u128)],
    /// PoS: the certificate of the parent.
    pub last_commit: Option<&'a CommitCertificate>,
    /// PoS: the validators that certified the parent.
    pub parent_validators: Option<&'a Validators>,
    /// The upgrades this binary knows.
    pub upgrades: &'a Upgrades,
    /// The chain's genesis id.
    pub genesis: Hash,
    /// Build (producer) or Verify (importer).
    pub mode: Mode,
    /// Block-STM threads inside each chunk.
    pub threads: usize,
    /// The parent block's chunk headers.
    pub prev_chunks: &'a [ChunkHeader],
}

/// One chunk to execute: its transactions and the receipts it applies.
#[derive(Clone, Copy, Debug)]
pub struct ChunkInput<'a> {
    /// The transactions, senders on the chunk's shard.
    pub txs: &'a [SignedTransaction],
    /// The receipts of the previous block addressed to this shard, with
    /// their proofs, in the canonical order.
    pub incoming: &'a [IncomingReceipt],
}

/// A chunk executed.
#[derive(Clone, Debug)]
pub struct ChunkOutput {
    /// Its header.
    pub header: ChunkHeader,
    /// The indices of its transactions in the chunk (all of them in
    /// Verify; Build leaves out invalid ones).
    pub included: Vec<usize>,
    /// Their receipts.
    pub receipts: Vec<Receipt>,
    /// The receipts it emits, grouped by destination.
    pub outgoing: Vec<ShardReceipt>,
    /// The state batch that commits it on the shard's tree.
    pub batch: StateBatch,
    /// Executor counters.
    pub stats: ExecStats,
    /// Execution (Block-STM) and the state root.
    pub execution: Duration,
    /// Computing the shard's state root.
    pub state_root: Duration,
    tree: merkle::Tree,
}

impl ChunkOutput {
    /// The receipts for `dest` with their proofs: what `dest`'s chunk in
    /// the next block carries from this shard.
    pub fn receipts_for(&self, dest: ShardId) -> Vec<IncomingReceipt> {
        let first = self.header.first_for(dest);
        (first..first + self.header.sent_to(dest))
            .filter_map(|i| {
                let receipt = self.outgoing.get(usize::try_from(i).ok()?)?.clone();
                Some(IncomingReceipt { receipt, proof: ReceiptProof::of(&self.tree, i)? })
            })
            .collect()
    }
}

/// The incoming receipts of every shard for the next block: for each
/// destination, the receipts `outputs` (one block's chunks, in shard
/// order) send it, in the canonical order.
pub fn route(outputs: &[ChunkOutput]) -> Vec<Vec<IncomingReceipt>> {
    let k = outputs.len();
    (0..sid(k)).into_par_iter().map(|d| outputs.iter().flat_map(|o| o.receipts_for(d)).collect()).collect()
}

/// Executes the K chunks of a block in parallel (K = 1: one chunk under
/// the chain's unsharded rules, the baseline of the benchmark): chunk `s` on
/// `states[s]` at version `versions[s]`, the chain parameters (and, under
/// PoS, the staking and governance passes) from shard 0's state.
/// `Ok(Err(_))`: the block is invalid (Verify). Under Build the outputs'
/// headers are the block's; under Verify compare them with the block's
/// ([`check_header`]).
pub fn execute_chunks<S: StateStore>(
    block: &ShardedBlock<'_>,
    states: &[State<S>],
    versions: &[Version],
    chunks: &[ChunkInput<'_>],
) -> Result<Result<Vec<ChunkOutput>, BlockInvalid>> {
    let all = vec![true; chunks.len()];
    match execute_tracked(block, states, versions, chunks, &all)? {
        Ok(outs) => Ok(Ok(outs.into_iter().collect::<Option<Vec<_>>>().context("a chunk was not executed")?)),
        Err(e) => Ok(Err(e)),
    }
}

/// [`execute_chunks`] of the chunks whose shard `tracked` marks (a node
/// that keeps only some shards' state; shard 0, whose state holds the
/// chain parameters every chunk's rules read, must be one): `None` for the
/// others, whose chunk headers the caller takes from the block.
pub fn execute_tracked<S: StateStore>(
    block: &ShardedBlock<'_>,
    states: &[State<S>],
    versions: &[Version],
    chunks: &[ChunkInput<'_>],
    tracked: &[bool],
) -> Result<Result<Vec<Option<ChunkOutput>>, BlockInvalid>> {
    let k = usize::from(block.spec.shards);
    if k == 0 || states.len() != k || versions.len() != k {
        bail!("{} shard states and {} versions for a chain of {k} shards", states.len(), versions.len());
    }
    if chunks.len() != k {
        let reason = ChunkInvalid::Count { got: chunks.len(), expected: k };
        return Ok(Err(BlockInvalid::Chunk { shard: 0, reason }));
    }
    if tracked.len() != k || !tracked[0] {
        bail!("the tracked shards must be marked one per shard, shard 0 among them");
    }
    if block.env.coinbase == OUTBOX_ADDRESS {
        return Ok(Err(BlockInvalid::Chunk { shard: 0, reason: ChunkInvalid::OutboxCoinbase }));
    }
    let outs: Vec<Option<Result<Result<ChunkOutput, BlockInvalid>>>> = (0..k)
        .into_par_iter()
        .map(|s| {
            tracked[s]
                .then(|| execute_chunk(block, sid(s), &states[s], versions[s], (&states[0], versions[0]), &chunks[s]))
        })
        .collect();
    let mut done = Vec::with_capacity(k);
    for o in outs {
        match o {
            None => done.push(None),
            Some(r) => match r? {
                Ok(c) => done.push(Some(c)),
                Err(e) => return Ok(Err(e)),
            },
        }
    }
    Ok(Ok(done))
}

/// Executes chunk `shard` on `state` at `version`; the rules come from
/// `rules_state` (shard 0's state).
fn execute_chunk<S: StateStore, R: StateStore>(
    block: &ShardedBlock<'_>,
    shard: ShardId,
    state: &State<S>,
    version: Version,
    rules_state: (&State<R>, Version),
    chunk: &ChunkInput<'_>,
) -> Result<Result<ChunkOutput, BlockInvalid>> {
    let shards = block.spec.shards;
    let invalid = |reason: ChunkInvalid| Ok(Err(BlockInvalid::Chunk { shard, reason }));
    let t = Instant::now();
    let next = next_in(state, version, shards)?;
    let prev_height = block.env.height.saturating_sub(1);
    if let Err(reason) = check_incoming(shard, block.prev_chunks, prev_height, &next, chunk.incoming) {
        return invalid(reason);
    }
    let incoming: Vec<ShardReceipt> = chunk.incoming.iter().map(|r| r.receipt.clone()).collect();
    let applied_root = incoming_root(&incoming);
    let mut rules = BlockRules::of(
        block.spec,
        rules_state.0,
        rules_state.1,
        block.env.height,
        block.last_commit,
        block.parent_validators,
        block.upgrades,
        block.genesis,
    )?;
    if shard != 0 {
        // The staking and governance ledgers live on shard 0.
        rules.staking = None;
    }
    // One shard (the benchmark's baseline): the chain's own execution.
    if shards > 1 {
        rules.shard = Some(ShardExec { rule: ShardRule { shard, shards }, incoming });
    }
    let credits: &[(Address, u128)] = if shard == 0 { block.credits } else { &[] };
    let ex = match execute_block(state, version, chunk.txs, block.env, credits, block.mode, block.threads, &rules)? {
        Ok(ex) => ex,
        Err(BlockInvalid::Transaction { index, reason }) => {
            return invalid(ChunkInvalid::Transaction { index, reason });
        }
        Err(e) => return Ok(Err(e)),
    };

    // Number the outgoing payments: grouped by destination, each group in
    // its stream's order.
    let mut by_dest: Vec<Vec<Payment>> = vec![Vec::new(); usize::from(shards)];
    for p in ex.outgoing {
        by_dest[usize::from(cinder_primitives::shard_of(&p.to, shards))].push(p);
    }
    let mut outgoing = Vec::new();
    let mut data = ex.data;
    let mut outgoing_to = Vec::with_capacity(usize::from(shards));
    for (d, payments) in by_dest.into_iter().enumerate() {
        let dest = sid(d);
        outgoing_to.push(u32::try_from(payments.len()).context("more than 2^32 receipts to one shard")?);
        if payments.is_empty() {
            continue;
        }
        let first = counter(state, version, next_out_key(dest))?;
        for (n, p) in payments.into_iter().enumerate() {
            outgoing.push(ShardReceipt {
                source: shard,
                dest,
                seq: first + n as u64,
                height: block.env.height,
                origin: p.origin,
                from: p.from,
                to: p.to,
                amount: p.amount,
                kind: p.kind,
            });
        }
        let sent = u64::from(*outgoing_to.last().unwrap_or(&0));
        data.push((next_out_key(dest), Some((first + sent).to_le_bytes().to_vec())));
    }
    for (s, n) in next.iter().enumerate() {
        let got = chunk.incoming.iter().filter(|r| usize::from(r.receipt.source) == s).count() as u64;
        if got > 0 {
            data.push((next_in_key(sid(s)), Some((n + got).to_le_bytes().to_vec())));
        }
    }
    let execution = t.elapsed();

    let t = Instant::now();
    let (state_root, batch) = state.apply_records(Some(version), &ex.updates, &data, &ex.ordered)?;
    let state_root_time = t.elapsed();
    let included_txs: Vec<[u8; 32]> = ex.included.iter().map(|&i| chunk.txs[i].leaf().0).collect();
    let tree = merkle::Tree::new(outgoing.iter().map(|r| r.id().0).collect());
    let header = ChunkHeader {
        shard,
        state_root,
        transactions_root: Hash(merkle::root(&included_txs)),
        tx_count: u32::try_from(ex.included.len()).context("more than 2^32 transactions in a chunk")?,
        receipts_root: receipts_root(&ex.receipts),
        gas_used: ex.receipts.iter().map(|r| r.gas_used).sum(),
        outgoing_root: Hash(tree.root()),
        outgoing_to: Bounded::new(outgoing_to).map_err(|_| anyhow::anyhow!("more shards than a chunk header holds"))?,
        incoming_root: applied_root,
    };
    Ok(Ok(ChunkOutput {
        header,
        included: ex.included,
        receipts: ex.receipts,
        outgoing,
        batch,
        stats: ex.stats,
        execution,
        state_root: state_root_time,
        tree,
    }))
}

/// Whether the carried chunk header is the computed one; the first field
/// that differs otherwise.
pub fn check_header(carried: &ChunkHeader, computed: &ChunkHeader) -> Result<(), ChunkInvalid> {
    let differ =
        |field: &'static str, a: String, b: String| Err(ChunkInvalid::Header { field, header: a, computed: b });
    let (a, b) = (carried, computed);
    if a.shard != b.shard {
        return differ("shard", a.shard.to_string(), b.shard.to_string());
    }
    if a.tx_count != b.tx_count {
        return differ("transaction count", a.tx_count.to_string(), b.tx_count.to_string());
    }
    if a.transactions_root != b.transactions_root {
        return differ("transactions root", a.transactions_root.to_hex(), b.transactions_root.to_hex());
    }
    if a.incoming_root != b.incoming_root {
        return differ("incoming root", a.incoming_root.to_hex(), b.incoming_root.to_hex());
    }
    if a.receipts_root != b.receipts_root {
        return differ("receipts root", a.receipts_root.to_hex(), b.receipts_root.to_hex());
    }
    if a.gas_used != b.gas_used {
        return differ("gas used", a.gas_used.to_string(), b.gas_used.to_string());
    }
    if a.outgoing_to != b.outgoing_to {
        return differ(
            "outgoing counts",
            format!("{:?}", a.outgoing_to.as_slice()),
            format!("{:?}", b.outgoing_to.as_slice()),
        );
    }
    if a.outgoing_root != b.outgoing_root {
        return differ("outgoing root", a.outgoing_root.to_hex(), b.outgoing_root.to_hex());
    }
    if a.state_root != b.state_root {
        return differ("state root", a.state_root.to_hex(), b.state_root.to_hex());
    }
    if a != b {
        return differ("encoding", format!("{a:?}"), format!("{b:?}"));
    }
    Ok(())
}

/// The fees a chunk's receipts pay to the staking account from other
/// shards (PoS income that reaches shard 0 a block later).
pub(crate) fn staking_income(incoming: &[ShardReceipt]) -> u128 {
    incoming
        .iter()
        .filter(|r| r.to == STAKING_ADDRESS && r.from == Address::default())
        .fold(0u128, |a, r| a.saturating_add(r.amount))
}

/// The execution state of a sharded chain: one state tree per shard (each
/// on its own store), the versions of the newest block's chunks, that
/// block's chunk headers and the receipts it sent, which the next block's
/// chunks apply. Blocks extend it one at a time.
pub struct ShardSet<S> {
    spec: ChainSpec,
    states: Vec<State<S>>,
    versions: Vec<Version>,
    prev: Vec<ChunkHeader>,
    incoming: Vec<Vec<IncomingReceipt>>,
    height: u64,
}

impl<S: StateStore> ShardSet<S> {
    /// The genesis of `spec` on `stores`, one per shard,
    /// empty: each shard's allocations in its own tree; the data records
    /// (PoS: the staking ledger and the chain parameters) in shard 0's.
    pub fn genesis(spec: &ChainSpec, stores: Vec<S>) -> Result<ShardSet<S>> {
        let k = usize::from(spec.shards);
        if stores.len() != k {
            bail!("{} stores for a chain of {k} shards", stores.len());
        }
        let (accounts, data) = crate::genesis::state(spec)?;
        let mut states = Vec::with_capacity(k);
        let mut roots = Vec::with_capacity(k);
        for (s, store) in stores.into_iter().enumerate() {
            let state = State::new(store);
            let mine: Vec<_> = accounts
                .iter()
                .filter(|(a, _)| usize::from(cinder_primitives::shard_of(a, spec.shards)) == s)
                .cloned()
                .collect();
            let records = if s == 0 { data.as_slice() } else { &[] };
            let (root, batch) = state.apply_all(None, &mine, records)?;
            state.store().commit(&batch)?;
            states.push(state);
            roots.push(root);
        }
        Ok(ShardSet {
            spec: spec.clone(),
            states,
            versions: vec![0; k],
            prev: genesis_chunks(&roots),
            incoming: vec![Vec::new(); k],
            height: 0,
        })
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The newest block's height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The newest block's chunk headers.
    pub fn chunk_headers(&self) -> &[ChunkHeader] {
        &self.prev
    }

    /// The receipts the newest block sent, by destination shard: what the
    /// next block's chunks must apply (the receipts in flight).
    pub fn in_flight(&self) -> &[Vec<IncomingReceipt>] {
        &self.incoming
    }

    /// Shard `s`'s state tree and its newest version.
    pub fn shard_state(&self, s: ShardId) -> Option<(&State<S>, Version)> {
        let i = usize::from(s);
        Some((self.states.get(i)?, *self.versions.get(i)?))
    }

    /// The account `a` as its shard holds it after the newest block.
    pub fn account(&self, a: &Address) -> Result<Option<cinder_primitives::Account>> {
        let s = usize::from(cinder_primitives::shard_of(a, self.spec.shards));
        self.states[s].account(self.versions[s], a)
    }

    /// `txs` split into chunks by their senders' shards, in order.
    pub fn split(&self, txs: &[SignedTransaction]) -> Vec<Vec<SignedTransaction>> {
        let mut chunks = vec![Vec::new(); usize::from(self.spec.shards)];
        for t in txs {
            chunks[usize::from(cinder_primitives::shard_of(&t.tx.sender_address(), self.spec.shards))].push(t.clone());
        }
        chunks
    }

    /// Executes the next block's chunks `txs` (one list per shard), each
    /// applying `incoming` (one list per shard; normally
    /// [`ShardSet::in_flight`]), with `coinbase` paid the fees and, on shard
    /// 0's chunk, `credits`. Writes nothing.
    #[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
    pub fn execute_with(
        &self,
        txs: &[Vec<SignedTransaction>],
        incoming: &[Vec<IncomingReceipt>],
        coinbase: Address,
        time_ms: u64,
        credits: &[(Address, u128)],
        mode: Mode,
        threads: usize,
    ) -> Result<Result<Vec<ChunkOutput>, BlockInvalid>> {
        let upgrades = Upgrades::default();
        let block = ShardedBlock {
            spec: &self.spec,
            env: BlockEnv { height: self.height + 1, time_ms, coinbase },
            credits,
            last_commit: None,
            parent_validators: None,
            upgrades: &upgrades,
            genesis: Hash::default(),
            mode,
            threads,
            prev_chunks: &self.prev,
        };
        let empty: Vec<IncomingReceipt> = Vec::new();
        let chunks: Vec<ChunkInput<'_>> = txs
            .iter()
            .enumerate()
            .map(|(s, t)| ChunkInput { txs: t, incoming: incoming.get(s).unwrap_or(&empty) })
            .collect();
        execute_chunks(&block, &self.states, &self.versions, &chunks)
    }

    /// [`ShardSet::execute_with`] the receipts in flight.
    pub fn execute(
        &self,
        txs: &[Vec<SignedTransaction>],
        coinbase: Address,
        time_ms: u64,
        credits: &[(Address, u128)],
        mode: Mode,
        threads: usize,
    ) -> Result<Result<Vec<ChunkOutput>, BlockInvalid>> {
        self.execute_with(txs, &self.incoming, coinbase, time_ms, credits, mode, threads)
    }

    /// Commits a block's executed chunks (from [`ShardSet::execute`] on
    /// this set): each shard's batch on its store, then the chunk headers
    /// and the receipts for the next block.
    pub fn commit(&mut self, outputs: Vec<ChunkOutput>) -> Result<()> {
        if outputs.len() != self.states.len() {
            bail!("{} chunks for {} shards", outputs.len(), self.states.len());
        }
        let incoming = route(&outputs);
        // Each shard's store on its own (they are independent).
        self.states.par_iter().zip(&outputs).try_for_each(|(state, o)| state.store().commit(&o.batch))?;
        for (v, o) in self.versions.iter_mut().zip(&outputs) {
            *v = o.batch.version;
        }
        self.prev = outputs.into_iter().map(|o| o.header).collect();
        self.incoming = incoming;
        self.height += 1;
        Ok(())
    }
}
