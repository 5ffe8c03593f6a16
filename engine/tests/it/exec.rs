//! Block-STM against a plain sequential loop, on a mock VM whose reads,
//! writes, statuses and gas all depend on what it reads.

use std::collections::{BTreeMap, HashMap};

use cinder_engine::exec::{
    self, BlockInvalid, BlockOutput, FaultInjection, Mode, Strategy, Suspend, Task, TaskOutput, TxOutput, TxStatus,
    TxView, Value, WriteOp,
};
use proptest::prelude::*;

/// A counter, or a blob (a delta on a blob fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Val {
    n: u128,
    blob: bool,
}

impl Value for Val {
    fn as_counter(&self) -> Option<u128> {
        (!self.blob).then_some(self.n)
    }
    fn from_counter(n: u128) -> Self {
        Val { n, blob: false }
    }
}

const FEES: u32 = u32::MAX;

/// What the baseline computes: per-transaction outputs, included indices,
/// final writes and gas.
type Expected = Result<(Vec<TxOutput<u32, Val, u64>>, Vec<usize>, Vec<(u32, Option<Val>)>, u64), BlockInvalid>;

fn mix(a: u64, b: u128) -> u64 {
    let x = a ^ (b as u64) ^ ((b >> 64) as u64);
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

#[derive(Clone, Debug)]
struct MockTx {
    id: u64,
    reads: Vec<u32>,
    /// Range reads: first key, last key, limit.
    ranges: Vec<(u32, u32, usize)>,
    writes: Vec<u32>,
    deltas: Vec<(u32, i128)>,
    gas_limit: u64,
    hints: bool,
    /// Busy work per execution (spins), to make threads overlap.
    work: u32,
}

impl Task for MockTx {
    type Key = u32;
    type Value = Val;
    type Output = u64;

    fn execute(&self, view: &mut dyn TxView<u32, Val>) -> Result<TaskOutput<u32, Val, u64>, Suspend> {
        let mut acc = self.id;
        for k in &self.reads {
            let v = view.read(k)?;
            acc = mix(acc, v.map_or(7, |v| v.n ^ u128::from(v.blob) << 127));
        }
        for (start, end, limit) in &self.ranges {
            let entries = view.range(start, end, *limit)?;
            acc = mix(acc, entries.len() as u128);
            for (k, v) in entries {
                acc = mix(acc, u128::from(k) << 64 ^ v.n ^ u128::from(v.blob) << 127);
            }
        }
        for _ in 0..self.work {
            acc = std::hint::black_box(mix(acc, 1));
        }
        let status = if acc.is_multiple_of(23) {
            TxStatus::Invalid(format!("bad nonce {acc}"))
        } else if acc.is_multiple_of(11) {
            TxStatus::Failed(format!("reverted {acc}"))
        } else {
            TxStatus::Success
        };
        let gas_used = 1 + acc % self.gas_limit;
        let mut writes: Vec<(u32, WriteOp<Val>)> = self
            .writes
            .iter()
            .map(|&k| {
                let v = mix(acc, u128::from(k));
                let op = match v % 13 {
                    0 => WriteOp::Delete,
                    1..=3 => WriteOp::Put(Val { n: u128::from(v), blob: true }),
                    _ => WriteOp::Put(Val { n: u128::from(v), blob: false }),
                };
                (k, op)
            })
            .collect();
        writes.extend(self.deltas.iter().map(|&(k, d)| (k, WriteOp::Delta(d))));
        writes.push((FEES, WriteOp::Delta(i128::from(gas_used))));
        let nonce_key = 1_000_000 + (self.id % 5) as u32;
        let failure_writes = vec![
            (nonce_key, WriteOp::Put(Val { n: u128::from(acc), blob: false })),
            (FEES, WriteOp::Delta(i128::from(gas_used))),
        ];
        Ok(TaskOutput { status, gas_used, writes, failure_writes, output: acc })
    }

    fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    fn write_hints(&self) -> Vec<u32> {
        if self.hints { self.writes.clone() } else { Vec::new() }
    }
}

/// The baseline: a plain loop over an overlay map, written from the rules
/// in `exec::execute`'s documentation.
fn baseline(txs: &[MockTx], base: &HashMap<u32, Val>, mode: Mode, limit: u64) -> Expected {
    struct View<'a>(&'a BTreeMap<u32, Option<Val>>, &'a HashMap<u32, Val>);
    impl TxView<u32, Val> for View<'_> {
        fn read(&mut self, k: &u32) -> Result<Option<Val>, Suspend> {
            Ok(match self.0.get(k) {
                Some(v) => *v,
                None => self.1.get(k).copied(),
            })
        }
        fn range(&mut self, start: &u32, end: &u32, limit: usize) -> Result<Vec<(u32, Val)>, Suspend> {
            // The whole state as the transaction sees it, then the range.
            let mut all: BTreeMap<u32, Val> = self.1.iter().map(|(k, v)| (*k, *v)).collect();
            for (k, v) in self.0 {
                match v {
                    Some(v) => all.insert(*k, *v),
                    None => all.remove(k),
                };
            }
            if start > end {
                return Ok(Vec::new());
            }
            Ok(all.range(start..=end).take(limit).map(|(k, v)| (*k, *v)).collect())
        }
    }
    fn dedup(w: &[(u32, WriteOp<Val>)]) -> Vec<(u32, WriteOp<Val>)> {
        let mut out: Vec<(u32, WriteOp<Val>)> = Vec::new();
        for (i, (k, op)) in w.iter().enumerate() {
            if !w[i + 1..].iter().any(|(k2, _)| k2 == k) {
                out.push((*k, op.clone()));
            }
        }
        out
    }
    let add = |v: Option<Val>, d: i128| -> Option<Val> {
        let n = match v {
            None => 0,
            Some(v) => v.as_counter()?,
        };
        let r = if d >= 0 { n.checked_add(d as u128) } else { n.checked_sub(d.unsigned_abs()) };
        r.map(|n| Val { n, blob: false })
    };
    let mut state: BTreeMap<u32, Option<Val>> = BTreeMap::new();
    let (mut per_tx, mut included, mut used) = (Vec::new(), Vec::new(), 0u64);
    for (i, tx) in txs.iter().enumerate() {
        let out = tx.execute(&mut View(&state, base)).unwrap();
        let cur = |k: &u32| match state.get(k) {
            Some(v) => *v,
            None => base.get(k).copied(),
        };
        let ok = |w: &[(u32, WriteOp<Val>)]| {
            w.iter().all(|(k, op)| !matches!(op, WriteOp::Delta(d) if add(cur(k), *d).is_none()))
        };
        let (writes, failure) = (dedup(&out.writes), dedup(&out.failure_writes));
        let o = match &out.status {
            TxStatus::Invalid(r) => {
                TxOutput { status: TxStatus::Invalid(r.clone()), gas_used: 0, writes: vec![], output: 0 }
            }
            TxStatus::Success if ok(&writes) => {
                TxOutput { status: TxStatus::Success, gas_used: out.gas_used, writes, output: out.output }
            }
            st if ok(&failure) => TxOutput {
                status: TxStatus::Failed(match st {
                    TxStatus::Failed(r) => r.clone(),
                    _ => "a delta takes a counter out of bounds".into(),
                }),
                gas_used: out.gas_used,
                writes: failure,
                output: out.output,
            },
            _ => TxOutput {
                status: TxStatus::Invalid("the failure writes take a counter out of bounds".into()),
                gas_used: 0,
                writes: vec![],
                output: 0,
            },
        };
        if let TxStatus::Invalid(r) = &o.status {
            if mode == Mode::Verify {
                return Err(BlockInvalid { index: i, reason: r.clone() });
            }
            per_tx.push(o);
            continue;
        }
        let remaining = limit.saturating_sub(used);
        if tx.gas_limit > remaining {
            if mode == Mode::Verify {
                return Err(BlockInvalid {
                    index: i,
                    reason: format!("gas limit {} exceeds the block's remaining gas {remaining}", tx.gas_limit),
                });
            }
            break;
        }
        let applied: Vec<(u32, Option<Val>)> = o
            .writes
            .iter()
            .map(|(k, op)| {
                let v = match op {
                    WriteOp::Put(v) => Some(*v),
                    WriteOp::Delete => None,
                    WriteOp::Delta(d) => add(cur(k), *d),
                };
                (*k, v)
            })
            .collect();
        state.extend(applied);
        used += o.gas_used;
        included.push(i);
        per_tx.push(o);
    }
    Ok((per_tx, included, state.into_iter().collect(), used))
}

