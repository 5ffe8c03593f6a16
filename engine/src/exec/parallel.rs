//! The Block-STM run: worker threads over the scheduler and the
//! multi-version memory (Algorithm 1), then the in-order final pass.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::mvmemory::{Incarnation, MvMemory, Read, ReadDesc, TxnIdx, lock};
use super::scheduler::{Scheduler, Task as Work};
use super::{
    Admission, Admit, BlockInvalid, BlockOutput, ExecStats, FaultInjection, Mode, StateView, Suspend, Task, TxOutput,
    TxView, WriteOp, apply_delta, normalize, settle,
};

/// An internal failure of the parallel path (never the block's fault).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Internal {
    #[error("fault injected after {0} executions")]
    Injected(u64),
    #[error("transaction {0} has no output after the run")]
    MissingOutput(usize),
    #[error("the final state of a key depends on an unfinished transaction {0}")]
    Unfinished(usize),
}

/// Reads through the multi-version memory, recording what they saw.
struct MvView<'a, K, V, S> {
    mv: &'a MvMemory<K, V>,
    base: &'a S,
    txn: TxnIdx,
    reads: Vec<ReadDesc<K, V>>,
}

impl<K: super::Key, V: super::Value, S: StateView<K, V>> TxView<K, V> for MvView<'_, K, V, S> {
    fn read(&mut self, key: &K) -> Result<Option<V>, Suspend> {
        match self.mv.read(key, self.txn, self.base) {
            Read::Dependency(j) => Err(Suspend(j)),
            Read::Versioned(ver, v) => {
                self.reads.push(ReadDesc::Version(key.clone(), ver));
                Ok(v)
            }
            Read::Resolved(v) => {
                self.reads.push(ReadDesc::Value(key.clone(), v.clone()));
                Ok(v)
            }
        }
    }
}

type Slot<T> = Mutex<Option<TxOutput<<T as Task>::Key, <T as Task>::Value>>>;
type Outcome<T> = Result<BlockOutput<<T as Task>::Key, <T as Task>::Value>, BlockInvalid>;

struct Run<'a, T: Task, S> {
    txs: &'a [T],
    base: &'a S,
    mv: MvMemory<T::Key, T::Value>,
    sched: Scheduler,
    outputs: Vec<Slot<T>>,
    executions: AtomicU64,
    reexecutions: AtomicU64,
    suspensions: AtomicU64,
    validations: AtomicU64,
    aborts: AtomicU64,
    fault: FaultInjection,
    failed: AtomicBool,
}

impl<T: Task, S: StateView<T::Key, T::Value>> Run<'_, T, S> {
    fn worker(&self) {
        let mut task: Option<Work> = None;
        while !self.sched.done() {
            task = match task {
                Some(Work::Execution(v)) => self.try_execute(v.0, v.1),
                Some(Work::Validation(v)) => self.validate(v.0, v.1),
                None => self.sched.next_task(),
            };
        }
    }

    fn try_execute(&self, txn: TxnIdx, inc: Incarnation) -> Option<Work> {
        loop {
            let n = self.executions.fetch_add(1, Ordering::Relaxed) + 1;
            if inc > 0 {
                self.reexecutions.fetch_add(1, Ordering::Relaxed);
            }
            if self.fault.fail_after_executions.is_some_and(|f| n > f) {
                self.failed.store(true, Ordering::Release);
                self.sched.halt();
                return None;
            }
            match self.execute_once(txn) {
                Ok((reads, out)) => {
                    let wrote_new = self.mv.record(txn, inc, reads, &out.writes);
                    *lock(&self.outputs[txn]) = Some(out);
                    return self.sched.finish_execution(txn, inc, wrote_new);
                }
                Err(Suspend(blocking)) => {
                    if self.sched.add_dependency(txn, blocking) {
                        self.suspensions.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                    // The blocking transaction finished meanwhile: run again now.
                }
            }
        }
    }

    /// One execution of `txn`: the task, then the delta checks at its
    /// position, settled into the writes that apply.
    #[allow(clippy::type_complexity, reason = "a read set and an output")]
    fn execute_once(
        &self,
        txn: TxnIdx,
    ) -> Result<(Vec<ReadDesc<T::Key, T::Value>>, TxOutput<T::Key, T::Value>), Suspend> {
        let mut view = MvView { mv: &self.mv, base: self.base, txn, reads: Vec::new() };
        let mut out = self.txs[txn].execute(&mut view)?;
        let mut reads = view.reads;
        out.writes = normalize(&out.writes);
        out.failure_writes = normalize(&out.failure_writes);
        // The value before this transaction of every counter it adds to.
        let mut before: Vec<(T::Key, Option<T::Value>)> = Vec::new();
        for (k, w) in out.writes.iter().chain(&out.failure_writes) {
            if matches!(w, WriteOp::Delta(_)) && !before.iter().any(|(b, _)| b == k) {
                let v = match self.mv.read(k, txn, self.base) {
                    Read::Dependency(j) => return Err(Suspend(j)),
                    Read::Versioned(_, v) | Read::Resolved(v) => v,
                };
                before.push((k.clone(), v));
            }
        }
        let settled = settle(&out, |k, d| {
            let v = before.iter().find(|(b, _)| b == k).and_then(|(_, v)| v.as_ref());
            let ok = apply_delta(v, d).is_some();
            reads.push(ReadDesc::DeltaOutcome(k.clone(), d, ok));
            ok
        });
        Ok((reads, settled))
    }

    fn validate(&self, txn: TxnIdx, inc: Incarnation) -> Option<Work> {
        self.validations.fetch_add(1, Ordering::Relaxed);
        let valid = self.mv.validate_read_set(txn, self.base);
        let aborted = !valid && self.sched.try_validation_abort(txn, inc);
        if aborted {
            self.aborts.fetch_add(1, Ordering::Relaxed);
            self.mv.convert_writes_to_estimates(txn);
        }
        self.sched.finish_validation(txn, aborted)
    }
}

