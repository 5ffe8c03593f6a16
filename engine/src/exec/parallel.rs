//! The Block-STM run: worker threads over the scheduler and the
//! multi-version memory (Algorithm 1), then the in-order final pass.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::mvmemory::{Incarnation, MvMemory, RangeRead, Read, ReadDesc, TxnIdx, lock};
use super::scheduler::{Scheduler, Task as Work};
use super::{
    Admission, Admit, BlockOutput, ExecStats, FaultInjection, Mode, StateView, Suspend, Task, TxOutput, TxView,
    WriteOp, apply_delta, normalize, settle,
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

    fn range(&mut self, start: &K, end: &K, limit: usize) -> Result<Vec<(K, V)>, Suspend> {
        let (entries, seen) = self.mv.range(start, end, limit, self.txn, self.base).map_err(Suspend)?;
        self.reads.push(ReadDesc::Range(Box::new(RangeRead { start: start.clone(), end: end.clone(), limit, seen })));
        Ok(entries)
    }
}

type Output<T> = TxOutput<<T as Task>::Key, <T as Task>::Value, <T as Task>::Output>;
type Slot<T> = Mutex<Option<Output<T>>>;
type Outcome<T> = super::BlockResult<T>;

struct Run<'a, T: Task, S> {
    txs: &'a [T],
    hints: &'a [Vec<T::Key>],
    base: &'a S,
    mv: MvMemory<T::Key, T::Value>,
    sched: Scheduler,
    outputs: Vec<Slot<T>>,
    /// Whether a transaction's write hints were entered.
    seeded: Vec<AtomicBool>,
    /// Executions so far, counted only under fault injection.
    injected_executions: AtomicU64,
    fault: FaultInjection,
    failed: AtomicBool,
}

