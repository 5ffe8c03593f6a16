//! Tendermint's algorithm over any view of the messages.
//!
//! It follows Algorithm 1 of Buchman, Kwon and Milosevic, "The latest
//! gossip on BFT consensus" (arXiv:1807.04938v3); comments cite its line
//! numbers. A [`Machine`] holds a validator's own state for one height
//! (round, step, lock, valid value, decision and which one-shot rules have
//! run); the messages it has seen are behind the [`View`] trait. Every
//! `upon` clause of the paper is a [`Rule`]: [`Machine::applicable`] lists
//! the rules whose conditions hold (in priority order), [`Machine::fire`]
//! carries one out. [`crate::Core`] keeps the messages it received and
//! fires the first applicable rule until none is left; the model check
//! lets a validator fire any applicable rule over all messages sent, which
//! covers every order in which they could have arrived.

use std::collections::BTreeMap;

use crate::types::{Height, Message, Proposal, Round, TimeoutKind, ValidatorIndex, Vote, VoteKind};
use crate::validators::ValidatorSet;

/// Where a round stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Waiting for the proposal.
    Propose,
    /// Prevoted.
    Prevote,
    /// Precommitted.
    Precommit,
    /// Decided: the height is over.
    Commit,
}

/// What goes out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<V> {
    /// Build a value to propose in `round`; answer with
    /// [`crate::Event::ProposeValue`].
    GetValue {
        /// The height.
        height: Height,
        /// The round.
        round: Round,
    },
    /// Sign and send (to every validator) this validator's own message.
    /// The driver persists it first and refuses to sign anything that
    /// conflicts with what it signed before (a crash must not turn into a
    /// double vote). It is already counted here.
    Broadcast(Message<V>),
    /// Call back with [`crate::Event::Timeout`] after the kind's duration
    /// for `round` (longer in later rounds).
    ScheduleTimeout {
        /// The round.
        round: Round,
        /// Which.
        kind: TimeoutKind,
    },
    /// `value` is decided at this height: the precommits for it are its
    /// commit certificate (more than 2/3 of the power).
    Decide {
        /// The height.
        height: Height,
        /// The round it was decided in.
        round: Round,
        /// The value.
        value: V,
        /// The precommits that decided it.
        certificate: Vec<Vote<V>>,
    },
    /// A validator voted twice in one round and kind, differently.
    Equivocation {
        /// The vote counted.
        first: Vote<V>,
        /// The conflicting one.
        second: Vote<V>,
    },
}

/// The messages a validator has seen, as the rules ask about them.
pub trait View<V> {
    /// The proposals of `round` by its proposer, first seen first, with
    /// whether each value is valid.
    fn proposals(&self, round: Round) -> Vec<(V, Option<Round>, bool)>;
    /// The power of the `kind` votes of `round` for `value` (`None`: nil).
    fn power(&self, round: Round, kind: VoteKind, value: Option<&V>) -> u64;
    /// The power of all `kind` votes of `round`, whatever their value.
    fn power_any(&self, round: Round, kind: VoteKind) -> u64;
    /// The power of the validators that sent anything in `round`.
    fn round_power(&self, round: Round) -> u64;
    /// The rounds above `round` with any message, lowest first.
    fn rounds_above(&self, round: Round) -> Vec<Round>;
    /// The rounds with any precommit, lowest first.
    fn precommit_rounds(&self) -> Vec<Round>;
}

/// An `upon` clause of Algorithm 1 whose condition holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rule<V> {
    /// Lines 49-54: a proposal and > 2/3 precommits for its value.
    Decide {
        /// The round of the precommits.
        round: Round,
        /// The value.
        value: V,
    },
    /// Lines 55-56: > 1/3 of the power has sent messages of a later round.
    Skip(Round),
    /// Lines 22-27 (no polka round) and 28-33 (a re-proposal with its
    /// polka seen): prevote for the value, or nil (`good: false`).
    PrevoteProposal {
        /// The proposed value.
        value: V,
        /// Valid and not against the lock.
        good: bool,
    },
    /// Lines 34-35: > 2/3 of any prevotes, the first time.
    PrevoteTimeout,
    /// Lines 36-43: a proposal and > 2/3 prevotes for its value, the first
    /// time this round.
    Polka(V),
    /// Lines 44-46: > 2/3 prevotes for nil.
    PrecommitNil,
    /// Lines 47-48: > 2/3 of any precommits, the first time.
    PrecommitTimeout,
}

/// The one-shot rules of a round that have run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Fired {
    prevote_timeout: bool,
    polka: bool,
    precommit_timeout: bool,
}

/// A validator's own state for one height.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Machine<V> {
    height: Height,
    set: ValidatorSet,
    seed: [u8; 32],
    me: Option<ValidatorIndex>,
    round: Round,
    step: Step,
    /// lockedValue, lockedRound.
    locked: Option<(V, Round)>,
    /// validValue, validRound.
    valid: Option<(V, Round)>,
    decided: Option<(V, Round)>,
    /// The round whose value this validator proposed, if it did.
    proposed: Option<Round>,
    fired: BTreeMap<Round, Fired>,
}

