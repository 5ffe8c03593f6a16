//! The chain: a database, a spec, consensus, and the import pipeline.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use cinder_consensus::{ChainSpec, Consensus, Tip, Validators, for_spec};
use cinder_engine::exec::{ExecStats, Mode};
use cinder_primitives::{Account, Address, Block, Hash, Receipt, encode, receipts_root, verify_signatures};
use cinder_state::{KeyHash, Pending, State, StateBatch, StateStore, Version};
use cinder_storage::{BlockWrite, Db};
use rayon::prelude::*;

use crate::error::{BlockInvalid, ChunkInvalid, ImportError};
use crate::exec::{BlockContext, BlockRules, block_time_ms, execute_block};
use crate::genesis;

/// The metadata record holding the chain spec's digest.
const META_SPEC: &[u8] = b"chain_spec_digest";

/// Tuning of a chain.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// Threads the executor uses (1: sequential).
    pub exec_threads: usize,
    /// The most blocks a reorg may revert; blocks whose chain forks deeper
    /// below the head are refused.
    pub max_reorg_depth: u64,
    /// Prune the state of blocks more than `max_reorg_depth` below the head
    /// (false: keep every version, an archive node).
    pub prune: bool,
    /// The software upgrades this node can apply at their heights.
    pub upgrades: crate::gov::Upgrades,
    /// On a sharded chain, the shards whose state this node keeps and
    /// whose chunks it executes (`None`: all). Shard 0 must be one: its
    /// state holds the chain parameters every chunk's rules read. The set
    /// is fixed when the data directory is created.
    pub track_shards: Option<Vec<u16>>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            exec_threads: rayon::current_num_threads(),
            max_reorg_depth: 1_000,
            prune: true,
            upgrades: crate::gov::Upgrades::release(),
            track_shards: None,
        }
    }
}

/// Time spent in each phase of an import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Phases {
    /// Size, consensus, transaction envelopes and the transactions root.
    pub checks: Duration,
    /// Batch signature verification.
    pub signatures: Duration,
    /// Reading the touched accounts.
    pub state_read: Duration,
    /// Block-STM execution and receipts.
    pub execution: Duration,
    /// Updating the state tree (the state root).
    pub state_root: Duration,
    /// The atomic write (and pruning the state that fell out of the reorg
    /// depth).
    pub commit: Duration,
}

impl Phases {
    /// The sum of the phases.
    pub fn total(&self) -> Duration {
        self.checks + self.signatures + self.state_read + self.execution + self.state_root + self.commit
    }
}

impl std::ops::AddAssign for Phases {
    fn add_assign(&mut self, o: Phases) {
        self.checks += o.checks;
        self.signatures += o.signatures;
        self.state_read += o.state_read;
        self.execution += o.execution;
        self.state_root += o.state_root;
        self.commit += o.commit;
    }
}

/// Where an imported block went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportStatus {
    /// Already stored; nothing done.
    Known,
    /// It extends the head and is the new head.
    Head,
    /// Its chain won fork choice: the head moved to it, reverting `depth`
    /// blocks of the old chain.
    Reorg {
        /// Blocks of the old chain reverted.
        depth: u64,
        /// The old head.
        old_head: Hash,
    },
    /// Stored on a side chain that does not win fork choice.
    Side,
}

/// An imported block.
#[derive(Clone, Debug)]
pub struct Imported {
    /// Its id.
    pub id: Hash,
    /// Its height.
    pub height: u64,
    /// Where it went.
    pub status: ImportStatus,
    /// Time per phase.
    pub phases: Phases,
    /// Executor counters.
    pub stats: ExecStats,
}

impl Imported {
    fn known(block: &Block) -> Imported {
        Imported {
            id: block.id(),
            height: block.header.height(),
            status: ImportStatus::Known,
            phases: Phases::default(),
            stats: ExecStats::default(),
        }
    }
}

/// A block [`Chain::check`] passed: its execution and state batch, for
/// [`Chain::import_checked`].
pub struct Checked {
    id: Hash,
    ctx: BlockContext,
    verified: Verified,
    batch: cinder_state::StateBatch,
    /// A sharded block's other shards' batches and its chunks' emitted
    /// receipts (empty otherwise).
    shards: Vec<StateBatch>,
    outgoing: Vec<Vec<cinder_primitives::ShardReceipt>>,
}

/// A block checked and executed, before its state root.
pub(crate) struct Verified {
    updates: Vec<(Address, Option<Account>)>,
    data: Vec<(KeyHash, Option<Vec<u8>>)>,
    ordered: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    receipts: Vec<Receipt>,
    stats: ExecStats,
    phases: Phases,
    elapsed: Duration,
}

impl Verified {
    /// A sharded block's: its state is in the shards' batches.
    pub(crate) fn of(receipts: Vec<Receipt>, stats: ExecStats, phases: Phases, elapsed: Duration) -> Verified {
        Verified { updates: Vec::new(), data: Vec::new(), ordered: Vec::new(), receipts, stats, phases, elapsed }
    }
}

/// Which signatures of a block the caller verified already.
#[derive(Clone, Copy)]
pub(crate) enum Presigned<'a> {
    /// None: verify all.
    None,
    /// All (the node's own block, built from its pool).
    All,
    /// Those marked true, index by index.
    Mask(&'a [bool]),
}

