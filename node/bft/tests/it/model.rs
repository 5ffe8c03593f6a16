//! An exhaustive model check of the voting rules with stateright.
//!
//! Four validators of equal power. Three are honest and run
//! [`Machine`] — the state and rules the node's [`cinder_bft::Core`] runs
//! — and the fourth is Byzantine: it has sent every vote there is
//! (prevotes and precommits for either value and for nil, in both rounds)
//! and, where it proposes, every proposal. The network is asynchronous in
//! the strongest sense: all messages sent form one pool, and an honest
//! validator may at any moment fire any rule whose condition holds over
//! the pool (as if exactly the messages that condition needs had arrived,
//! in whatever order), the Byzantine validator counting for whichever
//! value suits. The node's core fires, at each moment, the first rule
//! that holds over the messages it has received, a subset of the pool, so
//! every run of the node is a run here (the conditions only grow with
//! more messages). Any scheduled timeout may fire at any moment.
//!
//! Bounds: one height, rounds 0 and 1 (the round-1 precommit timeout,
//! which would start round 2, never fires), two values; the Byzantine
//! validator proposes round 0 and an honest one round 1, which picks
//! either value when it has no valid value to re-propose.
//!
//! Property: no two honest validators decide different values. The same
//! check with a quorum of half the stake finds a fork, so the check can
//! fail.

use std::collections::BTreeSet;

use cinder_bft::{
    Action, Machine, Message, Proposal, Quorum, Round, Rule, TimeoutKind, ValidatorIndex, ValidatorSet, View, Vote,
    VoteKind,
};
use stateright::{Checker, Model, Property};

const HONEST: usize = 3;
const BYZ: ValidatorIndex = ValidatorIndex(3);
const MAX_ROUND: Round = 1;
const VALUES: [u8; 2] = [0, 1];

struct Tendermint {
    set: ValidatorSet,
    seed: [u8; 32],
    byzantine: BTreeSet<Message<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    nodes: Vec<Machine<u8>>,
    /// Every message the honest validators sent.
    pool: BTreeSet<Message<u8>>,
    decided: Vec<Option<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Step {
    Fire(usize, Rule<u8>),
    Timeout(usize, TimeoutKind),
    Propose(usize, u8),
}

/// The pool (honest and Byzantine messages) as one validator's view.
struct Pool<'a> {
    model: &'a Tendermint,
    honest: &'a BTreeSet<Message<u8>>,
    proposer: [ValidatorIndex; MAX_ROUND as usize + 1],
}

impl Pool<'_> {
    fn messages(&self) -> impl Iterator<Item = &Message<u8>> {
        self.honest.iter().chain(self.model.byzantine.iter())
    }
    fn power_of(&self, senders: BTreeSet<ValidatorIndex>) -> u64 {
        senders.iter().map(|v| self.model.set.power(*v)).sum()
    }
    fn votes(&self, round: Round, kind: VoteKind) -> impl Iterator<Item = &Vote<u8>> {
        self.messages().filter_map(move |m| match m {
            Message::Vote(v) if v.round == round && v.kind == kind => Some(v),
            _ => None,
        })
    }
}

impl View<u8> for Pool<'_> {
    fn proposals(&self, round: Round) -> Vec<(u8, Option<Round>, bool)> {
        self.messages()
            .filter_map(|m| match m {
                Message::Proposal(p) if p.round == round && Some(&p.proposer) == self.proposer.get(round as usize) => {
                    Some((p.value, p.pol_round, true))
                }
                _ => None,
            })
            .collect()
    }
    fn power(&self, round: Round, kind: VoteKind, value: Option<&u8>) -> u64 {
        self.power_of(self.votes(round, kind).filter(|v| v.value.as_ref() == value).map(|v| v.validator).collect())
    }
    fn power_any(&self, round: Round, kind: VoteKind) -> u64 {
        self.power_of(self.votes(round, kind).map(|v| v.validator).collect())
    }
    fn round_power(&self, round: Round) -> u64 {
        self.power_of(self.messages().filter(|m| m.round() == round).map(Message::sender).collect())
    }
    fn rounds_above(&self, round: Round) -> Vec<Round> {
        let rs: BTreeSet<Round> = self.messages().map(Message::round).filter(|r| *r > round).collect();
        rs.into_iter().collect()
    }
    fn precommit_rounds(&self) -> Vec<Round> {
        let rs: BTreeSet<Round> = self
            .messages()
            .filter_map(|m| match m {
                Message::Vote(v) if v.kind == VoteKind::Precommit => Some(v.round),
                _ => None,
            })
            .collect();
        rs.into_iter().collect()
    }
}

impl State {
    /// Schedules the timeouts whose conditions hold (lines 34 and 47) at
    /// once: doing so only arms a timeout, which may still fire at any
    /// later moment, so firing these rules early loses no behaviour and
    /// spares the interleavings of invisible steps.
    fn settle_timers(&mut self, model: &Tendermint) {
        for i in 0..HONEST {
            loop {
                let rule = {
                    let pool = Pool { model, honest: &self.pool, proposer: model.proposers() };
                    self.nodes[i]
                        .applicable(&pool)
                        .into_iter()
                        .find(|r| matches!(r, Rule::PrevoteTimeout | Rule::PrecommitTimeout))
                };
                let Some(rule) = rule else { break };
                let mut out = Vec::new();
                self.nodes[i].fire(rule, &mut out);
            }
        }
    }

