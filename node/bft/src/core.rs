//! The voting core the node runs: [`Machine`] (Tendermint's rules) over
//! the messages this validator received.
//!
//! Events go in ([`Core::handle`]), actions come out ([`Action`]): no I/O,
//! no clock, no randomness. The driver owns timers, signing (and the
//! double-sign guard), the network, block validity and the chain. After
//! each event the core fires the first applicable rule until none is left.
//!
//! - Votes and proposals are taken as authentic: the driver checks their
//!   signatures (in batches) before they come in. A proposal comes with
//!   the driver's verdict on its value (`valid(v)` of the paper).
//! - Only the round's proposer may propose; a proposal from anyone else is
//!   ignored. A proposer that sends several values in a round is kept to
//!   [`MAX_PROPOSALS_PER_ROUND`] of them, so a polka or commit for any of
//!   them can be acted on; the first is the one prevoted for (line 22).
//! - A validator's votes count for each value they name (the paper counts
//!   messages); a second, different vote in the same round and kind is
//!   equivocation: [`Action::Equivocation`] hands both to the driver
//!   (evidence, slashing), once per validator, round and kind.
//! - Messages for rounds more than [`MAX_ROUNDS_AHEAD`] past the current
//!   one are dropped, so a faulty validator cannot grow the state without
//!   bound.
//! - A node that is not in the set (`me: None`) follows: it counts votes
//!   and decides, and never votes or proposes.

use std::collections::BTreeMap;

use crate::machine::{Action, Machine, Rule, Step, View};
use crate::types::{Height, Message, Proposal, Round, TimeoutKind, ValidatorIndex, Vote, VoteKind};
use crate::validators::ValidatorSet;

/// Distinct values kept per round from an equivocating proposer.
pub const MAX_PROPOSALS_PER_ROUND: usize = 4;
/// How far past the current round votes are kept.
pub const MAX_ROUNDS_AHEAD: Round = 64;

/// What comes in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<V> {
    /// A proposal (signature checked), with whether its value is valid.
    Proposal {
        /// The proposal.
        proposal: Proposal<V>,
        /// The driver's `valid(v)`: the block is well formed and executes.
        valid: bool,
    },
    /// A vote (signature checked).
    Vote(Vote<V>),
    /// The value this validator proposes, answering [`Action::GetValue`].
    ProposeValue {
        /// The round asked for.
        round: Round,
        /// The value (a block id the driver built).
        value: V,
    },
    /// A timeout scheduled by [`Action::ScheduleTimeout`] fired.
    Timeout {
        /// The round it was scheduled for.
        round: Round,
        /// Which.
        kind: TimeoutKind,
    },
}

/// The votes of one round and kind, by validator: its first, then up to
/// [`MAX_VOTES_PER_SLOT`] - 1 conflicting ones.
///
/// A vote counts for its value even when its validator also voted
/// otherwise, as the paper counts messages: a polka with an equivocator in
/// it is still a polka for the validators it locked, and the others must
/// be able to see it to unlock (otherwise one double voter can stall a
/// height forever). Safety does not suffer: quorums still intersect in an
/// honest validator, who votes once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Tally<V> {
    votes: BTreeMap<ValidatorIndex, Vec<Option<V>>>,
}

/// The most distinct votes kept per validator, round and kind.
const MAX_VOTES_PER_SLOT: usize = 3;

impl<V> Default for Tally<V> {
    fn default() -> Self {
        Tally { votes: BTreeMap::new() }
    }
}

impl<V: Eq> Tally<V> {
    fn power_for(&self, set: &ValidatorSet, value: Option<&V>) -> u64 {
        self.votes
            .iter()
            .filter(|(_, vs)| vs.iter().any(|v| v.as_ref() == value))
            .fold(0u64, |a, (i, _)| a.saturating_add(set.power(*i)))
    }
    fn power_any(&self, set: &ValidatorSet) -> u64 {
        self.votes.keys().fold(0u64, |a, i| a.saturating_add(set.power(*i)))
    }
}

