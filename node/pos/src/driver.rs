//! The consensus driver, without I/O: signed messages in, signed messages,
//! timers, decisions and evidence out.
//!
//! It wraps one height's [`Core`] (the block id is the value voted on) and
//! does what the core leaves to its driver: verifies vote signatures as one
//! batch (the engine's batch verifier) and proposal signatures before they
//! count, keeps messages of later heights until it gets there (bounded),
//! signs what the core broadcasts through the [`Signer`] and its
//! double-sign guard (a refused signature is not sent), turns the core's
//! equivocation reports into [`DoubleVote`] evidence and its decision into
//! a certificate of signed precommits, and says when each timeout is due.
//! The node runs it on its event loop: network, timers and the chain stay
//! outside.

use std::collections::BTreeMap;
use std::time::Duration;

use cinder_bft::{
    Action, Core, Event, Height, Message, Proposal, Round, TimeoutKind, ValidatorIndex, ValidatorSet, Vote, VoteKind,
};
use cinder_engine::sig::VerifyingKey;
use cinder_primitives::{
    CONSENSUS_VERSION, DoubleVote, Hash, ProposalData, SignedProposal, SignedVote, VoteData, VoteType, verify_votes,
};

use crate::validator::Signer;

/// Messages kept for heights the driver has not reached.
pub const MAX_FUTURE_MESSAGES: usize = 4_096;
/// Signed votes kept per height (for evidence and certificates).
pub const MAX_SIGNED_VOTES: usize = 65_536;

/// A height's validators: voting power and consensus keys, by index.
#[derive(Clone, Debug)]
pub struct Validators {
    /// Power by index.
    pub set: ValidatorSet,
    /// Keys by index.
    pub keys: Vec<VerifyingKey>,
}

/// Timeout durations: `base + per_round * round` for each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for a proposal.
    pub propose: Duration,
    /// Waiting for prevotes to agree.
    pub prevote: Duration,
    /// Waiting for precommits to agree.
    pub precommit: Duration,
    /// Added per round, so rounds grow until the network keeps up.
    pub per_round: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            propose: Duration::from_millis(1_000),
            prevote: Duration::from_millis(500),
            precommit: Duration::from_millis(500),
            per_round: Duration::from_millis(500),
        }
    }
}

impl Timeouts {
    fn after(&self, kind: TimeoutKind, round: Round) -> Duration {
        let base = match kind {
            TimeoutKind::Propose => self.propose,
            TimeoutKind::Prevote => self.prevote,
            TimeoutKind::Precommit => self.precommit,
        };
        base.saturating_add(self.per_round.saturating_mul(round))
    }
}

/// What the driver asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Gossip this signed vote.
    SendVote(SignedVote),
    /// Gossip this signed proposal (the block goes with it).
    SendProposal(SignedProposal),
    /// Build a block to propose at this height and round; answer with
    /// [`Driver::on_block_built`].
    BuildBlock {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
    },
    /// Call [`Driver::on_timeout`] with these after `after`.
    Timer {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Which timeout.
        kind: TimeoutKind,
        /// When.
        after: Duration,
    },
    /// The height is decided: commit `block`; the precommits are its
    /// certificate (for the next header).
    Decided {
        /// Height.
        height: Height,
        /// Round of the decision.
        round: Round,
        /// The block.
        block: Hash,
        /// Signed precommits, more than 2/3 of the power.
        certificate: Vec<SignedVote>,
    },
    /// A validator signed two different votes: gossip and include this.
    Evidence(DoubleVote),
    /// The signer refused to sign (it signed something conflicting
    /// before, e.g. before a restart); nothing was sent.
    Refused(String),
}

/// The consensus driver of one validator (or follower).
pub struct Driver {
    chain_id: u64,
    validators: Validators,
    core: Core<Hash>,
    me: Option<ValidatorIndex>,
    signer: Option<Signer>,
    timeouts: Timeouts,
    /// The signed votes the core counted this height (for evidence and
    /// certificates).
    signed: BTreeMap<(Round, VoteKind, ValidatorIndex, Option<Hash>), SignedVote>,
    future: BTreeMap<Height, Vec<Future>>,
    future_len: usize,
    /// The votes of the height before, so that a conflicting vote arriving
    /// after this node moved on is still caught (the others may decide
    /// without the equivocator and leave its height first).
    previous: Option<Previous>,
}

