//! ed25519: single vs batch, 1 thread vs all, keys as bytes vs decoded.
//!
//! `cargo bench -p cinder-bench-suite --bench sig`. Throughput in signatures.

use std::hint::black_box;
use std::time::Duration;

use cinder_bench_suite::signed_messages;
use cinder_engine::sig::{self, BatchVerifier, Strategy, VerifyingKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;

const COUNT: usize = 4096;

fn bench(c: &mut Criterion) {
    let items = signed_messages(1, COUNT);
    let keys: Vec<VerifyingKey> = items.iter().map(|(pk, _, _)| VerifyingKey::from_bytes(&pk.0).unwrap()).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let all = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let mut g = c.benchmark_group("sig::ed25519");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(COUNT as u64));

    g.bench_function("single keys=bytes threads=1", |b| {
        b.iter(|| items.iter().for_each(|(pk, m, s)| assert!(sig::verify(&pk.0, m, &s.0).is_ok())))
    });
    g.bench_function("single keys=decoded threads=1", |b| {
        b.iter(|| items.iter().zip(&keys).for_each(|((_, m, s), k)| assert!(k.verify(m, &s.0).is_ok())))
    });
    let batches = |n: usize, decoded: bool, parallel: bool| {
        let run = |c: &[(sig::PublicKey, Vec<u8>, sig::Signature)], k: &[VerifyingKey]| {
            let mut b = BatchVerifier::with_capacity(n, n * 112).with_chunk_size(n);
            for (j, (pk, m, s)) in c.iter().enumerate() {
                if decoded {
                    b.add_with_key(&k[j], m, &s.0);
                } else {
                    b.add(&pk.0, m, &s.0);
                }
            }
            black_box(b.verify(Strategy::Sequential)).unwrap();
        };
        if parallel {
            items.par_chunks(n).zip(keys.par_chunks(n)).for_each(|(c, k)| run(c, k));
        } else {
            items.chunks(n).zip(keys.chunks(n)).for_each(|(c, k)| run(c, k));
        }
    };
    for n in [64, 256, 1024] {
        g.bench_function(format!("batch n={n} threads=1"), |b| b.iter(|| one.install(|| batches(n, false, false))));
        g.bench_function(format!("batch n={n} threads=1 keys=decoded"), |b| {
            b.iter(|| one.install(|| batches(n, true, false)))
        });
        g.bench_function(format!("batch n={n} threads=all"), |b| b.iter(|| all.install(|| batches(n, false, true))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