/// A random block over `universe` keys.
fn block(seed: u64, n: usize, universe: u32, work: u32) -> (Vec<MockTx>, HashMap<u32, Val>) {
    let mut x = seed | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m.max(1)
    };
    let mut txs = Vec::with_capacity(n);
    for id in 0..n as u64 {
        let key = |r: u64| (r % u64::from(universe)) as u32;
        let reads = (0..next(4)).map(|_| key(next(u64::MAX))).collect();
        // A range read in about one transaction of four, over a stretch of
        // the key space (wider than the universe at times: every key).
        let ranges = (0..u64::from(next(4) == 0))
            .map(|_| {
                let start = key(next(u64::MAX));
                let end = start.saturating_add(next(u64::from(universe) / 3 + 2) as u32);
                (start, end, 1 + next(8) as usize)
            })
            .collect();
        let writes = (0..next(3)).map(|_| key(next(u64::MAX))).collect();
        let deltas = (0..next(2))
            .map(|_| {
                let d = match next(10) {
                    0 => i128::MAX,             // overflows once anything is there
                    1 => -(next(5000) as i128), // may underflow
                    _ => next(100) as i128,
                };
                (key(next(u64::MAX)), d)
            })
            .collect();
        txs.push(MockTx { id, reads, ranges, writes, deltas, gas_limit: 1 + next(50), hints: next(3) == 0, work });
    }
    let base = (0..universe.min(1000)).map(|k| (k, Val { n: u128::from(k) * 3, blob: false })).collect();
    (txs, base)
}

