//! Peer reputation: a score per peer from what it sends, bans with an
//! expiry, and token-bucket rate limits per peer and protocol.
//!
//! Scores start at 0 and move by [`Penalty`] and [`REWARD_VALID_BLOCK`];
//! they decay toward 0 with a half-life of [`SCORE_HALF_LIFE`], so an old
//! offence is forgiven and old good behaviour does not shield a peer that
//! turns bad. At [`BAN_THRESHOLD`] or below the peer is disconnected and
//! banned for the configured time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Score at or below which a peer is banned.
pub const BAN_THRESHOLD: f64 = -50.0;
/// Scores stay within +-this.
pub const MAX_SCORE: f64 = 100.0;
/// Scores halve toward 0 over this time.
pub const SCORE_HALF_LIFE: Duration = Duration::from_secs(300);
/// Score a peer earns per valid block it relays first.
pub const REWARD_VALID_BLOCK: f64 = 1.0;

/// What a peer did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Penalty {
    /// An undecodable or statelessly invalid gossip message.
    InvalidGossip,
    /// A block with valid PoW that failed import (or a block with bad PoW).
    InvalidBlock,
    /// A response that is malformed, does not link, or fails PoW.
    BadResponse,
    /// A request that timed out or failed.
    Timeout,
    /// An empty or short answer to something it claimed to have.
    Useless,
    /// Over its rate limit.
    RateLimited,
    /// Another chain (genesis) or a protocol violation.
    WrongNetwork,
}

impl Penalty {
    /// The score it costs.
    pub fn cost(self) -> f64 {
        match self {
            Penalty::InvalidGossip => 20.0,
            Penalty::InvalidBlock => 50.0,
            Penalty::BadResponse => 20.0,
            Penalty::Timeout => 5.0,
            Penalty::Useless => 5.0,
            Penalty::RateLimited => 2.0,
            Penalty::WrongNetwork => 100.0,
        }
    }
}

/// A rate-limited kind of inbound traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    /// Sync requests (status, headers, bodies).
    Requests,
    /// Gossiped blocks.
    Blocks,
    /// Gossiped transaction batches.
    TxBatches,
    /// Gossiped consensus messages (votes, proposals, evidence).
    Consensus,
}

impl Traffic {
    /// (per second, burst).
    fn limits(self) -> (f64, f64) {
        match self {
            Traffic::Requests => (20.0, 60.0),
            Traffic::Blocks => (10.0, 30.0),
            Traffic::TxBatches => (100.0, 300.0),
            // Votes of every validator pass through each peer: 2 per
            // validator per round.
            Traffic::Consensus => (500.0, 2000.0),
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// A token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, (rate, burst): (f64, f64), now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the book keeps per peer.
#[derive(Clone, Debug)]
struct Record {
    score: f64,
    updated: Instant,
    buckets: [Bucket; 4],
}

impl Record {
    fn new(now: Instant) -> Record {
        let full = |t: Traffic| Bucket { tokens: t.limits().1, last: now };
        Record {
            score: 0.0,
            updated: now,
            buckets: [
                full(Traffic::Requests),
                full(Traffic::Blocks),
                full(Traffic::TxBatches),
                full(Traffic::Consensus),
            ],
        }
    }
    fn decay(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.updated).as_secs_f64();
        self.score *= 0.5f64.powf(dt / SCORE_HALF_LIFE.as_secs_f64());
        self.updated = now;
    }
}

/// Scores, bans and rate limits.
#[derive(Debug)]
pub struct PeerBook {
    records: HashMap<PeerId, Record>,
    bans: HashMap<PeerId, Instant>,
    ban_for: Duration,
}

impl PeerBook {
    /// A book banning for `ban_for`.
    pub fn new(ban_for: Duration) -> PeerBook {
        PeerBook { records: HashMap::new(), bans: HashMap::new(), ban_for }
    }

    fn record(&mut self, peer: PeerId, now: Instant) -> &mut Record {
        let r = self.records.entry(peer).or_insert_with(|| Record::new(now));
        r.decay(now);
        r
    }

    /// The peer's score now.
    pub fn score(&mut self, peer: &PeerId, now: Instant) -> f64 {
        self.records.get_mut(peer).map_or(0.0, |r| {
            r.decay(now);
            r.score
        })
    }

    /// Charges `penalty`; returns the ban expiry if this bans the peer.
    pub fn penalize(&mut self, peer: PeerId, penalty: Penalty, now: Instant) -> Option<Instant> {
        let r = self.record(peer, now);
        r.score = (r.score - penalty.cost()).max(-MAX_SCORE);
        if r.score <= BAN_THRESHOLD && !self.bans.contains_key(&peer) {
            let until = now + self.ban_for;
            self.bans.insert(peer, until);
            return Some(until);
        }
        None
    }

    /// Credits good behaviour.
    pub fn reward(&mut self, peer: PeerId, amount: f64, now: Instant) {
        let r = self.record(peer, now);
        r.score = (r.score + amount).min(MAX_SCORE);
    }

    /// Whether one more message of `traffic` from `peer` is within its
    /// limit (and takes a token if so).
    pub fn allow(&mut self, peer: PeerId, traffic: Traffic, now: Instant) -> bool {
        let r = self.record(peer, now);
        r.buckets[traffic.index()].take(traffic.limits(), now)
    }

    /// Whether `peer` is banned.
    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.bans.get(peer).is_some_and(|until| *until > now)
    }

    /// Lifts expired bans; returns the peers whose ban ended. A peer comes
    /// back with its score reset to just above the threshold's half, so
    /// one more offence bans it again quickly.
    pub fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let ended: Vec<PeerId> = self.bans.iter().filter(|(_, u)| **u <= now).map(|(p, _)| *p).collect();
        for p in &ended {
            self.bans.remove(p);
            if let Some(r) = self.records.get_mut(p) {
                r.score = BAN_THRESHOLD / 2.0;
                r.updated = now;
            }
        }
        ended
    }

