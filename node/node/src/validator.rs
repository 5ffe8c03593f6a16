//! The proof-of-stake service: runs the consensus driver (cinder-pos) for
//! a validator, or for a follower that only watches the votes, on its own
//! thread.
//!
//! Consensus messages arrive from the network through
//! [`Node::deliver_consensus`] and leave through
//! [`Node::subscribe_consensus`]; timers are deadlines the loop waits for;
//! a proposal's block is checked with every import rule before the
//! driver hears whether it is valid; a decided block is imported (or, if
//! an unproven block of the same height got there first, adopted over it),
//! its certificate stored and announced, and the driver moves to the next
//! height with the seed the block's VRF output gives. When sync moves the
//! head past the driver (the node was behind), the driver follows.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use cinder_bft::{Height, Round, TimeoutKind};
use cinder_chain::vm::STAKE_GAS;
use cinder_chain::{Checked, ImportError, ImportStatus, build_block_proposed};
use cinder_consensus::{Pos, Validators as ChainValidators};
use cinder_engine::sig::SecretKey;
use cinder_pos::driver::{Driver, Output, Timeouts, Validators};
use cinder_pos::message::ConsensusMessage;
use cinder_pos::propose::proposal_fields;
use cinder_pos::validator::Signer;
use cinder_primitives::{
    Address, Block, CommitCertificate, DoubleVote, Hash, SignedProposal, SignedVote, StakeOp, Transaction, TxKind,
};
use cinder_state::{Overlay, State};

use crate::node::Node;
use crate::producer::MAX_TEMPLATE_TXS;

/// Proposed blocks kept per height (an equivocating proposer may send
/// several).
const MAX_BLOCKS_PER_HEIGHT: usize = 16;
/// Blocks checked per round (an equivocating proposer's extra blocks).
const MAX_BLOCKS_PER_ROUND: usize = 2;
/// Rounds ahead of the driver whose proposals are checked (the core keeps
/// messages this far ahead).
const MAX_ROUNDS_AHEAD: u32 = 64;
/// Proposals kept for heights the driver has not reached.
const MAX_FUTURE_PROPOSALS: usize = 64;
/// Fault injection for crash tests: `HEIGHT:VALIDATOR` makes that
/// validator abort right after its signer persisted its first vote at that
/// height, before the vote is sent.
pub const CRASH_ENV: &str = "CINDER_FAULT_CRASH_BEFORE_SEND";

/// Fault injection for evidence tests: `HEIGHT:VALIDATOR` makes that
/// validator send a second, conflicting prevote at that height.
pub const EQUIVOCATE_ENV: &str = "CINDER_FAULT_EQUIVOCATE";

/// The longest the loop sleeps before it looks at the head again.
const POLL: Duration = Duration::from_millis(100);

/// A block finalized by this node's driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalized {
    /// Height.
    pub height: u64,
    /// Round it was decided in.
    pub round: u32,
    /// Block id.
    pub id: Hash,
    /// The block's own time (its proposer's clock when it built it), ms.
    pub block_time_ms: u64,
    /// When this node decided, ms since the Unix epoch.
    pub decided_ms: u64,
    /// Transactions in it.
    pub txs: usize,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The running PoS service.
