//! The state root: applying a block's account updates to the BLAKE3
//! Jellyfish Merkle tree (in memory), the part of block import that reth
//! finds dominant. `cargo bench -p cinder-bench-suite --bench state`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cinder_primitives::{Account, Address};
use cinder_state::{MemStore, State};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn addr(i: u64) -> Address {
    Address(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("state::apply");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for accounts in [100_000u64, 1_000_000] {
        let state = State::new(MemStore::default());
        let genesis: Vec<_> =
            (0..accounts).map(|i| (addr(i), Some(Account { balance: 1_000_000, nonce: 0 }))).collect();
        let t = Instant::now();
        let (v0, _) = state.commit(None, &genesis).unwrap();
        eprintln!("state: {accounts} accounts written in one version in {:.2} s", t.elapsed().as_secs_f64());
        drop(genesis);
        // A block of 1,000 transfers touches about 2,000 accounts.
        let updates: Vec<_> = (0..2_000u64)
            .map(|i| (addr(i * 7919 % accounts), Some(Account { balance: 999_000 + u128::from(i), nonce: 1 })))
            .collect();
        g.throughput(Throughput::Elements(2_000));
        g.bench_function(format!("accounts={accounts} updates=2000"), |b| {
            b.iter(|| black_box(state.apply(Some(v0), &updates).unwrap().0))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
