//! PoW benchmarks: every backend side by side, the sha2 baseline, core
//! scaling against a control rayon loop, and job-switch latency.
//!
//! `cargo bench -p cinder-bench-suite --bench pow` (CI only builds it).
//! Names: `pow::<algo>/backend=<name>`, throughput in nonces.

#![allow(clippy::cast_possible_truncation, reason = "bench inputs are small")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cinder_bench_suite::{baseline_sha256d, control_rayon_sha256d};
use cinder_engine::gpu::{GpuBackend, GpuOptions};
use cinder_engine::pow::{
    Algo, Backend, CpuBackend, CpuFeatures, Header, Isa, NonceRange, PowJob, SearchControl, Target,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn job(algo: Algo) -> PowJob {
    // Seeded header, difficulty-1 target: hits are rare, as when mining.
    let mut b = [0u8; 80];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(167).wrapping_add(13);
    }
    PowJob::new(algo, Header(b), Target::from_compact(0x1d00_ffff).unwrap())
}

fn gpu() -> Option<GpuBackend> {
    match GpuBackend::new(&GpuOptions::default(), false) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("SKIPPED: gpu benches: {e}");
            None
        }
    }
}

fn search(b: &Backend, job: &PowJob, n: u64) {
    let r = b.search(job, NonceRange::new(0, n).unwrap(), &SearchControl::new()).unwrap();
    black_box(r);
}

fn backends(c: &mut Criterion) {
    let gpu = gpu().map(Backend::Gpu);
    for algo in Algo::ALL {
        let job = job(algo);
        let mut g = c.benchmark_group(format!("pow::{algo}"));
        g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));

        let n = 1u64 << 18;
        g.throughput(Throughput::Elements(n));
        g.bench_function("backend=reference", |b| b.iter(|| search(&Backend::Reference, &job, n)));
        if algo == Algo::Sha256d {
            g.bench_function("baseline=sha2-digest-digest", |b| {
                b.iter(|| black_box(baseline_sha256d(&job.header.0, 0, n as u32)))
            });
        }

        // One core per kernel: the per-core speed against the baseline above.
        for isa in Isa::available(algo) {
            let one = Backend::Cpu(CpuBackend::new(Some(1), Some(isa)).unwrap());
            g.bench_function(format!("backend=cpu isa={isa} threads=1"), |b| b.iter(|| search(&one, &job, n)));
        }

        let n = 1u64 << 24;
        g.throughput(Throughput::Elements(n));
        let cpu = Backend::Cpu(CpuBackend::new(None, None).unwrap());
        g.bench_function(format!("backend=cpu threads={}", CpuFeatures::detect().cores), |b| {
            b.iter(|| search(&cpu, &job, n))
        });
        if let Some(backend @ Backend::Gpu(gb)) = &gpu {
            gb.prepare(algo).unwrap();
            // Enough dispatches that the pipeline is full for most of the sample.
            let n = (gb.tuning(0, algo).unwrap().dispatch_nonces * 64).min(1 << 32);
            g.throughput(Throughput::Elements(n));
            g.bench_function("backend=gpu", |b| b.iter(|| search(backend, &job, n)));
        }
        g.finish();
    }
}

/// Rate of the CPU backend and of the control loop at 1..=cores threads.
fn scaling(c: &mut Criterion) {
    let cores = CpuFeatures::detect().cores;
    let mut threads: Vec<usize> = (0..).map(|k| 1usize << k).take_while(|&t| t < cores).collect();
    threads.push(cores);
    let job = job(Algo::Sha256d);
    let n = 1u32 << 22;
    let mut g = c.benchmark_group("pow::scaling");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for t in threads {
        let cpu = Backend::Cpu(CpuBackend::new(Some(t), None).unwrap());
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_function(format!("sha256d backend=cpu threads={t}"), |b| b.iter(|| search(&cpu, &job, u64::from(n))));
        // The control loop is ~3x slower per nonce: a quarter of the nonces keeps samples short.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
        g.throughput(Throughput::Elements(u64::from(n / 4)));
        g.bench_function(format!("control=rayon-sha2 threads={t}"), |b| {
            b.iter(|| black_box(control_rayon_sha256d(&pool, &job.header.0, n / 4)))
        });
    }
    g.finish();
}

/// From "new job" (cancel of the old search) to the new job's first
/// completed work.
fn job_switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("pow::job_switch");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    let mut list: Vec<(String, Backend)> = vec![("cpu".into(), Backend::Cpu(CpuBackend::new(None, None).unwrap()))];
    if let Some(gb) = gpu() {
        gb.prepare(Algo::Sha256d).unwrap();
        list.push(("gpu".into(), Backend::Gpu(gb)));
    }
    let a = job(Algo::Sha256d);
    let mut b_job = a;
    b_job.header.set_time(b_job.header.time() + 1);
    for (name, backend) in &list {
        g.bench_function(format!("sha256d backend={name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (ca, cb) = (SearchControl::new(), SearchControl::new());
                    total += std::thread::scope(|s| {
                        let ha = s.spawn(|| backend.search(&a, NonceRange::FULL, &ca));
                        while ca.hashes() == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        let t0 = Instant::now();
                        ca.cancel();
                        let hb = s.spawn(|| {
                            ha.join().unwrap().unwrap();
                            backend.search(&b_job, NonceRange::FULL, &cb).unwrap()
                        });
                        while cb.hashes() == 0 {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        let took = t0.elapsed();
                        cb.cancel();
                        hb.join().unwrap();
                        took
                    });
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, backends, scaling, job_switch);
criterion_main!(benches);
