//! Proof of stake over the real network, in one process: nodes without a
//! validator key follow a validator's finality through the consensus
//! topic alone, a transaction sent to a follower is finalized, and a node
//! that joins late syncs the finalized chain and then follows.

use std::time::Instant;

use cinder_chain::workload::{self, Accounts};
use cinder_engine::sig::SecretKey;
use cinder_node::Validator;
use cinder_primitives::{Transaction, TxKind};

use crate::common::{BALANCE, PATIENCE, Peer, test_config};

fn finalized(p: &Peer) -> u64 {
    p.node.finalized_height().unwrap().unwrap()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_track_a_validators_finality_and_a_late_joiner_catches_up() {
    let accounts = Accounts::derive("net-it", 8);
    let key = SecretKey::from_seed(&[42; 32]);
    let mut spec = workload::pos_spec("net-pos", 4_344, &accounts.addresses, BALANCE, &[key.public_key()]);
    spec.pos.as_mut().unwrap().min_block_interval_ms = 100;

    let v = Peer::start_spec("pos-v", test_config(), spec.clone()).await;
    let mut cfg = test_config();
    cfg.bootnodes = vec![v.addr()];
    let f = Peer::start_spec("pos-f", cfg.clone(), spec.clone()).await;
    let _follow = Validator::start(f.node.clone(), None, f.dir.join("validator_state.json")).unwrap();
    until("the follower to connect", || f.node.network().is_some_and(|n| n.peer_count() >= 1)).await;
    let _validate = Validator::start(v.node.clone(), Some(key), v.dir.join("validator_state.json")).unwrap();

    // The follower decides each height from the proposal and the
    // validator's precommit, as the validator does.
    until("the follower to finalize 5 blocks", || finalized(&f) >= 5).await;
    let at = |p: &Peer, h: u64| p.node.chain().db().canonical(h).unwrap().map(|(id, _)| id);
    assert_eq!(at(&f, 5), at(&v, 5));
    assert!(f.node.commit_at(5).unwrap().is_some(), "the follower holds the certificate of block 5");

    // A transfer sent to the follower is gossiped, proposed and finalized.
    let tx = Transaction {
        chain_id: 4_344,
        sender: accounts.keys[2].public_key(),
        nonce: 0,
        gas_limit: 21_000,
        gas_price: 1,
        kind: TxKind::Transfer { to: accounts.addresses[3], amount: 99 },
    }
    .sign(&accounts.keys[2]);
    let id = f.node.submit(tx).await.unwrap();
    until("the transfer to be finalized on the follower", || {
        f.node.chain().db().transaction_location(&id).unwrap().is_some_and(|(b, _)| {
            let h = f.node.chain().db().block_meta(&b).unwrap().unwrap().height;
            finalized(&f) >= h
        })
    })
    .await;
    assert!(v.node.chain().db().transaction_location(&id).unwrap().is_some());

    // A node that joins late syncs the chain, then follows consensus.
    let late = Peer::start_spec("pos-late", cfg, spec).await;
    let _late_follow = Validator::start(late.node.clone(), None, late.dir.join("validator_state.json")).unwrap();
    let target = finalized(&v) + 3;
    until("the late node to follow", || finalized(&late) >= target).await;
    assert_eq!(at(&late, target), at(&v, target));
    assert_eq!(at(&late, 1), at(&v, 1));
}