    /// Forgets the records of peers that are neither connected nor banned
    /// and have a neutral score, so the book stays bounded.
    pub fn forget_idle(&mut self, connected: impl Fn(&PeerId) -> bool, now: Instant) {
        let bans = &self.bans;
        self.records.retain(|p, r| {
            r.decay(now);
            connected(p) || bans.contains_key(p) || r.score.abs() > 1.0
        });
    }

    /// Banned peers.
    pub fn banned(&self) -> usize {
        self.bans.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_bans_and_the_ban_expires() {
        let mut b = PeerBook::new(Duration::from_secs(60));
        let p = PeerId::random();
        let t = Instant::now();
        assert_eq!(b.penalize(p, Penalty::InvalidGossip, t), None);
        assert_eq!(b.penalize(p, Penalty::InvalidGossip, t), None);
        let until = b.penalize(p, Penalty::InvalidGossip, t).expect("banned at -60");
        assert!(b.is_banned(&p, t));
        assert!(b.score(&p, t) <= BAN_THRESHOLD);
        assert!(b.expire(t + Duration::from_secs(30)).is_empty());
        assert_eq!(b.expire(until), vec![p]);
        assert!(!b.is_banned(&p, until));
        // Back on probation: one invalid block bans again.
        assert!(b.penalize(p, Penalty::InvalidBlock, until).is_some());
    }

    #[test]
    fn scores_decay_toward_zero() {
        let mut b = PeerBook::new(Duration::from_secs(60));
        let p = PeerId::random();
        let t = Instant::now();
        b.penalize(p, Penalty::BadResponse, t);
        let later = b.score(&p, t + SCORE_HALF_LIFE);
        assert!((later + 10.0).abs() < 0.01, "{later}");
        b.reward(p, 500.0, t + SCORE_HALF_LIFE);
        assert!(b.score(&p, t + SCORE_HALF_LIFE) <= MAX_SCORE);
    }

    #[test]
    fn rate_limits_refill() {
        let mut b = PeerBook::new(Duration::from_secs(60));
        let p = PeerId::random();
        let t = Instant::now();
        let burst = 30;
        assert_eq!(Traffic::Blocks.limits().1, f64::from(burst));
        assert!((0..burst).all(|_| b.allow(p, Traffic::Blocks, t)));
        assert!(!b.allow(p, Traffic::Blocks, t));
        // Other traffic has its own bucket.
        assert!(b.allow(p, Traffic::Requests, t));
        assert!(b.allow(p, Traffic::Blocks, t + Duration::from_millis(200)));
    }
}