pub struct Validator {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Validator {
    /// Starts the service on `node` (a PoS chain). With `key` it votes and
    /// proposes as that validator, its double-sign guard persisted at
    /// `signer_state`; without, it follows.
    pub fn start(node: Arc<Node>, key: Option<SecretKey>, signer_state: PathBuf) -> Result<Validator> {
        let pos = Pos::new(node.chain().spec()).context("this chain is not proof of stake")?;
        let inbox = node.open_consensus_inbox().context("a consensus service runs on this node already")?;
        let chain_id = node.chain().spec().chain_id;
        let s = pos.spec();
        let timeouts = Timeouts {
            propose: Duration::from_millis(s.timeout_propose_ms),
            prevote: Duration::from_millis(s.timeout_prevote_ms),
            precommit: Duration::from_millis(s.timeout_precommit_ms),
            per_round: Duration::from_millis(s.timeout_delta_ms),
        };
        let (signer, vrf_key) = match key {
            Some(k) => {
                let vrf = SecretKey::from_seed(&k.to_seed());
                (Some(Signer::open(k, signer_state).context("opening the validator's signing state")?), Some(vrf))
            }
            None => (None, None),
        };
        let (height, set, seed) = start_point(&node, &pos)?;
        let validators = Validators { set: set.set.clone(), keys: set.keys.clone() };
        let (driver, first) = Driver::new(chain_id, height, validators, seed, signer, timeouts);
        match driver.me() {
            Some(i) => tracing::info!(validator = i.0, height, "validating"),
            None if vrf_key.is_some() => {
                tracing::warn!(height, "the validator key is not in the validator set: following only")
            }
            None => tracing::info!(height, "following consensus"),
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut svc = Service {
            node,
            pos,
            key: vrf_key,
            driver,
            inbox,
            timers: Vec::new(),
            blocks: HashMap::new(),
            valid: HashMap::new(),
            checked: HashMap::new(),
            per_round: HashMap::new(),
            seed,
            set,
            reported: Vec::new(),
            future: BTreeMap::new(),
            build: None,
            own: None,
            height_since: Instant::now(),
            last_sent: Instant::now(),
            head_precommits: Vec::new(),
            crash_before_send: fault(CRASH_ENV),
            equivocate: fault(EQUIVOCATE_ENV),
            stop: stop.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("cinder-consensus".into())
            .spawn(move || {
                svc.perform(first);
                svc.run();
            })
            .context("starting the consensus thread")?;
        Ok(Validator { stop, handle: Some(handle) })
    }

    /// Stops the service and waits for its thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            tracing::error!("the consensus thread panicked");
        }
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A fault-injection variable's `HEIGHT:VALIDATOR`.
fn fault(var: &str) -> Option<(u64, u16)> {
    let v = std::env::var(var).ok()?;
    let (h, i) = v.split_once(':')?;
    Some((h.parse().ok()?, i.parse().ok()?))
}

/// The height after the head, its validators (from the head's state) and
/// the head's seed.
fn start_point(node: &Node, pos: &Pos) -> Result<(Height, Arc<ChainValidators>, [u8; 32])> {
    let chain = node.chain();
    let head = chain.head()?;
    let header = chain.db().header(&head.id)?.context("the head has no header")?;
    let (seed, _) = pos.parent_seed_and_time(&header, &head.id).context("the head's PoS data")?;
    let height = head.height + 1;
    let v =
        chain.validators_after(&head.id)?.with_context(|| format!("the head's state records no set for {height}"))?;
    Ok((height, v, seed.0))
}

struct Service {
    node: Arc<Node>,
    pos: Pos,
    key: Option<SecretKey>,
    driver: Driver,
    inbox: Receiver<ConsensusMessage>,
    timers: Vec<(Instant, Height, Round, TimeoutKind)>,
    /// Blocks proposed at the current height, by id.
    blocks: HashMap<Hash, Arc<Block>>,
    /// Whether each of those passed every import check.
    valid: HashMap<Hash, bool>,
    /// The checked execution of the valid ones, for import without a
    /// second execution.
    checked: HashMap<Hash, Checked>,
    /// Blocks checked per round at this height.
    per_round: HashMap<Round, usize>,
    /// The seed that picks this height's proposers.
    seed: [u8; 32],
    /// This height's validators.
    set: Arc<ChainValidators>,
    /// Double votes reported on chain (validator key, height), newest last.
    reported: Vec<([u8; 32], u64)>,
    future: BTreeMap<Height, Vec<(SignedProposal, Box<Block>)>>,
    /// A proposal to build once the minimum block interval has passed.
    build: Option<(Instant, Height, Round)>,
    /// The block this node proposed at the current height.
    own: Option<Hash>,
    /// When the driver entered its height.
    height_since: Instant,
    /// When votes were last re-sent.
    last_sent: Instant,
    /// Precommits seen for the head block while its certificate is missing.
    head_precommits: Vec<SignedVote>,
    /// [`CRASH_ENV`], parsed.
    crash_before_send: Option<(u64, u16)>,
    /// [`EQUIVOCATE_ENV`], parsed; taken once it fired.
    equivocate: Option<(u64, u16)>,
    stop: Arc<AtomicBool>,
}

impl Service {
    fn run(&mut self) {
        while !self.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            let mut wake = now + POLL;
            if let Some(t) = self.timers.iter().map(|t| t.0).min() {
                wake = wake.min(t);
            }
            if let Some((t, _, _)) = self.build {
                wake = wake.min(t);
            }
            match self.inbox.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(m) => {
                    let mut batch = vec![m];
                    while batch.len() < 4096 {
                        match self.inbox.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    self.on_messages(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.fire_timers();
            self.follow_head();
            self.resend_if_stalled();
        }
        tracing::info!("consensus stopped");
    }

    fn on_messages(&mut self, batch: Vec<ConsensusMessage>) {
        let mut votes: Vec<SignedVote> = Vec::new();
        for m in batch {
            match m {
                ConsensusMessage::Vote(v) => votes.push(v),
                ConsensusMessage::Votes { votes: vs, .. } => votes.extend(vs),
                ConsensusMessage::Proposal { proposal, block } => {
                    // Votes that came before it count first.
                    if !votes.is_empty() {
                        let out = self.driver.on_votes(std::mem::take(&mut votes));
                        self.perform(out);
                    }
                    self.on_proposal(proposal, block);
                }
                ConsensusMessage::Evidence(e) => {
                    self.node.metrics.pos_evidence.fetch_add(1, Ordering::Relaxed);
                    let d = &e.first.data;
                    tracing::warn!(
                        "double-vote evidence received against validator {} at height {} round {}",
                        d.validator,
                        d.height,
                        d.round
                    );
                    self.report(*e);
                }
            }
        }
        if !votes.is_empty() {
            self.note_head_precommits(&votes);
            let out = self.driver.on_votes(votes);
            self.perform(out);
        }
    }

    /// Precommits for the head block, when this node lacks its
    /// certificate (it synced the head instead of deciding it): enough of
    /// them make one, which proposing the next block needs.
    fn note_head_precommits(&mut self, votes: &[SignedVote]) {
        let height = self.driver.height().saturating_sub(1);
        if height == 0 {
            return;
        }
        let chain = self.node.chain();
        let Ok(Some((head, _))) = chain.db().canonical(height) else { return };
        let mine: Vec<&SignedVote> = votes
            .iter()
            .filter(|v| {
                v.data.height == height
                    && v.data.kind == cinder_primitives::VoteType::Precommit
                    && v.data.block == Some(head)
            })
            .collect();
        if mine.is_empty() || matches!(chain.db().commit(&head), Ok(Some(_))) {
            return;
        }
        for v in mine {
            if self.head_precommits.len() < 4 * cinder_bft::MAX_VALIDATORS
                && !self
                    .head_precommits
                    .iter()
                    .any(|h| h.data.validator == v.data.validator && h.data.round == v.data.round)
            {
                self.head_precommits.push(v.clone());
            }
        }
        let Ok(Some(v)) = chain.validators_at_height(height) else { return };
        let mut rounds: Vec<u32> = self.head_precommits.iter().map(|v| v.data.round).collect();
        rounds.sort_unstable();
        rounds.dedup();
        for r in rounds {
            let of_round: Vec<SignedVote> =
                self.head_precommits.iter().filter(|v| v.data.round == r).cloned().collect();
            if let Ok(c) = CommitCertificate::from_votes(&of_round)
                && c.verify(&v.keys, &v.powers()).is_ok()
            {
                if let Err(e) = chain.db().put_commit(&head, &c) {
                    tracing::error!("storing the head's certificate: {e:#}");
                }
                self.head_precommits.clear();
                return;
            }
        }
    }

    fn on_proposal(&mut self, p: SignedProposal, block: Box<Block>) {
        let height = self.driver.height();
        if p.data.height < height || block.id() != p.data.block {
            return;
        }
        if p.data.height > height {
            let n: usize = self.future.values().map(Vec::len).sum();
            if n < MAX_FUTURE_PROPOSALS {
                self.future.entry(p.data.height).or_default().push((p, block));
            }
            return;
        }
        // Before any execution: only the round's own proposer (the relay
        // checked its signature), within the rounds the core keeps, and a
        // few blocks per round — a validator cannot fill the height's slots
        // with blocks for rounds it does not propose.
        let round = p.data.round;
        if round > self.driver.round().saturating_add(MAX_ROUNDS_AHEAD)
            || Pos::proposer(&self.set, &Hash(self.seed), height, round) != p.data.proposer
        {
            return;
        }
        let id = p.data.block;
        let valid = match self.valid.get(&id) {
            Some(v) => *v,
            None => {
                let in_round = self.per_round.entry(round).or_default();
                if self.blocks.len() >= MAX_BLOCKS_PER_HEIGHT || *in_round >= MAX_BLOCKS_PER_ROUND {
                    return;
                }
                *in_round += 1;
                let v = match self.check(&block) {
                    Some(c) => {
                        self.checked.insert(id, c);
                        true
                    }
                    None => false,
                };
                self.valid.insert(id, v);
                self.blocks.insert(id, Arc::from(block));
                v
            }
        };
        let out = self.driver.on_proposal(p, valid);
        self.perform(out);
    }

    /// Every import check, without writing; a valid block's certificate
    /// of its parent is kept (this node may need it to propose).
    fn check(&self, block: &Block) -> Option<Checked> {
        match self.node.chain().check(block, &self.pooled(block)) {
            Ok(checked) => {
                if let Some(c) = &block.last_commit
                    && let Err(e) = self.node.chain().db().put_commit(&c.block, c)
                {
                    tracing::error!("storing the parent's certificate: {e:#}");
                }
                Some(checked)
            }
            Err(e) => {
                tracing::warn!(height = block.header.height(), id = %block.id(), "a proposed block is invalid: {e}");
                self.node.check_halt(&e);
                None
            }
        }
    }

    /// Which of `block`'s transactions the pool holds byte for byte (their
    /// signatures were verified at admission).
    fn pooled(&self, block: &Block) -> Vec<bool> {
        let pool = self.node.mempool();
        block.transactions.iter().map(|t| pool.get(&t.id()) == Some(t)).collect()
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let (due, rest): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|t| t.0 <= now);
        self.timers = rest;
        for (_, height, round, kind) in due {
            let out = self.driver.on_timeout(height, round, kind);
            self.perform(out);
        }
        if let Some((t, height, round)) = self.build
            && t <= now
        {
            self.build = None;
            self.build_proposal(height, round);
        }
    }

    /// While a height goes undecided past the round-0 timeouts, re-gossip
    /// the votes counted for it and the head's certificate (and keep doing
    /// so each such period): a
    /// validator that restarted or reconnected missed them, and without
    /// the polka the others are locked on it can never prevote their
    /// block.
    fn resend_if_stalled(&mut self) {
        let s = self.pos.spec();
        let period = Duration::from_millis(
            s.timeout_propose_ms.saturating_add(s.timeout_prevote_ms).saturating_add(s.timeout_precommit_ms),
        );
        if self.driver.decided() || self.last_sent.elapsed() < period || self.height_since.elapsed() < period {
            return;
        }
        self.last_sent = Instant::now();
        let mut votes = self.driver.signed_votes(cinder_pos::message::MAX_VOTE_BUNDLE / 2);
        // And the precommits that decided the head, for validators still
        // deciding it (a restart can leave some a height behind).
        let chain = self.node.chain();
        if let Ok(head) = chain.head()
            && let Ok(Some(c)) = chain.db().commit(&head.id)
        {
            votes.extend(c.votes().take(cinder_pos::message::MAX_VOTE_BUNDLE / 2));
        }
        if !votes.is_empty() {
            tracing::debug!(height = self.driver.height(), votes = votes.len(), "height stalled: re-sending votes");
            self.node.publish_consensus(ConsensusMessage::Votes { sent_ms: now_ms(), votes });
        }
    }

    /// Sync (or a gossiped block) moved the head to or past the driver's
    /// height: follow it.
    fn follow_head(&mut self) {
        let head = match self.node.chain().head() {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("reading the head: {e:#}");
                return;
            }
        };
        if head.height >= self.driver.height() {
            tracing::debug!(height = head.height, "the head moved past consensus: following it");
            self.enter_next();
        }
    }

    /// Moves the driver to the height after the head.
    fn enter_next(&mut self) {
        let (height, set, seed) = match start_point(&self.node, &self.pos) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("the next height: {e:#}");
                return;
            }
        };
        self.blocks.clear();
        self.valid.clear();
        self.checked.clear();
        self.per_round.clear();
        self.seed = seed;
        let validators = Validators { set: set.set.clone(), keys: set.keys.clone() };
        self.set = set;
        self.own = None;
        self.height_since = Instant::now();
        self.head_precommits.clear();
        self.build = None;
        self.timers.retain(|t| t.1 >= height);
        let out = self.driver.next_height(height, validators, seed);
        self.perform(out);
        self.future.retain(|h, _| *h >= height);
        if let Some(early) = self.future.remove(&height) {
            for (p, b) in early {
                self.on_proposal(p, b);
            }
        }
    }

