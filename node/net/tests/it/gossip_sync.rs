//! Sync from scratch, block and transaction gossip, catch-up and a heavier
//! fork.

use cinder_chain::workload::{self, Rng};

use crate::common::{PATIENCE, Peer, test_config, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_syncs_then_follows_gossip_and_spreads_transactions() {
    let a = Peer::start("sync-a", test_config()).await;
    // 1,000 blocks before B exists: many chunks, several windows, one
    // headers request.
    // (Built with block times one target apart from the 2023 genesis, so
    // they are in the past and need no real-time mining.)
    let blocks = workload::extend(a.node.chain(), &a.accounts, 1_000, 0, &mut Rng(1)).unwrap();
    let (n, err) = a.node.import_chain(&blocks);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(n, 1_000);
    let mut cfg = test_config();
    cfg.bootnodes = vec![a.addr()];
    let b = Peer::start("sync-b", cfg).await;
    wait_for("B to sync 1,000 blocks", PATIENCE, || b.height() == 1_000).await;
    assert_eq!(b.head(), a.head());
    wait_for("B to finish syncing", PATIENCE, || b.node.network().unwrap().syncing().is_none()).await;

    // C joins A and B and fetches bodies from both.
    let mut cfg = test_config();
    cfg.bootnodes = vec![a.addr(), b.addr()];
    let c = Peer::start("sync-c", cfg).await;
    wait_for("C to sync 1,000 blocks", PATIENCE, || c.head() == a.head()).await;
    assert_eq!(c.net.shared().sync_sources(), 2, "C fetched bodies from both peers");
    c.stop().await;

    // A transaction sent to B reaches A by gossip; A mines it; the block
    // reaches B by gossip; both agree on the state root.
    let to = a.accounts.addresses[3];
    b.node.submit(b.tx(0, 0, to, 777)).await.unwrap();
    wait_for("the transaction to reach A", PATIENCE, || a.node.mempool().len() == 1).await;
    let block = a.mine();
    assert_eq!(block.transactions.len(), 1);
    wait_for("B to import A's block", PATIENCE, || b.head() == block.id()).await;
    assert_eq!(b.node.mempool().len(), 0, "the included transaction left B's pool");
    let root = |p: &Peer| p.node.chain().db().header(&p.head()).unwrap().unwrap().fields.state_root;
    assert_eq!(root(&a), root(&b));
    assert!(b.net.shared().stats.synced_blocks.load(std::sync::atomic::Ordering::Relaxed) >= 1_000);

    // B goes away; A mines on; B comes back on the same data and catches up.
    let b_dir = b.dir.clone();
    b.net.stop().await;
    drop(b.node);
    for _ in 0..40 {
        a.mine();
    }
    let mut cfg = test_config();
    cfg.bootnodes = vec![a.addr()];
    let b = Peer::restart(b_dir, cfg).await;
    assert_eq!(b.height(), 1_001, "B kept its chain");
    wait_for("B to catch up after a restart", PATIENCE, || b.head() == a.head()).await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_pair_reorgs_to_the_heavier_fork() {
    let a = Peer::start("fork-a", test_config()).await;
    let b = Peer::start("fork-b", test_config()).await;
    for _ in 0..5 {
        a.mine();
    }
    b.net.dial(a.addr()).await.unwrap();
    wait_for("B to sync the common prefix", PATIENCE, || b.head() == a.head()).await;
    // Partition: each refuses the other.
    let none: Option<Vec<String>> = Some(Vec::new());
    a.node.network().unwrap().set_peer_filter(none.clone()).unwrap();
    b.node.network().unwrap().set_peer_filter(none).unwrap();
    wait_for("the partition", PATIENCE, || !a.connected_to(&b) && !b.connected_to(&a)).await;
    // Each side mines its own branch; B's is longer (heavier).
    let tx = a.tx(1, 0, a.accounts.addresses[2], 5);
    a.node.submit(tx.clone()).await.unwrap();
    for _ in 0..3 {
        a.mine();
    }
    for _ in 0..6 {
        b.mine();
    }
    assert_ne!(a.head(), b.head());
    // Heal.
    a.node.network().unwrap().set_peer_filter(None).unwrap();
    b.node.network().unwrap().set_peer_filter(None).unwrap();
    a.net.dial(b.addr()).await.unwrap();
    wait_for("A to reorg to B's heavier branch", PATIENCE, || a.head() == b.head()).await;
    assert_eq!(a.height(), 11);
    // A's reverted transaction is back in its pool.
    wait_for("the reverted transaction back in A's pool", PATIENCE, || a.node.mempool().get(&tx.id()).is_some()).await;
    a.stop().await;
    b.stop().await;
}