impl<V: Clone + Eq + std::fmt::Debug> Machine<V> {
    /// The state before round 0 of `height`; `me` is this validator's index
    /// (ignored if it is not in `set`). Call [`Machine::start`] next.
    pub fn new(height: Height, set: ValidatorSet, seed: [u8; 32], me: Option<ValidatorIndex>) -> Machine<V> {
        let me = me.filter(|m| set.contains(*m));
        Machine {
            height,
            set,
            seed,
            me,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            decided: None,
            proposed: None,
            fired: BTreeMap::new(),
        }
    }

    /// Line 10: `StartRound(0)`.
    pub fn start(&mut self, out: &mut Vec<Action<V>>) {
        self.start_round(0, out);
    }

    /// `StartRound(round)` instead of round 0: a validator restarted within
    /// a height skips the rounds it already signed in (it could only
    /// repeat or refuse those votes, and when every validator restarts
    /// together nobody would vote there at all). Moving to a later round
    /// is always allowed (line 55 does it on f + 1 messages).
    pub fn start_at(&mut self, round: Round, out: &mut Vec<Action<V>>) {
        self.start_round(round, out);
    }

    /// Before [`Machine::start`], after a restart: this validator
    /// precommitted `value` in `round` of this height before it stopped, so
    /// it was locked on it (lines 36-41 set lockedValue, lockedRound,
    /// validValue and validRound together). Tendermint's safety assumes the
    /// lock survives a crash; the signer persists it with the precommit's
    /// signature and this puts it back.
    pub fn restore_lock(&mut self, value: V, round: Round) {
        self.locked = Some((value.clone(), round));
        self.valid = Some((value, round));
    }

    /// The height.
    pub fn height(&self) -> Height {
        self.height
    }
    /// The current round.
    pub fn round(&self) -> Round {
        self.round
    }
    /// The current step.
    pub fn step(&self) -> Step {
        self.step
    }
    /// The decided value and its round, once there is one.
    pub fn decided(&self) -> Option<&(V, Round)> {
        self.decided.as_ref()
    }
    /// The locked value and its round.
    pub fn locked(&self) -> Option<&(V, Round)> {
        self.locked.as_ref()
    }
    /// This validator's index, if it validates.
    pub fn me(&self) -> Option<ValidatorIndex> {
        self.me
    }
    /// The validators.
    pub fn validators(&self) -> &ValidatorSet {
        &self.set
    }
    /// The proposer of `round` here.
    pub fn proposer(&self, round: Round) -> ValidatorIndex {
        self.set.proposer(&self.seed, self.height, round)
    }

    /// Whether a timeout of `kind` for the current round is scheduled and
    /// would still act when it fires (what a driver that lost its timers,
    /// or a model check, needs).
    pub fn timeout_armed(&self, kind: TimeoutKind) -> bool {
        let fired = self.fired.get(&self.round).copied().unwrap_or_default();
        match kind {
            TimeoutKind::Propose => self.step == Step::Propose && self.me != Some(self.proposer(self.round)),
            TimeoutKind::Prevote => self.step == Step::Prevote && fired.prevote_timeout,
            TimeoutKind::Precommit => self.step != Step::Commit && fired.precommit_timeout,
        }
    }

    /// Whether this validator waits for a value to propose (it asked with
    /// [`Action::GetValue`]).
    pub fn wants_value(&self) -> bool {
        self.step == Step::Propose
            && self.me.is_some()
            && self.me == Some(self.proposer(self.round))
            && self.proposed != Some(self.round)
    }

    /// The rules whose conditions hold over `view`, highest priority
    /// first (decision, round skip, then the current round's in the
    /// paper's order).
    pub fn applicable(&self, view: &impl View<V>) -> Vec<Rule<V>> {
        let mut out = Vec::new();
        if self.step == Step::Commit {
            return out;
        }
        let set = &self.set;
        // Lines 49-54, any round.
        for r in view.precommit_rounds() {
            for (v, _, ok) in view.proposals(r) {
                if ok && set.is_quorum(view.power(r, VoteKind::Precommit, Some(&v))) {
                    out.push(Rule::Decide { round: r, value: v });
                }
            }
        }
        // Lines 55-56.
        for r in view.rounds_above(self.round) {
            if set.is_one_third(view.round_power(r)) {
                out.push(Rule::Skip(r));
            }
        }
        let round = self.round;
        let fired = self.fired.get(&round).copied().unwrap_or_default();
        let proposals = view.proposals(round);
        if self.step == Step::Propose {
            for (v, pol, ok) in &proposals {
                match pol {
                    // Lines 22-27.
                    None => {
                        let good = *ok && self.locked.as_ref().is_none_or(|(lv, _)| lv == v);
                        out.push(Rule::PrevoteProposal { value: v.clone(), good });
                    }
                    // Lines 28-33.
                    Some(vr) if *vr < round && set.is_quorum(view.power(*vr, VoteKind::Prevote, Some(v))) => {
                        let good = *ok && self.locked.as_ref().is_none_or(|(lv, lr)| *lr <= *vr || lv == v);
                        out.push(Rule::PrevoteProposal { value: v.clone(), good });
                    }
                    Some(_) => {}
                }
            }
        }
        // Lines 34-35.
        if self.step == Step::Prevote
            && !fired.prevote_timeout
            && set.is_quorum(view.power_any(round, VoteKind::Prevote))
        {
            out.push(Rule::PrevoteTimeout);
        }
        // Lines 36-43.
        if self.step >= Step::Prevote && !fired.polka {
            for (v, _, ok) in &proposals {
                if *ok && set.is_quorum(view.power(round, VoteKind::Prevote, Some(v))) {
                    out.push(Rule::Polka(v.clone()));
                }
            }
        }
        // Lines 44-46.
        if self.step == Step::Prevote && set.is_quorum(view.power(round, VoteKind::Prevote, None)) {
            out.push(Rule::PrecommitNil);
        }
        // Lines 47-48.
        if !fired.precommit_timeout && set.is_quorum(view.power_any(round, VoteKind::Precommit)) {
            out.push(Rule::PrecommitTimeout);
        }
        out
    }

