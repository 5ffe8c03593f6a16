//! Reorgs: competing blocks at one height, a deeper reorg, a reorg past
//! the allowed depth; the state after each equals a fresh replay of the
//! winning chain.

use cinder_chain::workload::{self, Rng};
use cinder_chain::{Chain, ChainConfig, ImportError, ImportStatus};
use cinder_primitives::Block;

use crate::common::{Fixture, dir};

/// Imports `blocks` into a fresh database and returns the head's state root
/// and every account there.
fn replay(f: &Fixture, name: &str, blocks: &[Block]) -> Vec<Option<cinder_primitives::Account>> {
    let chain = Chain::open(
        &dir(name),
        f.spec.clone(),
        ChainConfig { exec_threads: 1, max_reorg_depth: 8, prune: true, ..ChainConfig::default() },
    )
    .unwrap();
    for b in blocks {
        assert_eq!(chain.import(b).unwrap().status, ImportStatus::Head);
    }
    accounts(&chain)
}

fn accounts(chain: &Chain) -> Vec<Option<cinder_primitives::Account>> {
    let head = chain.db().head().unwrap().unwrap();
    let state = chain.state();
    let accounts = workload::Accounts::derive("chain-it", crate::common::ACCOUNTS);
    accounts.addresses.iter().map(|a| state.account(head.version, a).unwrap()).collect()
}

#[test]
fn competing_branches_and_a_deeper_reorg_match_a_fresh_replay() {
    let mut f = Fixture::new("reorg");
    let genesis = f.chain.head().unwrap();
    let a = f.blocks(2, 20);
    for b in &a {
        f.chain.import(b).unwrap();
    }
    // B: a competitor at height 1 (other transactions), then at height 2: same work, the first seen stays.
    let mut ctx = f.chain.context(&genesis.id).unwrap().unwrap();
    let mut rng = Rng(99);
    let b = workload::extend_from(&f.chain, &mut ctx, &f.accounts, 3, 15, &mut rng).unwrap();
    assert_ne!(b[0].id(), a[0].id());
    assert_eq!(f.chain.import(&b[0]).unwrap().status, ImportStatus::Side);
    assert_eq!(f.chain.import(&b[1]).unwrap().status, ImportStatus::Side, "equal work: the first seen stays");
    assert_eq!(f.chain.head().unwrap().id, a[1].id());
    // B's third block makes it heavier: a reorg of depth 2 in one batch.
    let r = f.chain.import(&b[2]).unwrap();
    assert_eq!(r.status, ImportStatus::Reorg { depth: 2, old_head: a[1].id() });
    assert_eq!(f.chain.head().unwrap().id, b[2].id());
    for tx in a[0].transactions.iter() {
        let loc = f.chain.db().transaction_location(&tx.id()).unwrap();
        assert!(
            loc.is_none() || b.iter().any(|blk| Some(blk.id()) == loc.map(|l| l.0)),
            "A's transactions left the index"
        );
    }
    assert_eq!(accounts(&f.chain), replay(&f, "reorg-replay-b", &b));

    // A comes back deeper: A1, A2 + three more on A2 (depth 3 over B's 3).
    let mut ctx = f.chain.context(&a[1].id()).unwrap().unwrap();
    let a_more = workload::extend_from(&f.chain, &mut ctx, &f.accounts, 3, 10, &mut rng).unwrap();
    assert_eq!(f.chain.import(&a_more[0]).unwrap().status, ImportStatus::Side);
    let r = f.chain.import(&a_more[1]).unwrap();
    assert_eq!(r.status, ImportStatus::Reorg { depth: 3, old_head: b[2].id() });
    f.chain.import(&a_more[2]).unwrap();
    let a_all: Vec<Block> = a.iter().chain(&a_more).cloned().collect();
    assert_eq!(accounts(&f.chain), replay(&f, "reorg-replay-a", &a_all));
    // Every canonical height points at A's blocks, and survives a reopen.
    let f = f.reopen();
    for (h, blk) in a_all.iter().enumerate() {
        assert_eq!(f.chain.db().canonical(h as u64 + 1).unwrap().map(|c| c.0), Some(blk.id()));
    }
}

#[test]
fn a_reorg_deeper_than_allowed_is_refused_and_changes_nothing() {
    let mut f = Fixture::new("too-deep");
    let genesis = f.chain.head().unwrap();
    // Both branches built before any import (the pruned state of genesis
    // could not be built on afterwards).
    let main = f.blocks(10, 2);
    let mut ctx = f.chain.context(&genesis.id).unwrap().unwrap();
    let side = workload::extend_from(&f.chain, &mut ctx, &f.accounts, 2, 1, &mut Rng(5)).unwrap();
    for b in &main {
        f.chain.import(b).unwrap();
    }
    // The side chain from genesis forks 10 > 8 blocks below the head: its
    // blocks are refused from the first (they could never become canonical).
    let head = f.chain.head().unwrap();
    let latest = cinder_state::StateStore::latest(f.chain.db()).unwrap();
    match f.chain.import(&side[0]) {
        Err(ImportError::ReorgTooDeep { depth: 10, max: 8, .. }) => {}
        other => panic!("expected a refused fork, got {other:?}"),
    }
    assert_eq!(f.chain.head().unwrap(), head);
    assert_eq!(cinder_state::StateStore::latest(f.chain.db()).unwrap(), latest);
    assert!(f.chain.db().block_meta(&side[0].id()).unwrap().is_none());
    // From height 2 (8 below the head) is still allowed.
    let mut ctx = f.chain.context(&main[1].id()).unwrap().unwrap();
    let side = workload::extend_from(&f.chain, &mut ctx, &f.accounts, 1, 1, &mut Rng(6)).unwrap();
    assert_eq!(f.chain.import(&side[0]).unwrap().status, ImportStatus::Side);
}