/// What this validator received in one round.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RoundLog<V> {
    /// The proposer's proposals, first first, with their validity.
    proposals: Vec<(Proposal<V>, bool)>,
    prevotes: Tally<V>,
    precommits: Tally<V>,
}

impl<V> Default for RoundLog<V> {
    fn default() -> Self {
        RoundLog { proposals: Vec::new(), prevotes: Tally::default(), precommits: Tally::default() }
    }
}

/// The received messages, as the rules see them.
struct LogView<'a, V> {
    rounds: &'a BTreeMap<Round, RoundLog<V>>,
    set: &'a ValidatorSet,
}

impl<V: Clone + Eq> View<V> for LogView<'_, V> {
    fn proposals(&self, round: Round) -> Vec<(V, Option<Round>, bool)> {
        self.rounds
            .get(&round)
            .map(|r| r.proposals.iter().map(|(p, ok)| (p.value.clone(), p.pol_round, *ok)).collect())
            .unwrap_or_default()
    }
    fn power(&self, round: Round, kind: VoteKind, value: Option<&V>) -> u64 {
        self.rounds.get(&round).map_or(0, |r| match kind {
            VoteKind::Prevote => r.prevotes.power_for(self.set, value),
            VoteKind::Precommit => r.precommits.power_for(self.set, value),
        })
    }
    fn power_any(&self, round: Round, kind: VoteKind) -> u64 {
        self.rounds.get(&round).map_or(0, |r| match kind {
            VoteKind::Prevote => r.prevotes.power_any(self.set),
            VoteKind::Precommit => r.precommits.power_any(self.set),
        })
    }
    fn round_power(&self, round: Round) -> u64 {
        let Some(r) = self.rounds.get(&round) else { return 0 };
        let mut senders: Vec<ValidatorIndex> =
            r.prevotes.votes.keys().chain(r.precommits.votes.keys()).copied().collect();
        senders.extend(r.proposals.iter().map(|(p, _)| p.proposer));
        senders.sort_unstable();
        senders.dedup();
        senders.iter().fold(0u64, |a, i| a.saturating_add(self.set.power(*i)))
    }
    fn rounds_above(&self, round: Round) -> Vec<Round> {
        self.rounds.range(round.saturating_add(1)..).map(|(r, _)| *r).collect()
    }
    fn precommit_rounds(&self) -> Vec<Round> {
        self.rounds.iter().filter(|(_, r)| !r.precommits.votes.is_empty()).map(|(r, _)| *r).collect()
    }
}

/// The voting core of one height: the machine and what it received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Core<V> {
    machine: Machine<V>,
    rounds: BTreeMap<Round, RoundLog<V>>,
}

impl<V: Clone + Eq + std::fmt::Debug> Core<V> {
    /// A core for `height` with its validators and proposer seed; `me` is
    /// this node's index if it validates. Returns the actions of starting
    /// round 0 (line 10).
    pub fn new(
        height: Height,
        set: ValidatorSet,
        seed: [u8; 32],
        me: Option<ValidatorIndex>,
    ) -> (Core<V>, Vec<Action<V>>) {
        Core::restarted(height, set, seed, me, None, 0)
    }

    /// [`Core::new`] for a validator that restarted within `height`: it
    /// had precommitted `lock = (value, round)` there (it starts locked on
    /// it, [`Machine::restore_lock`]) and starts at `round` (after the last
    /// round it signed in, [`Machine::start_at`]).
    pub fn restarted(
        height: Height,
        set: ValidatorSet,
        seed: [u8; 32],
        me: Option<ValidatorIndex>,
        lock: Option<(V, Round)>,
        round: Round,
    ) -> (Core<V>, Vec<Action<V>>) {
        let mut machine = Machine::new(height, set, seed, me);
        if let Some((v, r)) = lock {
            machine.restore_lock(v, r);
        }
        let mut core = Core { machine, rounds: BTreeMap::new() };
        let mut out = Vec::new();
        core.machine.start_at(round, &mut out);
        core.settle(&mut out, 0);
        (core, out)
    }