    /// Carries out `rule` (one [`Machine::applicable`] returned). A
    /// decision's [`Action::Decide`] carries an empty certificate: the
    /// caller that holds the votes fills it in.
    pub fn fire(&mut self, rule: Rule<V>, out: &mut Vec<Action<V>>) {
        let round = self.round;
        match rule {
            Rule::Decide { round: r, value } => {
                self.decided = Some((value.clone(), r));
                self.step = Step::Commit;
                out.push(Action::Decide { height: self.height, round: r, value, certificate: Vec::new() });
            }
            Rule::Skip(r) => self.start_round(r, out),
            Rule::PrevoteProposal { value, good } => {
                self.vote(VoteKind::Prevote, good.then_some(value), out);
                self.step = Step::Prevote;
            }
            Rule::PrevoteTimeout => {
                self.fired.entry(round).or_default().prevote_timeout = true;
                out.push(Action::ScheduleTimeout { round, kind: TimeoutKind::Prevote });
            }
            Rule::Polka(v) => {
                self.fired.entry(round).or_default().polka = true;
                if self.step == Step::Prevote {
                    self.locked = Some((v.clone(), round));
                    self.vote(VoteKind::Precommit, Some(v.clone()), out);
                    self.step = Step::Precommit;
                }
                self.valid = Some((v, round));
            }
            Rule::PrecommitNil => {
                self.vote(VoteKind::Precommit, None, out);
                self.step = Step::Precommit;
            }
            Rule::PrecommitTimeout => {
                self.fired.entry(round).or_default().precommit_timeout = true;
                out.push(Action::ScheduleTimeout { round, kind: TimeoutKind::Precommit });
            }
        }
    }

    /// A timeout fired (lines 57-67).
    pub fn on_timeout(&mut self, round: Round, kind: TimeoutKind, out: &mut Vec<Action<V>>) {
        if round != self.round || self.step == Step::Commit {
            return;
        }
        match kind {
            // Lines 57-60.
            TimeoutKind::Propose if self.step == Step::Propose => {
                self.vote(VoteKind::Prevote, None, out);
                self.step = Step::Prevote;
            }
            // Lines 61-64.
            TimeoutKind::Prevote if self.step == Step::Prevote => {
                self.vote(VoteKind::Precommit, None, out);
                self.step = Step::Precommit;
            }
            // Lines 65-67.
            TimeoutKind::Precommit => self.start_round(round.saturating_add(1), out),
            _ => {}
        }
    }

    /// Line 19: the value to propose, answering [`Action::GetValue`].
    pub fn on_value(&mut self, round: Round, value: V, out: &mut Vec<Action<V>>) {
        if round == self.round && self.wants_value() {
            self.propose(value, None, out);
        }
    }

    /// Lines 11-21.
    fn start_round(&mut self, round: Round, out: &mut Vec<Action<V>>) {
        self.round = round;
        self.step = Step::Propose;
        if self.me.is_some() && self.me == Some(self.proposer(round)) {
            match self.valid.clone() {
                // Lines 15-16: re-propose the valid value with its round.
                Some((v, vr)) => self.propose(v, Some(vr), out),
                // Line 18: getValue().
                None => out.push(Action::GetValue { height: self.height, round }),
            }
        } else {
            // Line 21.
            out.push(Action::ScheduleTimeout { round, kind: TimeoutKind::Propose });
        }
    }

    fn propose(&mut self, value: V, pol_round: Option<Round>, out: &mut Vec<Action<V>>) {
        let Some(me) = self.me else { return };
        self.proposed = Some(self.round);
        let p = Proposal { height: self.height, round: self.round, value, pol_round, proposer: me };
        out.push(Action::Broadcast(Message::Proposal(p)));
    }

    fn vote(&mut self, kind: VoteKind, value: Option<V>, out: &mut Vec<Action<V>>) {
        let Some(me) = self.me else { return };
        let v = Vote { height: self.height, round: self.round, kind, value, validator: me };
        out.push(Action::Broadcast(Message::Vote(v)));
    }
}