    fn perform(&mut self, outputs: Vec<Output>) {
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        while let Some(o) = queue.pop_front() {
            match o {
                Output::SendVote(v) => {
                    if self.crash_before_send == Some((v.data.height, v.data.validator)) {
                        // Fault injection (tests): die with the vote
                        // persisted by the signer but never sent.
                        tracing::error!(height = v.data.height, "{CRASH_ENV}: aborting before sending a signed vote");
                        std::process::abort();
                    }
                    let twin = self.equivocation(&v);
                    self.node.publish_consensus(ConsensusMessage::Vote(v));
                    if let Some(t) = twin {
                        self.node.publish_consensus(ConsensusMessage::Vote(t));
                    }
                }
                Output::SendProposal(p) => match self.blocks.get(&p.data.block) {
                    Some(b) => {
                        let block = Box::new(Block::clone(b));
                        self.node.publish_consensus(ConsensusMessage::Proposal { proposal: p, block });
                    }
                    None => tracing::error!(block = %p.data.block, "proposing a block this node does not hold"),
                },
                Output::BuildBlock { height, round } => {
                    let at = self.earliest_build();
                    if at > Instant::now() {
                        self.build = Some((at, height, round));
                    } else {
                        queue.extend(self.build_outputs(height, round));
                    }
                }
                Output::Timer { height, round, kind, after } => {
                    self.timers.push((Instant::now() + after, height, round, kind));
                }
                Output::Decided { height, round, block, certificate } => {
                    self.decided(height, round, block, &certificate);
                }
                Output::Evidence(e) => {
                    self.node.metrics.pos_evidence.fetch_add(1, Ordering::Relaxed);
                    let d = &e.first.data;
                    tracing::warn!(
                        "validator {} signed two different votes at height {} round {}: evidence gossiped",
                        d.validator,
                        d.height,
                        d.round
                    );
                    self.node.publish_consensus(ConsensusMessage::Evidence(Box::new(e.clone())));
                    self.report(e);
                }
                Output::Refused(why) => tracing::warn!("the signer refused: {why}"),
            }
        }
    }

