//! A sharded chain's blocks in [`Chain`] (docs/design/sharding.md): the
//! genesis over K state trees, import, building a block, the receipts in
//! flight, reading an account from its shard, and the shards a node
//! tracks. Proof of work and proof of stake (a validator's proposal:
//! [`Chain::build_sharded_proposed`]).

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use cinder_engine::exec::Mode;
use cinder_primitives::{
    Account, Address, Block, Bounded, BoundedBytes, Chunk, ChunkHeader, Hash, Header, HeaderFields, IncomingReceipt,
    ReceiptProof, ShardReceipt, SignedTransaction, encode, receipts_root, shard_of,
};
use cinder_state::{State, StateBatch, Version};
use cinder_storage::{Db, ShardStore};

use crate::build::Built;
use crate::chain::{Chain, Presigned, Verified};
use crate::error::{BlockInvalid, ChunkInvalid, ImportError};
use crate::exec::{BlockContext, block_time_ms};
use crate::shard::{ChunkInput, ChunkOutput, ShardedBlock, check_header, execute_chunks, execute_tracked};

/// A sharded block checked and executed: what its write needs.
pub(crate) struct VerifiedShards {
    pub(crate) verified: Verified,
    /// Each shard's state batch, in shard order.
    pub(crate) batches: Vec<StateBatch>,
    /// Each chunk's outgoing receipts.
    pub(crate) outgoing: Vec<Vec<ShardReceipt>>,
}

/// The genesis state trees of a sharded spec: each shard's allocations in
/// its own tree, the data records in shard 0's; their roots and batches.
pub(crate) fn genesis_shards(
    spec: &cinder_consensus::ChainSpec,
    states: &[State<impl cinder_state::StateStore>],
) -> Result<(Block, Vec<StateBatch>)> {
    let (accounts, data) = crate::genesis::state(spec)?;
    let mut roots = Vec::with_capacity(states.len());
    let mut batches = Vec::with_capacity(states.len());
    for (s, state) in states.iter().enumerate() {
        let mine: Vec<_> =
            accounts.iter().filter(|(a, _)| usize::from(shard_of(a, spec.shards)) == s).cloned().collect();
        let records = if s == 0 { data.as_slice() } else { &[] };
        let (root, batch) = state.apply_all(None, &mine, records).with_context(|| format!("shard {s}'s genesis"))?;
        roots.push(root);
        batches.push(batch);
    }
    let headers = crate::shard::genesis_chunks(&roots);
    let chunks: Vec<Chunk> = headers.into_iter().map(|header| Chunk { header, incoming: Bounded::default() }).collect();
    let block = Block {
        header: crate::genesis::header(spec, cinder_primitives::shard::chunks_root(&chunk_headers(&chunks))),
        transactions: Bounded::default(),
        last_commit: None,
        chunks: Bounded::new(chunks).map_err(|_| anyhow!("more shards than a block holds"))?,
    };
    Ok((block, batches))
}

fn chunk_headers(chunks: &[Chunk]) -> Vec<ChunkHeader> {
    chunks.iter().map(|c| c.header.clone()).collect()
}

/// The receipts `outgoing` (one list per source chunk, in the order of its
/// outgoing root) send each shard, with their proofs against `headers`
/// (the source chunks' headers): what each chunk of the next block applies.
pub fn incoming_from(outgoing: &[Vec<ShardReceipt>], headers: &[ChunkHeader]) -> Result<Vec<Vec<IncomingReceipt>>> {
    let k = headers.len();
    if outgoing.len() != k {
        bail!("{} outgoing lists for {k} chunks", outgoing.len());
    }
    let trees: Vec<_> =
        outgoing.iter().map(|o| cinder_engine::merkle::Tree::new(o.iter().map(|r| r.id().0).collect())).collect();
    let mut by_dest = vec![Vec::new(); k];
    for (d, list) in by_dest.iter_mut().enumerate() {
        let dest = u16::try_from(d).context("shard number")?;
        for ((h, out), tree) in headers.iter().zip(outgoing).zip(&trees) {
            let first = h.first_for(dest);
            for i in first..first + h.sent_to(dest) {
                let receipt =
                    out.get(usize::try_from(i)?).context("a chunk header counts more receipts than stored")?;
                let proof = ReceiptProof::of(tree, i).context("a receipt proof")?;
                list.push(IncomingReceipt { receipt: receipt.clone(), proof });
            }
        }
    }
    Ok(by_dest)
}

impl Chain {
    /// The chain's shards (1: not sharded).
    pub fn shards(&self) -> u16 {
        self.spec().shards
    }

