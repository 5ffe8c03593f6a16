//! The collaborative scheduler (Block-STM, Algorithms 4 and 5).
//!
//! Two counters hand out work in index order: `execution_idx` (next
//! transaction to execute) and `validation_idx` (next to validate); the lower
//! of the two is served first. Aborts and re-executions move them back
//! (`decrease_*`, counted by `decrease_cnt`). `num_active_tasks` counts tasks
//! handed out and not finished. The block is done when both counters are past
//! the end, nothing is active, and no decrease happened meanwhile.
//!
//! One departure from the paper's pseudo-code: there, `finish_validation`
//! decrements `num_active_tasks` after a failed `try_incarnate`, which
//! already decremented it. Here incarnating has no side effect on the count;
//! callers account for it once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::mvmemory::{Incarnation, TxnIdx, Version, lock};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    ReadyToExecute,
    Executing,
    Executed,
    Aborting,
}

/// Work for a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    Execution(Version),
    Validation(Version),
}

pub(crate) struct Scheduler {
    n: usize,
    execution_idx: AtomicUsize,
    validation_idx: AtomicUsize,
    decrease_cnt: AtomicUsize,
    num_active_tasks: AtomicUsize,
    done_marker: AtomicBool,
    /// Transactions suspended on each transaction.
    dependencies: Vec<Mutex<Vec<TxnIdx>>>,
    status: Vec<Mutex<(Incarnation, Status)>>,
}

impl Scheduler {
    pub(crate) fn new(n: usize) -> Self {
        Scheduler {
            n,
            execution_idx: AtomicUsize::new(0),
            validation_idx: AtomicUsize::new(0),
            decrease_cnt: AtomicUsize::new(0),
            num_active_tasks: AtomicUsize::new(0),
            done_marker: AtomicBool::new(false),
            dependencies: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            status: (0..n).map(|_| Mutex::new((0, Status::ReadyToExecute))).collect(),
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.done_marker.load(Ordering::Acquire)
    }

    /// Ends the run early (internal error).
    pub(crate) fn halt(&self) {
        self.done_marker.store(true, Ordering::Release);
    }

    fn decrease_execution_idx(&self, target: TxnIdx) {
        self.execution_idx.fetch_min(target, Ordering::SeqCst);
        self.decrease_cnt.fetch_add(1, Ordering::SeqCst);
    }

    fn decrease_validation_idx(&self, target: TxnIdx) {
        self.validation_idx.fetch_min(target, Ordering::SeqCst);
        self.decrease_cnt.fetch_add(1, Ordering::SeqCst);
    }

    fn check_done(&self) {
        let observed = self.decrease_cnt.load(Ordering::SeqCst);
        let idx = self.execution_idx.load(Ordering::SeqCst).min(self.validation_idx.load(Ordering::SeqCst));
        if idx >= self.n
            && self.num_active_tasks.load(Ordering::SeqCst) == 0
            && observed == self.decrease_cnt.load(Ordering::SeqCst)
        {
            self.done_marker.store(true, Ordering::Release);
        }
    }

    /// Moves `txn` from ReadyToExecute to Executing; its version if it was ready.
    fn incarnate(&self, txn: TxnIdx) -> Option<Version> {
        if txn >= self.n {
            return None;
        }
        let mut s = lock(&self.status[txn]);
        if s.1 == Status::ReadyToExecute {
            s.1 = Status::Executing;
            return Some((txn, s.0));
        }
        None
    }

    fn next_version_to_execute(&self) -> Option<Version> {
        if self.execution_idx.load(Ordering::SeqCst) >= self.n {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
        let idx = self.execution_idx.fetch_add(1, Ordering::SeqCst);
        let v = self.incarnate(idx);
        if v.is_none() {
            self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        }
        v
    }

    fn next_version_to_validate(&self) -> Option<Version> {
        if self.validation_idx.load(Ordering::SeqCst) >= self.n {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
        let idx = self.validation_idx.fetch_add(1, Ordering::SeqCst);
        if idx < self.n {
            let s = lock(&self.status[idx]);
            if s.1 == Status::Executed {
                return Some((idx, s.0));
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }

    /// The next task, validation first when it is behind.
    pub(crate) fn next_task(&self) -> Option<Task> {
        if self.validation_idx.load(Ordering::SeqCst) < self.execution_idx.load(Ordering::SeqCst) {
            self.next_version_to_validate().map(Task::Validation)
        } else {
            self.next_version_to_execute().map(Task::Execution)
        }
    }

    /// Suspends `txn` on `blocking` (it met an ESTIMATE of `blocking`).
    /// False if `blocking` has executed meanwhile: then re-run `txn` at once.
    pub(crate) fn add_dependency(&self, txn: TxnIdx, blocking: TxnIdx) -> bool {
        {
            let mut deps = lock(&self.dependencies[blocking]);
            if lock(&self.status[blocking]).1 == Status::Executed {
                return false;
            }
            lock(&self.status[txn]).1 = Status::Aborting;
            deps.push(txn);
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        true
    }

    fn set_ready_status(&self, txn: TxnIdx) {
        let mut s = lock(&self.status[txn]);
        *s = (s.0 + 1, Status::ReadyToExecute);
    }

    fn resume_dependencies(&self, deps: Vec<TxnIdx>) {
        let Some(&min) = deps.iter().min() else { return };
        for d in deps {
            self.set_ready_status(d);
        }
        self.decrease_execution_idx(min);
    }

    /// After an execution; may hand back the validation of the same version.
    pub(crate) fn finish_execution(&self, txn: TxnIdx, inc: Incarnation, wrote_new: bool) -> Option<Task> {
        lock(&self.status[txn]).1 = Status::Executed;
        let deps = std::mem::take(&mut *lock(&self.dependencies[txn]));
        self.resume_dependencies(deps);
        if self.validation_idx.load(Ordering::SeqCst) > txn {
            if wrote_new {
                self.decrease_validation_idx(txn);
            } else {
                return Some(Task::Validation((txn, inc)));
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }

    /// Aborts `(txn, inc)` if it is still the executed version; true if this
    /// call aborted it.
    pub(crate) fn try_validation_abort(&self, txn: TxnIdx, inc: Incarnation) -> bool {
        let mut s = lock(&self.status[txn]);
        if *s == (inc, Status::Executed) {
            s.1 = Status::Aborting;
            true
        } else {
            false
        }
    }

    /// After a validation; may hand back the re-execution of an aborted one.
    pub(crate) fn finish_validation(&self, txn: TxnIdx, aborted: bool) -> Option<Task> {
        if aborted {
            self.set_ready_status(txn);
            self.decrease_validation_idx(txn + 1);
            if self.execution_idx.load(Ordering::SeqCst) > txn
                && let Some(v) = self.incarnate(txn)
            {
                return Some(Task::Execution(v));
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }
}
