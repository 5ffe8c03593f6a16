//! Peers that send garbage, invalid blocks or floods are scored down,
//! banned and disconnected, while the honest nodes carry on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cinder_net::behaviour::{Behaviour, BehaviourEvent, build_swarm};
use cinder_net::protocol::{Request, Response, Status, topics};
use cinder_net::{Keypair, PeerId};
use cinder_primitives::encode;
use futures::StreamExt;
use libp2p::Swarm;
use libp2p::gossipsub::IdentTopic;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;

use crate::common::{PATIENCE, Peer, test_config, wait_for};

/// A misbehaving peer: our own behaviour, driven by hand.
struct Evil {
    swarm: Swarm<Behaviour>,
    /// What it answers a status request with when `answers_status`.
    status: Status,
    /// Whether it answers status requests (else they fail, which costs it
    /// score: only the tests that need a long-lived evil peer answer).
    answers_status: bool,
}

impl Evil {
    fn new(honest: &Peer) -> Evil {
        Evil::sending_up_to(honest, honest.node.chain().spec().max_block_bytes)
    }

    /// One whose own gossip limit fits blocks of `max_block_bytes`.
    fn sending_up_to(honest: &Peer, max_block_bytes: u64) -> Evil {
        let chain = honest.node.chain();
        let swarm =
            build_swarm(Keypair::generate_ed25519(), &test_config(), &chain.genesis_id(), max_block_bytes).unwrap();
        let genesis = chain.genesis_id();
        let status = Status { genesis, head: genesis, height: 0, weight: 0 };
        Evil { swarm, status, answers_status: false }
    }

    fn id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Polls the swarm for `d`.
    async fn drive(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                e = self.swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                        message: request_response::Message::Request { request: Request::Status(_), channel, .. },
                        ..
                    })) = e
                        && self.answers_status
                    {
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, Response::Status(self.status));
                    }
                }
                _ = tokio::time::sleep_until(end) => break,
            }
        }
    }

    async fn connect(&mut self, honest: &Peer) {
        self.swarm.dial(honest.addr()).unwrap();
        let id = self.id();
        let end = tokio::time::Instant::now() + PATIENCE;
        while !honest.net.shared().peers().iter().any(|p| p.id == id.to_string()) {
            assert!(tokio::time::Instant::now() < end, "the evil peer never connected");
            self.drive(Duration::from_millis(100)).await;
        }
        // Let gossipsub exchange subscriptions.
        self.drive(Duration::from_secs(2)).await;
    }

    /// Drives the swarm until `honest` has banned more than `bans` peers
    /// and this one is gone (at most 20 s).
    async fn until_banned(&mut self, honest: &Peer, bans: u64) {
        let id = self.id();
        for _ in 0..200 {
            self.drive(Duration::from_millis(100)).await;
            if honest.net.shared().stats.bans.load(Ordering::Relaxed) > bans && banned(honest, id) {
                break;
            }
        }
    }

    fn publish_block_bytes(&mut self, honest: &Peer, bytes: Vec<u8>) {
        let (blocks, _) = topics(&honest.node.chain().genesis_id());
        let _ = self.swarm.behaviour_mut().gossipsub.publish(IdentTopic::new(blocks), bytes);
    }
}