/// The signed votes of the last decided height, one per (round, kind,
/// validator), with that height's validators.
struct Previous {
    height: Height,
    validators: Validators,
    votes: BTreeMap<(Round, VoteKind, ValidatorIndex), SignedVote>,
}

#[derive(Clone, Debug)]
enum Future {
    Vote(SignedVote),
    Proposal(SignedProposal, bool),
}

fn kind_of(t: VoteType) -> VoteKind {
    match t {
        VoteType::Prevote => VoteKind::Prevote,
        VoteType::Precommit => VoteKind::Precommit,
    }
}

fn type_of(k: VoteKind) -> VoteType {
    match k {
        VoteKind::Prevote => VoteType::Prevote,
        VoteKind::Precommit => VoteType::Precommit,
    }
}

impl Driver {
    /// A driver at `height`. `signer` is this node's, if it validates; it
    /// votes as the index its key has in `validators`.
    pub fn new(
        chain_id: u64,
        height: Height,
        validators: Validators,
        seed: [u8; 32],
        signer: Option<Signer>,
        timeouts: Timeouts,
    ) -> (Driver, Vec<Output>) {
        let me = signer.as_ref().and_then(|s| index_of(&validators, &s.public_key().0));
        // A validator restarted within this height keeps the lock of its
        // last precommit (persisted with it by the signer).
        let lock = signer.as_ref().and_then(|s| s.lock_at(height));
        // And starts after the last round it signed in: it could only repeat
        // or refuse those votes (if every validator restarted at once,
        // nobody would vote in that round and it would never time out).
        let round = signer.as_ref().map_or(0, |s| s.resume_round(height));
        let (core, actions) = Core::restarted(height, validators.set.clone(), seed, me, lock, round);
        let mut d = Driver {
            chain_id,
            validators,
            core,
            me,
            signer,
            timeouts,
            signed: BTreeMap::new(),
            future: BTreeMap::new(),
            future_len: 0,
            previous: None,
        };
        let out = d.perform(actions);
        (d, out)
    }

    /// The current height.
    pub fn height(&self) -> Height {
        self.core.height()
    }
    /// The current round.
    pub fn round(&self) -> Round {
        self.core.round()
    }
    /// This node's validator index, if it validates.
    pub fn me(&self) -> Option<ValidatorIndex> {
        self.me
    }

    /// Whether this height is decided (the driver waits for the next).
    pub fn decided(&self) -> bool {
        self.core.decided().is_some()
    }

    /// The signed votes of this height the driver counted (its own among
    /// them), newest rounds first, at most `max`. Gossip does not deliver
    /// what was sent before a peer joined; re-sending these while a height
    /// stalls is what lets a restarted validator see the polka others are
    /// locked on (Tendermint's liveness assumes every message of a correct
    /// process eventually reaches every correct process).
    pub fn signed_votes(&self, max: usize) -> Vec<SignedVote> {
        self.signed.iter().rev().take(max).map(|(_, v)| v.clone()).collect()
    }

    /// Moves to `height` (after committing the one before) with its
    /// validators and seed, and replays what arrived early for it.
    pub fn next_height(&mut self, height: Height, validators: Validators, seed: [u8; 32]) -> Vec<Output> {
        let signer = self.signer.take();
        let (mut d, mut out) = Driver::new(self.chain_id, height, validators, seed, signer, self.timeouts);
        let mut votes = BTreeMap::new();
        for ((round, kind, validator, _), v) in std::mem::take(&mut self.signed) {
            votes.entry((round, kind, validator)).or_insert(v);
        }
        d.previous = (self.height().checked_add(1) == Some(height)).then(|| Previous {
            height: self.height(),
            validators: self.validators.clone(),
            votes,
        });
        d.future = std::mem::take(&mut self.future);
        d.future.retain(|h, _| *h >= height);
        d.future_len = d.future.values().map(Vec::len).sum();
        *self = d;
        if let Some(early) = self.future.remove(&height) {
            self.future_len = self.future_len.saturating_sub(early.len());
            let mut votes = Vec::new();
            for m in early {
                match m {
                    Future::Vote(v) => votes.push(v),
                    Future::Proposal(p, ok) => out.extend(self.on_proposal(p, ok)),
                }
            }
            out.extend(self.on_votes(votes));
        }
        out
    }

