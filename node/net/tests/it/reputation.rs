//! Peers that send garbage, invalid blocks or floods are scored down,
//! banned and disconnected, while the honest nodes carry on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cinder_net::behaviour::{Behaviour, build_swarm};
use cinder_net::protocol::{Request, Status, topics};
use cinder_net::{Keypair, PeerId};
use cinder_primitives::encode;
use futures::StreamExt;
use libp2p::Swarm;
use libp2p::gossipsub::IdentTopic;

use crate::common::{PATIENCE, Peer, test_config, wait_for};

/// A misbehaving peer: our own behaviour, driven by hand.
struct Evil {
    swarm: Swarm<Behaviour>,
}

impl Evil {
    fn new(honest: &Peer) -> Evil {
        let chain = honest.node.chain();
        let swarm =
            build_swarm(Keypair::generate_ed25519(), &test_config(), &chain.genesis_id(), chain.spec().max_block_bytes)
                .unwrap();
        Evil { swarm }
    }

    fn id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Polls the swarm for `d`.
    async fn drive(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = self.swarm.select_next_some() => {}
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

use cinder_node::NetworkView as _;
