//! Block-STM on transfers: parallel vs the sequential loop, over thread
//! counts, contention patterns and per-transaction VM cost.
//!
//! `cargo bench -p cinder-bench-suite --bench exec`. Thread counts 1, 2, 4,
//! 8, 16 up to the machine's cores (more threads than cores only measures
//! the OS scheduler). Throughput in transactions. The control workload's
//! scaling (rayon + sha2) is printed first, from the same run.

use std::hint::black_box;
use std::time::Duration;

use cinder_bench_suite::exec::{Accounts, BlockSpec, Contention, Work, generate, same_result};
use cinder_engine::exec::{self, Mode, Strategy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ACCOUNTS: u32 = 100_000;
const TXS: u32 = 10_000;

fn bench(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<usize> = [1, 2, 4, 8, 16].into_iter().filter(|&t| t <= cores).collect();
    let work = Work::calibrate();
    eprintln!("exec: {cores} cores, {:.0} spin iterations per us", work.iters_per_us);
    control(cores);
    let base = Accounts::new(ACCOUNTS);
    let mut g = c.benchmark_group("exec::transfers");
    g.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(u64::from(TXS)));
    for work_us in [1u32, 10] {
        for contention in [Contention::None, Contention::Zipf, Contention::Hotspot] {
            let spec = BlockSpec {
                accounts: ACCOUNTS,
                txs: TXS,
                contention,
                work_iters: work.iters(f64::from(work_us)),
                seed: 1,
            };
            let txs = generate(&spec).unwrap();
            let name = |t: &str| format!("accounts={ACCOUNTS} txs={TXS} {t} contention={contention} work_us={work_us}");
            let seq = exec::execute(&txs, &base, Strategy::Sequential, Mode::Verify, u64::MAX).unwrap();
            g.bench_function(name("sequential"), |b| {
                b.iter(|| black_box(exec::execute(&txs, &base, Strategy::Sequential, Mode::Verify, u64::MAX)))
            });
            for &t in &threads {
                let par =
                    exec::execute(&txs, &base, Strategy::Parallel { threads: t }, Mode::Verify, u64::MAX).unwrap();
                assert!(same_result(&seq, &par), "parallel differs from sequential at {t} threads");
                eprintln!(
                    "exec: contention={contention} work_us={work_us} threads={t}: {} re-executions, {} suspensions per {TXS} txs",
                    par.stats.reexecutions, par.stats.suspensions
                );
                g.bench_function(name(&format!("threads={t}")), |b| {
                    b.iter(|| {
                        black_box(exec::execute(&txs, &base, Strategy::Parallel { threads: t }, Mode::Verify, u64::MAX))
                    })
                });
            }
        }
    }
    g.finish();
}

/// Prints the control workload's scaling from 1 thread to every core.
fn control(cores: usize) {
    let header = [7u8; 80];
    let n = 1u32 << 20;
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let all = rayon::ThreadPoolBuilder::new().num_threads(cores).build().unwrap();
    let t1 = cinder_bench_suite::time_median(1.0, || {
        black_box(cinder_bench_suite::control_rayon_sha256d(&one, &header, n));
    });
    let tn = cinder_bench_suite::time_median(1.0, || {
        black_box(cinder_bench_suite::control_rayon_sha256d(&all, &header, n));
    });
    eprintln!("exec: control (rayon + sha2) scaling 1 -> {cores} threads: {:.2}x", t1 / tn);
}

criterion_group!(benches, bench);
criterion_main!(benches);