impl<T: Task, S: StateView<T::Key, T::Value>> Run<'_, T, S> {
    /// A worker thread: tasks until the block is done. Counts its own
    /// statistics (shared counters would be contended cache lines).
    fn worker(&self) -> ExecStats {
        let mut stats = ExecStats::default();
        let mut task: Option<Work> = None;
        while !self.sched.done() {
            task = match task {
                Some(Work::Execution(v)) => self.try_execute(v.0, v.1, &mut stats),
                Some(Work::Validation(v)) => self.validate(v.0, v.1, &mut stats),
                None => {
                    let t = self.sched.next_task();
                    if t.is_none() {
                        std::hint::spin_loop();
                    }
                    t
                }
            };
        }
        stats
    }

    fn try_execute(&self, txn: TxnIdx, inc: Incarnation, stats: &mut ExecStats) -> Option<Work> {
        loop {
            stats.executions += 1;
            if inc > 0 {
                stats.reexecutions += 1;
            }
            if let Some(f) = self.fault.fail_after_executions
                && self.injected_executions.fetch_add(1, Ordering::Relaxed) + 1 > f
            {
                self.failed.store(true, Ordering::Release);
                self.sched.halt();
                return None;
            }
            if inc == 0 && !self.seeded[txn].swap(true, Ordering::Relaxed) {
                // The write hints become ESTIMATEs when the transaction is
                // first handed out: transactions above it, handed out after
                // it, wait for its writes instead of reading stale values.
                if !self.hints[txn].is_empty() {
                    self.mv.seed_estimates(txn, self.hints[txn].clone());
                }
            }
            match self.execute_once(txn) {
                Ok((reads, out)) => {
                    let wrote_new = self.mv.record(txn, inc, reads, &out.writes);
                    *lock(&self.outputs[txn]) = Some(out);
                    return self.sched.finish_execution(txn, inc, wrote_new);
                }
                Err(Suspend(blocking)) => {
                    if self.sched.add_dependency(txn, blocking) {
                        stats.suspensions += 1;
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
    fn execute_once(&self, txn: TxnIdx) -> Result<(Vec<ReadDesc<T::Key, T::Value>>, Output<T>), Suspend> {
        let mut view = MvView { mv: &self.mv, base: self.base, txn, reads: Vec::new() };
        let mut out = self.txs[txn].execute(&mut view)?;
        let mut reads = view.reads;
        out.writes = normalize(&out.writes);
        out.failure_writes = normalize(&out.failure_writes);
        // The value before this transaction of every counter it adds to,
        // unless the outcome is certain whatever that value is.
        let mut before: Vec<(T::Key, Option<T::Value>)> = Vec::new();
        for (k, w) in out.writes.iter().chain(&out.failure_writes) {
            if let WriteOp::Delta(d) = w
                && !before.iter().any(|(b, _)| b == k)
                && !self.mv.delta_certain(k, *d, self.base)
            {
                let v = match self.mv.read(k, txn, self.base) {
                    Read::Dependency(j) => return Err(Suspend(j)),
                    Read::Versioned(_, v) | Read::Resolved(v) => v,
                };
                before.push((k.clone(), v));
            }
        }
        let settled = settle(out, |k, d| {
            // Not read: certain (checked above).
            let ok = before.iter().find(|(b, _)| b == k).is_none_or(|(_, v)| apply_delta(v.as_ref(), d).is_some());
            reads.push(ReadDesc::DeltaOutcome(k.clone(), d, ok));
            ok
        });
        Ok((reads, settled))
    }

    fn validate(&self, txn: TxnIdx, inc: Incarnation, stats: &mut ExecStats) -> Option<Work> {
        stats.validations += 1;
        let valid = self.mv.validate_read_set(txn, self.base);
        let aborted = !valid && self.sched.try_validation_abort(txn, inc);
        if aborted {
            stats.aborts += 1;
            self.mv.convert_writes_to_estimates(txn);
        }
        self.sched.finish_validation(txn, aborted)
    }
}

/// Block-STM on `threads` threads. The outer `Err` is an internal failure
/// (the caller falls back to sequential execution).
pub(crate) fn execute<T, S>(
    txs: &[T],
    hints: &[Vec<T::Key>],
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
    let threads = threads.clamp(1, n.max(1));
    let run = Run {
        txs,
        hints,
        base,
        mv: MvMemory::new(n),
        sched: Scheduler::new(n),
        outputs: (0..n).map(|_| Mutex::new(None)).collect(),
        seeded: (0..n).map(|_| AtomicBool::new(false)).collect(),
        injected_executions: AtomicU64::new(0),
        fault,
        failed: AtomicBool::new(false),
    };
    let mut stats = ExecStats::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(|| run.worker())).collect();
        let mut all = vec![run.worker()];
        // A worker panic is the task's (the VM's) and propagates.
        all.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
        for w in all {
            stats.executions += w.executions;
            stats.reexecutions += w.reexecutions;
            stats.suspensions += w.suspensions;
            stats.validations += w.validations;
            stats.aborts += w.aborts;
        }
    });
    if run.failed.load(Ordering::Acquire) {
        return Err(Internal::Injected(run.injected_executions.load(Ordering::Relaxed)));
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
    // Final values: every key written below the end (only included
    // transactions below it have writes), read at the end. The shards are
    // read, sorted and freed on all threads, then merged.
    let parts: Vec<Result<Vec<_>, TxnIdx>> = std::thread::scope(|s| {
        let mv = &run.mv;
        let handles: Vec<_> = (1..threads).map(|p| s.spawn(move || mv.drain_final(end, base, p, threads))).collect();
        let mut parts = vec![mv.drain_final(end, base, 0, threads)];
        parts.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
        parts
    });
    let mut sorted = Vec::with_capacity(parts.len());
    for p in parts {
        sorted.push(p.map_err(Internal::Unfinished)?);
    }
    let writes = merge_sorted(sorted);
    Ok(Ok(BlockOutput { per_tx, included: admission.included, writes, gas_used: admission.used, stats }))
}

/// Merges lists sorted by key (keys are unique across lists), pairwise.
fn merge_sorted<K: Ord, V>(mut lists: Vec<Vec<(K, V)>>) -> Vec<(K, V)> {
    while lists.len() > 1 {
        let mut next = Vec::with_capacity(lists.len().div_ceil(2));
        let mut it = lists.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => merge_two(a, b),
                None => a,
            });
        }
        lists = next;
    }
    lists.pop().unwrap_or_default()
}

fn merge_two<K: Ord, V>(a: Vec<(K, V)>, b: Vec<(K, V)>) -> Vec<(K, V)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.0 <= y.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
}