fn same(got: &Result<BlockOutput<u32, Val, u64>, BlockInvalid>, want: &Expected) -> Result<(), String> {
    match (got, want) {
        (Ok(g), Ok((per_tx, included, writes, gas))) => {
            if g.per_tx != *per_tx {
                let i = g.per_tx.iter().zip(per_tx).position(|(a, b)| a != b);
                return Err(format!("per_tx differ (len {} vs {}) first at {i:?}", g.per_tx.len(), per_tx.len()));
            }
            if g.included != *included {
                return Err("included differ".into());
            }
            if g.writes != *writes {
                return Err(format!("writes differ: {} vs {} keys", g.writes.len(), writes.len()));
            }
            if g.gas_used != *gas {
                return Err(format!("gas {} vs {gas}", g.gas_used));
            }
            Ok(())
        }
        (Err(a), Err(b)) if a == b => Ok(()),
        (a, b) => Err(format!("verdicts differ: {:?} vs {:?}", a.as_ref().err(), b.as_ref().err())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn block_stm_equals_the_sequential_loop(
        seed in any::<u64>(),
        n in prop_oneof![1usize..50, 50usize..600, 600usize..5000],
        universe in prop_oneof![Just(2u32), Just(10), Just(1000), Just(100_000)],
        threads in 1usize..5,
        verify in any::<bool>(),
        limit_frac in 1u64..4,
    ) {
        let (txs, base) = block(seed, n, universe, 0);
        let mode = if verify { Mode::Verify } else { Mode::Build };
        // A gas limit that cuts the block about 1/limit_frac of the way (or not at all).
        let limit = if limit_frac == 3 { u64::MAX } else { (n as u64 * 25) / limit_frac };
        let want = baseline(&txs, &base, mode, limit);
        let seq = exec::execute(&txs, &base, Strategy::Sequential, mode, limit);
        prop_assert!(same(&seq, &want).is_ok(), "sequential strategy: {:?}", same(&seq, &want));
        let par = exec::execute(&txs, &base, Strategy::Parallel { threads }, mode, limit);
        prop_assert!(same(&par, &want).is_ok(), "{threads} threads: {:?}", same(&par, &want));
    }
}

#[test]
fn contention_causes_reexecutions_and_suspensions() {
    for universe in [2u32, 10] {
        let (mut re, mut susp) = (0, 0);
        for seed in 1..=5u64 {
            let (txs, base) = block(seed * 7919, 2000, universe, 200);
            let want = baseline(&txs, &base, Mode::Build, u64::MAX);
            let got = exec::execute(&txs, &base, Strategy::Parallel { threads: 4 }, Mode::Build, u64::MAX);
            same(&got, &want).unwrap();
            let s = got.unwrap().stats;
            re += s.reexecutions;
            susp += s.suspensions;
        }
        assert!(re > 0, "{universe} keys: no re-execution happened");
        assert!(susp > 0, "{universe} keys: no suspension happened");
    }
}

#[test]
fn results_are_deterministic_across_threads_and_repetitions() {
    let (txs, base) = block(42, 800, 10, 50);
    let first = exec::execute(&txs, &base, Strategy::Sequential, Mode::Build, u64::MAX).unwrap();
    for rep in 0..100 {
        let threads = 1 + rep % 4;
        let got = exec::execute(&txs, &base, Strategy::Parallel { threads }, Mode::Build, u64::MAX).unwrap();
        assert_eq!(got.per_tx, first.per_tx, "rep {rep}, {threads} threads");
        assert_eq!(got.writes, first.writes, "rep {rep}, {threads} threads");
        assert_eq!(got.included, first.included);
        assert_eq!(got.gas_used, first.gas_used);
    }
}

#[test]
fn terminates_in_the_corner_cases() {
    // One thread, more threads than transactions, and everything conflicting.
    let (txs, base) = block(3, 300, 1000, 0);
    let want = baseline(&txs, &base, Mode::Build, u64::MAX);
    for threads in [1, 64] {
        same(&exec::execute(&txs, &base, Strategy::Parallel { threads }, Mode::Build, u64::MAX), &want).unwrap();
    }
    let few = &txs[..3];
    let want = baseline(few, &base, Mode::Build, u64::MAX);
    same(&exec::execute(few, &base, Strategy::Parallel { threads: 16 }, Mode::Build, u64::MAX), &want).unwrap();
    // Every transaction reads and writes the same key.
    let all: Vec<MockTx> = (0..500)
        .map(|id| MockTx {
            id,
            reads: vec![0],
            ranges: vec![],
            writes: vec![0],
            deltas: vec![(1, 1)],
            gas_limit: 10,
            hints: id % 2 == 0,
            work: 20,
        })
        .collect();
    let want = baseline(&all, &base, Mode::Build, u64::MAX);
    for threads in [1, 2, 4, 8] {
        same(&exec::execute(&all, &base, Strategy::Parallel { threads }, Mode::Build, u64::MAX), &want).unwrap();
    }
    // Empty and single-transaction blocks.
    let none: Vec<MockTx> = Vec::new();
    let out = exec::execute(&none, &base, Strategy::Parallel { threads: 4 }, Mode::Verify, 0).unwrap();
    assert!(out.per_tx.is_empty() && out.writes.is_empty());
}

#[test]
fn an_internal_failure_falls_back_to_sequential() {
    let (txs, base) = block(9, 400, 10, 0);
    let want = baseline(&txs, &base, Mode::Build, u64::MAX);
    let fault = FaultInjection { fail_after_executions: Some(50) };
    let got = exec::execute_with(&txs, &base, Strategy::Parallel { threads: 4 }, Mode::Build, u64::MAX, fault);
    same(&got, &want).unwrap();
    assert!(got.unwrap().stats.fell_back);
}

#[test]
fn hot_counter_deltas_do_not_serialize() {
    // Every transaction adds to the same counter and touches nothing else in common.
    let txs: Vec<MockTx> = (0..2000)
        .map(|id| MockTx {
            id,
            reads: vec![id as u32 + 10],
            ranges: vec![],
            writes: vec![id as u32 + 10],
            deltas: vec![],
            gas_limit: 10,
            hints: false,
            work: 100,
        })
        .collect();
    let base = HashMap::new();
    let want = baseline(&txs, &base, Mode::Build, u64::MAX);
    let got = exec::execute(&txs, &base, Strategy::Parallel { threads: 4 }, Mode::Build, u64::MAX);
    same(&got, &want).unwrap();
    // The FEES delta is in every transaction: no conflicts from it.
    assert_eq!(got.unwrap().stats.aborts, 0);
}

#[test]
fn a_block_hinted_as_one_chain_runs_sequentially_with_the_same_result() {
    // Every transaction hints (and writes) key 0: one chain of conflicts.
    let chain: Vec<MockTx> = (0..300)
        .map(|id| MockTx {
            id,
            reads: vec![0],
            ranges: vec![],
            writes: vec![0],
            deltas: vec![],
            gas_limit: 10,
            hints: true,
            work: 0,
        })
        .collect();
    let base = HashMap::new();
    let want = baseline(&chain, &base, Mode::Build, u64::MAX);
    let got = exec::execute(&chain, &base, Strategy::Parallel { threads: 4 }, Mode::Build, u64::MAX);
    same(&got, &want).unwrap();
    let stats = got.unwrap().stats;
    assert!(stats.hinted_chain && stats.executions == 0);
    // On one thread it is Block-STM all the same (nothing to gain either way).
    let one = exec::execute(&chain, &base, Strategy::Parallel { threads: 1 }, Mode::Build, u64::MAX).unwrap();
    assert!(!one.stats.hinted_chain && one.stats.executions >= 300);
    // Half the block on one key: still parallel.
    let half: Vec<MockTx> = chain
        .iter()
        .cloned()
        .map(|mut t| {
            t.hints = t.id % 2 == 0;
            t
        })
        .collect();
    let got = exec::execute(&half, &base, Strategy::Parallel { threads: 4 }, Mode::Build, u64::MAX).unwrap();
    assert!(!got.stats.hinted_chain);
}

#[test]
fn range_reads_see_inserts_and_deletes_below_them() {
    // Every transaction writes (puts or deletes) one of 50 keys and scans
    // them all with a small limit: each scan's result depends on what the
    // transactions below it inserted and deleted, deletions hide base
    // entries, and any stale scan shows in the outputs.
    let txs: Vec<MockTx> = (0..400u64)
        .map(|id| MockTx {
            id,
            reads: vec![],
            ranges: vec![(0, 49, 1 + (id % 7) as usize), (10 + (id % 30) as u32, 60, 3)],
            writes: vec![(mix(id, 5) % 50) as u32],
            deltas: vec![],
            gas_limit: 10,
            hints: false,
            work: 30,
        })
        .collect();
    let base: HashMap<u32, Val> = (0..50).map(|k| (k, Val { n: u128::from(k), blob: false })).collect();
    let want = baseline(&txs, &base, Mode::Build, u64::MAX);
    let mut aborts = 0;
    for rep in 0..20 {
        let threads = 1 + rep % 4;
        let got = exec::execute(&txs, &base, Strategy::Parallel { threads }, Mode::Build, u64::MAX);
        same(&got, &want).unwrap_or_else(|e| panic!("rep {rep}, {threads} threads: {e}"));
        aborts += got.unwrap().stats.aborts;
    }
    assert!(aborts > 0, "no scan was ever invalidated: the test does not exercise range validation");
    same(&exec::execute(&txs, &base, Strategy::Sequential, Mode::Build, u64::MAX), &want).unwrap();
}