    /// Whether this node keeps shard `s`'s state (`ChainConfig::track_shards`).
    pub fn tracks(&self, s: u16) -> bool {
        s < self.shards() && self.config().track_shards.as_ref().is_none_or(|l| l.contains(&s))
    }

    /// Whether this node keeps every shard's state.
    pub fn tracks_all(&self) -> bool {
        (0..self.shards()).all(|s| self.tracks(s))
    }

    /// Shard `s`'s state tree (shard 0's is [`Chain::state`]'s); an error
    /// for a shard this node does not track.
    pub fn shard_state(&self, s: u16) -> Result<State<ShardStore<'_>>> {
        if !self.tracks(s) {
            bail!("this node does not track shard {s} (--track-shards)");
        }
        self.db().shard(s).map(State::new).with_context(|| format!("shard {s} of a chain of {} shards", self.shards()))
    }

    /// The receipt of the transaction at `index` of stored block `block`:
    /// `None` past its transactions; an error for a transaction of a chunk
    /// this node does not execute (a node tracking some shards stores the
    /// receipts of its shards' chunks only).
    pub fn receipt_at(&self, block: &Hash, index: usize) -> Result<Option<cinder_primitives::Receipt>> {
        let receipts = self.db().receipts(block)?.with_context(|| format!("block {block} has no receipts"))?;
        if self.tracks_all() {
            return Ok(receipts.get(index).cloned());
        }
        let chunks = self.db().chunks(block)?.with_context(|| format!("block {block} is not stored"))?;
        let (mut at, mut kept) = (0usize, 0usize);
        for c in &chunks {
            let n = c.header.tx_count as usize;
            if index < at + n {
                if !self.tracks(c.header.shard) {
                    bail!("the transaction is in shard {}'s chunk, which this node does not track", c.header.shard);
                }
                return Ok(receipts.get(kept + index - at).cloned());
            }
            at += n;
            if self.tracks(c.header.shard) {
                kept += n;
            }
        }
        Ok(None)
    }

    /// The state tree that holds account `a` (its shard's).
    pub fn state_of(&self, a: &Address) -> Result<State<ShardStore<'_>>> {
        self.shard_state(shard_of(a, self.shards()))
    }

    /// Account `a` in the state at `version`, read from its shard.
    pub fn account_at(&self, version: Version, a: &Address) -> Result<Option<Account>> {
        self.state_of(a)?.account(version, a)
    }

    /// The receipts that block `parent`'s chunks sent, by destination shard
    /// with their proofs: what the chunks of `parent`'s child apply (the
    /// receipts in flight after `parent`). Empty lists after genesis.
    pub fn incoming_after(&self, parent: &Hash) -> Result<Vec<Vec<IncomingReceipt>>> {
        let chunks = self.db().chunks(parent)?.with_context(|| format!("block {parent} is not stored"))?;
        let mut headers = chunk_headers(&chunks);
        // A node tracking some shards stored the receipts of those shards'
        // chunks only: the others' are left out.
        for h in headers.iter_mut().filter(|h| !self.tracks(h.shard)) {
            h.outgoing_to = Bounded::new(vec![0; h.outgoing_to.len()]).map_err(|_| anyhow!("outgoing counts"))?;
        }
        match self.db().shard_outgoing(parent)? {
            Some(out) => incoming_from(&out, &headers),
            None => Ok(vec![Vec::new(); headers.len()]),
        }
    }

    /// Every shard's tree (untracked ones too: their stores exist, empty).
    fn shard_states(&self) -> Result<Vec<State<ShardStore<'_>>>> {
        (0..self.shards()).map(|s| self.db().shard(s).map(State::new).context("a shard store")).collect()
    }

    /// Every check of a sharded block short of the write: as
    /// [`Chain`]'s import of an unsharded one, with the K chunks executed
    /// in parallel, each chunk header compared with the computed one and the
    /// header's state root checked as the chunk headers' root.
    pub(crate) fn verify_sharded(
        &self,
        block: &Block,
        ctx: &BlockContext,
        now: u64,
        presigned: Presigned<'_>,
    ) -> Result<VerifiedShards, ImportError> {
        let started = Instant::now();
        let id = block.id();
        let internal = |source: anyhow::Error| ImportError::Internal { id, source };
        let invalid = |reason: BlockInvalid| ImportError::Invalid { id, reason };
        let header = &block.header;
        let spec = self.spec();
        let k = usize::from(spec.shards);
        let mut phases = crate::Phases::default();
        let t = Instant::now();
        self.check_stateless(block, ctx, now).map_err(invalid)?;
        let txs = block.transactions.as_slice();
        // The transactions in chunk order: each chunk header's count.
        let mut slices = Vec::with_capacity(k);
        let mut at = 0usize;
        for (s, c) in block.chunks.iter().enumerate() {
            let n = usize::try_from(c.header.tx_count).map_err(|e| internal(e.into()))?;
            let end = at.checked_add(n).filter(|e| *e <= txs.len());
            let Some(end) = end else {
                let reason = ChunkInvalid::TransactionCount { counted: at.saturating_add(n), carried: txs.len() };
                return Err(invalid(BlockInvalid::Chunk { shard: shard_id(s), reason }));
            };
            slices.push(&txs[at..end]);
            at = end;
        }
        if at != txs.len() {
            let reason = ChunkInvalid::TransactionCount { counted: at, carried: txs.len() };
            return Err(invalid(BlockInvalid::Chunk { shard: 0, reason }));
        }
        phases.checks = t.elapsed();

        let t = Instant::now();
        if let Err(bad) = presigned.verify(txs) {
            let index = bad.iter().copied().min().unwrap_or(0);
            return Err(invalid(BlockInvalid::Signature { index }));
        }
        phases.signatures = t.elapsed();

        let t = Instant::now();
        let prev = self
            .db()
            .chunks(&ctx.parent_id)
            .map_err(internal)?
            .with_context(|| format!("the parent {} is not stored", ctx.parent_id))
            .map_err(internal)?;
        let prev = chunk_headers(&prev);
        let credits = self.consensus().block_credits(header);
        let sb = ShardedBlock {
            spec,
            env: cinder_vm::BlockEnv {
                height: header.height(),
                time_ms: block_time_ms(header),
                coinbase: self.consensus().fee_recipient(header),
            },
            credits: &credits,
            last_commit: block.last_commit.as_ref(),
            parent_validators: ctx.parent_validators.as_deref(),
            upgrades: &ctx.upgrades,
            genesis: ctx.genesis,
            mode: Mode::Verify,
            threads: self.config().exec_threads,
            prev_chunks: &prev,
        };
        let inputs: Vec<ChunkInput<'_>> = slices
            .iter()
            .zip(block.chunks.iter())
            .map(|(txs, c)| ChunkInput { txs, incoming: c.incoming.as_slice() })
            .collect();
        let states = self.shard_states().map_err(internal)?;
        let versions = vec![ctx.parent_version; k];
        let tracked: Vec<bool> = (0..spec.shards).map(|s| self.tracks(s)).collect();
        let outs = execute_tracked(&sb, &states, &versions, &inputs, &tracked)
            .map_err(|e| match e.downcast::<crate::gov::UpgradeNeeded>() {
                Ok(needed) => ImportError::UpgradeNeeded { id, needed },
                Err(e) => internal(e),
            })?
            .map_err(invalid)?;
        // A chunk this node does not track: its header is taken from the
        // block (bound to the header by the chunks root below).
        for (s, (o, c)) in outs.iter().zip(block.chunks.iter()).enumerate() {
            if let Some(o) = o {
                check_header(&c.header, &o.header)
                    .map_err(|reason| invalid(BlockInvalid::Chunk { shard: shard_id(s), reason }))?;
            }
        }
        let receipts: Vec<_> = outs.iter().flatten().flat_map(|o| o.receipts.iter().cloned()).collect();
        if tracked.iter().all(|t| *t) {
            let computed = receipts_root(&receipts);
            if computed != header.fields.receipts_root {
                return Err(invalid(BlockInvalid::ReceiptsRoot { header: header.fields.receipts_root, computed }));
            }
        }
        let computed = cinder_primitives::shard::chunks_root(&block.chunk_headers());
        if computed != header.fields.state_root {
            return Err(invalid(BlockInvalid::StateRoot { header: header.fields.state_root, computed }));
        }
        phases.execution = t.elapsed();
        let stats = outs.first().and_then(|o| o.as_ref()).map(|o| o.stats).unwrap_or_default();
        let version = outs.first().and_then(|o| o.as_ref()).map(|o| o.batch.version).unwrap_or_default();
        // Untracked shards get an empty batch at the block's version: their
        // stores stay empty and in step.
        let (batches, outgoing) = outs
            .into_iter()
            .map(|o| match o {
                Some(o) => (o.batch, o.outgoing),
                None => (StateBatch { version, ..StateBatch::default() }, Vec::new()),
            })
            .unzip();
        let verified = Verified::of(receipts, stats, phases, started.elapsed());
        Ok(VerifiedShards { verified, batches, outgoing })
    }

    /// Builds a block of a sharded chain on `ctx` (a stored parent) from
    /// `candidates` (in priority order; each goes to its sender's chunk,
    /// and what is invalid at its position is left out), fees to
    /// `coinbase`, at local time `now`. The block comes back unsealed.
    /// With `signatures_verified` the caller verified every candidate's
    /// signature already (a node's pool); import verifies them again.
    pub fn build_sharded(
        &self,
        ctx: &BlockContext,
        candidates: Vec<SignedTransaction>,
        coinbase: Address,
        now: u64,
        signatures_verified: bool,
    ) -> Result<Built> {
        let proposal = self.consensus().propose(&ctx.ancestry(), now);
        self.build_sharded_proposed(ctx, candidates, coinbase, proposal, None, signatures_verified)
    }

    /// [`Chain::build_sharded`] with the consensus fields a proof-of-stake
    /// validator made (`proposal`: time and signed data) and the parent's
    /// certificate in the body.
    pub fn build_sharded_proposed(
        &self,
        ctx: &BlockContext,
        candidates: Vec<SignedTransaction>,
        coinbase: Address,
        proposal: cinder_consensus::Proposal,
        last_commit: Option<cinder_primitives::CommitCertificate>,
        signatures_verified: bool,
    ) -> Result<Built> {
        let spec = self.spec();
        let consensus = self.consensus();
        let k = usize::from(spec.shards);
        if !self.tracks_all() {
            bail!("a node that tracks only some shards cannot build blocks: it lacks the others' state");
        }
        let (txs, index, mut dropped) = crate::build::screen(candidates, spec.chain_id, signatures_verified);
        let height = ctx.parent.height() + 1;
        let consensus_data = BoundedBytes::new(proposal.consensus_data.clone())
            .map_err(|d| anyhow!("consensus data of {} bytes", d.len()))?;
        let draft =
            HeaderFields { height, coinbase, consensus_data: consensus_data.clone(), ..HeaderFields::default() };
        let draft = Header::new(ctx.parent_id, proposal.time, proposal.bits, draft);
        let credits = consensus.block_credits(&draft);
        // Each candidate to its sender's chunk, in order.
        let mut by_shard: Vec<Vec<(SignedTransaction, usize)>> = vec![Vec::new(); k];
        for (t, i) in txs.into_iter().zip(index) {
            by_shard[usize::from(shard_of(&t.tx.sender_address(), spec.shards))].push((t, i));
        }
        let chunk_txs: Vec<Vec<SignedTransaction>> =
            by_shard.iter().map(|c| c.iter().map(|(t, _)| t.clone()).collect()).collect();
        let prev = chunk_headers(&self.db().chunks(&ctx.parent_id)?.context("the parent is not stored")?);
        let incoming = self.incoming_after(&ctx.parent_id)?;
        let sb = ShardedBlock {
            spec,
            env: cinder_vm::BlockEnv {
                height,
                time_ms: block_time_ms(&draft),
                coinbase: consensus.fee_recipient(&draft),
            },
            credits: &credits,
            last_commit: last_commit.as_ref(),
            parent_validators: ctx.parent_validators.as_deref(),
            upgrades: &ctx.upgrades,
            genesis: ctx.genesis,
            mode: Mode::Build,
            threads: self.config().exec_threads,
            prev_chunks: &prev,
        };
        let inputs: Vec<ChunkInput<'_>> =
            chunk_txs.iter().zip(&incoming).map(|(txs, incoming)| ChunkInput { txs, incoming }).collect();
        let states = self.shard_states()?;
        let versions = vec![ctx.parent_version; k];
        let outs = match execute_chunks(&sb, &states, &versions, &inputs)? {
            Ok(o) => o,
            Err(e) => bail!("building a sharded block: {e}"),
        };
        let mut included = Vec::new();
        let mut receipts = Vec::new();
        let mut chunks = Vec::with_capacity(k);
        for ((o, cands), incoming) in outs.iter().zip(&by_shard).zip(incoming) {
            let mut keep = vec![false; cands.len()];
            for &i in &o.included {
                keep[i] = true;
                included.push(cands[i].0.clone());
            }
            for ((_, i), k) in cands.iter().zip(keep) {
                if !k {
                    dropped.push((*i, "invalid at its position or over the gas limit".to_string()));
                }
            }
            receipts.extend(o.receipts.iter().cloned());
            let incoming = Bounded::new(incoming).map_err(|v| anyhow!("{} incoming receipts: too many", v.len()))?;
            chunks.push(Chunk { header: o.header.clone(), incoming });
        }
        let transactions = Bounded::new(included).map_err(|v| anyhow!("{} transactions: too many", v.len()))?;
        let chunks = Bounded::new(chunks).map_err(|_| anyhow!("more shards than a block holds"))?;
        let mut block = Block { header: draft, transactions, last_commit, chunks };
        let fields = HeaderFields {
            height,
            state_root: cinder_primitives::shard::chunks_root(&block.chunk_headers()),
            transactions_root: block.transactions_root(),
            receipts_root: receipts_root(&receipts),
            coinbase,
            extra_nonce: 0,
            consensus_data,
        };
        block.header = Header::new(ctx.parent_id, proposal.time, proposal.bits, fields);
        let size = encode(&block).len() as u64;
        if size > spec.max_block_bytes {
            bail!("the block is {size} bytes, above the limit {}: pass fewer candidates", spec.max_block_bytes);
        }
        dropped.sort_unstable();
        let (batches, outgoing) = split_outputs(outs);
        let mut batches = batches.into_iter();
        let state = batches.next().context("no shard batches")?;
        Ok(Built { block, receipts, state, dropped, shards: batches.collect(), outgoing })
    }
}