fn banned(honest: &Peer, evil: PeerId) -> bool {
    let listed = honest.net.shared().peers().iter().any(|p| p.id == evil.to_string());
    !listed && honest.net.shared().stats.bans.load(Ordering::Relaxed) > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_invalid_blocks_and_floods_get_peers_banned() {
    let a = Peer::start("rep-a", test_config()).await;
    let mut cfg = test_config();
    cfg.bootnodes = vec![a.addr()];
    let b = Peer::start("rep-b", cfg).await;
    wait_for("B connected", PATIENCE, || a.connected_to(&b)).await;
    let good = a.mine();

    // 1. Garbage on the blocks topic.
    let mut evil = Evil::new(&a);
    evil.connect(&a).await;
    for i in 0..4u8 {
        evil.publish_block_bytes(&a, vec![i; 100 + usize::from(i)]);
    }
    let id = evil.id();
    evil.until_banned(&a, 0).await;
    assert!(banned(&a, id), "the garbage sender was banned and dropped");
    // It cannot come back while banned.
    let _ = evil.swarm.dial(a.addr());
    evil.drive(Duration::from_secs(2)).await;
    assert!(!a.net.shared().peers().iter().any(|p| p.id == id.to_string()), "a banned peer was let back in");
    let bans = a.net.shared().stats.bans.load(Ordering::Relaxed);

    // 2. A block whose PoW header does not commit to its fields.
    let mut evil = Evil::new(&a);
    evil.connect(&a).await;
    let mut bad = good.clone();
    bad.header.fields.height += 1;
    evil.publish_block_bytes(&a, encode(&bad));
    evil.until_banned(&a, bans).await;
    assert!(banned(&a, evil.id()), "the invalid block's sender was banned");
    let bans = a.net.shared().stats.bans.load(Ordering::Relaxed);

    // 3. A flood of requests.
    let mut evil = Evil::new(&a);
    evil.connect(&a).await;
    let chain = a.node.chain();
    let head = chain.head().unwrap();
    let status = Status { genesis: chain.genesis_id(), head: head.id, height: 0, weight: 0 };
    let target = a.net.peer_id();
    for _ in 0..300 {
        evil.swarm.behaviour_mut().sync.send_request(&target, Request::Status(status));
    }
    evil.until_banned(&a, bans).await;
    assert!(banned(&a, evil.id()), "the flooding peer was banned");

    // The honest pair never noticed.
    assert!(a.connected_to(&b));
    let next = a.mine();
    wait_for("B to import A's next block", PATIENCE, || b.head() == next.id()).await;
    // (B may have met the evil peers too, through the DHT, and scored
    // them down; A it holds in good standing.)
    let a_id = a.net.peer_id().to_string();
    let score = b.net.shared().peers().iter().find(|p| p.id == a_id).map(|p| p.score);
    assert!(score.is_some_and(|s| s >= 0.0), "A keeps its good score at B: {score:?}");
    b.stop().await;
    a.stop().await;
}

/// A gossip message over the receiver's size limit (the chain's largest
/// block plus 64 KiB, at least the 4 MiB of a transaction batch) never
/// reaches validation: gossipsub's codec drops the frame. The sender's next
/// message within the limit is read and judged as usual, and the honest
/// pair carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_over_the_size_limit_is_dropped_unread() {
    let a = Peer::start("size-a", test_config()).await;
    let max_block = a.node.chain().spec().max_block_bytes;
    let limit = cinder_net::behaviour::gossip_config(max_block).unwrap().max_transmit_size();
    let mut evil = Evil::sending_up_to(&a, 4 * max_block + 8 * (1 << 20));
    evil.answers_status = true;
    evil.connect(&a).await;
    let stats = &a.net.shared().stats;
    let rejected = stats.gossip_rejected.load(Ordering::Relaxed);
    let accepted = stats.blocks_accepted.load(Ordering::Relaxed);

    // Over the limit by a little and by a lot.
    evil.publish_block_bytes(&a, vec![0xAB; limit + 1]);
    evil.drive(Duration::from_secs(2)).await;
    evil.publish_block_bytes(&a, vec![0xCD; 2 * limit]);
    evil.drive(Duration::from_secs(3)).await;
    assert_eq!(stats.gossip_rejected.load(Ordering::Relaxed), rejected, "an oversized message was read and judged");
    assert_eq!(stats.blocks_accepted.load(Ordering::Relaxed), accepted);
    let listed = |a: &Peer, id: PeerId| a.net.shared().peers().iter().any(|p| p.id == id.to_string());
    assert!(listed(&a, evil.id()), "still connected: the frame was dropped, not the peer");

    // Within the limit, garbage is read, rejected and scored: the limit
    // is what stopped the others.
    evil.publish_block_bytes(&a, vec![0xEF; 1000]);
    let start = tokio::time::Instant::now();
    while stats.gossip_rejected.load(Ordering::Relaxed) == rejected {
        assert!(start.elapsed() < PATIENCE, "the small garbage message was never judged");
        evil.drive(Duration::from_millis(100)).await;
    }
    let id = evil.id().to_string();
    let score = || a.net.shared().peers().iter().find(|p| p.id == id).map(|p| p.score);
    while score().is_some_and(|s| s >= 0.0) {
        assert!(start.elapsed() < PATIENCE, "the garbage sender kept its score: {:?}", score());
        evil.drive(Duration::from_millis(100)).await;
    }
    // A's own chain goes on.
    let next = a.mine();
    assert_eq!(a.head(), next.id());
    a.stop().await;
}

/// `--max-peers` (the connection limit): a node at its cap refuses the
/// next peer's connection, keeps the ones it has, and takes a new one once
/// a slot frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_at_its_peer_limit_refuses_the_next_peer() {
    let mut acfg = test_config();
    acfg.max_connections = 1;
    let a = Peer::start("cap-a", acfg).await;
    let mut cfg = test_config();
    cfg.bootnodes = vec![a.addr()];
    let b = Peer::start("cap-b", cfg.clone()).await;
    wait_for("B connected", PATIENCE, || a.connected_to(&b)).await;
    let c = Peer::start("cap-c", cfg).await;
    // C keeps dialling its bootnode (every 5 s); A keeps refusing.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(!a.connected_to(&c) && !c.connected_to(&a), "A took a peer past its limit");
    assert_eq!(a.net.shared().peers().len(), 1);
    assert!(a.connected_to(&b), "A kept the peer it had");
    b.stop().await;
    wait_for("C to take the freed slot", PATIENCE, || a.connected_to(&c)).await;
    c.stop().await;
    a.stop().await;
}

use cinder_node::NetworkView as _;