    /// Puts double-vote evidence on chain: a `ReportDoubleVote`
    /// transaction signed with this validator's key (its account pays the
    /// fee), once per offender and height. Followers only gossip.
    fn report(&mut self, e: DoubleVote) {
        let Some(key) = self.key.as_ref() else { return };
        let d = e.first.data.clone();
        // The offender's key, from the set of the votes' height (the
        // current one, or one the head's state still keeps).
        let offender = if d.height == self.driver.height() {
            self.set.public_keys.get(usize::from(d.validator)).map(|k| k.0)
        } else {
            self.node
                .chain()
                .validators_at_height(d.height)
                .ok()
                .flatten()
                .and_then(|v| v.public_keys.get(usize::from(d.validator)).map(|k| k.0))
        };
        let Some(offender) = offender else { return };
        if self.reported.contains(&(offender, d.height)) {
            return;
        }
        if self.reported.len() >= 256 {
            self.reported.remove(0);
        }
        self.reported.push((offender, d.height));
        let node = &self.node;
        let sender = key.public_key();
        let address = Address::from_public_key(&sender);
        let account_nonce = match node.account(&address) {
            Ok(a) => a.map_or(0, |a| a.nonce),
            Err(err) => {
                tracing::error!("reading the reporter's account: {err:#}");
                return;
            }
        };
        let nonce = node.mempool().next_nonce(&address, account_nonce);
        let gas_price = node.mempool().suggested_gas_price().max(1);
        let tx = Transaction {
            chain_id: node.chain().spec().chain_id,
            sender,
            nonce,
            gas_limit: STAKE_GAS,
            gas_price,
            kind: TxKind::Stake(StakeOp::ReportDoubleVote(Box::new(e))),
        }
        .sign(key);
        match node.submit_all(vec![tx]).pop() {
            Some(Ok(id)) => tracing::warn!(%id, height = d.height, "reported the double vote on chain"),
            Some(Err(r)) => tracing::warn!("the double-vote report was not pooled: {r}"),
            None => {}
        }
    }