/// Block-STM on `threads` threads. The outer `Err` is an internal failure
/// (the caller falls back to sequential execution).
pub(crate) fn execute<T, S>(
    txs: &[T],
    base: &S,
    threads: usize,
    mode: Mode,
    block_gas_limit: u64,
    fault: FaultInjection,
) -> Result<Outcome<T>, Internal>
where
    T: Task,
    S: StateView<T::Key, T::Value>,
{
    let n = txs.len();
    let run = Run {
        txs,
        base,
        mv: MvMemory::new(n),
        sched: Scheduler::new(n),
        outputs: (0..n).map(|_| Mutex::new(None)).collect(),
        executions: AtomicU64::new(0),
        reexecutions: AtomicU64::new(0),
        suspensions: AtomicU64::new(0),
        validations: AtomicU64::new(0),
        aborts: AtomicU64::new(0),
        fault,
        failed: AtomicBool::new(false),
    };
    for (i, tx) in txs.iter().enumerate() {
        let hints = tx.write_hints();
        if !hints.is_empty() {
            run.mv.seed_estimates(i, hints);
        }
    }
    std::thread::scope(|s| {
        for _ in 1..threads.min(n) {
            s.spawn(|| run.worker());
        }
        run.worker();
    });
    if run.failed.load(Ordering::Acquire) {
        return Err(Internal::Injected(run.executions.load(Ordering::Relaxed)));
    }
    // The final pass in block order: the same admission rules as sequential.
    let mut per_tx = Vec::with_capacity(n);
    let mut admission = Admission::new(mode, block_gas_limit);
    let mut end = n;
    for (i, (tx, slot)) in txs.iter().zip(&run.outputs).enumerate() {
        let out = lock(slot).take().ok_or(Internal::MissingOutput(i))?;
        match admission.step(i, &out, tx.gas_limit()) {
            Err(invalid) => return Ok(Err(invalid)),
            Ok(Admit::End) => {
                end = i;
                break;
            }
            Ok(Admit::Skip | Admit::Include) => per_tx.push(out),
        }
    }
    // Final values: every key an included transaction wrote, read just
    // after the last transaction in the block.
    let mut keys: Vec<T::Key> = admission.included.iter().flat_map(|&i| run.mv.written_keys(i)).collect();
    keys.sort();
    keys.dedup();
    let mut writes = Vec::with_capacity(keys.len());
    for k in keys {
        let v = match run.mv.read(&k, end, base) {
            Read::Dependency(j) => return Err(Internal::Unfinished(j)),
            Read::Versioned(_, v) | Read::Resolved(v) => v,
        };
        writes.push((k, v));
    }
    let stats = ExecStats {
        executions: run.executions.load(Ordering::Relaxed),
        reexecutions: run.reexecutions.load(Ordering::Relaxed),
        suspensions: run.suspensions.load(Ordering::Relaxed),
        validations: run.validations.load(Ordering::Relaxed),
        aborts: run.aborts.load(Ordering::Relaxed),
        fell_back: false,
    };
    Ok(Ok(BlockOutput { per_tx, included: admission.included, writes, gas_used: admission.used, stats }))
}
