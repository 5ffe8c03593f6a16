//! The node: a chain, its mempool, and what ties them together when the
//! head moves.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cinder_chain::{Chain, ChainConfig, ImportError, ImportStatus, Imported};
use cinder_consensus::ChainSpec;
use cinder_mempool::{Mempool, MempoolConfig, Rejected};
use cinder_pos::message::ConsensusMessage;
use cinder_primitives::{Account, Address, Block, CommitCertificate, Hash, SignedTransaction, TxKind};
use cinder_rpc::HeadEvent;
use cinder_state::Version;
use tokio::sync::{broadcast, oneshot};

use crate::metrics::Metrics;
use crate::network::NetworkView;
use crate::validator::Finalized;

/// How to open a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The RocksDB directory.
    pub datadir: PathBuf,
    /// The chain spec.
    pub spec: ChainSpec,
    /// Import tuning (reorg depth, pruning, executor threads).
    pub chain: ChainConfig,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Who the node's own blocks (and blocks mined through the work API)
    /// pay; `None`: the node produces no blocks.
    pub coinbase: Option<Address>,
}

/// Counters the status line and the metrics read.
#[derive(Debug, Default)]
pub struct MiningStats {
    /// Hashes of finished seal attempts.
    pub hashes_done: AtomicU64,
    /// Blocks this node sealed itself.
    pub blocks_found: AtomicU64,
    /// Hashrate (hashes per second, smoothed) as f64 bits.
    pub hashrate_bits: AtomicU64,
    /// Shares accepted through the work API.
    pub shares_accepted: AtomicU64,
    /// Work submissions rejected.
    pub shares_rejected: AtomicU64,
    /// Blocks found by external miners.
    pub external_blocks: AtomicU64,
}

impl MiningStats {
    /// The smoothed hashrate of the node's own miner.
    pub fn hashrate(&self) -> f64 {
        f64::from_bits(self.hashrate_bits.load(Ordering::Relaxed))
    }
}

/// The running node's shared state.
pub struct Node {
    chain: Chain,
    mempool: Mutex<Mempool>,
    coinbase: Option<Address>,
    heads: broadcast::Sender<HeadEvent>,
    pending: broadcast::Sender<Hash>,
    /// Bumped when the head moves; a seal of an older head is moot.
    head_gen: AtomicU64,
    /// Bumped when transactions enter the pool.
    pool_gen: AtomicU64,
    admission: tokio::sync::mpsc::Sender<Admit>,
    /// Mining counters.
    pub mining: MiningStats,
    /// Whether the node's own miner runs (admin-switchable).
    pub mining_on: AtomicBool,
    /// Metrics counters.
    pub metrics: Metrics,
    started: Instant,
    pub(crate) work: Mutex<crate::work::Jobs>,
    local_blocks: broadcast::Sender<Arc<Block>>,
    local_txs: broadcast::Sender<Arc<Vec<SignedTransaction>>>,
    network: OnceLock<Arc<dyn NetworkView>>,
    consensus_out: broadcast::Sender<Arc<ConsensusMessage>>,
    consensus_in: OnceLock<std::sync::mpsc::SyncSender<ConsensusMessage>>,
    finalized: broadcast::Sender<Finalized>,
    /// Why the node must stop (a software upgrade it does not know).
    halted: tokio::sync::watch::Sender<Option<String>>,
    log_control: OnceLock<LogControl>,
    /// The chain database's directory (its size is a metric).
    pub(crate) chain_dir: PathBuf,
}

/// Changes the process's log filter (an `EnvFilter` directive such as
/// `info,cinder_net=debug`); set by the binary that installed the logger.
pub type LogControl = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Consensus messages queued for the consensus thread.
const CONSENSUS_QUEUE: usize = 8192;

/// A transaction waiting for batched admission.
struct Admit {
    tx: SignedTransaction,
    reply: oneshot::Sender<Result<Hash, Rejected>>,
}

/// The most transactions admitted as one signature batch.
const ADMIT_BATCH: usize = 4096;