    /// The rules' state.
    pub fn machine(&self) -> &Machine<V> {
        &self.machine
    }
    /// The height.
    pub fn height(&self) -> Height {
        self.machine.height()
    }
    /// The current round.
    pub fn round(&self) -> Round {
        self.machine.round()
    }
    /// The current step.
    pub fn step(&self) -> Step {
        self.machine.step()
    }
    /// The decided value, once there is one.
    pub fn decided(&self) -> Option<&V> {
        self.machine.decided().map(|(v, _)| v)
    }

    /// Feeds one event; returns the actions it causes.
    pub fn handle(&mut self, event: Event<V>) -> Vec<Action<V>> {
        let mut out = Vec::new();
        if self.machine.step() == Step::Commit {
            return out;
        }
        match event {
            Event::Proposal { proposal, valid } => self.record_proposal(proposal, valid),
            Event::Vote(v) => self.record_vote(v, &mut out),
            Event::ProposeValue { round, value } => self.machine.on_value(round, value, &mut out),
            Event::Timeout { round, kind } => self.machine.on_timeout(round, kind, &mut out),
        }
        self.settle(&mut out, 0);
        out
    }

    /// Records the machine's own messages (from `out[from..]`) and fires
    /// the first applicable rule until none is left.
    fn settle(&mut self, out: &mut Vec<Action<V>>, mut from: usize) {
        loop {
            let own: Vec<Message<V>> = out
                .get(from..)
                .unwrap_or_default()
                .iter()
                .filter_map(|a| match a {
                    Action::Broadcast(m) => Some(m.clone()),
                    _ => None,
                })
                .collect();
            from = out.len();
            for m in own {
                match m {
                    // Our own value is valid: we built it or saw its polka.
                    Message::Proposal(p) => self.record_proposal(p, true),
                    Message::Vote(v) => self.record_vote(v, out),
                }
            }
            let view = LogView { rounds: &self.rounds, set: self.machine.validators() };
            let Some(rule) = self.machine.applicable(&view).into_iter().next() else { break };
            let decided = match &rule {
                Rule::Decide { round, value } => Some((*round, value.clone())),
                _ => None,
            };
            self.machine.fire(rule, out);
            if let Some((round, value)) = decided {
                let cert = self.certificate(round, &value);
                if let Some(Action::Decide { certificate, .. }) = out.last_mut() {
                    *certificate = cert;
                }
                break;
            }
        }
    }