    /// Fault injection ([`EQUIVOCATE_ENV`]): a second prevote for another
    /// value, signed with the bare key past the double-sign guard — what a
    /// misbehaving validator sends.
    fn equivocation(&mut self, v: &SignedVote) -> Option<SignedVote> {
        let (h, i) = self.equivocate?;
        if (v.data.height, v.data.validator) != (h, i) || v.data.kind != cinder_primitives::VoteType::Prevote {
            return None;
        }
        self.equivocate = None;
        let key = self.key.as_ref()?;
        let mut data = v.data.clone();
        data.block = match data.block {
            Some(_) => None,
            None => Some(Hash([0xee; 32])),
        };
        tracing::error!(height = h, "{EQUIVOCATE_ENV}: sending a second, conflicting prevote");
        Some(data.sign(key))
    }

    /// When the block interval after the head has passed.
    fn earliest_build(&self) -> Instant {
        let chain = self.node.chain();
        let parent_ms = chain
            .head()
            .ok()
            .and_then(|h| chain.db().header(&h.id).ok().flatten().map(|hd| (h, hd)))
            .and_then(|(h, hd)| self.pos.parent_seed_and_time(&hd, &h.id).ok())
            .map_or(0, |(_, t)| t);
        let due = parent_ms.saturating_add(self.pos.spec().min_block_interval_ms);
        Instant::now() + Duration::from_millis(due.saturating_sub(now_ms()))
    }