    /// Signed votes from the network: checked as one batch; the valid ones
    /// of this height go to the core, later heights wait.
    pub fn on_votes(&mut self, votes: Vec<SignedVote>) -> Vec<Output> {
        let height = self.height();
        let previous_height = self.previous.as_ref().map(|p| p.height);
        let (late, votes): (Vec<SignedVote>, Vec<SignedVote>) =
            votes.into_iter().partition(|v| Some(v.data.height) == previous_height);
        let mut out = self.on_late_votes(late);
        let (now, later): (Vec<SignedVote>, Vec<SignedVote>) = votes
            .into_iter()
            .filter(|v| {
                v.data.chain_id == self.chain_id && v.data.version == CONSENSUS_VERSION && v.data.height >= height
            })
            .partition(|v| v.data.height == height);
        for v in later {
            self.keep(v.data.height, Future::Vote(v));
        }
        let verdicts = verify_votes(&now, &self.validators.keys);
        for (v, ok) in now.into_iter().zip(verdicts) {
            if !ok {
                continue;
            }
            let vote = Vote {
                height,
                round: v.data.round,
                kind: kind_of(v.data.kind),
                value: v.data.block,
                validator: ValidatorIndex(v.data.validator),
            };
            if self.signed.len() < MAX_SIGNED_VOTES {
                self.signed.entry((vote.round, vote.kind, vote.validator, vote.value)).or_insert(v);
            }
            let actions = self.core.handle(Event::Vote(vote));
            out.extend(self.perform(actions));
        }
        out
    }

    /// Votes of the height before: counted for nothing, but one that
    /// conflicts with a vote kept from that height is evidence.
    fn on_late_votes(&mut self, late: Vec<SignedVote>) -> Vec<Output> {
        let Some(prev) = self.previous.as_mut() else { return Vec::new() };
        let late: Vec<SignedVote> = late
            .into_iter()
            .filter(|v| v.data.chain_id == self.chain_id && v.data.version == CONSENSUS_VERSION)
            .collect();
        let verdicts = verify_votes(&late, &prev.validators.keys);
        let mut out = Vec::new();
        for (v, ok) in late.into_iter().zip(verdicts) {
            if !ok {
                continue;
            }
            let key = (v.data.round, kind_of(v.data.kind), ValidatorIndex(v.data.validator));
            match prev.votes.get(&key) {
                Some(first) if first.data.block != v.data.block => {
                    out.push(Output::Evidence(DoubleVote { first: first.clone(), second: v }));
                }
                Some(_) => {}
                None if prev.votes.len() < MAX_SIGNED_VOTES => {
                    prev.votes.insert(key, v);
                }
                None => {}
            }
        }
        out
    }

    /// A signed proposal whose block the node has checked (`block_valid`).
    pub fn on_proposal(&mut self, p: SignedProposal, block_valid: bool) -> Vec<Output> {
        let height = self.height();
        if p.data.chain_id != self.chain_id || p.data.version != CONSENSUS_VERSION || p.data.height < height {
            return Vec::new();
        }
        if p.data.height > height {
            self.keep(p.data.height, Future::Proposal(p, block_valid));
            return Vec::new();
        }
        let Some(key) = self.validators.keys.get(usize::from(p.data.proposer)) else { return Vec::new() };
        if key.verify(&p.data.signing_message(), &p.signature.0).is_err() {
            return Vec::new();
        }
        let proposal = Proposal {
            height,
            round: p.data.round,
            value: p.data.block,
            pol_round: p.data.pol_round,
            proposer: ValidatorIndex(p.data.proposer),
        };
        let actions = self.core.handle(Event::Proposal { proposal, valid: block_valid });
        self.perform(actions)
    }

    /// The block built for [`Output::BuildBlock`].
    pub fn on_block_built(&mut self, round: Round, block: Hash) -> Vec<Output> {
        let actions = self.core.handle(Event::ProposeValue { round, value: block });
        self.perform(actions)
    }