    fn certificate(&self, round: Round, value: &V) -> Vec<Vote<V>> {
        let height = self.machine.height();
        self.rounds
            .get(&round)
            .map(|r| {
                r.precommits
                    .votes
                    .iter()
                    .filter(|(_, xs)| xs.iter().any(|x| x.as_ref() == Some(value)))
                    .map(|(i, _)| Vote {
                        height,
                        round,
                        kind: VoteKind::Precommit,
                        value: Some(value.clone()),
                        validator: *i,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn too_far(&self, round: Round) -> bool {
        round > self.machine.round().saturating_add(MAX_ROUNDS_AHEAD)
    }

    fn record_proposal(&mut self, p: Proposal<V>, valid: bool) {
        if p.height != self.machine.height()
            || p.proposer != self.machine.proposer(p.round)
            || self.too_far(p.round)
            || p.pol_round.is_some_and(|vr| vr >= p.round)
        {
            return;
        }
        let r = self.rounds.entry(p.round).or_default();
        if r.proposals.len() < MAX_PROPOSALS_PER_ROUND && !r.proposals.iter().any(|(q, _)| q.value == p.value) {
            r.proposals.push((p, valid));
        }
    }

    fn record_vote(&mut self, v: Vote<V>, out: &mut Vec<Action<V>>) {
        if v.height != self.machine.height()
            || !self.machine.validators().contains(v.validator)
            || self.too_far(v.round)
        {
            return;
        }
        let r = self.rounds.entry(v.round).or_default();
        let tally = match v.kind {
            VoteKind::Prevote => &mut r.prevotes,
            VoteKind::Precommit => &mut r.precommits,
        };
        let mine = tally.votes.entry(v.validator).or_default();
        if mine.contains(&v.value) || mine.len() >= MAX_VOTES_PER_SLOT {
            return;
        }
        mine.push(v.value.clone());
        // The first conflict is the evidence; later ones add nothing.
        if mine.len() == 2
            && let Some(first) = mine.first()
        {
            let first = Vote { value: first.clone(), ..v.clone() };
            out.push(Action::Equivocation { first, second: v });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set4() -> ValidatorSet {
        ValidatorSet::new(vec![1, 1, 1, 1]).unwrap()
    }

    fn vote(round: Round, kind: VoteKind, value: Option<u64>, who: u16) -> Event<u64> {
        Event::Vote(Vote { height: 1, round, kind, value, validator: ValidatorIndex(who) })
    }

    /// A validator that precommitted 7 in round 0 and restarted keeps its
    /// lock: in round 1 it prevotes nil for another value without a newer
    /// polka, and its own value when it is proposed again. Without the lock
    /// (the control) it would prevote the other value: what a crash could
    /// otherwise turn into a second decision at the height.
    #[test]
    fn a_restored_lock_survives_a_restart() {
        let set = set4();
        let seed = [3; 32];
        let me = (0..4).map(ValidatorIndex).find(|m| set.proposer(&seed, 1, 1) != *m).unwrap();
        let others: Vec<u16> = (0..4).filter(|i| *i != me.0).collect();
        let proposer = set.proposer(&seed, 1, 1);
        let prevote_of = |out: &[Action<u64>]| {
            out.iter().find_map(|a| match a {
                Action::Broadcast(Message::Vote(v)) if v.kind == VoteKind::Prevote && v.round == 1 => Some(v.value),
                _ => None,
            })
        };
        for (lock, want) in [(Some((7, 0)), None), (None, Some(8))] {
            let (mut core, _) = Core::<u64>::restarted(1, set.clone(), seed, Some(me), lock, 0);
            // Two others in round 1: f + 1, so it moves there (line 55).
            core.handle(vote(1, VoteKind::Prevote, None, others[0]));
            core.handle(vote(1, VoteKind::Prevote, None, others[1]));
            assert_eq!(core.round(), 1);
            let p = Proposal { height: 1, round: 1, value: 8, pol_round: None, proposer };
            let out = core.handle(Event::Proposal { proposal: p, valid: true });
            assert_eq!(prevote_of(&out), Some(want), "lock {lock:?}: {out:?}");
        }
        // Locked on 7, it prevotes 7 when 7 is proposed again with its polka round.
        let (mut core, _) = Core::<u64>::restarted(1, set.clone(), seed, Some(me), Some((7, 0)), 0);
        core.handle(vote(1, VoteKind::Prevote, None, others[0]));
        core.handle(vote(1, VoteKind::Prevote, None, others[1]));
        for w in 0..3u16 {
            core.handle(vote(0, VoteKind::Prevote, Some(7), w));
        }
        let p = Proposal { height: 1, round: 1, value: 7, pol_round: Some(0), proposer };
        let out = core.handle(Event::Proposal { proposal: p, valid: true });
        assert_eq!(prevote_of(&out), Some(Some(7)), "{out:?}");
    }

    #[test]
    fn a_lone_validator_decides_at_once() {
        let set = ValidatorSet::new(vec![5]).unwrap();
        let (mut core, actions) = Core::<u64>::new(1, set, [0; 32], Some(ValidatorIndex(0)));
        assert_eq!(actions, vec![Action::GetValue { height: 1, round: 0 }]);
        let out = core.handle(Event::ProposeValue { round: 0, value: 42 });
        let decide = out.iter().find_map(|a| match a {
            Action::Decide { value, certificate, round, .. } => Some((*value, certificate.len(), *round)),
            _ => None,
        });
        assert_eq!(decide, Some((42, 1, 0)));
        assert_eq!(core.decided(), Some(&42));
        assert!(core.handle(Event::Timeout { round: 0, kind: TimeoutKind::Precommit }).is_empty());
    }

    #[test]
    fn four_validators_lock_and_decide() {
        let set = set4();
        let seed = [1; 32];
        let proposer = set.proposer(&seed, 1, 0);
        let me = ValidatorIndex((proposer.0 + 1) % 4);
        let (mut core, start) = Core::<u64>::new(1, set, seed, Some(me));
        assert_eq!(start, vec![Action::ScheduleTimeout { round: 0, kind: TimeoutKind::Propose }]);
        let p = Proposal { height: 1, round: 0, value: 9, pol_round: None, proposer };
        let out = core.handle(Event::Proposal { proposal: p, valid: true });
        assert!(out.contains(&Action::Broadcast(Message::Vote(Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            value: Some(9),
            validator: me
        }))));
        let others: Vec<u16> = (0..4).filter(|i| *i != me.0).collect();
        core.handle(vote(0, VoteKind::Prevote, Some(9), others[0]));
        let out = core.handle(vote(0, VoteKind::Prevote, Some(9), others[1]));
        assert_eq!(core.machine().locked(), Some(&(9, 0)));
        assert!(out.iter().any(|a| matches!(a, Action::Broadcast(Message::Vote(v)) if v.kind == VoteKind::Precommit)));
        core.handle(vote(0, VoteKind::Precommit, Some(9), others[0]));
        let out = core.handle(vote(0, VoteKind::Precommit, Some(9), others[1]));
        let cert = out.iter().find_map(|a| match a {
            Action::Decide { certificate, .. } => Some(certificate.clone()),
            _ => None,
        });
        assert_eq!(cert.map(|c| c.len()), Some(3));
    }

    #[test]
    fn double_votes_are_reported_once_and_strangers_ignored() {
        let (mut core, _) = Core::<u64>::new(1, set4(), [2; 32], Some(ValidatorIndex(0)));
        assert!(core.handle(vote(0, VoteKind::Prevote, Some(1), 3)).is_empty());
        let out = core.handle(vote(0, VoteKind::Prevote, Some(2), 3));
        assert!(
            matches!(&out[..], [Action::Equivocation { first, second }] if first.value == Some(1) && second.value == Some(2))
        );
        assert!(
            core.handle(vote(0, VoteKind::Prevote, None, 3)).iter().all(|a| !matches!(a, Action::Equivocation { .. }))
        );
        // Not a validator, another height, too far ahead: no effect.
        let before = core.clone();
        core.handle(vote(0, VoteKind::Prevote, Some(1), 9));
        core.handle(Event::Vote(Vote {
            height: 2,
            round: 0,
            kind: VoteKind::Prevote,
            value: None,
            validator: ValidatorIndex(1),
        }));
        core.handle(vote(MAX_ROUNDS_AHEAD + 1, VoteKind::Prevote, None, 1));
        core.handle(vote(MAX_ROUNDS_AHEAD + 1, VoteKind::Prevote, None, 2));
        assert_eq!(core, before);
    }

    #[test]
    fn only_the_proposer_proposes() {
        let set = set4();
        let seed = [3; 32];
        let proposer = set.proposer(&seed, 1, 0);
        let other = ValidatorIndex((proposer.0 + 1) % 4);
        let me = ValidatorIndex((proposer.0 + 2) % 4);
        let (mut core, _) = Core::<u64>::new(1, set, seed, Some(me));
        let p = Proposal { height: 1, round: 0, value: 5, pol_round: None, proposer: other };
        assert!(core.handle(Event::Proposal { proposal: p, valid: true }).is_empty());
        // An invalid value from the proposer gets a nil prevote.
        let p = Proposal { height: 1, round: 0, value: 5, pol_round: None, proposer };
        let out = core.handle(Event::Proposal { proposal: p, valid: false });
        assert!(out.iter().any(|a| matches!(a, Action::Broadcast(Message::Vote(v)) if v.value.is_none())));
    }

    #[test]
    fn one_third_in_a_later_round_skips_to_it() {
        let (mut core, _) = Core::<u64>::new(1, set4(), [4; 32], Some(ValidatorIndex(0)));
        core.handle(vote(5, VoteKind::Prevote, None, 1));
        assert_eq!(core.round(), 0);
        core.handle(vote(5, VoteKind::Precommit, None, 2));
        assert_eq!(core.round(), 5);
    }
}
