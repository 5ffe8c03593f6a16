//! Discovery through Kademlia alone, and a relayed connection.

use std::sync::atomic::Ordering;

use cinder_net::Multiaddr;
use cinder_net::config::peer_of;
use libp2p::multiaddr::Protocol;

use crate::common::{PATIENCE, Peer, test_config, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kademlia_finds_a_third_peer() {
    let boot = Peer::start("kad-boot", test_config()).await;
    let mut cfg = test_config();
    cfg.bootnodes = vec![boot.addr()];
    let b = Peer::start("kad-b", cfg.clone()).await;
    wait_for("B to join the bootnode", PATIENCE, || boot.connected_to(&b)).await;
    let c = Peer::start("kad-c", cfg).await;
    // B and C were only told of the bootnode; neither dials the other
    // unless a DHT query turns it up (identify addresses are remembered
    // only for peers already connected, and gossip peer exchange is off).
    wait_for("B and C to find each other through Kademlia", PATIENCE, || b.connected_to(&c) || c.connected_to(&b))
        .await;
    for p in [c, b, boot] {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaches_b_through_a_relay() {
    // A relay hands out reservations only with an address to reach it
    // at: a port picked up front, announced as external.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut rcfg = test_config();
    let at: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    rcfg.listen = vec![at.clone()];
    rcfg.external = vec![at];
    rcfg.relay_server = true;
    let relay = Peer::start("relay-r", rcfg).await;
    // B reserves a slot on the relay and is otherwise unreachable to A:
    // A is never told B's address.
    let mut bcfg = test_config();
    bcfg.relays = vec![relay.addr()];
    let b = Peer::start("relay-b", bcfg).await;
    wait_for("B's reservation on the relay", PATIENCE, || {
        b.net.shared().stats.reservations.load(Ordering::Relaxed) > 0
    })
    .await;
    let a = Peer::start("relay-a", test_config()).await;
    let circuit: Multiaddr = relay.addr().with(Protocol::P2pCircuit).with(Protocol::P2p(b.net.peer_id()));
    assert_eq!(peer_of(&circuit), Some(b.net.peer_id()));
    a.net.dial(circuit).await.unwrap();
    wait_for("A connected to B over the circuit", PATIENCE, || a.connected_to(&b)).await;
    assert!(a.net.shared().stats.circuits.load(Ordering::Relaxed) > 0, "A's connection to B went through the relay");
    // The relayed connection carries the chain: B syncs A's block.
    a.mine();
    wait_for("B to get A's block", PATIENCE, || b.head() == a.head()).await;
    for p in [a, b, relay] {
        p.stop().await;
    }
}
