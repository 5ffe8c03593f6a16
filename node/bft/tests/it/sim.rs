//! Deterministic simulation of four validators running [`Core`] over a
//! simulated clock and network (delays, drops, partitions) from a fixed
//! seed: no wall clock, no thread, no randomness but the seeded one.
//!
//! Each scenario has one faulty validator (an equivocating proposer, a
//! crash, a double voter) and checks that its fault really happened,
//! that honest validators never decide differently at a height (safety),
//! and that once the network is stable they keep deciding (liveness).
//! Validators that fall behind catch up from the commit certificates the
//! others announce, as the node's sync would.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use cinder_bft::{
    Action, Core, Event, Height, Message, Round, TimeoutKind, ValidatorIndex, ValidatorSet, Vote, VoteKind,
};

/// splitmix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Honest,
    /// Proposes one value to half the validators and another to the rest.
    EquivocatingProposer,
    /// Stops for good at the given time (ms).
    Crash(u64),
    /// Sends every vote twice: as computed, and a conflicting one to half
    /// the validators.
    DoubleVoter,
}

#[derive(Clone, Debug)]
enum Packet {
    Msg(Message<u64>),
    /// Decided heights with their certificates (what block sync carries).
    Commits(Vec<(Height, u64, Vec<Vote<u64>>)>),
    /// "I am at this height": peers ahead answer with their commits.
    Status {
        from: usize,
        height: Height,
    },
}

#[derive(Debug)]
enum Ev {
    Deliver { to: usize, packet: Packet },
    Timeout { node: usize, height: Height, round: Round, kind: TimeoutKind },
    Announce { node: usize },
}

struct Node {
    core: Core<u64>,
    fault: Fault,
    /// Decided values by height.
    decided: BTreeMap<Height, u64>,
    /// Messages of heights not reached yet.
    future: BTreeMap<Height, Vec<Message<u64>>>,
    /// Every decided height's value and certificate.
    commits: BTreeMap<Height, (u64, Vec<Vote<u64>>)>,
    /// What it sent at its current height, to whom: resent every 500 ms
    /// (gossip retransmits, so a message sent before the network became
    /// stable still arrives after, as the paper assumes).
    outbox: Vec<(usize, Message<u64>)>,
}

/// What the faults did, so each scenario can check its fault happened.
#[derive(Default, Debug)]
struct Seen {
    conflicting_proposals: u64,
    conflicting_votes_sent: u64,
    equivocations_reported: u64,
    /// The validators reported as equivocating.
    equivocators: std::collections::BTreeSet<ValidatorIndex>,
    catch_ups: u64,
}

struct Sim {
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    nodes: Vec<Node>,
    set: ValidatorSet,
    /// Before this time (ms) messages are dropped (percent) and slow.
    gst: u64,
    drop_percent: u64,
    /// Until this time the validators are split into {0, 1} and {2, 3}.
    partition_until: u64,
    seen: Seen,
}

fn vi(i: usize) -> ValidatorIndex {
    ValidatorIndex(u16::try_from(i).unwrap())
}

fn seed_of(height: Height) -> [u8; 32] {
    *blake3::hash(&height.to_le_bytes()).as_bytes()
}