    /// A timer of [`Output::Timer`] fired.
    pub fn on_timeout(&mut self, height: Height, round: Round, kind: TimeoutKind) -> Vec<Output> {
        if height != self.height() {
            return Vec::new();
        }
        let actions = self.core.handle(Event::Timeout { round, kind });
        self.perform(actions)
    }

    fn keep(&mut self, height: Height, m: Future) {
        if self.future_len < MAX_FUTURE_MESSAGES {
            self.future.entry(height).or_default().push(m);
            self.future_len = self.future_len.saturating_add(1);
        }
    }

    fn perform(&mut self, actions: Vec<Action<Hash>>) -> Vec<Output> {
        let height = self.height();
        let mut out = Vec::new();
        for a in actions {
            match a {
                Action::GetValue { height, round } => out.push(Output::BuildBlock { height, round }),
                Action::ScheduleTimeout { round, kind } => {
                    out.push(Output::Timer { height, round, kind, after: self.timeouts.after(kind, round) });
                }
                Action::Broadcast(Message::Vote(v)) => {
                    let data = VoteData {
                        version: CONSENSUS_VERSION,
                        chain_id: self.chain_id,
                        height,
                        round: v.round,
                        kind: type_of(v.kind),
                        block: v.value,
                        validator: v.validator.0,
                    };
                    let Some(signer) = self.signer.as_mut() else { continue };
                    match signer.sign_vote(data) {
                        Ok(sv) => {
                            self.signed.insert((v.round, v.kind, v.validator, v.value), sv.clone());
                            out.push(Output::SendVote(sv));
                        }
                        Err(e) => out.push(Output::Refused(e.to_string())),
                    }
                }
                Action::Broadcast(Message::Proposal(p)) => {
                    let data = ProposalData {
                        version: CONSENSUS_VERSION,
                        chain_id: self.chain_id,
                        height,
                        round: p.round,
                        block: p.value,
                        pol_round: p.pol_round,
                        proposer: p.proposer.0,
                    };
                    let Some(signer) = self.signer.as_mut() else { continue };
                    match signer.sign_proposal(data) {
                        Ok(sp) => out.push(Output::SendProposal(sp)),
                        Err(e) => out.push(Output::Refused(e.to_string())),
                    }
                }
                Action::Decide { height, round, value, certificate } => {
                    let certificate = certificate
                        .iter()
                        .filter_map(|v| self.signed.get(&(v.round, v.kind, v.validator, v.value)).cloned())
                        .collect();
                    out.push(Output::Decided { height, round, block: value, certificate });
                }
                Action::Equivocation { first, second } => {
                    let find = |v: &Vote<Hash>| self.signed.get(&(v.round, v.kind, v.validator, v.value)).cloned();
                    // The second vote reached the core through on_votes,
                    // which keeps every verified vote it hands over.
                    if let (Some(a), Some(b)) = (find(&first), find(&second)) {
                        out.push(Output::Evidence(DoubleVote { first: a, second: b }));
                    }
                }
            }
        }
        out
    }
}