    fn build_proposal(&mut self, height: Height, round: Round) {
        let out = self.build_outputs(height, round);
        self.perform(out);
    }

    fn build_outputs(&mut self, height: Height, round: Round) -> Vec<Output> {
        match self.build_block(height, round) {
            Ok((block, checked)) => {
                let id = block.id();
                tracing::debug!(height, round, %id, txs = block.transactions.len(), "proposing");
                self.blocks.insert(id, Arc::new(block));
                self.valid.insert(id, true);
                self.checked.insert(id, checked);
                self.own = Some(id);
                self.driver.on_block_built(round, id)
            }
            Err(e) => {
                tracing::warn!(height, round, "cannot propose: {e:#}");
                self.node.check_build_halt(&e);
                Vec::new()
            }
        }
    }

    fn build_block(&self, height: Height, round: Round) -> Result<(Block, Checked)> {
        let node = &self.node;
        let chain = node.chain();
        let key = self.key.as_ref().context("no validator key")?;
        let me = self.driver.me().context("not a validator")?;
        let head = chain.head()?;
        if head.height + 1 != height {
            bail!("the head is at {}, not below {height}", head.height);
        }
        let ctx = chain.context(&head.id)?.context("the head has no context")?;
        let last_commit: Option<CommitCertificate> = if head.height == 0 {
            None
        } else {
            Some(chain.db().commit(&head.id)?.with_context(|| format!("no certificate for the head {}", head.id))?)
        };
        let proposal = proposal_fields(
            &self.pos,
            chain.spec().chain_id,
            key,
            me.0,
            &ctx.parent,
            &head.id,
            round,
            now_ms(),
            last_commit.as_ref(),
        )?;
        let (_, _, v) = node.head_version()?;
        let view = |a: &Address| chain.account_at(v, a);
        let candidates = node.mempool().select(&view, chain.params()?.block_gas_limit, MAX_TEMPLATE_TXS)?;
        let overlay = State::new(Overlay::new(chain.db()));
        let coinbase = *self.set.addresses.get(usize::from(me.0)).context("not in the height's set")?;
        if chain.shards() > 1 {
            let built = chain.build_sharded_proposed(&ctx, candidates, coinbase, proposal, last_commit, true)?;
            let block = built.block.clone();
            let checked = chain.own_checked(&block, ctx, built);
            return Ok((block, checked));
        }
        let built = build_block_proposed(
            chain.consensus(),
            chain.spec(),
            &overlay,
            &ctx,
            candidates,
            coinbase,
            proposal,
            last_commit,
            chain.config().exec_threads,
        )?;
        let block = built.block.clone();
        let checked = chain.own_checked(&block, ctx, built);
        Ok((block, checked))
    }

