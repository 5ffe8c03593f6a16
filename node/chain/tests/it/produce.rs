//! Block production: candidates built into a block on the head, sealed by
//! the engine's CPU search, imported; cancellation writes nothing.

use cinder_chain::workload::{Rng, transfers};
use cinder_chain::{ImportStatus, produce, unix_now};
use cinder_engine::pow::{Backend, BackendKind, BackendOptions, SearchControl};

use crate::common::Fixture;

fn cpu() -> Backend {
    Backend::from_options(&BackendOptions { cpu_threads: Some(1), ..BackendOptions::new(BackendKind::Cpu) }).unwrap()
}

#[test]
fn produced_blocks_seal_on_the_engine_and_import() {
    // Bits 0x1f00ffff: about 65k hashes a block; genesis one block time
    // ago, so the retarget starts on schedule.
    let mut f = Fixture::with("produce", |s| {
        s.genesis_time = u32::try_from(unix_now() - 1).unwrap();
        if let Some(p) = s.pow.as_mut() {
            p.initial_bits = 0x1f00_ffff;
        }
    });
    let backend = cpu();
    let mut rng = Rng(3);
    for height in 1..=3u64 {
        let head = f.chain.head().unwrap();
        let ctx = f.chain.context(&head.id).unwrap().unwrap();
        let txs = transfers(&f.chain.state(), &ctx, &f.accounts, f.spec.chain_id, 25, &mut rng).unwrap();
        let coinbase = f.accounts.addresses[1];
        let (r, sealed) =
            produce(&f.chain, txs, coinbase, &backend, &SearchControl::new(), unix_now()).unwrap().unwrap();
        assert_eq!((r.status, r.height), (ImportStatus::Head, height));
        let block = f.chain.db().block(&r.id).unwrap().unwrap();
        assert_eq!(block, sealed);
        assert_eq!(block.transactions.len(), 25);
        if height == 1 {
            assert_eq!(block.header.pow.bits(), 0x1f00_ffff, "on schedule: the initial difficulty");
        }
    }
    f.rng = rng;
}

#[test]
fn a_cancelled_seal_writes_nothing() {
    let f = Fixture::with("produce-cancel", |s| {
        if let Some(p) = s.pow.as_mut() {
            // Far too hard to find by chance.
            p.initial_bits = 0x1800_ffff;
            p.limit_bits = 0x207f_ffff;
        }
    });
    let head = f.chain.head().unwrap();
    let ctl = SearchControl::new();
    ctl.cancel();
    let r = produce(&f.chain, Vec::new(), f.accounts.addresses[0], &cpu(), &ctl, unix_now()).unwrap();
    assert!(r.is_none());
    assert_eq!(f.chain.head().unwrap(), head);
}