impl Node {
    /// Opens the chain in `cfg.datadir` (writing genesis if new) and starts
    /// the admission thread.
    pub fn open(cfg: NodeConfig) -> Result<Arc<Node>> {
        std::fs::create_dir_all(&cfg.datadir)
            .with_context(|| format!("creating the data directory {}", cfg.datadir.display()))?;
        let chain = Chain::open(&cfg.datadir.join("chain"), cfg.spec.clone(), cfg.chain)?;
        let mempool = Mempool::new(cfg.spec.chain_id, cfg.mempool);
        let (admission, mut rx) = tokio::sync::mpsc::channel::<Admit>(65_536);
        let node = Arc::new(Node {
            chain,
            mempool: Mutex::new(mempool),
            coinbase: cfg.coinbase,
            heads: broadcast::channel(256).0,
            pending: broadcast::channel(8192).0,
            head_gen: AtomicU64::new(0),
            pool_gen: AtomicU64::new(0),
            admission,
            mining: MiningStats::default(),
            mining_on: AtomicBool::new(true),
            metrics: Metrics::default(),
            started: Instant::now(),
            work: Mutex::new(crate::work::Jobs::default()),
            local_blocks: broadcast::channel(64).0,
            local_txs: broadcast::channel(1024).0,
            network: OnceLock::new(),
            log_control: OnceLock::new(),
            chain_dir: cfg.datadir.join("chain"),
            consensus_out: broadcast::channel(4096).0,
            consensus_in: OnceLock::new(),
            finalized: broadcast::channel(1024).0,
            halted: tokio::sync::watch::channel(None).0,
        });
        let weak = Arc::downgrade(&node);
        std::thread::Builder::new()
            .name("cinder-admission".into())
            .spawn(move || {
                // Batches whatever queued while the last batch was verified.
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < ADMIT_BATCH {
                        match rx.try_recv() {
                            Ok(a) => batch.push(a),
                            Err(_) => break,
                        }
                    }
                    let Some(node) = weak.upgrade() else { break };
                    node.admit(batch);
                }
            })
            .context("starting the admission thread")?;
        node.check_upgrade();
        Ok(node)
    }

    /// Stops the node if the head's child is at a software upgrade this
    /// binary does not know (checked at start and whenever the head moves).
    pub fn check_upgrade(&self) {
        match self.chain.upgrade_needed() {
            Ok(Some(needed)) => self.halt(needed.to_string()),
            Ok(None) => {}
            Err(e) => tracing::error!("reading the upgrade plan: {e:#}"),
        }
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }
    /// The pool (locked).
    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(PoisonError::into_inner)
    }
    /// The coinbase, if the node produces blocks.
    pub fn coinbase(&self) -> Option<Address> {
        self.coinbase
    }
    /// New heads, as they happen.
    pub fn subscribe_heads(&self) -> broadcast::Receiver<HeadEvent> {
        self.heads.subscribe()
    }
    /// Hashes of transactions entering the pool.
    pub fn subscribe_pending(&self) -> broadcast::Receiver<Hash> {
        self.pending.subscribe()
    }
    /// Blocks this node sealed (its own miner or the work API), for the
    /// network to announce.
    pub fn subscribe_local_blocks(&self) -> broadcast::Receiver<Arc<Block>> {
        self.local_blocks.subscribe()
    }
    /// Transactions the node's RPC admitted to the pool (in admission
    /// batches), for the network to gossip. Transactions from peers are
    /// not repeated here: gossip forwards them itself.
    pub fn subscribe_local_txs(&self) -> broadcast::Receiver<Arc<Vec<SignedTransaction>>> {
        self.local_txs.subscribe()
    }
    /// Hands a block this node sealed and imported to the network (the
    /// producer and the work API do; so may a tool that seals its own).
    pub fn announce(&self, block: &Block) {
        let _ = self.local_blocks.send(Arc::new(block.clone()));
    }
    /// Gives the node the means to change the log filter at run time
    /// (`cinder_adminSetLogLevel`); the first call wins.
    pub fn set_log_control(&self, control: LogControl) {
        let _ = self.log_control.set(control);
    }

    /// Changes the log filter, if the binary allowed it.
    pub fn set_log_filter(&self, filter: &str) -> Result<(), String> {
        match self.log_control.get() {
            Some(f) => f(filter),
            None => Err("this process cannot change its log filter".into()),
        }
    }

    /// Attaches the network (once); RPC and metrics read it from then on.
    pub fn set_network(&self, view: Arc<dyn NetworkView>) {
        let _ = self.network.set(view);
    }
    /// The network, if one is attached.
    pub fn network(&self) -> Option<&Arc<dyn NetworkView>> {
        self.network.get()
    }
    /// Changes when the head moves.
    pub fn head_generation(&self) -> u64 {
        self.head_gen.load(Ordering::Acquire)
    }
    /// Changes when transactions enter the pool.
    pub fn pool_generation(&self) -> u64 {
        self.pool_gen.load(Ordering::Acquire)
    }
    /// Time since the node started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The head's state version.
    pub fn head_version(&self) -> Result<(Hash, u64, Version)> {
        let head = self.chain.head()?;
        let meta = self.chain.db().block_meta(&head.id)?.context("no metadata for the head")?;
        Ok((head.id, head.height, meta.version))
    }

    /// The account at `address` in the head state.
    pub fn account(&self, address: &Address) -> Result<Option<Account>> {
        let (_, _, v) = self.head_version()?;
        self.chain.account_at(v, address)
    }

    /// Offers `tx` to the pool; answers once its batch is verified. When
    /// the admission queue is full the caller waits (backpressure on the
    /// RPC connection) rather than being refused.
    pub async fn submit(&self, tx: SignedTransaction) -> Result<Hash, Rejected> {
        let (reply, rx) = oneshot::channel();
        if self.admission.send(Admit { tx, reply }).await.is_err() {
            return Err(Rejected::State("the node is shutting down".into()));
        }
        rx.await.unwrap_or_else(|_| Err(Rejected::State("the node is shutting down".into())))
    }

    /// Offers `txs` to the pool at once (signatures verified as one batch).
    pub fn submit_all(&self, txs: Vec<SignedTransaction>) -> Vec<Result<Hash, Rejected>> {
        let out = match self.head_version().and_then(|h| Ok((h, self.chain.params()?))) {
            Ok(((_, _, v), params)) => {
                // What the chain's rules refuse is answered here; the rest
                // goes to the pool.
                let pos = self.chain.spec().pos.is_some();
                let refusal = |t: &SignedTransaction| -> Option<String> {
                    if t.tx.gas_price < params.min_gas_price {
                        return Some(format!(
                            "gas price {} is below the chain's minimum {}",
                            t.tx.gas_price, params.min_gas_price
                        ));
                    }
                    let system = matches!(t.tx.kind, TxKind::Stake(_) | TxKind::Gov(_));
                    (system && !pos).then(|| cinder_vm::NO_SYSTEM_OPS.to_string())
                };
                let mut out: Vec<Option<Result<Hash, Rejected>>> = Vec::with_capacity(txs.len());
                let mut rest = Vec::with_capacity(txs.len());
                for t in txs {
                    match refusal(&t) {
                        Some(why) => out.push(Some(Err(Rejected::Refused(why)))),
                        None => {
                            out.push(None);
                            rest.push(t);
                        }
                    }
                }
                let view = |a: &Address| self.chain.account_at(v, a);
                let mut added = self.mempool().add(rest, &view).into_iter();
                out.into_iter()
                    .map(|r| r.unwrap_or_else(|| added.next().unwrap_or(Err(Rejected::State("not checked".into())))))
                    .collect()
            }
            Err(e) => vec![Err(Rejected::State(format!("{e:#}"))); txs.len()],
        };
        let ok = out.iter().filter(|r| r.is_ok()).count() as u64;
        if ok > 0 {
            self.pool_gen.fetch_add(1, Ordering::AcqRel);
        }
        self.metrics.txs_accepted.fetch_add(ok, Ordering::Relaxed);
        self.metrics.txs_rejected.fetch_add(out.len() as u64 - ok, Ordering::Relaxed);
        for id in out.iter().flatten() {
            let _ = self.pending.send(*id);
        }
        out
    }

    fn admit(&self, batch: Vec<Admit>) {
        let (txs, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|a| (a.tx, a.reply)).unzip();
        // Only a node with a network listening pays for the copy.
        let gossip = (self.local_txs.receiver_count() > 0).then(|| txs.clone());
        let results = self.submit_all(txs);
        if let Some(txs) = gossip {
            let admitted: Vec<_> = txs.into_iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(t, _)| t).collect();
            if !admitted.is_empty() {
                let _ = self.local_txs.send(Arc::new(admitted));
            }
        }
        for (r, reply) in results.into_iter().zip(replies) {
            let _ = reply.send(r);
        }
    }

    /// Consensus messages this node sends, for the network to gossip.
    pub fn subscribe_consensus(&self) -> broadcast::Receiver<Arc<ConsensusMessage>> {
        self.consensus_out.subscribe()
    }

    /// Sends a consensus message to the network.
    pub fn publish_consensus(&self, m: ConsensusMessage) {
        let _ = self.consensus_out.send(Arc::new(m));
    }

    /// Hands a consensus message from the network to the consensus thread;
    /// false if none runs or its queue is full (the message is dropped).
    pub fn deliver_consensus(&self, m: ConsensusMessage) -> bool {
        self.consensus_in.get().is_some_and(|tx| tx.try_send(m).is_ok())
    }

    /// The consensus thread's inbox; `None` if one was opened already.
    pub(crate) fn open_consensus_inbox(&self) -> Option<std::sync::mpsc::Receiver<ConsensusMessage>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(CONSENSUS_QUEUE);
        self.consensus_in.set(tx).ok().map(|()| rx)
    }

    /// Blocks this node's consensus finalizes, as it does.
    pub fn subscribe_finalized(&self) -> broadcast::Receiver<Finalized> {
        self.finalized.subscribe()
    }

    pub(crate) fn note_finalized(&self, f: Finalized) {
        self.metrics.pos_finalized.fetch_add(1, Ordering::Relaxed);
        let latency_ms = f.decided_ms.saturating_sub(f.block_time_ms);
        self.metrics.finality_ms_sum.fetch_add(latency_ms, Ordering::Relaxed);
        self.metrics.finality_ms_last.store(latency_ms, Ordering::Relaxed);
        let _ = self.finalized.send(f);
    }

    /// Proof of stake: the newest finalized height — the head's if this
    /// node holds its certificate, else its parent's (the head carries that
    /// one). `None` under PoW.
    pub fn finalized_height(&self) -> Result<Option<u64>> {
        let head = self.chain.head()?;
        let Some(floor) = self.chain.consensus().finalized_height(&head) else { return Ok(None) };
        if head.height == 0 || self.chain.db().commit(&head.id)?.is_some() {
            return Ok(Some(head.height));
        }
        Ok(Some(floor))
    }

    /// Proof of stake: the certificate that finalized the canonical block
    /// at `height` — from its child's body, or the one this node stored.
    pub fn commit_at(&self, height: u64) -> Result<Option<CommitCertificate>> {
        let db = self.chain.db();
        if let Some((child, _)) = db.canonical(height.saturating_add(1))?
            && let Some(b) = db.block(&child)?
            && let Some(c) = b.last_commit
        {
            return Ok(Some(c));
        }
        match db.canonical(height)? {
            Some((id, _)) => db.commit(&id),
            None => Ok(None),
        }
    }

    /// Imports `block` (from a peer or an external miner) and updates the
    /// pool and subscribers.
    /// Transactions byte-identical to ones in the pool had their
    /// signatures verified at admission and are not verified again.
    pub fn import(&self, block: &Block) -> Result<Imported, ImportError> {
        let verified: Vec<bool> = {
            let pool = self.mempool();
            block.transactions.iter().map(|t| pool.get(&t.id()) == Some(t)).collect()
        };
        let r = if verified.iter().any(|v| *v) {
            self.chain.import_presigned(block, &verified)
        } else {
            self.chain.import(block)
        };
        let r = r.inspect_err(|e| self.check_halt(e))?;
        self.after_import(&r, Some(block));
        Ok(r)
    }

    /// Stops the node if `e` is a block at a software upgrade this binary
    /// does not know.
    pub fn check_halt(&self, e: &ImportError) {
        if let ImportError::UpgradeNeeded { needed, .. } = e {
            self.halt(needed.to_string());
        }
    }

    /// Stops the node if `e` (building a block) met a software upgrade this
    /// binary does not know.
    pub fn check_build_halt(&self, e: &anyhow::Error) {
        if let Some(needed) = e.chain().find_map(|c| c.downcast_ref::<cinder_chain::gov::UpgradeNeeded>()) {
            self.halt(needed.to_string());
        }
    }

    /// Asks the node's process to stop, saying why (once).
    pub fn halt(&self, why: String) {
        self.halted.send_if_modified(|h| {
            if h.is_some() {
                return false;
            }
            tracing::error!("{why}");
            *h = Some(why);
            true
        });
    }

    /// Why the node must stop, once it must: the process waits on this
    /// beside the shutdown signal.
    pub fn halted(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.halted.subscribe()
    }

    /// Imports `blocks` (each the child of the one before, as sync fetches
    /// them) through the chain's pipelined import, then updates the pool
    /// and subscribers for each. Returns how many were imported and the
    /// error that stopped it, if any.
    pub fn import_chain(&self, blocks: &[Block]) -> (usize, Option<ImportError>) {
        let (done, err) = self.chain.import_chain(blocks, cinder_chain::unix_now());
        if let Some(e) = &err {
            self.check_halt(e);
        }
        for (r, b) in done.iter().zip(blocks) {
            self.after_import(r, Some(b));
        }
        (done.len(), err)
    }

    /// After an import: the pool drops what the new chain included and
    /// takes back what a reorg reverted; subscribers hear of the head; a
    /// seal on the old head is cancelled.
    pub fn after_import(&self, r: &Imported, block: Option<&Block>) {
        self.metrics.blocks_imported.fetch_add(1, Ordering::Relaxed);
        self.metrics.import_micros.fetch_add(micros(r.phases.total()), Ordering::Relaxed);
        let p = &r.phases;
        for (slot, d) in self.metrics.phase_micros.iter().zip([
            p.checks,
            p.signatures,
            p.state_read,
            p.execution,
            p.state_root,
            p.commit,
        ]) {
            slot.fetch_add(micros(d), Ordering::Relaxed);
        }
        let (included, reverted, depth) = match r.status {
            ImportStatus::Known | ImportStatus::Side => return,
            ImportStatus::Head => {
                let txs = match block {
                    Some(b) => b.transactions.to_vec(),
                    None => self.block_txs(&r.id),
                };
                (txs, Vec::new(), 0)
            }
            ImportStatus::Reorg { depth, old_head } => {
                let (inc, rev) = self.reorg_txs(r, old_head, depth).unwrap_or_else(|e| {
                    tracing::error!("reading the blocks of a reorg: {e:#}");
                    (Vec::new(), Vec::new())
                });
                (inc, rev, depth)
            }
        };
        // Reverted transactions are counted again when a block includes
        // them once more; the counter follows the head, not unique ids.
        self.metrics.txs_included.fetch_add(included.len() as u64, Ordering::Relaxed);
        self.head_gen.fetch_add(1, Ordering::AcqRel);
        self.check_upgrade();
        match self.head_version() {
            Ok((_, _, v)) => {
                let view = |a: &Address| self.chain.account_at(v, a);
                let r = if depth == 0 {
                    self.mempool().on_extended(&included, &view)
                } else {
                    self.mempool().on_new_head(&included, reverted, &view).map(|_| ())
                };
                if let Err(e) = r {
                    tracing::error!("updating the mempool: {e:#}");
                }
            }
            Err(e) => tracing::error!("reading the head: {e:#}"),
        }
        self.work.lock().unwrap_or_else(PoisonError::into_inner).clear();
        if let Ok(Some(h)) = self.chain.db().header(&r.id) {
            let _ = self.heads.send(HeadEvent {
                number: h.height(),
                hash: r.id,
                parent_hash: h.prev(),
                timestamp: u64::from(h.pow.time()),
                transaction_count: included_count(block, &included),
                reorg_depth: depth,
            });
        }
    }

    fn block_txs(&self, id: &Hash) -> Vec<SignedTransaction> {
        match self.chain.db().block(id) {
            Ok(Some(b)) => b.transactions.to_vec(),
            _ => Vec::new(),
        }
    }

    /// The transactions the new chain included and the old one loses.
    fn reorg_txs(
        &self,
        r: &Imported,
        old_head: Hash,
        depth: u64,
    ) -> Result<(Vec<SignedTransaction>, Vec<SignedTransaction>)> {
        let db = self.chain.db();
        let mut reverted = Vec::new();
        let mut id = old_head;
        for _ in 0..depth {
            let b = db.block(&id)?.with_context(|| format!("reverted block {id}"))?;
            id = b.header.prev();
            reverted.extend(b.transactions.to_vec());
        }
        let fork = db.header(&id)?.context("the fork block")?.height();
        let mut included = Vec::new();
        let mut id = r.id;
        loop {
            let b = db.block(&id)?.with_context(|| format!("new block {id}"))?;
            if b.header.height() <= fork {
                break;
            }
            id = b.header.prev();
            included.extend(b.transactions.to_vec());
        }
        Ok((included, reverted))
    }
}

/// Microseconds, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn included_count(block: Option<&Block>, included: &[SignedTransaction]) -> usize {
    block.map_or(included.len(), |b| b.transactions.len())
}
