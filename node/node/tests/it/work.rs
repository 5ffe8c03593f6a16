//! The work API, and reorgs giving transactions back to the pool.

use cinder_chain::workload;
use cinder_consensus::VERSION_ROLL_MASK;
use cinder_engine::pow::{Algo, Header, Target};
use cinder_node::RpcConfig;
use cinder_primitives::Address;
use cinder_rpc::{Client, codes};

use crate::common::TestNode;

/// The first nonce from `start` whose hash meets `want` (and, when given,
/// fails `not`).
fn solve(h: &Header, want: &Target, not: Option<&Target>) -> Header {
    for nonce in 0..u32::MAX {
        let c = h.with_nonce(nonce);
        let hash = Algo::Sha256d.hash(&c);
        if want.is_met_by(&hash.0) && not.is_none_or(|t| !t.is_met_by(&hash.0)) {
            return c;
        }
    }
    panic!("no nonce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_is_served_shares_counted_blocks_imported_stale_jobs_refused() {
    let n = TestNode::start("work", RpcConfig::default()).await;
    let c = Client::new(&n.url()).unwrap();
    let tx = n.tx(0, 0, Address([6; 32]), 77);
    c.send(&tx).await.unwrap();
    let w = c.get_work().await.unwrap();
    let w2 = c.get_work().await.unwrap();
    assert_ne!(w.job_id, w2.job_id);
    assert_ne!(w.header, w2.header, "every job has its own extra nonce");
    assert_eq!((w.header.len(), w.target.len(), w.height), (160, 64, 1));
    assert_eq!(w.version_mask, "0x1fffe000");
    let header = Header::from_hex(&w.header).unwrap();
    let target = Target::from_be_hex(&w.target).unwrap();
    let share = Target::from_be_hex(&w.share_target).unwrap();

    // Outside the nonce and the mask: refused.
    let mut tampered = header;
    tampered.set_time(header.time() + 1);
    let e = c.submit_work(&w.job_id, &tampered.to_hex()).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_WORK));
    let mut bad_version = header;
    bad_version.set_version(header.version() | 0x4000_0000);
    let e = c.submit_work(&w.job_id, &bad_version.to_hex()).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_WORK));

    // A share (meets the share target only) is counted, once.
    let s = solve(&header, &share, Some(&target));
    let r = c.submit_work(&w.job_id, &s.to_hex()).await.unwrap();
    assert!(r.accepted && r.reason == "share" && r.block_hash.is_none(), "{r:?}");
    let again = c.submit_work(&w.job_id, &s.to_hex()).await.unwrap();
    assert!(!again.accepted && again.reason.contains("duplicate"), "{again:?}");
    assert_eq!(c.block_number().await.unwrap(), 0);

    // A block, with rolled version bits.
    let mut rolled = header;
    rolled.set_version(1 | (0x1234 << 13 & VERSION_ROLL_MASK));
    let b = solve(&rolled, &target, None);
    let r = c.submit_work(&w.job_id, &b.to_hex()).await.unwrap();
    assert!(r.accepted && r.reason == "block", "{r:?}");
    assert_eq!(c.block_number().await.unwrap(), 1);
    let block = c.block_by_number(1, false).await.unwrap().unwrap();
    assert_eq!((Some(block.hash), block.version), (r.block_hash, rolled.version()));
    assert_eq!(c.receipt(tx.id()).await.unwrap().unwrap().status, "success");
    assert_eq!(c.pending_count().await.unwrap(), 0);

    // The other job was on the old head: stale.
    let e = c.submit_work(&w2.job_id, &w2.header).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::UNKNOWN_JOB));
    let m = &n.node.mining;
    let l = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((l(&m.shares_accepted), l(&m.external_blocks)), (2, 1));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_returns_the_dropped_blocks_transactions_to_the_pool() {
    let n = TestNode::start("reorg", RpcConfig::default()).await;
    let c = Client::new(&n.url()).unwrap();
    let genesis = n.node.chain().genesis_id();
    let tx = n.tx(0, 0, Address([8; 32]), 1);
    c.send(&tx).await.unwrap();
    tokio::task::block_in_place(|| n.mine());
    assert!(!n.node.mempool().contains(&tx.id()));
    // A heavier branch from genesis without the transaction.
    let chain = n.node.chain();
    let mut ctx = chain.context(&genesis).unwrap().unwrap();
    let mut rng = workload::Rng(5);
    let branch = workload::extend_from(chain, &mut ctx, &n.accounts, 2, 0, &mut rng).unwrap();
    let mut heads = n.node.subscribe_heads();
    for b in &branch {
        n.node.import(b).unwrap();
    }
    assert_eq!(n.node.chain().head().unwrap().id, branch[1].id());
    assert!(n.node.mempool().contains(&tx.id()), "the reverted transaction is back");
    let ev = heads.recv().await.unwrap();
    assert_eq!((ev.hash, ev.reorg_depth), (branch[1].id(), 1));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_mines_pooled_transactions_and_stops_when_told() {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    let n = TestNode::start("producer", RpcConfig::default()).await;
    let c = Client::new(&n.url()).unwrap();
    let backend = cinder_engine::pow::Backend::from_options(&cinder_engine::pow::BackendOptions {
        cpu_threads: Some(1),
        ..cinder_engine::pow::BackendOptions::new(cinder_engine::pow::BackendKind::Cpu)
    })
    .unwrap();
    let producer = cinder_node::Producer::start(n.node.clone(), backend, n.accounts.addresses[7]).unwrap();
    let txs: Vec<_> = (0..3).map(|i| n.tx(1, i, Address([4; 32]), 10)).collect();
    for t in &txs {
        c.send(t).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for t in &txs {
        while c.receipt(t.id()).await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "not mined");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(c.balance(Address([4; 32])).await.unwrap(), 30);
    assert!(n.node.mining.blocks_found.load(Ordering::Relaxed) >= 1);
    // Off: the height stops.
    n.node.mining_on.store(false, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let h = c.block_number().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.block_number().await.unwrap(), h);
    tokio::task::block_in_place(|| producer.stop());
    n.stop().await;
}