    fn decided(&mut self, height: Height, round: Round, id: Hash, certificate: &[SignedVote]) {
        let node = self.node.clone();
        let chain = node.chain();
        let cert = match CommitCertificate::from_votes(certificate) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(height, "the decision's precommits make no certificate: {e}");
                return;
            }
        };
        if let Err(e) = chain.db().put_commit(&id, &cert) {
            tracing::error!(height, "storing the certificate: {e:#}");
        }
        let Some(block) = self.blocks.get(&id).cloned() else {
            tracing::warn!(height, %id, "decided a block this node has not received: waiting for sync");
            return;
        };
        let result = if let Some(c) = self.checked.remove(&id) {
            chain.import_checked(&block, c)
        } else {
            chain.import_presigned(&block, &self.pooled(&block))
        };
        let imported = match result {
            Ok(r) if r.status == ImportStatus::Side => chain.adopt_finalized(&id),
            other => other,
        };
        match imported {
            Ok(r) => {
                node.after_import(&r, Some(&block));
                if self.own == Some(id) {
                    // Followers outside consensus import it from gossip.
                    node.announce(&block);
                }
                let block_time_ms = Pos::data(&block.header).map_or(0, |d| d.time_ms);
                let f =
                    Finalized { height, round, id, block_time_ms, decided_ms: now_ms(), txs: block.transactions.len() };
                tracing::info!(height, round, %id, txs = f.txs, ms = f.decided_ms.saturating_sub(block_time_ms), "finalized");
                node.note_finalized(f);
            }
            Err(ImportError::UnknownParent { .. }) => {
                tracing::warn!(height, %id, "decided a block whose parent this node lacks: waiting for sync");
                return;
            }
            Err(e) => {
                tracing::error!(height, %id, "importing the decided block: {e}");
                node.check_halt(&e);
                return;
            }
        }
        self.enter_next();
    }
}
