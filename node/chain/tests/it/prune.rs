//! Pruning: the state of blocks more than the reorg depth below the head
//! is deleted, everything within it stays readable, provable and reorg-able,
//! and the pruned chain's state equals an archive node's.

use cinder_chain::workload::{self, Rng};
use cinder_chain::{Chain, ChainConfig, ImportStatus};
use cinder_storage::cf;

use crate::common::{Fixture, dir};

fn node_count(chain: &Chain) -> usize {
    chain.db().count(cf::STATE_NODES).unwrap()
}

#[test]
fn pruning_keeps_the_reorg_window_and_matches_an_archive() {
    let mut f = Fixture::new("prune");
    let archive = Chain::open(
        &dir("prune-archive"),
        f.spec.clone(),
        ChainConfig { exec_threads: 1, max_reorg_depth: 8, prune: false, ..ChainConfig::default() },
    )
    .unwrap();
    let blocks = f.blocks(20, 30);
    // A side block at height 3 that never wins: it falls out of the window and its state goes.
    let mut ctx = f.chain.context(&f.chain.genesis_id()).unwrap().unwrap();
    let side = workload::extend_from(&f.chain, &mut ctx, &f.accounts, 3, 5, &mut Rng(3)).unwrap();
    for (i, b) in blocks.iter().enumerate() {
        f.chain.import(b).unwrap();
        archive.import(b).unwrap();
        if i == 3 {
            assert_eq!(f.chain.import(&side[2]).ok().map(|r| r.status), None, "no parent yet");
            assert_eq!(f.chain.import(&side[0]).unwrap().status, ImportStatus::Side);
            assert_eq!(f.chain.import(&side[1]).unwrap().status, ImportStatus::Side);
            assert_eq!(f.chain.import(&side[2]).unwrap().status, ImportStatus::Side);
        }
    }
    let db = f.chain.db();
    assert_eq!(db.pruned_height().unwrap(), 12, "20 - 8");
    assert!(
        node_count(&f.chain) < node_count(&archive) * 3 / 4,
        "{} vs {}",
        node_count(&f.chain),
        node_count(&archive)
    );
    // Heights 12..=20: roots readable and equal to the headers'; proofs verify.
    let state = f.chain.state();
    for h in 12..=20u64 {
        let (id, version) = db.canonical(h).unwrap().unwrap();
        let header = db.header(&id).unwrap().unwrap();
        assert_eq!(state.root(version).unwrap(), header.fields.state_root, "height {h}");
        for a in f.accounts.addresses.iter().take(8) {
            let (acct, proof) = state.prove(version, a).unwrap();
            proof.verify(&header.fields.state_root, a, acct.as_ref()).unwrap();
            let archived = archive.state().account(archive.db().canonical(h).unwrap().unwrap().1, a).unwrap();
            assert_eq!(acct, archived, "height {h}");
        }
    }
    // The side branch's state is gone (its blocks stay).
    let side_meta = db.block_meta(&side[2].id()).unwrap().unwrap();
    assert!(state.root(side_meta.version).is_err(), "the dead branch's root was pruned");
    assert!(db.block(&side[2].id()).unwrap().is_some());
    // A reorg to the edge of the window still works: fork at height 12.
    let mut ctx = f.chain.context(&blocks[11].id()).unwrap().unwrap();
    let fork = workload::extend_from(&f.chain, &mut ctx, &f.accounts, 9, 4, &mut Rng(4)).unwrap();
    let mut last = None;
    for b in &fork {
        last = Some(f.chain.import(b).unwrap().status);
    }
    assert_eq!(last, Some(ImportStatus::Reorg { depth: 8, old_head: blocks[19].id() }), "a reorg of the full depth");
    assert_eq!(f.chain.head().unwrap().id, fork[8].id());
}