impl Presigned<'_> {
    /// Verifies the signatures not already verified, as one batch; the
    /// indexes of bad ones.
    pub(crate) fn verify(self, txs: &[cinder_primitives::SignedTransaction]) -> Result<(), Vec<usize>> {
        match self {
            Presigned::None => verify_signatures(txs),
            Presigned::All => Ok(()),
            Presigned::Mask(m) => {
                let rest: Vec<usize> = (0..txs.len()).filter(|i| !m.get(*i).copied().unwrap_or(false)).collect();
                if rest.len() == txs.len() {
                    return verify_signatures(txs);
                }
                let subset: Vec<_> = rest.iter().map(|i| txs[*i].clone()).collect();
                verify_signatures(&subset).map_err(|bad| bad.into_iter().map(|j| rest[j]).collect())
            }
        }
    }
}

/// A chain on a database.
pub struct Chain {
    db: Db,
    spec: ChainSpec,
    consensus: Box<dyn Consensus>,
    genesis: Hash,
    config: ChainConfig,
    import_lock: Mutex<()>,
    /// Recently read validator sets, by the BLAKE3 of their record.
    sets: Mutex<Vec<(Hash, Arc<Validators>)>>,
}

/// Local time in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Chain {
    /// Opens the chain in `dir`, writing genesis if the database is new;
    /// refuses a database that holds another chain.
    pub fn open(dir: &Path, spec: ChainSpec, config: ChainConfig) -> Result<Chain> {
        let tracked = crate::sharded::tracked_set(&spec, config.track_shards.as_deref())?;
        let consensus = for_spec(&spec)?;
        let db = Db::open_sharded(dir, spec.shards)?;
        crate::sharded::check_tracked(&db, &tracked)?;
        let digest = spec.digest();
        let genesis = match db.canonical(0)? {
            Some((id, _)) => {
                let stored = db.header(&id)?.context("the genesis header is missing")?;
                let matches = match db.get_meta(META_SPEC)? {
                    Some(d) => d == digest,
                    // Genesis was written but the digest was not (a crash
                    // in between): recompute the genesis state.
                    None => genesis::block(&spec)?.id() == id,
                };
                if !matches || genesis::header(&spec, stored.fields.state_root).id() != id {
                    bail!(
                        "the data directory {} holds a chain with genesis {id} and another chain spec than {spec}: \
                         use another data directory or the chain spec it was created with",
                        dir.display()
                    );
                }
                db.put_meta(META_SPEC, &digest)?;
                id
            }
            None if spec.shards > 1 => {
                let id = crate::sharded::write_genesis(&db, &spec, |h| {
                    consensus.block_weight(h).map_err(|e| anyhow!("genesis bits: {e}"))
                })?;
                db.put_meta(META_SPEC, &digest)?;
                tracing::info!(genesis = %id, shards = spec.shards, "wrote genesis");
                id
            }
            None => {
                let state = State::new(&db);
                let (accounts, data) = genesis::state(&spec)?;
                let (root, batch) = state.apply_all(None, &accounts, &data).context("the genesis state")?;
                let block = Block {
                    header: genesis::header(&spec, root),
                    transactions: Default::default(),
                    last_commit: None,
                    chunks: Default::default(),
                };
                let weight = consensus.block_weight(&block.header).map_err(|e| anyhow!("genesis bits: {e}"))?;
                db.write_block(&BlockWrite {
                    block: &block,
                    receipts: &[],
                    state: &batch,
                    shards: &[],
                    weight,
                    canonical: true,
                    outgoing: &[],
                })?;
                db.put_meta(META_SPEC, &digest)?;
                tracing::info!(genesis = %block.id(), "wrote genesis");
                block.id()
            }
        };
        Ok(Chain { db, spec, consensus, genesis, config, import_lock: Mutex::new(()), sets: Mutex::new(Vec::new()) })
    }

    /// The genesis block id.
    pub fn genesis_id(&self) -> Hash {
        self.genesis
    }
    /// The spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }
    /// The consensus rules.
    pub fn consensus(&self) -> &dyn Consensus {
        self.consensus.as_ref()
    }
    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
    /// The configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }
    /// The state tree over the database.
    pub fn state(&self) -> State<&Db> {
        State::new(&self.db)
    }

    /// The canonical head.
    pub fn head(&self) -> Result<Tip> {
        let head = self.db.head()?.context("the database has no head")?;
        let meta = self.db.block_meta(&head.id)?.with_context(|| format!("no metadata for the head {}", head.id))?;
        Ok(Tip { id: head.id, height: head.height, weight: meta.weight })
    }

    /// What a child of stored block `parent` is checked against; `None` if
    /// it is not stored.
    pub fn context(&self, parent: &Hash) -> Result<Option<BlockContext>> {
        let Some(meta) = self.db.block_meta(parent)? else { return Ok(None) };
        let header = self.db.header(parent)?.with_context(|| format!("block {parent} has metadata but no header"))?;
        let window = self.consensus.ancestry_window();
        let mut recent_times = Vec::with_capacity(window);
        recent_times.push(header.pow.time());
        let mut h = header.clone();
        while recent_times.len() < window && h.height() > 0 {
            let prev = h.prev();
            h = self.db.header(&prev)?.with_context(|| format!("ancestor {prev} is missing"))?;
            recent_times.push(h.pow.time());
        }
        recent_times.reverse();
        let (validators, parent_validators) = match self.spec.pos.as_ref().map(|p| &p.staking) {
            None => (None, None),
            Some(st) => {
                let h = header.height();
                let parent_set = match h {
                    0 => None,
                    _ => self.validators_of_epoch(meta.version, st.epoch_of(h))?,
                };
                (self.validators_of_epoch(meta.version, st.epoch_of(h + 1))?, parent_set)
            }
        };
        Ok(Some(BlockContext {
            parent: header,
            parent_id: *parent,
            parent_version: meta.version,
            parent_weight: meta.weight,
            recent_times,
            validators,
            parent_validators,
            upgrades: self.config.upgrades.clone(),
            genesis: self.genesis,
        }))
    }

    /// The context of a child of `parent` — a block checked against `ctx`
    /// whose state is version `version` of `state` — without reading the
    /// stored chain: what [`Chain::context`] returns once `parent` is
    /// stored (the validator sets come from `state`).
    pub fn child_context<S: StateStore>(
        &self,
        state: &State<S>,
        ctx: &BlockContext,
        parent: &Block,
        version: Version,
    ) -> Result<BlockContext> {
        let weight =
            self.consensus.block_weight(&parent.header).map_err(|e| anyhow!("the weight of {}: {e}", parent.id()))?;
        let mut child =
            ctx.child(parent, version, ctx.parent_weight.saturating_add(weight), self.consensus.ancestry_window());
        if let Some(st) = self.spec.pos.as_ref().map(|p| &p.staking) {
            let h = parent.header.height();
            child.parent_validators = match h {
                0 => None,
                _ => self.validators_in(state, version, st.epoch_of(h))?,
            };
            child.validators = self.validators_in(state, version, st.epoch_of(h + 1))?;
        }
        Ok(child)
    }

    /// PoS: the validator set of `epoch` as the state at `version` records
    /// it (`None` if it records none: too old, or not yet chosen).
    pub fn validators_of_epoch(&self, version: Version, epoch: u64) -> Result<Option<Arc<Validators>>> {
        self.validators_in(&self.state(), version, epoch)
    }

    /// [`Chain::validators_of_epoch`] in `state` (the database, or a view
    /// with uncommitted blocks on top).
    fn validators_in<S: StateStore>(
        &self,
        state: &State<S>,
        version: Version,
        epoch: u64,
    ) -> Result<Option<Arc<Validators>>> {
        let key = crate::staking::record_key(&cinder_staking::store::set_key(epoch));
        let Some(bytes) = state.data(version, key)? else { return Ok(None) };
        let digest = Hash::of(&bytes);
        let mut cache = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, v)) = cache.iter().find(|(d, _)| *d == digest) {
            return Ok(Some(v.clone()));
        }
        let set = cinder_staking::store::decode_set(&bytes)
            .with_context(|| format!("the validator set of epoch {epoch} does not decode"))?;
        let v = Arc::new(Validators::from_set(&set).map_err(|e| anyhow!("the validator set of epoch {epoch}: {e}"))?);
        if cache.len() >= 4 {
            cache.remove(0);
        }
        cache.push((digest, v.clone()));
        Ok(Some(v))
    }

    /// PoS: the validators of a child of stored block `parent` (`None`
    /// under PoW or if `parent` is not stored).
    pub fn validators_after(&self, parent: &Hash) -> Result<Option<Arc<Validators>>> {
        Ok(self.context(parent)?.and_then(|c| c.validators))
    }

    /// PoS: the validators of canonical height `height` (at least 1), from
    /// the head's state while it keeps that epoch's set (the sets of the
    /// unbonding period and one more).
    pub fn validators_at_height(&self, height: u64) -> Result<Option<Arc<Validators>>> {
        let Some(st) = self.spec.pos.as_ref().map(|p| &p.staking) else { return Ok(None) };
        let Some(head) = self.db.head()? else { return Ok(None) };
        if height > head.height.saturating_add(1) {
            return Ok(None);
        }
        let meta = self.db.block_meta(&head.id)?.context("the head has no metadata")?;
        self.validators_of_epoch(meta.version, st.epoch_of(height.max(1)))
    }

    /// PoS: the staking ledger of the head's state, with the delegations
    /// `pairs` (delegator, operator) loaded.
    pub fn staking_ledger(&self, pairs: &[(Address, Address)]) -> Result<Option<cinder_staking::store::Loaded>> {
        let Some(st) = self.spec.pos.as_ref().map(|p| &p.staking) else { return Ok(None) };
        let head = self.db.head()?.context("the database has no head")?;
        let meta = self.db.block_meta(&head.id)?.context("the head has no metadata")?;
        crate::staking::load(&self.state(), meta.version, st, pairs).map(Some)
    }

    /// The state version of the head.
    fn head_version(&self) -> Result<cinder_state::Version> {
        let head = self.db.head()?.context("the database has no head")?;
        Ok(self.db.block_meta(&head.id)?.context("the head has no metadata")?.version)
    }

    /// The chain parameters the head's child is checked against (PoS: from
    /// the head's state; PoW: the spec's).
    pub fn params(&self) -> Result<cinder_gov::ChainParams> {
        crate::gov::params_at(&self.state(), self.head_version()?, &self.spec)
    }

    /// PoS: the governance meta record of the head's state (pool, queue,
    /// upgrade plan); `None` under PoW.
    pub fn gov_meta(&self) -> Result<Option<cinder_gov::Meta>> {
        if self.spec.pos.is_none() {
            return Ok(None);
        }
        let key = crate::gov::record_key(&cinder_gov::store::meta_key());
        match self.state().data(self.head_version()?, key)? {
            None => Ok(Some(cinder_gov::Meta::default())),
            Some(b) => borsh::from_slice(&b).map(Some).context("the governance meta record does not decode"),
        }
    }

    /// PoS: the upgrade scheduled for the head's child when this binary has
    /// no handler for it: the node must stop before that block (x/upgrade
    /// halts every node there, proposer or not).
    pub fn upgrade_needed(&self) -> Result<Option<crate::gov::UpgradeNeeded>> {
        let Some(meta) = self.gov_meta()? else { return Ok(None) };
        let next = self.head()?.height.saturating_add(1);
        Ok(meta
            .plan
            .filter(|p| p.height == next && self.config.upgrades.get(p.name.as_str()).is_none())
            .map(|p| crate::gov::UpgradeNeeded::of(&p)))
    }

    /// PoS: proposal `id` in the head's state.
    pub fn proposal(&self, id: u64) -> Result<Option<cinder_gov::Proposal>> {
        let key = crate::gov::record_key(&cinder_gov::store::proposal_key(id));
        match self.state().data(self.head_version()?, key)? {
            None => Ok(None),
            Some(b) => borsh::from_slice(&b).map(Some).with_context(|| format!("proposal {id} does not decode")),
        }
    }

    /// PoS: the votes cast so far on live proposal `id` in the head's state
    /// (an ended proposal keeps its tally, not its votes), in voting order.
    pub fn votes(&self, id: u64) -> Result<Vec<(Address, cinder_primitives::VoteOption)>> {
        let Some(p) = self.proposal(id)? else { return Ok(Vec::new()) };
        if !p.status.is_live() {
            return Ok(Vec::new());
        }
        let (state, version) = (self.state(), self.head_version()?);
        let get = |k: &[u8]| state.data(version, crate::gov::record_key(k));
        let voters = cinder_gov::store::load_voters(&get, id, p.voters).map_err(|e| anyhow!("{e}"))?;
        let mut out = Vec::with_capacity(voters.len());
        for v in voters {
            let bytes =
                get(&cinder_gov::store::vote_key(id, &v))?.with_context(|| format!("the vote of {v} is missing"))?;
            out.push((v, borsh::from_slice(&bytes).with_context(|| format!("the vote of {v} does not decode"))?));
        }
        Ok(out)
    }

    /// PoS: the tally of live proposal `id` if it ended with the head (on
    /// the head's stake).
    pub fn tally_now(&self, id: u64) -> Result<Option<cinder_gov::Tally>> {
        let votes: std::collections::BTreeMap<_, _> = self.votes(id)?.into_iter().collect();
        let voters: Vec<Address> = votes.keys().copied().collect();
        let Some(mut ledger) = self.staking_ledger(&[])? else { return Ok(None) };
        let operators: Vec<Address> = ledger.staking.validators.keys().copied().collect();
        let pairs: Vec<(Address, Address)> =
            voters.iter().flat_map(|v| operators.iter().map(move |o| (*v, *o))).collect();
        let (state, version) = (self.state(), self.head_version()?);
        ledger.load_more(|k| state.data(version, crate::staking::record_key(k)), &pairs).map_err(|e| anyhow!("{e}"))?;
        cinder_gov::tally(&ledger.staking, &votes).map(Some).map_err(|e| anyhow!("{e}"))
    }

    /// Imports `block` with the local clock.
    pub fn import(&self, block: &Block) -> Result<Imported, ImportError> {
        self.import_at(block, unix_now())
    }

    /// Imports `block` as if the local time were `now` (Unix seconds): the
    /// stateless checks in parallel (size, consensus, transaction envelopes,
    /// transactions root), all signatures as one batch, execution under
    /// Block-STM (Verify), the receipts and state roots, then one atomic
    /// write of block, receipts, state, indexes and (if fork choice says
    /// so) the new head. Nothing is written unless every check passes.
    pub fn import_at(&self, block: &Block, now: u64) -> Result<Imported, ImportError> {
        self.import_inner(block, now, Presigned::None)
    }

    /// Imports a block this node built from transactions whose signatures
    /// it verified already (the mempool admits only verified ones): every
    /// check of [`Chain::import_at`] except the signature batch. Never for
    /// a block from elsewhere.
    pub fn import_own(&self, block: &Block) -> Result<Imported, ImportError> {
        self.import_inner(block, unix_now(), Presigned::All)
    }

    /// Imports a block from elsewhere with the local clock, skipping the
    /// signatures of the transactions marked in `verified` (index by
    /// index): the caller verified exactly those signed transactions
    /// already — a node's pool holds only verified ones, so a block's
    /// transaction byte-identical to a pooled one needs no second check.
    /// Every other check runs.
    pub fn import_presigned(&self, block: &Block, verified: &[bool]) -> Result<Imported, ImportError> {
        self.import_inner(block, unix_now(), Presigned::Mask(verified))
    }

    fn import_inner(&self, block: &Block, now: u64, presigned: Presigned<'_>) -> Result<Imported, ImportError> {
        let _guard = self.import_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let id = block.id();
        let internal = |source: anyhow::Error| ImportError::Internal { id, source };
        if self.db.block_meta(&id).map_err(internal)?.is_some() {
            return Ok(Imported::known(block));
        }
        let t = Instant::now();
        let parent = block.header.prev();
        let ctx = self.context(&parent).map_err(internal)?.ok_or(ImportError::UnknownParent { id, parent })?;
        // A block off the head must fork within the reorg depth: deeper
        // branches can never become canonical and their state is pruned.
        let head = self.head().map_err(internal)?;
        let branch = if parent == head.id {
            Vec::new()
        } else {
            self.branch_above_fork(&parent, &head).map_err(|e| match e {
                Deep(depth, max) => ImportError::ReorgTooDeep { id, depth, max },
                Other(e) => internal(e),
            })?
        };
        if self.spec.shards > 1 {
            let mut s = self.verify_sharded(block, &ctx, now, presigned)?;
            s.verified.phases.checks += t.elapsed() - s.verified.elapsed;
            let shards = (&s.batches[1..], s.outgoing.as_slice());
            return self.write_parts(block, &ctx, &head, &branch, &s.verified, &s.batches[0], shards);
        }
        let mut v = self.verify(&self.state(), block, &ctx, now, presigned)?;
        v.phases.checks += t.elapsed() - v.elapsed;
        self.commit(block, &ctx, &head, &branch, v)
    }

    /// Every check import makes, execution and the state root included,
    /// without writing anything: whether a proposed block is valid before
    /// consensus decides it. Signatures marked in `verified` are skipped as
    /// in [`Chain::import_presigned`]. The result can be committed later
    /// with [`Chain::import_checked`] without executing the block again.
    pub fn check(&self, block: &Block, verified: &[bool]) -> Result<Checked, ImportError> {
        let id = block.id();
        let internal = |source: anyhow::Error| ImportError::Internal { id, source };
        let t = Instant::now();
        let parent = block.header.prev();
        let ctx = self.context(&parent).map_err(internal)?.ok_or(ImportError::UnknownParent { id, parent })?;
        if self.spec.shards > 1 {
            let mut s = self.verify_sharded(block, &ctx, unix_now(), Presigned::Mask(verified))?;
            s.verified.phases.checks += t.elapsed() - s.verified.elapsed;
            let mut batches = s.batches.into_iter();
            let batch = batches.next().context("no shard batches").map_err(internal)?;
            let shards = batches.collect();
            return Ok(Checked { id, ctx, verified: s.verified, batch, shards, outgoing: s.outgoing });
        }
        let state = self.state();
        let mut v = self.verify(&state, block, &ctx, unix_now(), Presigned::Mask(verified))?;
        v.phases.checks += t.elapsed() - v.elapsed;
        let batch = self.state_root(&state, block, &ctx, &mut v)?;
        Ok(Checked { id, ctx, verified: v, batch, shards: Vec::new(), outgoing: Vec::new() })
    }

    /// The [`Checked`] of a block this node built itself on `ctx` (its
    /// receipts and the state batch the builder computed on the database's
    /// newest version): [`Chain::import_checked`] then commits it without a
    /// second execution, as [`Chain::import_own`] would after one.
    pub fn own_checked(&self, block: &Block, ctx: BlockContext, built: crate::Built) -> Checked {
        let verified = Verified {
            updates: Vec::new(),
            data: Vec::new(),
            ordered: Vec::new(),
            receipts: built.receipts,
            stats: ExecStats::default(),
            phases: Phases::default(),
            elapsed: Duration::ZERO,
        };
        Checked { id: block.id(), ctx, verified, batch: built.state, shards: built.shards, outgoing: built.outgoing }
    }

    /// Imports a block [`Chain::check`] passed, reusing its execution and
    /// state batch when nothing was written since (else it checks again).
    pub fn import_checked(&self, block: &Block, checked: Checked) -> Result<Imported, ImportError> {
        let id = block.id();
        if checked.id != id {
            return self.import(block);
        }
        let _guard = self.import_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let internal = |source: anyhow::Error| ImportError::Internal { id, source };
        if self.db.block_meta(&id).map_err(internal)?.is_some() {
            return Ok(Imported::known(block));
        }
        let fresh = self.db.latest().map_err(internal)?.is_none_or(|l| checked.batch.version > l);
        let head = self.head().map_err(internal)?;
        if !fresh || head.id != checked.ctx.parent_id {
            drop(_guard);
            return self.import(block);
        }
        let parts = (checked.shards.as_slice(), checked.outgoing.as_slice());
        self.commit_with(block, &checked.ctx, &head, &[], checked.verified, Some(checked.batch), parts)
    }

    /// Makes stored block `id` the head when consensus finalized it but it
    /// sits on a side branch (a peer handed this node an undecided block of
    /// the same height first). Under proof of stake only blocks above the
    /// finalized height can be reverted, so this reverts at most the
    /// unproven head. Returns the import record of the move (`Known` if
    /// `id` is the head already).
    pub fn adopt_finalized(&self, id: &Hash) -> Result<Imported, ImportError> {
        let _guard = self.import_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let internal = |source: anyhow::Error| ImportError::Internal { id: *id, source };
        let head = self.head().map_err(internal)?;
        let meta =
            self.db.block_meta(id).map_err(internal)?.ok_or(ImportError::UnknownParent { id: *id, parent: *id })?;
        if head.id == *id || self.db.canonical(meta.height).map_err(internal)?.is_some_and(|(c, _)| c == *id) {
            let status = ImportStatus::Known;
            return Ok(Imported {
                id: *id,
                height: meta.height,
                status,
                phases: Phases::default(),
                stats: ExecStats::default(),
            });
        }
        let branch = self.branch_above_fork(id, &head).map_err(|e| match e {
            Deep(depth, max) => ImportError::ReorgTooDeep { id: *id, depth, max },
            Other(e) => internal(e),
        })?;
        let fork_height = meta.height - branch.len() as u64;
        self.db.reorg(&branch).map_err(internal)?;
        let depth = head.height - fork_height;
        tracing::warn!(%id, height = meta.height, depth, old_head = %head.id, "adopted the finalized block over an unproven head");
        let status = ImportStatus::Reorg { depth, old_head: head.id };
        Ok(Imported { id: *id, height: meta.height, status, phases: Phases::default(), stats: ExecStats::default() })
    }

    /// Imports `blocks`, each the child of the one before, the first a
    /// child of any stored block, as [`Chain::import_at`] would one by one,
    /// but pipelined when they extend the head: block `i + 1` is checked,
    /// its signatures verified, its transactions executed and its state
    /// root computed on block `i`'s state (a [`Pending`] view of its batch)
    /// while block `i`'s atomic write runs on another thread. PoW and PoS
    /// alike: the child's context, validator sets included, comes from that
    /// view. Stops at the first error; returns the imported blocks and that
    /// error.
    pub fn import_chain(&self, blocks: &[Block], now: u64) -> (Vec<Imported>, Option<ImportError>) {
        let Some(first) = blocks.first() else { return (Vec::new(), None) };
        let linear = blocks.windows(2).all(|w| w[1].header.prev() == w[0].id());
        let guard = self.import_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let unstored = |b: &Block| self.db.block_meta(&b.id()).is_ok_and(|m| m.is_none());
        match self.head() {
            Ok(head)
                if linear && self.spec.shards == 1 && head.id == first.header.prev() && blocks.iter().all(unstored) =>
            {
                let r = self.import_pipelined(blocks, &head, now);
                drop(guard);
                r
            }
            // Not a plain extension of the head (or a block already
            // stored): one at a time, with fork choice.
            _ => {
                drop(guard);
                self.import_each(blocks, now)
            }
        }
    }

    /// The pipeline of [`Chain::import_chain`] (under the import lock) for
    /// blocks that extend `head`.
    fn import_pipelined(&self, blocks: &[Block], head: &Tip, now: u64) -> (Vec<Imported>, Option<ImportError>) {
        let mut done = Vec::with_capacity(blocks.len());
        // The block being written: it, its context, execution and batch.
        let mut writing: Option<(&Block, BlockContext, Verified, StateBatch)> = None;
        for block in blocks {
            // The write on one worker of the pool, the child's check on the
            // others (no thread beyond the pool's: an extra one would
            // preempt the check's fork-join work on a small machine).
            let state = State::new(Pending::new(&self.db, writing.as_ref().map(|w| &w.3)));
            let parent = writing.as_ref().map(|(b, c, _, batch)| (*b, c, batch.version));
            let (written, checked) = rayon::join(
                || writing.as_ref().map(|(b, c, v, batch)| self.write(b, c, &c.parent_tip(), &[], v, batch)),
                || self.check_on(&state, block, parent, head, now),
            );
            match written {
                Some(Ok(r)) => done.push(r),
                Some(Err(e)) => return (done, Some(e)),
                None => {}
            }
            match checked {
                Ok((ctx, v, batch)) => writing = Some((block, ctx, v, batch)),
                Err(e) => return (done, Some(e)),
            }
        }
        if let Some((b, c, v, batch)) = &writing {
            match self.write(b, c, &c.parent_tip(), &[], v, batch) {
                Ok(r) => done.push(r),
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }

    /// One pipelined block: its context (from `parent` — the block before,
    /// its context and state version — or, for the first, the stored
    /// `head`), every check, execution and the state root, on `state`.
    fn check_on<S: StateStore>(
        &self,
        state: &State<S>,
        block: &Block,
        parent: Option<(&Block, &BlockContext, Version)>,
        head: &Tip,
        now: u64,
    ) -> Result<(BlockContext, Verified, StateBatch), ImportError> {
        let id = block.id();
        let internal = |source: anyhow::Error| ImportError::Internal { id, source };
        let t = Instant::now();
        let ctx = match parent {
            Some((p, pctx, version)) => self.child_context(state, pctx, p, version).map_err(internal)?,
            None => {
                self.context(&head.id).map_err(internal)?.ok_or(ImportError::UnknownParent { id, parent: head.id })?
            }
        };
        let mut v = self.verify(state, block, &ctx, now, Presigned::None)?;
        v.phases.checks += t.elapsed() - v.elapsed;
        let batch = self.state_root(state, block, &ctx, &mut v)?;
        Ok((ctx, v, batch))
    }

    /// [`Chain::import_at`] on each block in turn, stopping at the first
    /// error.
    fn import_each(&self, blocks: &[Block], now: u64) -> (Vec<Imported>, Option<ImportError>) {
        let mut done = Vec::with_capacity(blocks.len());
        for b in blocks {
            match self.import_at(b, now) {
                Ok(r) => done.push(r),
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }

    /// The checks that need no state, in order: the size, the chunk count
    /// (one per shard on a sharded chain, none otherwise), the consensus
    /// rules against `ctx`, the transaction envelopes (in parallel) and the
    /// transactions root.
    pub(crate) fn check_stateless(&self, block: &Block, ctx: &BlockContext, now: u64) -> Result<(), BlockInvalid> {
        let header = &block.header;
        let bytes = encode(block).len() as u64;
        if bytes > self.spec.max_block_bytes {
            return Err(BlockInvalid::TooLarge { bytes, max: self.spec.max_block_bytes });
        }
        // On a chain of one shard the header does not commit to chunks (its
        // state root is the state's): a block carrying any is refused, so
        // no two bodies share an id.
        let chunks = if self.spec.shards > 1 { usize::from(self.spec.shards) } else { 0 };
        if block.chunks.len() != chunks {
            return Err(BlockInvalid::Chunk {
                shard: 0,
                reason: ChunkInvalid::Count { got: block.chunks.len(), expected: chunks },
            });
        }
        self.consensus.check_header(header, now)?;
        self.consensus.check_with_parent(header, &ctx.ancestry())?;
        self.consensus.check_body(block, &ctx.ancestry())?;
        let chain_id = self.spec.chain_id;
        if let Some((index, e)) = block
            .transactions
            .par_iter()
            .enumerate()
            .find_map_first(|(i, t)| t.check_envelope(chain_id).err().map(|e| (i, e)))
        {
            return Err(BlockInvalid::Transaction { index, reason: e.to_string() });
        }
        let computed = block.transactions_root();
        if computed != header.fields.transactions_root {
            return Err(BlockInvalid::TransactionsRoot { header: header.fields.transactions_root, computed });
        }
        Ok(())
    }

    /// Everything short of the state root: size, consensus against `ctx`,
    /// envelopes, transactions root, signatures, execution on `state` at
    /// `ctx.parent_version`, receipts root.
    fn verify<S: StateStore>(
        &self,
        state: &State<S>,
        block: &Block,
        ctx: &BlockContext,
        now: u64,
        presigned: Presigned<'_>,
    ) -> Result<Verified, ImportError> {
        let started = Instant::now();
        let id = block.id();
        let internal = |source: anyhow::Error| ImportError::Internal { id, source };
        let invalid = |reason: BlockInvalid| ImportError::Invalid { id, reason };
        let header = &block.header;
        let mut phases = Phases::default();
        let t = Instant::now();
        self.check_stateless(block, ctx, now).map_err(invalid)?;
        let txs = block.transactions.as_slice();
        phases.checks = t.elapsed();

        let t = Instant::now();
        if let Err(bad) = presigned.verify(txs) {
            let index = bad.iter().copied().min().unwrap_or(0);
            return Err(invalid(BlockInvalid::Signature { index }));
        }
        phases.signatures = t.elapsed();

        let credits = self.consensus.block_credits(header);
        let base = ctx.parent_version;
        let rules = BlockRules::of(
            &self.spec,
            state,
            base,
            header.height(),
            block.last_commit.as_ref(),
            ctx.parent_validators.as_deref(),
            &ctx.upgrades,
            ctx.genesis,
        )
        .map_err(internal)?;
        let env = cinder_vm::BlockEnv {
            height: header.height(),
            time_ms: block_time_ms(header),
            coinbase: self.consensus.fee_recipient(header),
        };
        let ex = execute_block(state, base, txs, env, &credits, Mode::Verify, self.config.exec_threads, &rules)
            .map_err(|e| match e.downcast::<crate::gov::UpgradeNeeded>() {
                Ok(needed) => ImportError::UpgradeNeeded { id, needed },
                Err(e) => internal(e),
            })?
            .map_err(invalid)?;
        phases.state_read = ex.state_read;
        let t = Instant::now();
        let computed = receipts_root(&ex.receipts);
        if computed != header.fields.receipts_root {
            return Err(invalid(BlockInvalid::ReceiptsRoot { header: header.fields.receipts_root, computed }));
        }
        phases.execution = ex.execution + t.elapsed();
        Ok(Verified {
            updates: ex.updates,
            data: ex.data,
            ordered: ex.ordered,
            receipts: ex.receipts,
            stats: ex.stats,
            phases,
            elapsed: started.elapsed(),
        })
    }

    /// The state root check, fork choice, the atomic write and pruning.
    fn commit(
        &self,
        block: &Block,
        ctx: &BlockContext,
        head: &Tip,
        branch: &[(Hash, cinder_state::Version)],
        v: Verified,
    ) -> Result<Imported, ImportError> {
        self.commit_with(block, ctx, head, branch, v, None, (&[], &[]))
    }

    /// [`Chain::commit`] with the state batch computed already (by
    /// [`Chain::check`], on the same parent and newest version).
    #[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
    fn commit_with(
        &self,
        block: &Block,
        ctx: &BlockContext,
        head: &Tip,
        branch: &[(Hash, Version)],
        mut v: Verified,
        precomputed: Option<StateBatch>,
        shards: (&[StateBatch], &[Vec<cinder_primitives::ShardReceipt>]),
    ) -> Result<Imported, ImportError> {
        let batch = match precomputed {
            Some(b) => b,
            None => self.state_root(&self.state(), block, ctx, &mut v)?,
        };
        self.write_parts(block, ctx, head, branch, &v, &batch, shards)
    }

    /// The state root of verified block `block` on `state` at
    /// `ctx.parent_version`, checked against its header: the batch that
    /// commits it.
    fn state_root<S: StateStore>(
        &self,
        state: &State<S>,
        block: &Block,
        ctx: &BlockContext,
        v: &mut Verified,
    ) -> Result<StateBatch, ImportError> {
        let id = block.id();
        let t = Instant::now();
        let (computed, batch) = state
            .apply_records(Some(ctx.parent_version), &v.updates, &v.data, &v.ordered)
            .map_err(|source| ImportError::Internal { id, source })?;
        if computed != block.header.fields.state_root {
            let reason = BlockInvalid::StateRoot { header: block.header.fields.state_root, computed };
            return Err(ImportError::Invalid { id, reason });
        }
        v.phases.state_root = t.elapsed();
        Ok(batch)
    }

    /// Fork choice, the atomic write of `block` with its receipts and state
    /// `batch`, and pruning.
    fn write(
        &self,
        block: &Block,
        ctx: &BlockContext,
        head: &Tip,
        branch: &[(Hash, Version)],
        v: &Verified,
        batch: &StateBatch,
    ) -> Result<Imported, ImportError> {
        self.write_parts(block, ctx, head, branch, v, batch, (&[], &[]))
    }

    /// [`Chain::write`] with a sharded block's other shards' state batches
    /// and its chunks' outgoing receipts.
    #[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
    fn write_parts(
        &self,
        block: &Block,
        ctx: &BlockContext,
        head: &Tip,
        branch: &[(Hash, Version)],
        v: &Verified,
        batch: &StateBatch,
        (shards, outgoing): (&[StateBatch], &[Vec<cinder_primitives::ShardReceipt>]),
    ) -> Result<Imported, ImportError> {
        let id = block.id();
        let height = block.header.height();
        let header = &block.header;
        let parent = header.prev();
        let internal = |source: anyhow::Error| ImportError::Internal { id, source };
        let invalid = |reason: BlockInvalid| ImportError::Invalid { id, reason };
        let mut phases = v.phases;
        let t = Instant::now();
        let weight =
            ctx.parent_weight.saturating_add(self.consensus.block_weight(header).map_err(|e| invalid(e.into()))?);
        let candidate = Tip { id, height, weight };
        let w = BlockWrite {
            block,
            receipts: &v.receipts,
            state: batch,
            shards,
            outgoing,
            weight,
            canonical: parent == head.id,
        };
        let status = if parent == head.id {
            self.db.write_block(&w).map_err(internal)?;
            ImportStatus::Head
        } else if self.consensus.prefers(&candidate, head) {
            let fork_height = height - branch.len() as u64 - 1;
            let depth = head.height - fork_height;
            let w = BlockWrite { canonical: true, ..w };
            self.db.write_block_reorg(&w, branch).map_err(internal)?;
            tracing::info!(%id, height, depth, old_head = %head.id, "reorg");
            ImportStatus::Reorg { depth, old_head: head.id }
        } else {
            self.db.write_block(&w).map_err(internal)?;
            ImportStatus::Side
        };
        if self.config.prune && status != ImportStatus::Side {
            let new_head = self.db.head().map_err(internal)?.map_or(0, |h| h.height);
            if let Some(to) = new_head.checked_sub(self.config.max_reorg_depth).filter(|h| *h > 0)
                && let Err(e) = self.db.prune_to(to)
            {
                // The block is committed; pruning resumes after the next one.
                tracing::warn!("pruning the state up to height {to} failed: {e:#}");
            }
        }
        phases.commit = t.elapsed();
        Ok(Imported { id, height, status, phases, stats: v.stats })
    }

    /// The stored ancestors of `parent` (itself included) above the
    /// canonical chain, in height order, with their state versions; `Deep`
    /// if they fork more than the reorg depth (or past finality) below the
    /// head.
    fn branch_above_fork(&self, parent: &Hash, head: &Tip) -> Result<Vec<(Hash, cinder_state::Version)>, BranchError> {
        let finalized = self.consensus.finalized_height(head);
        let floor = head.height.saturating_sub(self.config.max_reorg_depth).max(finalized.unwrap_or(0));
        let max = head.height - floor;
        let mut branch = Vec::new();
        let mut id = *parent;
        loop {
            let meta = self.db.block_meta(&id)?.with_context(|| format!("branch block {id} has no metadata"))?;
            if self.db.canonical(meta.height)?.is_some_and(|(c, _)| c == id) {
                let depth = head.height - meta.height;
                if depth > max {
                    return Err(Deep(depth, max));
                }
                break;
            }
            branch.push((id, meta.version));
            id = self.db.header(&id)?.with_context(|| format!("branch block {id} has no header"))?.prev();
        }
        branch.reverse();
        Ok(branch)
    }
}

enum BranchError {
    Deep(u64, u64),
    Other(anyhow::Error),
}
use BranchError::{Deep, Other};

impl From<anyhow::Error> for BranchError {
    fn from(e: anyhow::Error) -> Self {
        Other(e)
    }
}