/// Opens a sharded chain's database and writes its genesis if new: the
/// genesis block and every shard's state in one batch.
pub(crate) fn write_genesis(
    db: &Db,
    spec: &cinder_consensus::ChainSpec,
    weight: impl Fn(&Header) -> Result<u128>,
) -> Result<Hash> {
    let states: Vec<_> =
        (0..spec.shards).map(|s| db.shard(s).map(State::new).context("a shard store")).collect::<Result<_>>()?;
    let (block, batches) = genesis_shards(spec, &states)?;
    let w = cinder_storage::BlockWrite {
        block: &block,
        receipts: &[],
        state: &batches[0],
        shards: &batches[1..],
        outgoing: &[],
        weight: weight(&block.header)?,
        canonical: true,
    };
    db.write_block(&w)?;
    Ok(block.id())
}

/// The shards a node of `spec` tracks, one flag per shard, from the
/// configured list (`None`: all); refuses a list without shard 0, with a
/// shard past the chain's, or on a chain of one shard with anything but 0.
pub(crate) fn tracked_set(spec: &cinder_consensus::ChainSpec, list: Option<&[u16]>) -> Result<Vec<bool>> {
    let k = usize::from(spec.shards);
    let Some(list) = list else { return Ok(vec![true; k]) };
    let mut tracked = vec![false; k];
    for &s in list {
        *tracked.get_mut(usize::from(s)).with_context(|| format!("shard {s} to track: the chain has {k} shards"))? =
            true;
    }
    if !tracked[0] {
        bail!(
            "the tracked shards must include shard 0: its state holds the parameters, stake and governance every chunk reads"
        );
    }
    Ok(tracked)
}

