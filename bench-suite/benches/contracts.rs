//! Contracts: the per-call overhead (a cached module instantiated and an
//! empty method called), token transfers through the executor on one
//! thread, and Block-STM against sequential execution on blocks of token
//! transfers at low contention and on one hot holder.
//!
//! `cargo bench -p cinder-bench-suite --bench contracts`.

use std::hint::black_box;
use std::time::Duration;

use cinder_bench_suite::contracts::{EMPTY, TokenContention, TokenState};
use cinder_engine::exec::{self, Mode, Strategy};
use cinder_primitives::Address;
use cinder_vm::harness::TestChain;
use cinder_vm::{BlockEnv, Runner, TxTask};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const HOLDERS: u64 = 100_000;
const SENDERS: u64 = 2_000;
const TXS: usize = 10_000;

fn env() -> BlockEnv {
    BlockEnv { height: 2, time_ms: 1_767_225_600_000, coinbase: Address([0xcb; 32]) }
}

fn bench(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("contracts::call");
    g.sample_size(20).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    let mut chain = TestChain::new().unwrap();
    let a = chain.account(u128::MAX / 4);
    let code = wat::parse_str(EMPTY).unwrap();
    let empty = chain.deploy(a, &code, &[]).unwrap().created.unwrap();
    g.bench_function("empty call (store + instantiate from cache + call)", |b| {
        b.iter(|| black_box(chain.query_with(a, empty, "noop", &[], 1_000_000).unwrap()))
    });
    g.finish();
    // The same empty calls on independent threads (no executor): how the
    // runtime itself scales over cores.
    let mut g = c.benchmark_group("contracts::call_scaling");
    g.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    const CALLS: usize = 20_000;
    g.throughput(Throughput::Elements(CALLS as u64));
    for threads in [1usize, 2, 4, 8, 16].into_iter().filter(|t| *t <= cores) {
        g.bench_function(format!("empty calls threads={threads}"), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            for _ in 0..CALLS / threads {
                                black_box(chain.query_with(a, empty, "noop", &[], 1_000_000).unwrap());
                            }
                        });
                    }
                })
            })
        });
    }
    g.finish();

    let token = TokenState::new(HOLDERS, SENDERS).unwrap();
    let vm = cinder_vm::Vm::shared().unwrap();
    let mut g = c.benchmark_group("contracts::token_transfers");
    g.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(TXS as u64));
    for contention in [TokenContention::Low, TokenContention::Hot] {
        let txs = token.transfers(TXS, contention, 7, 1);
        let senders: Vec<Address> = txs.iter().map(|t| t.tx.sender_address()).collect();
        let run = |strategy: Strategy| {
            let runner = Runner::new(vm, env());
            let tasks: Vec<TxTask<'_>> = txs.iter().zip(&senders).map(|(t, s)| TxTask::new(t, *s, &runner)).collect();
            exec::execute(&tasks, &token.state, strategy, Mode::Verify, u64::MAX).unwrap()
        };
        let name = |t: &str| format!("holders={HOLDERS} txs={TXS} contention={contention} {t}");
        if contention == TokenContention::Low {
            // Each transaction alone on the base state on independent
            // threads (no executor): the VM's own scaling on this work.
            // Only each sender's first transfer (nonce 0) is valid alone.
            let firsts: Vec<usize> = (0..txs.len()).filter(|&i| txs[i].tx.nonce == 0).collect();
            g.throughput(Throughput::Elements(firsts.len() as u64));
            for threads in [1usize, 2].into_iter().filter(|t| *t <= cores) {
                g.bench_function(name(&format!("alone ({} firsts) threads={threads}", firsts.len())), |b| {
                    b.iter(|| {
                        let runner = Runner::new(vm, env());
                        std::thread::scope(|s| {
                            for part in 0..threads {
                                let (txs, senders, runner, state) = (&txs, &senders, &runner, &token.state);
                                let firsts = &firsts;
                                s.spawn(move || {
                                    for &i in firsts.iter().skip(part).step_by(threads) {
                                        let task = TxTask::new(&txs[i], senders[i], runner);
                                        let mut view = cinder_vm::StateTxView(state);
                                        black_box(cinder_engine::exec::Task::execute(&task, &mut view).ok());
                                    }
                                });
                            }
                        })
                    })
                });
            }
            g.throughput(Throughput::Elements(TXS as u64));
        }
        let seq = run(Strategy::Sequential);
        assert!(seq.per_tx.iter().all(|o| o.status == exec::TxStatus::Success));
        g.bench_function(name("sequential"), |b| b.iter(|| black_box(run(Strategy::Sequential))));
        for threads in [2usize, 4, 8, 16].into_iter().filter(|t| *t <= cores) {
            let par = run(Strategy::Parallel { threads });
            assert_eq!(par.writes, seq.writes, "parallel differs from sequential at {threads} threads");
            eprintln!(
                "contracts: contention={contention} threads={threads}: {} re-executions, {} suspensions per {TXS}",
                par.stats.reexecutions, par.stats.suspensions
            );
            g.bench_function(name(&format!("threads={threads}")), |b| {
                b.iter(|| black_box(run(Strategy::Parallel { threads })))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