fn index_of(v: &Validators, key: &[u8; 32]) -> Option<ValidatorIndex> {
    v.keys.iter().position(|k| k.public_key().0 == *key).and_then(|i| u16::try_from(i).ok()).map(ValidatorIndex)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use cinder_engine::sig::SecretKey;

    use super::*;

    const CHAIN: u64 = 9;

    fn key(i: usize) -> SecretKey {
        SecretKey::from_seed(&[u8::try_from(i).unwrap() + 1; 32])
    }

    fn validators() -> Validators {
        Validators {
            set: ValidatorSet::new(vec![1; 4]).unwrap(),
            keys: (0..4).map(|i| VerifyingKey::from_bytes(&key(i).public_key().0).unwrap()).collect(),
        }
    }

    fn seed(h: Height) -> [u8; 32] {
        *blake3::hash(&h.to_le_bytes()).as_bytes()
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("cinder-driver-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn driver(d: &std::path::Path, i: usize, height: Height) -> (Driver, Vec<Output>) {
        let signer = Signer::open(key(i), d.join(format!("signer-{i}.json"))).unwrap();
        Driver::new(CHAIN, height, validators(), seed(height), Some(signer), Timeouts::default())
    }

    /// Four drivers passing every message to each other at once.
    struct Net {
        nodes: Vec<Driver>,
        queue: VecDeque<(usize, Output)>,
        decided: Vec<BTreeMap<Height, Hash>>,
        evidence: Vec<DoubleVote>,
        refused: Vec<String>,
        /// Drop the votes of this node (a crash before each send).
        mute: Option<usize>,
        /// Every vote sent.
        sent: Vec<SignedVote>,
        /// A node that is down: it sends and receives nothing.
        down: Option<usize>,
        /// Simulated time, and the timers pending on it.
        clock: Duration,
        timers: Vec<(Duration, usize, Height, Round, TimeoutKind)>,
        /// The round each height was decided in, per node.
        rounds: Vec<BTreeMap<Height, Round>>,
    }

    impl Net {
        fn new(d: &std::path::Path) -> Net {
            let mut net = Net {
                nodes: Vec::new(),
                queue: VecDeque::new(),
                decided: vec![BTreeMap::new(); 4],
                evidence: Vec::new(),
                refused: Vec::new(),
                mute: None,
                sent: Vec::new(),
                down: None,
                clock: Duration::ZERO,
                timers: Vec::new(),
                rounds: vec![BTreeMap::new(); 4],
            };
            for i in 0..4 {
                let (n, out) = driver(d, i, 1);
                net.nodes.push(n);
                net.queue.extend(out.into_iter().map(|o| (i, o)));
            }
            net
        }

        fn done(&self, until: Height) -> bool {
            (0..4).filter(|i| Some(*i) != self.down).all(|i| self.decided[i].contains_key(&until))
        }

        /// Delivers everything; when nothing is left, fires the earliest
        /// timer, until every live node has decided `until`.
        fn run(&mut self, until: Height) {
            loop {
                self.drain(until);
                if self.done(until) || self.timers.is_empty() {
                    return;
                }
                let k = (0..self.timers.len()).min_by_key(|k| self.timers[*k].0).unwrap();
                let (at, i, height, round, kind) = self.timers.remove(k);
                self.clock = at;
                if Some(i) != self.down {
                    let out = self.nodes[i].on_timeout(height, round, kind);
                    self.queue.extend(out.into_iter().map(|o| (i, o)));
                }
            }
        }

        fn drain(&mut self, until: Height) {
            let mut steps = 0;
            while let Some((i, o)) = self.queue.pop_front() {
                steps += 1;
                assert!(steps < 100_000, "no progress");
                if Some(i) == self.down {
                    continue;
                }
                match o {
                    Output::SendVote(v) => {
                        if self.mute == Some(i) {
                            continue;
                        }
                        self.sent.push(v.clone());
                        for j in (0..4).filter(|j| *j != i && Some(*j) != self.down) {
                            let out = self.nodes[j].on_votes(vec![v.clone()]);
                            self.queue.extend(out.into_iter().map(|o| (j, o)));
                        }
                    }
                    Output::SendProposal(p) => {
                        for j in (0..4).filter(|j| *j != i && Some(*j) != self.down) {
                            let out = self.nodes[j].on_proposal(p.clone(), true);
                            self.queue.extend(out.into_iter().map(|o| (j, o)));
                        }
                    }
                    Output::BuildBlock { height, round } => {
                        let block = Hash(
                            *blake3::hash(&[height.to_le_bytes(), u64::from(round).to_le_bytes()].concat()).as_bytes(),
                        );
                        let out = self.nodes[i].on_block_built(round, block);
                        self.queue.extend(out.into_iter().map(|o| (i, o)));
                    }
                    Output::Timer { height, round, kind, after } => {
                        self.timers.push((self.clock + after, i, height, round, kind));
                    }
                    Output::Decided { height, round, block, certificate } => {
                        self.rounds[i].insert(height, round);
                        assert!(verify_votes(&certificate, &validators().keys).iter().all(|ok| *ok));
                        let cert = cinder_primitives::CommitCertificate::from_votes(&certificate).unwrap();
                        assert_eq!(cert.block, block);
                        assert!(cert.verify(&validators().keys, &[1; 4]).unwrap() >= 3);
                        assert!(certificate.len() >= 3, "{} precommits", certificate.len());
                        assert!(
                            certificate
                                .iter()
                                .all(|v| v.data.block == Some(block) && v.data.kind == VoteType::Precommit)
                        );
                        self.decided[i].insert(height, block);
                        if height < until {
                            let out = self.nodes[i].next_height(height + 1, validators(), seed(height + 1));
                            self.queue.extend(out.into_iter().map(|o| (i, o)));
                        }
                    }
                    Output::Evidence(e) => self.evidence.push(e),
                    Output::Refused(why) => self.refused.push(why),
                }
            }
        }
    }

    #[test]
    fn four_drivers_finalize_with_signed_certificates() {
        let d = dir("four");
        let mut net = Net::new(&d);
        net.run(5);
        for i in 1..4 {
            assert_eq!(net.decided[i], net.decided[0]);
        }
        assert_eq!(net.decided[0].len(), 5);
        assert!(net.evidence.is_empty() && net.refused.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_dead_proposer_is_passed_over_by_timeouts() {
        let d = dir("dead");
        let mut net = Net::new(&d);
        // The proposer of height 1, round 0 never speaks.
        let dead = usize::from(net.nodes[0].core.machine().proposer(0).0);
        net.down = Some(dead);
        net.run(3);
        let live: Vec<usize> = (0..4).filter(|i| *i != dead).collect();
        for i in &live {
            assert_eq!(net.decided[*i].len(), 3, "validator {i}: {:?}", net.decided[*i]);
            assert_eq!(net.decided[*i], net.decided[live[0]]);
            // Height 1 needed a later round: round 0's proposer was dead.
            assert!(net.rounds[*i][&1] >= 1, "{:?}", net.rounds[*i]);
        }
        // Only timeouts moved it: at least the propose timeout passed.
        assert!(net.clock >= Timeouts::default().propose, "{:?}", net.clock);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Every validator prevotes round 0's block and all crash before any
    /// vote leaves (a power cut). Restarted, none can vote in round 0 again
    /// (their signers refuse anything else there): they resume in round 1
    /// and decide; started at round 0 they would wait forever.
    #[test]
    fn all_validators_restarting_mid_height_still_decide() {
        let d = dir("all-restart");
        let mut net = Net::new(&d);
        net.queue.clear();
        let proposer = net.nodes[0].core.machine().proposer(0);
        let p = ProposalData {
            version: CONSENSUS_VERSION,
            chain_id: CHAIN,
            height: 1,
            round: 0,
            block: Hash([5; 32]),
            pol_round: None,
            proposer: proposer.0,
        }
        .sign(&key(usize::from(proposer.0)));
        for n in &mut net.nodes {
            let out = n.on_proposal(p.clone(), true);
            assert!(out.iter().any(|o| matches!(o, Output::SendVote(_))), "each signed a prevote: {out:?}");
        }
        for i in 0..4 {
            let (n, out) = driver(&d, i, 1);
            assert_eq!(n.round(), 1);
            net.nodes[i] = n;
            net.queue.extend(out.into_iter().map(|o| (i, o)));
        }
        net.run(1);
        for i in 0..4 {
            assert!(net.decided[i].contains_key(&1), "validator {i} did not decide");
            assert_eq!(net.decided[i], net.decided[0]);
        }
        assert!(net.refused.is_empty(), "{:?}", net.refused);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_restart_between_persisting_and_sending_never_double_signs() {
        let d = dir("restart");
        let mut net = Net::new(&d);
        // Validator 1 signs (and persists) its votes but never sends them:
        // it "crashes" before each send. The other three decide height 1.
        net.mute = Some(1);
        net.run(1);
        net.mute = None;
        let block = net.decided[0][&1];
        // Restarted from its signer state: back at height 1, after the
        // round it signed in.
        let (n, out) = driver(&d, 1, 1);
        net.nodes[1] = n;
        assert!(net.nodes[1].round() >= 1, "it resumes after round 0");
        assert!(!out.iter().any(|o| matches!(o, Output::SendVote(v) if v.data.round == 0)));
        let proposer = net.nodes[1].core.machine().proposer(0);
        let propose = |b: Hash| {
            ProposalData {
                version: CONSENSUS_VERSION,
                chain_id: CHAIN,
                height: 1,
                round: 0,
                block: b,
                pol_round: None,
                proposer: proposer.0,
            }
            .sign(&key(usize::from(proposer.0)))
        };
        // A different block for round 0 (an equivocating proposer): no
        // vote for it leaves (the round is behind it, and the signer would
        // refuse the step anyway).
        let (mut probe, _) = driver(&d, 1, 1);
        let out = probe.on_proposal(propose(Hash([8; 32])), true);
        assert!(!out.iter().any(|o| matches!(o, Output::SendVote(v) if v.data.round == 0)), "{out:?}");
        // The real proposal: nothing conflicting leaves either.
        let out = net.nodes[1].on_proposal(propose(block), true);
        assert!(!out.iter().any(|o| matches!(o, Output::SendVote(v) if v.data.block != Some(block))), "{out:?}");
        net.queue.extend(out.into_iter().map(|o| (1, o)));
        // It catches up from the others' votes (as sync would bring the
        // certificate), and everyone goes on to height 3.
        let sent = net.sent.clone();
        let out = net.nodes[1].on_votes(sent);
        net.queue.extend(out.into_iter().map(|o| (1, o)));
        for i in [0, 2, 3] {
            let out = net.nodes[i].next_height(2, validators(), seed(2));
            net.queue.extend(out.into_iter().map(|o| (i, o)));
        }
        net.run(3);
        for i in 0..4 {
            assert_eq!(net.decided[i].len(), 3, "validator {i}: {:?}", net.decided[i]);
            assert_eq!(net.decided[i], net.decided[0]);
        }
        assert!(net.evidence.is_empty(), "evidence against the restarted validator: {:?}", net.evidence);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_double_vote_arriving_after_the_height_moved_on_is_still_evidence() {
        let d = dir("late-evidence");
        let (mut n, _) = driver(&d, 0, 1);
        let vote = |height: Height, block: Option<Hash>, signer: usize| {
            VoteData {
                version: CONSENSUS_VERSION,
                chain_id: CHAIN,
                height,
                round: 0,
                kind: VoteType::Prevote,
                block,
                validator: 3,
            }
            .sign(&key(signer))
        };
        // Validator 3's first prevote at height 1 is counted; the node
        // moves on to height 2 (the others decided without 3's second).
        assert!(n.on_votes(vec![vote(1, Some(Hash([1; 32])), 3)]).iter().all(|o| !matches!(o, Output::Evidence(_))));
        n.next_height(2, validators(), seed(2));
        // Its conflicting prevote for height 1 arrives late: evidence.
        let out = n.on_votes(vec![vote(1, None, 3)]);
        let ev: Vec<&DoubleVote> = out
            .iter()
            .filter_map(|o| match o {
                Output::Evidence(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(ev.len(), 1, "{out:?}");
        assert_eq!(ev[0].check(&validators().keys[3]), Ok(()));
        // The same vote again, a forged one, or one two heights back: nothing.
        assert!(n.on_votes(vec![vote(1, Some(Hash([1; 32])), 3), vote(1, None, 2)]).is_empty());
        n.next_height(3, validators(), seed(3));
        assert!(n.on_votes(vec![vote(1, Some(Hash([9; 32])), 3)]).is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn forged_votes_are_dropped_and_double_votes_become_evidence() {
        let d = dir("evidence");
        let (mut n, _) = driver(&d, 0, 1);
        let vote = |block: Option<Hash>, signer: usize| {
            VoteData {
                version: CONSENSUS_VERSION,
                chain_id: CHAIN,
                height: 1,
                round: 0,
                kind: VoteType::Prevote,
                block,
                validator: 3,
            }
            .sign(&key(signer))
        };
        // Signed by validator 2's key in validator 3's name: dropped.
        assert!(n.on_votes(vec![vote(None, 2)]).is_empty());
        let out = n.on_votes(vec![vote(Some(Hash([1; 32])), 3), vote(None, 3)]);
        let ev: Vec<&DoubleVote> = out
            .iter()
            .filter_map(|o| match o {
                Output::Evidence(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(ev.len(), 1, "{out:?}");
        assert_eq!(ev[0].check(&validators().keys[3]), Ok(()));
        // Another chain's vote and a later height's: not counted now.
        let mut other = vote(Some(Hash([2; 32])), 3);
        other.data.chain_id = CHAIN + 1;
        assert!(n.on_votes(vec![other]).is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }
}