impl Sim {
    fn new(seed: u64, faults: [Fault; 4]) -> Sim {
        let set = ValidatorSet::new(vec![10, 10, 10, 10]).unwrap();
        let mut sim = Sim {
            rng: Rng(seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            nodes: Vec::new(),
            set: set.clone(),
            gst: 4_000,
            drop_percent: 20,
            partition_until: 0,
            seen: Seen::default(),
        };
        let mut started = Vec::new();
        for (i, fault) in faults.into_iter().enumerate() {
            let (core, actions) = Core::new(1, set.clone(), seed_of(1), Some(vi(i)));
            sim.nodes.push(Node {
                core,
                fault,
                decided: BTreeMap::new(),
                future: BTreeMap::new(),
                commits: BTreeMap::new(),
                outbox: Vec::new(),
            });
            started.push(actions);
        }
        for (i, actions) in started.into_iter().enumerate() {
            sim.act(i, actions);
            sim.at(500, Ev::Announce { node: i });
        }
        sim
    }

    fn at(&mut self, delay: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + delay, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn alive(&self, i: usize) -> bool {
        !matches!(self.nodes[i].fault, Fault::Crash(t) if self.now >= t)
    }

    fn send(&mut self, from: usize, to: usize, packet: Packet) {
        if from == to {
            return;
        }
        if self.now < self.partition_until && (from < 2) != (to < 2) {
            return;
        }
        let delay = if self.now < self.gst {
            if self.rng.chance(self.drop_percent) {
                return;
            }
            5 + self.rng.below(400)
        } else {
            5 + self.rng.below(50)
        };
        self.at(delay, Ev::Deliver { to, packet });
    }

    fn broadcast(&mut self, from: usize, packet: Packet) {
        for to in 0..4 {
            self.send(from, to, packet.clone());
        }
    }

    /// Sends one of `from`'s own messages, and keeps it for resending.
    fn send_own(&mut self, from: usize, to: usize, m: Message<u64>) {
        self.nodes[from].outbox.push((to, m.clone()));
        self.send(from, to, Packet::Msg(m));
    }

    fn act(&mut self, i: usize, actions: Vec<Action<u64>>) {
        let height = self.nodes[i].core.height();
        for a in actions {
            match a {
                Action::Broadcast(Message::Proposal(p)) => {
                    if self.nodes[i].fault == Fault::EquivocatingProposer {
                        // Value A to validators 0 and 1, B to 2 and 3.
                        let other = cinder_bft::Proposal { value: p.value ^ (1 << 40), ..p.clone() };
                        self.seen.conflicting_proposals += 1;
                        for to in 0..4 {
                            let q = if to < 2 { p.clone() } else { other.clone() };
                            self.send_own(i, to, Message::Proposal(q));
                        }
                    } else {
                        for to in 0..4 {
                            self.send_own(i, to, Message::Proposal(p.clone()));
                        }
                    }
                }
                Action::Broadcast(Message::Vote(v)) => {
                    if self.nodes[i].fault == Fault::DoubleVoter {
                        let conflicting = Vote { value: if v.value.is_some() { None } else { Some(7) }, ..v.clone() };
                        self.seen.conflicting_votes_sent += 1;
                        for to in 0..4 {
                            // Half get the conflicting vote first.
                            let (a, b) = if to % 2 == 0 { (&v, &conflicting) } else { (&conflicting, &v) };
                            self.send_own(i, to, Message::Vote(a.clone()));
                            self.send_own(i, to, Message::Vote(b.clone()));
                        }
                    } else {
                        for to in 0..4 {
                            self.send_own(i, to, Message::Vote(v.clone()));
                        }
                    }
                }
                Action::ScheduleTimeout { round, kind } => {
                    let base = match kind {
                        TimeoutKind::Propose => 600,
                        TimeoutKind::Prevote | TimeoutKind::Precommit => 300,
                    };
                    self.at(base + 200 * u64::from(round), Ev::Timeout { node: i, height, round, kind });
                }
                Action::GetValue { height, round } => {
                    // A block id: which height, round and proposer built it.
                    let value = height * 1_000_000 + u64::from(round) * 10 + i as u64;
                    let more = self.nodes[i].core.handle(Event::ProposeValue { round, value });
                    self.act(i, more);
                }
                Action::Decide { height, value, certificate, .. } => {
                    self.nodes[i].commits.insert(height, (value, certificate));
                    self.decide(i, height, value);
                }
                Action::Equivocation { first, second } => {
                    assert_eq!(first.validator, second.validator);
                    assert_ne!(first.value, second.value);
                    self.seen.equivocations_reported += 1;
                    self.seen.equivocators.insert(first.validator);
                }
            }
        }
    }

    /// Records the decision and starts the next height.
    fn decide(&mut self, i: usize, height: Height, value: u64) {
        self.nodes[i].decided.insert(height, value);
        self.nodes[i].outbox.clear();
        let next = height + 1;
        let (core, actions) = Core::new(next, self.set.clone(), seed_of(next), Some(vi(i)));
        self.nodes[i].core = core;
        self.act(i, actions);
        if let Some(buffered) = self.nodes[i].future.remove(&next) {
            for m in buffered {
                self.deliver(i, Packet::Msg(m));
            }
        }
        self.nodes[i].future.retain(|h, _| *h > next);
    }

    fn deliver(&mut self, i: usize, packet: Packet) {
        let height = self.nodes[i].core.height();
        match packet {
            Packet::Msg(m) => {
                let h = match &m {
                    Message::Proposal(p) => p.height,
                    Message::Vote(v) => v.height,
                };
                if h > height {
                    let q = self.nodes[i].future.entry(h).or_default();
                    if q.len() < 10_000 {
                        q.push(m);
                    }
                    return;
                }
                if h < height {
                    return;
                }
                let ev = match m {
                    Message::Proposal(proposal) => Event::Proposal { proposal, valid: true },
                    Message::Vote(v) => Event::Vote(v),
                };
                let actions = self.nodes[i].core.handle(ev);
                self.act(i, actions);
            }
            Packet::Status { from, height: theirs } => {
                let batch: Vec<(Height, u64, Vec<Vote<u64>>)> =
                    self.nodes[i].commits.range(theirs..).take(32).map(|(h, (v, c))| (*h, *v, c.clone())).collect();
                if !batch.is_empty() {
                    self.send(i, from, Packet::Commits(batch));
                }
            }
            Packet::Commits(batch) => {
                for (h, value, certificate) in batch {
                    if h != self.nodes[i].core.height() {
                        continue;
                    }
                    // Check the certificate: precommits for (h, value) from
                    // distinct validators with more than 2/3 of the power.
                    let mut who: Vec<ValidatorIndex> = certificate
                        .iter()
                        .filter(|v| v.height == h && v.kind == VoteKind::Precommit && v.value == Some(value))
                        .map(|v| v.validator)
                        .collect();
                    who.sort();
                    who.dedup();
                    let power: u64 = who.iter().map(|v| self.set.power(*v)).sum();
                    if !self.set.is_quorum(power) {
                        break;
                    }
                    self.seen.catch_ups += 1;
                    self.nodes[i].commits.insert(h, (value, certificate));
                    self.decide(i, h, value);
                }
            }
        }
    }

    /// Runs until `until` (ms of simulated time).
    fn run(&mut self, until: u64) {
        while let Some(Reverse((t, id))) = self.queue.peek().copied() {
            if t > until {
                break;
            }
            self.queue.pop();
            self.now = t;
            let ev = self.events.remove(&id).unwrap();
            match ev {
                Ev::Deliver { to, packet } => {
                    if self.alive(to) {
                        self.deliver(to, packet);
                    }
                }
                Ev::Timeout { node, height, round, kind } => {
                    if self.alive(node) && self.nodes[node].core.height() == height {
                        let actions = self.nodes[node].core.handle(Event::Timeout { round, kind });
                        self.act(node, actions);
                    }
                }
                Ev::Announce { node } => {
                    if self.alive(node) {
                        let height = self.nodes[node].core.height();
                        self.broadcast(node, Packet::Status { from: node, height });
                        for (to, m) in self.nodes[node].outbox.clone() {
                            self.send(node, to, Packet::Msg(m));
                        }
                        self.at(500, Ev::Announce { node });
                    }
                }
            }
        }
        self.now = until;
    }

    fn honest(&self) -> Vec<usize> {
        (0..4).filter(|i| self.nodes[*i].fault == Fault::Honest).collect()
    }

    /// Safety: honest validators agree on every height both decided.
    fn assert_agreement(&self) {
        let honest = self.honest();
        for a in &honest {
            for b in &honest {
                for (h, v) in &self.nodes[*a].decided {
                    if let Some(w) = self.nodes[*b].decided.get(h) {
                        assert_eq!(v, w, "validators {a} and {b} decided differently at height {h}");
                    }
                }
            }
        }
    }

    fn min_honest_height(&self) -> Height {
        self.honest().iter().map(|i| self.nodes[*i].decided.len() as Height).min().unwrap()
    }
}

/// Runs a scenario for several seeds, checks safety and liveness and
/// `check` on each run; returns what the faults did in all.
fn scenario(faults: [Fault; 4], seeds: std::ops::Range<u64>, check: impl Fn(&Sim)) -> Seen {
    let mut total = Seen::default();
    for seed in seeds {
        let mut sim = Sim::new(seed, faults);
        let stable = sim.gst;
        sim.run(stable);
        let before = sim.min_honest_height();
        sim.assert_agreement();
        // Liveness: after the network stabilizes, 10 more heights within
        // a minute of simulated time.
        sim.run(stable + 60_000);
        sim.assert_agreement();
        let after = sim.min_honest_height();
        assert!(
            after >= before + 10,
            "seed {seed}: honest validators went from {before} to only {after} decided heights"
        );
        check(&sim);
        total.conflicting_proposals += sim.seen.conflicting_proposals;
        total.conflicting_votes_sent += sim.seen.conflicting_votes_sent;
        total.equivocations_reported += sim.seen.equivocations_reported;
        total.catch_ups += sim.seen.catch_ups;
        total.equivocators.extend(sim.seen.equivocators.iter().copied());
    }
    total
}

use Fault::{Crash, DoubleVoter, EquivocatingProposer, Honest};

#[test]
fn n4f1_equivocating_proposer() {
    let seen = scenario([Honest, Honest, Honest, EquivocatingProposer], 0..32, |_| {});
    // It proposed (two values each time) in some of the heights of every
    // run; the honest validators still agree.
    assert!(seen.conflicting_proposals >= 16, "{seen:?}");
}

#[test]
fn n4f1_crashed_validator() {
    // Validator 1 crashes a second in, before the network is stable; the
    // other three (3/4 of the power) carry on without it.
    scenario([Honest, Crash(1_000), Honest, Honest], 0..32, |sim| {
        let crashed = sim.nodes[1].decided.len() as u64;
        let honest = sim.min_honest_height();
        assert!(crashed <= 3 && honest >= crashed + 10, "the crash did not stop validator 1: {crashed} vs {honest}");
    });
}

#[test]
fn n4f1_double_voter() {
    let seen = scenario([DoubleVoter, Honest, Honest, Honest], 0..32, |_| {});
    assert!(seen.conflicting_votes_sent > 0, "{seen:?}");
    assert!(seen.equivocations_reported > 0, "honest validators must report the double votes: {seen:?}");
    assert_eq!(seen.equivocators, [ValidatorIndex(0)].into(), "only the double voter is reported");
}

#[test]
fn a_partition_stalls_without_forking_and_heals() {
    // {0, 1} | {2, 3} for 10 s: neither side has a quorum.
    let mut sim = Sim::new(7, [Honest, Honest, Honest, Honest]);
    sim.partition_until = 10_000;
    sim.run(1_000);
    let early = sim.min_honest_height();
    sim.run(10_000);
    sim.assert_agreement();
    let max_during: Height = (0..4).map(|i| sim.nodes[i].decided.len() as Height).max().unwrap();
    assert!(max_during <= early + 1, "no quorum on either side, yet heights went from {early} to {max_during}");
    sim.run(70_000);
    sim.assert_agreement();
    assert!(sim.min_honest_height() >= max_during + 10);
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut sim = Sim::new(seed, [Honest, DoubleVoter, Honest, Honest]);
        sim.run(20_000);
        (0..4).map(|i| sim.nodes[i].decided.clone()).collect::<Vec<_>>()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}
