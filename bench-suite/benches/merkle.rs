//! BLAKE3 Merkle roots: naive vs fast, 1 thread vs all, CPU vs GPU.
//!
//! `cargo bench -p cinder-bench-suite --bench merkle`. Throughput in leaves.

use std::hint::black_box;
use std::time::Duration;

use cinder_bench_suite::leaf_hashes;
use cinder_engine::gpu::{GpuBackend, GpuOptions};
use cinder_engine::merkle::{self, Tree};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let all = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let gpu = match GpuBackend::new(&GpuOptions::default(), false) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("SKIPPED: gpu merkle benches: {e}");
            None
        }
    };
    let big = leaf_hashes(1, 1 << 20);
    let mut g = c.benchmark_group("merkle::root");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1 << 20));
    g.bench_function("leaves=2^20 naive", |b| b.iter(|| black_box(merkle::naive_root(&big))));
    g.bench_function("leaves=2^20 threads=1", |b| b.iter(|| one.install(|| black_box(merkle::root(&big)))));
    g.bench_function("leaves=2^20 threads=all", |b| b.iter(|| all.install(|| black_box(merkle::root(&big)))));
    g.finish();

    // Many proofs against one root.
    let tree = Tree::new(big.clone());
    let root = tree.root();
    let proofs: Vec<_> = (0..1024u64).map(|i| tree.proof(i * 997 % (1 << 20)).unwrap()).collect();
    let items: Vec<_> = proofs.iter().map(|p| (big[usize::try_from(p.index).unwrap()], p)).collect();
    let mut g = c.benchmark_group("merkle::proofs");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1024));
    g.bench_function("batch n=1024 leaves=2^20", |b| {
        b.iter(|| assert!(merkle::verify_proofs(&root, &items).is_empty()))
    });
    g.bench_function("single n=1024 leaves=2^20", |b| {
        b.iter(|| assert!(items.iter().all(|(l, p)| p.verify(&root, l))))
    });
    g.finish();

    if let Some(gb) = &gpu {
        let dev = &gb.devices()[0];
        let mut g = c.benchmark_group("merkle::gpu");
        g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
        let sizes: &[u32] = if dev.summary().hardware { &[16, 20, 24] } else { &[16, 20] };
        for &k in sizes {
            let leaves = if k == 20 { big.clone() } else { leaf_hashes(2, 1 << k) };
            dev.merkle_root(&leaves).unwrap();
            g.throughput(Throughput::Elements(1 << k));
            g.bench_function(format!("leaves=2^{k} backend=gpu"), |b| {
                b.iter(|| black_box(dev.merkle_root(&leaves).unwrap()))
            });
            g.bench_function(format!("leaves=2^{k} backend=cpu threads=all"), |b| {
                b.iter(|| all.install(|| black_box(merkle::root(&leaves))))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