    fn apply(&mut self, i: usize, actions: Vec<Action<u8>>) {
        for a in actions {
            match a {
                Action::Broadcast(m) => {
                    self.pool.insert(m);
                }
                // Timeouts and value requests are read off the machines.
                Action::ScheduleTimeout { .. } | Action::GetValue { .. } => {}
                Action::Decide { value, .. } => self.decided[i] = Some(value),
                Action::Equivocation { .. } => {}
            }
        }
    }
}

impl Tendermint {
    fn new(quorum: Quorum) -> Tendermint {
        let set = ValidatorSet::new(vec![1; 4]).unwrap().with_quorum(quorum).unwrap();
        // A seed under which the Byzantine validator proposes round 0 and
        // an honest one round 1.
        let seed = (0..=255u8)
            .map(|k| [k; 32])
            .find(|s| set.proposer(s, 1, 0) == BYZ && set.proposer(s, 1, 1) != BYZ)
            .expect("a seed with a Byzantine first proposer");
        let mut model = Tendermint { set, seed, byzantine: BTreeSet::new() };
        model.byzantine = model.byzantine_messages();
        model
    }

    fn proposers(&self) -> [ValidatorIndex; MAX_ROUND as usize + 1] {
        [0, 1].map(|r| self.set.proposer(&self.seed, 1, r))
    }

    fn pool<'a>(&'a self, s: &'a State) -> Pool<'a> {
        Pool { model: self, honest: &s.pool, proposer: self.proposers() }
    }

    /// Everything the Byzantine validator may send.
    fn byzantine_messages(&self) -> BTreeSet<Message<u8>> {
        let mut out = BTreeSet::new();
        for round in 0..=MAX_ROUND {
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                for value in [None, Some(0), Some(1)] {
                    out.insert(Message::Vote(Vote { height: 1, round, kind, value, validator: BYZ }));
                }
            }
            if self.set.proposer(&self.seed, 1, round) == BYZ {
                for value in VALUES {
                    for pol_round in std::iter::once(None).chain((0..round).map(Some)) {
                        out.insert(Message::Proposal(Proposal { height: 1, round, value, pol_round, proposer: BYZ }));
                    }
                }
            }
        }
        out
    }
}

impl Model for Tendermint {
    type State = State;
    type Action = Step;

    fn init_states(&self) -> Vec<State> {
        let mut s = State { nodes: Vec::new(), pool: BTreeSet::new(), decided: vec![None; HONEST] };
        for i in 0..HONEST {
            let me = ValidatorIndex(u16::try_from(i).unwrap());
            let mut m = Machine::new(1, self.set.clone(), self.seed, Some(me));
            let mut out = Vec::new();
            m.start(&mut out);
            s.nodes.push(m);
            s.apply(i, out);
        }
        s.settle_timers(self);
        vec![s]
    }

    fn actions(&self, s: &State, out: &mut Vec<Step>) {
        let pool = self.pool(s);
        for i in 0..HONEST {
            if s.decided[i].is_some() {
                continue;
            }
            let m = &s.nodes[i];
            if m.wants_value() {
                for v in VALUES {
                    out.push(Step::Propose(i, v));
                }
            }
            for k in [TimeoutKind::Propose, TimeoutKind::Prevote, TimeoutKind::Precommit] {
                // The round-1 precommit timeout would start round 2.
                if m.timeout_armed(k) && !(k == TimeoutKind::Precommit && m.round() == MAX_ROUND) {
                    out.push(Step::Timeout(i, k));
                }
            }
            for rule in s.nodes[i].applicable(&pool) {
                if !matches!(rule, Rule::PrevoteTimeout | Rule::PrecommitTimeout) {
                    out.push(Step::Fire(i, rule));
                }
            }
        }
    }

    fn next_state(&self, s: &State, step: Step) -> Option<State> {
        let mut n = s.clone();
        let mut out = Vec::new();
        let i = match step {
            Step::Fire(i, rule) => {
                n.nodes[i].fire(rule, &mut out);
                i
            }
            Step::Timeout(i, kind) => {
                let round = n.nodes[i].round();
                n.nodes[i].on_timeout(round, kind, &mut out);
                i
            }
            Step::Propose(i, value) => {
                let round = n.nodes[i].round();
                n.nodes[i].on_value(round, value, &mut out);
                i
            }
        };
        n.apply(i, out);
        n.settle_timers(self);
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("agreement", |_, s: &State| {
                let d: BTreeSet<u8> = s.decided.iter().flatten().copied().collect();
                d.len() <= 1
            }),
            Property::sometimes("an honest validator decides", |_, s: &State| s.decided.iter().any(Option::is_some)),
            Property::sometimes("a decision in round 1", |_, s: &State| {
                s.nodes.iter().any(|m| m.decided().is_some_and(|(_, r)| *r == 1))
            }),
        ]
    }
}

#[test]
fn no_two_honest_validators_decide_differently() {
    let started = std::time::Instant::now();
    let checker = Tendermint::new(Quorum::MoreThan(2, 3)).checker().threads(2).spawn_bfs().join();
    eprintln!(
        "model check: {} states ({} unique), depth {}, {:.1} s",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth(),
        started.elapsed().as_secs_f64()
    );
    checker.assert_properties();
}

#[test]
fn a_quorum_of_half_the_stake_forks() {
    let checker = Tendermint::new(Quorum::AtLeast(1, 2)).checker().threads(2).spawn_bfs().join();
    let path = checker.discovery("agreement").expect("a counterexample to agreement");
    eprintln!("counterexample with a 1/2 quorum: {} steps", path.into_actions().len());
}