/// The metadata record of the tracked shards.
const META_TRACKED: &[u8] = b"tracked_shards";

/// Records the tracked shards in a new data directory, or refuses another
/// set than the one it was created with (a shard not kept from the start
/// has no state to continue from).
pub(crate) fn check_tracked(db: &Db, tracked: &[bool]) -> Result<()> {
    let mine: Vec<u8> = tracked.iter().map(|t| u8::from(*t)).collect();
    match db.get_meta(META_TRACKED)? {
        Some(stored) if stored == mine => Ok(()),
        Some(stored) => bail!(
            "the data directory keeps shards {:?}, not {:?}: track the same shards or sync a new data directory",
            listed(&stored),
            listed(&mine)
        ),
        None if db.head()?.is_some() && mine.contains(&0) => {
            bail!("the data directory keeps every shard; tracking fewer needs a new data directory")
        }
        None => db.put_meta(META_TRACKED, &mine),
    }
}

fn listed(flags: &[u8]) -> Vec<usize> {
    flags.iter().enumerate().filter(|(_, f)| **f == 1).map(|(i, _)| i).collect()
}

fn split_outputs(outs: Vec<ChunkOutput>) -> (Vec<StateBatch>, Vec<Vec<ShardReceipt>>) {
    outs.into_iter().map(|o| (o.batch, o.outgoing)).unzip()
}

fn shard_id(s: usize) -> u16 {
    u16::try_from(s).unwrap_or(u16::MAX)
}
