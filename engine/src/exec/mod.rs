//! Parallel, conflict-detected transaction execution: Block-STM.
//!
//! # The algorithm
//!
//! Block-STM (Gelashvili et al., "Block-STM: Scaling Blockchain Execution by
//! Turning Ordering Curse to a Performance Blessing", PPoPP 2023) executes
//! the transactions of a block optimistically in parallel and commits a
//! result identical to executing them one by one in block order.
//!
//! - **Multi-version memory** ([`mvmemory`]) keeps, for every key, the value
//!   written by each transaction that wrote it, tagged with the writer's index
//!   and *incarnation* (how many times it has been executed). A transaction
//!   at index `i` reading a key sees the write of the highest index below
//!   `i`, or the base state.
//! - **Execution** of an incarnation records its *read set* (which version
//!   each read saw) and writes its *write set* into the memory.
//! - **Validation** re-reads the read set. If any read would now see a
//!   different version, the incarnation is aborted: its writes become
//!   ESTIMATE markers ("this will probably be written again") and it is
//!   scheduled to execute again with a higher incarnation.
//! - A read that meets an ESTIMATE **suspends** the reader on the writer: it
//!   is parked on the writer's dependency list instead of spinning, and
//!   resumed when the writer finishes executing.
//! - A **collaborative scheduler** ([`scheduler`]) hands out execution and
//!   validation tasks by index from two counters, so lower transactions are
//!   preferred; when a transaction writes a key it had not written before,
//!   every higher transaction must be validated again (the validation counter
//!   goes back). The block is done when both counters have passed the end, no
//!   task is running, and no new task was created in between.
//!
//! On top of the paper:
//!
//! - **Deltas** ([`WriteOp::Delta`]) are commutative additions to counters
//!   (fees collected, total supply). A delta is not a read of the counter:
//!   transactions that only add to it do not conflict. What depends on the
//!   counter's value is whether the addition stays in `0..=u128::MAX`; the
//!   executor checks that at the transaction's position and records only the
//!   outcome, and validation re-checks the outcome, so a hot counter
//!   serializes nothing while an overflow still fails exactly the
//!   transaction it fails sequentially.
//! - **Statuses and gas** follow the chain's rules (see [`execute`]): Invalid
//!   transactions may not be in a block, Failed ones still pay, and the block
//!   gas limit cuts a block (Build) or rejects it (Verify). These are decided
//!   in a final pass in block order over the validated outputs, the same code
//!   for both strategies.
//! - **Write hints**: a transaction may declare the keys it will write; they
//!   are entered as ESTIMATEs before execution starts, so readers wait for the
//!   writer instead of reading stale values and being aborted later.
//!   Correctness never depends on them (a wrong hint only costs a wait).
//! - **Range reads** ([`TxView::range`]): the entries of a key range in key
//!   order, at most `limit` of them (contract storage iteration). A range
//!   read is validated as a range, not key by key: validation runs the same
//!   scan again at the transaction's position (the multi-version memory's
//!   keys in the range merged with the base state's) and compares every key
//!   it looked at with the version or value it saw. A key inserted into the
//!   range below the reader, a deleted one, or a changed one each change
//!   that list, so phantoms abort the reader like any stale read. Writers
//!   of new keys already make every higher transaction validate again.
//! - **Outputs**: a task returns a payload besides its writes ([`Task::Output`]:
//!   return data, events, the failure's kind), kept with its settled output.
//! - An internal error in the parallel path falls back to sequential
//!   execution with a warning; the result is never wrong.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

mod mvmemory;
mod parallel;
mod scheduler;

/// A state key.
pub trait Key: Clone + Eq + Hash + Ord + Send + Sync + Debug {}
impl<T: Clone + Eq + Hash + Ord + Send + Sync + Debug> Key for T {}

/// A state value. Values that are counters expose their number so deltas
/// can apply to them. Law: `from_counter(n).as_counter() == Some(n)` for
/// every `n` (the executor bounds delta outcomes by it).
pub trait Value: Clone + PartialEq + Send + Sync + Debug {
    /// The value as a counter, or `None` if it is not one.
    fn as_counter(&self) -> Option<u128>;
    /// A counter value.
    fn from_counter(n: u128) -> Self;
}

/// The state a block executes on (for the chain, a snapshot of the state
/// tree). Shared by all threads.
pub trait StateView<K, V>: Sync {
    /// The value of `key` before the block, if any.
    fn get(&self, key: &K) -> Option<V>;
    /// The entries with keys in `start..=end` before the block, in key
    /// order, the first `limit` of them.
    fn range(&self, start: &K, end: &K, limit: usize) -> Vec<(K, V)>;
}

impl<K: Key, V: Value> StateView<K, V> for HashMap<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        HashMap::get(self, key).cloned()
    }
    fn range(&self, start: &K, end: &K, limit: usize) -> Vec<(K, V)> {
        let mut v: Vec<(K, V)> =
            self.iter().filter(|(k, _)| *k >= start && *k <= end).map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.truncate(limit);
        v
    }
}

/// Returned by [`TxView::read`] when the value is not known yet; the task
/// must stop and return it (`?`). The executor resumes the transaction later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suspend(pub(crate) usize);

/// What a transaction sees while it executes.
pub trait TxView<K, V> {
    /// The value of `key` at this transaction's position in the block.
    fn read(&mut self, key: &K) -> Result<Option<V>, Suspend>;
    /// The entries with keys in `start..=end` at this transaction's
    /// position, in key order, the first `limit` of them. Validated as a
    /// range: a key that enters or leaves it below this transaction aborts
    /// the reader.
    fn range(&mut self, start: &K, end: &K, limit: usize) -> Result<Vec<(K, V)>, Suspend>;
}

/// A write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp<V> {
    /// Set the value.
    Put(V),
    /// Remove the key.
    Delete,
    /// Add to a counter (missing key = 0); the sum must stay in `0..=u128::MAX`.
    Delta(i128),
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Executed; all its writes apply.
    Success,
    /// Executed but failed (out of gas, revert, VM error, a delta out of
    /// bounds): only its failure writes apply (nonce, gas payment).
    Failed(String),
    /// May not be in a block (bad nonce, cannot pay for gas, ...).
    Invalid(String),
}

/// What a task returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskOutput<K, V, O = ()> {
    /// Success, Failed or Invalid, as the VM decided.
    pub status: TxStatus,
    /// Gas used (at most the transaction's gas limit).
    pub gas_used: u64,
    /// The writes when it succeeds.
    pub writes: Vec<(K, WriteOp<V>)>,
    /// The writes when it fails (bump the nonce, pay `gas_used` x price).
    pub failure_writes: Vec<(K, WriteOp<V>)>,
    /// What else the VM reports (return data, events, the kind of a
    /// failure); kept with the transaction's output whether it succeeds or
    /// fails, the default for an invalid one.
    pub output: O,
}

/// A transaction as the executor sees it: the VM behind a trait.
pub trait Task: Send + Sync {
    /// Keys.
    type Key: Key;
    /// Values.
    type Value: Value;
    /// The VM's report besides the writes (`()` if none).
    type Output: Clone + Default + PartialEq + Send + Debug;
    /// Runs the transaction. Reads go through `view`; a [`Suspend`] from it
    /// must be returned at once.
    #[allow(clippy::type_complexity, reason = "the executor's own output type")]
    fn execute(
        &self,
        view: &mut dyn TxView<Self::Key, Self::Value>,
    ) -> Result<TaskOutput<Self::Key, Self::Value, Self::Output>, Suspend>;
    /// The most gas it may use.
    fn gas_limit(&self) -> u64;
    /// Keys it will probably write (optional; a scheduling hint only).
    fn write_hints(&self) -> Vec<Self::Key> {
        Vec::new()
    }
}

/// Building a block (leave invalid transactions out, stop at the gas limit)
/// or verifying one (any invalid transaction or gas overrun rejects it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Producing a block from candidate transactions.
    Build,
    /// Checking a received block.
    Verify,
}

/// How to execute. Both give identical results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// One transaction after another.
    Sequential,
    /// Block-STM on `threads` threads.
    Parallel {
        /// Worker threads.
        threads: usize,
    },
}

/// One transaction's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutput<K, V, O = ()> {
    /// How it ended (after delta bounds were checked).
    pub status: TxStatus,
    /// Gas used; 0 for an invalid transaction.
    pub gas_used: u64,
    /// The writes that applied: the success writes, the failure writes, or
    /// none (invalid).
    pub writes: Vec<(K, WriteOp<V>)>,
    /// The task's report ([`TaskOutput::output`]); the default when invalid.
    pub output: O,
}

/// Counters of the parallel run (zero for sequential).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Executions started (first incarnations and re-executions).
    pub executions: u64,
    /// Executions that were re-executions after an abort.
    pub reexecutions: u64,
    /// Times a transaction was suspended on an ESTIMATE.
    pub suspensions: u64,
    /// Validations run.
    pub validations: u64,
    /// Validations that aborted an incarnation.
    pub aborts: u64,
    /// True when the parallel path failed internally and the block was
    /// executed sequentially instead.
    pub fell_back: bool,
    /// True when parallel execution was asked for but the write hints showed
    /// one chain of conflicts through most of the block, so it ran
    /// sequentially (see [`execute`]).
    pub hinted_chain: bool,
}

/// A block's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutput<K, V, O = ()> {
    /// One entry per transaction up to the end of the block (Build mode:
    /// up to the gas cut-off; left-out invalid ones have status Invalid).
    pub per_tx: Vec<TxOutput<K, V, O>>,
    /// Indices of the transactions in the block.
    pub included: Vec<usize>,
    /// Final value of every key the block changed (`None`: deleted), sorted.
    pub writes: Vec<(K, Option<V>)>,
    /// Gas used by the included transactions.
    pub gas_used: u64,
    /// How the parallel run went.
    pub stats: ExecStats,
}

/// What executing a block of `T` gives.
pub type BlockResult<T> = Result<BlockOutput<<T as Task>::Key, <T as Task>::Value, <T as Task>::Output>, BlockInvalid>;

/// Why a block is invalid (Verify mode).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transaction {index} makes the block invalid: {reason}")]
pub struct BlockInvalid {
    /// The first offending transaction in block order.
    pub index: usize,
    /// Why.
    pub reason: String,
}

/// Test hook: makes the parallel path fail internally.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultInjection {
    /// Fail after this many executions.
    pub fail_after_executions: Option<u64>,
}

/// Executes `txs` on `base`.
///
/// Rules, identical under every strategy:
/// - a transaction whose VM says Invalid is, in **Verify** mode, the end:
///   the block is invalid at the first such index; in **Build** mode it is
///   left out (no writes, no gas) and the rest executes as if it were absent;
/// - a Failed transaction applies only its failure writes and pays its gas;
/// - a delta that takes a counter out of `0..=u128::MAX` (or lands on a
///   non-counter) fails its transaction; if the failure writes' deltas fail
///   too the transaction is invalid;
/// - **block gas**: going in order over the transactions not left out, the
///   block ends (Build) or is invalid (Verify) before the first whose gas
///   limit exceeds `block_gas_limit` minus the gas used so far.
///
/// With `Strategy::Parallel { threads > 1 }`, a block whose write hints put
/// more than two thirds of its transactions on one key (every transfer to
/// one account) runs sequentially: such a block is one chain of conflicts,
/// and Block-STM would only add its overhead. `stats.hinted_chain` says so.
pub fn execute<T, S>(txs: &[T], base: &S, strategy: Strategy, mode: Mode, block_gas_limit: u64) -> BlockResult<T>
where
    T: Task,
    S: StateView<T::Key, T::Value>,
{
    execute_with(txs, base, strategy, mode, block_gas_limit, FaultInjection::default())
}

/// [`execute`] with fault injection (tests).
#[doc(hidden)]
pub fn execute_with<T, S>(
    txs: &[T],
    base: &S,
    strategy: Strategy,
    mode: Mode,
    block_gas_limit: u64,
    fault: FaultInjection,
) -> BlockResult<T>
where
    T: Task,
    S: StateView<T::Key, T::Value>,
{
    match strategy {
        Strategy::Parallel { threads } if txs.len() > 1 => {
            let hints: Vec<Vec<T::Key>> = txs.iter().map(Task::write_hints).collect();
            if threads > 1 && one_chain(&hints) {
                let mut r = sequential(txs, base, mode, block_gas_limit);
                if let Ok(out) = &mut r {
                    out.stats.hinted_chain = true;
                }
                return r;
            }
            match parallel::execute(txs, &hints, base, threads.max(1), mode, block_gas_limit, fault) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("parallel execution failed internally ({e}); executing the block sequentially");
                    let mut r = sequential(txs, base, mode, block_gas_limit);
                    if let Ok(out) = &mut r {
                        out.stats.fell_back = true;
                    }
                    r
                }
            }
        }
        _ => sequential(txs, base, mode, block_gas_limit),
    }
}

/// Whether the write hints say that more than two thirds of the block write
/// one key: those transactions must run one after another whatever the
/// executor does, so a parallel run could gain at most 1.5x and in practice
/// loses its overhead. Hints only choose the strategy; both give the same
/// result.
fn one_chain<K: Key>(hints: &[Vec<K>]) -> bool {
    let n = hints.len();
    let mut count: hashbrown::HashMap<&K, usize> = hashbrown::HashMap::with_capacity(n);
    let mut most = 0;
    for h in hints {
        for (i, k) in h.iter().enumerate() {
            if !h[..i].contains(k) {
                let c = count.entry(k).or_insert(0);
                *c += 1;
                most = most.max(*c);
            }
        }
    }
    most * 3 > n * 2
}

/// Applies `d` to a counter `before` (missing = 0).
pub(crate) fn apply_delta<V: Value>(before: Option<&V>, d: i128) -> Option<V> {
    let n = match before {
        None => 0,
        Some(v) => v.as_counter()?,
    };
    let r = if d >= 0 { n.checked_add(d.unsigned_abs()) } else { n.checked_sub(d.unsigned_abs()) };
    r.map(V::from_counter)
}

/// One entry per key, the last write winning (a task's write set may name a
/// key more than once; only its last write counts).
pub(crate) fn normalize<K: Key, V>(writes: &[(K, WriteOp<V>)]) -> Vec<(K, WriteOp<V>)>
where
    V: Clone,
{
    let later = |i: usize, k: &K| writes[i + 1..].iter().any(|(l, _)| l == k);
    if writes.len() <= 16 {
        return writes.iter().enumerate().filter(|(i, (k, _))| !later(*i, k)).map(|(_, w)| w.clone()).collect();
    }
    let mut last: HashMap<&K, usize> = HashMap::with_capacity(writes.len());
    for (i, (k, _)) in writes.iter().enumerate() {
        last.insert(k, i);
    }
    writes.iter().enumerate().filter(|(i, (k, _))| last.get(k) == Some(i)).map(|(_, w)| w.clone()).collect()
}

/// The decision for one transaction: final status, gas and writes, given its
/// (normalized) task output and a check of a delta at its position.
pub(crate) fn settle<K: Clone, V: Value, O: Default>(
    out: TaskOutput<K, V, O>,
    mut delta_ok: impl FnMut(&K, i128) -> bool,
) -> TxOutput<K, V, O> {
    let deltas_ok = |writes: &[(K, WriteOp<V>)], f: &mut dyn FnMut(&K, i128) -> bool| {
        writes.iter().all(|(k, w)| match w {
            WriteOp::Delta(d) => f(k, *d),
            _ => true,
        })
    };
    let invalid = |reason: String| TxOutput {
        status: TxStatus::Invalid(reason),
        gas_used: 0,
        writes: Vec::new(),
        output: O::default(),
    };
    match out.status {
        TxStatus::Invalid(r) => invalid(r),
        TxStatus::Success if deltas_ok(&out.writes, &mut delta_ok) => {
            TxOutput { status: TxStatus::Success, gas_used: out.gas_used, writes: out.writes, output: out.output }
        }
        status => {
            if !deltas_ok(&out.failure_writes, &mut delta_ok) {
                return invalid("the failure writes take a counter out of bounds".into());
            }
            let reason = match status {
                TxStatus::Failed(r) => r,
                _ => "a delta takes a counter out of bounds".to_string(),
            };
            TxOutput {
                status: TxStatus::Failed(reason),
                gas_used: out.gas_used,
                writes: out.failure_writes,
                output: out.output,
            }
        }
    }
}

/// What the in-order pass does with a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// In the block.
    Include,
    /// Left out (Build mode, invalid).
    Skip,
    /// The block ends before it (Build mode, gas).
    End,
}

/// The in-order admission of transactions into the block: Invalid and gas
/// rules, shared by both strategies.
pub(crate) struct Admission {
    mode: Mode,
    limit: u64,
    /// Gas used by the included transactions so far.
    pub(crate) used: u64,
    /// Included indices so far.
    pub(crate) included: Vec<usize>,
}

impl Admission {
    pub(crate) fn new(mode: Mode, limit: u64) -> Self {
        Admission { mode, limit, used: 0, included: Vec::new() }
    }

    /// Decides transaction `i` with its settled output and gas limit.
    pub(crate) fn step<K, V, O>(
        &mut self,
        i: usize,
        out: &TxOutput<K, V, O>,
        gas_limit: u64,
    ) -> Result<Admit, BlockInvalid> {
        if let TxStatus::Invalid(reason) = &out.status {
            return match self.mode {
                Mode::Verify => Err(BlockInvalid { index: i, reason: reason.clone() }),
                Mode::Build => Ok(Admit::Skip),
            };
        }
        let remaining = self.limit.saturating_sub(self.used);
        if gas_limit > remaining {
            return match self.mode {
                Mode::Verify => Err(BlockInvalid {
                    index: i,
                    reason: format!("gas limit {gas_limit} exceeds the block's remaining gas {remaining}"),
                }),
                Mode::Build => Ok(Admit::End),
            };
        }
        self.used = self.used.saturating_add(out.gas_used);
        self.included.push(i);
        Ok(Admit::Include)
    }
}

/// A key a range read looks at ([`merge_written`]).
pub enum Visit<V> {
    /// A key written before the reader: what the reader sees of it decides.
    Written,
    /// A key only the base has, with its value.
    Base(V),
}

/// The first `limit` present entries of a range as a reader sees it:
/// `base` (the range's base entries in key order, at least `limit +
/// written.len()` of them when the base has that many: at most
/// `written.len()` of them can be hidden by the writes) merged with
/// `written` (the keys written before the reader in the range, in key
/// order). `visit` says what the reader sees of each key looked at
/// (`None`: absent, e.g. deleted), and may record it or stop with an error.
/// Block-STM's range reads and a VM's own pending writes over them (a
/// contract's storage scan) both merge this way.
pub fn merge_written<K: Ord + Clone, V, E>(
    base: Vec<(K, V)>,
    written: &[K],
    limit: usize,
    mut visit: impl FnMut(&K, Visit<V>) -> Result<Option<V>, E>,
) -> Result<Vec<(K, V)>, E> {
    let mut out = Vec::new();
    let (mut b, mut w) = (base.into_iter().peekable(), written.iter().peekable());
    while out.len() < limit {
        let from_written = match (b.peek(), w.peek()) {
            (None, None) => break,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some((bk, _)), Some(wk)) => *wk <= bk,
        };
        let (k, seen) = if from_written {
            let Some(k) = w.next() else { break };
            if b.peek().is_some_and(|(bk, _)| bk == k) {
                b.next();
            }
            (k.clone(), visit(k, Visit::Written)?)
        } else {
            let Some((k, v)) = b.next() else { break };
            let seen = visit(&k, Visit::Base(v))?;
            (k, seen)
        };
        if let Some(v) = seen {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// [`merge_written`] over `base`'s entries of `start..=end`.
pub(crate) fn merge_range<K: Key, V: Value, S: StateView<K, V>, E>(
    base: &S,
    start: &K,
    end: &K,
    limit: usize,
    written: &[K],
    visit: impl FnMut(&K, Visit<V>) -> Result<Option<V>, E>,
) -> Result<Vec<(K, V)>, E> {
    if limit == 0 || start > end {
        return Ok(Vec::new());
    }
    merge_written(base.range(start, end, limit.saturating_add(written.len())), written, limit, visit)
}

/// One transaction after another over an overlay of the base state.
fn sequential<T, S>(txs: &[T], base: &S, mode: Mode, block_gas_limit: u64) -> BlockResult<T>
where
    T: Task,
    S: StateView<T::Key, T::Value>,
{
    struct Overlay<'a, K, V, S> {
        base: &'a S,
        writes: &'a HashMap<K, Option<V>>,
    }
    impl<K: Key, V: Value, S: StateView<K, V>> TxView<K, V> for Overlay<'_, K, V, S> {
        fn read(&mut self, key: &K) -> Result<Option<V>, Suspend> {
            Ok(match self.writes.get(key) {
                Some(v) => v.clone(),
                None => self.base.get(key),
            })
        }
        fn range(&mut self, start: &K, end: &K, limit: usize) -> Result<Vec<(K, V)>, Suspend> {
            // Range reads are rare (contract iteration): a scan of the
            // block's writes so far.
            let mut written: Vec<K> = self.writes.keys().filter(|k| *k >= start && *k <= end).cloned().collect();
            written.sort();
            merge_range(self.base, start, end, limit, &written, |k, visit| {
                Ok(match visit {
                    Visit::Written => self.writes.get(k).cloned().flatten(),
                    Visit::Base(v) => Some(v),
                })
            })
        }
    }
    fn lookup<K: Key, V: Value, S: StateView<K, V>>(state: &HashMap<K, Option<V>>, base: &S, k: &K) -> Option<V> {
        match state.get(k) {
            Some(v) => v.clone(),
            None => base.get(k),
        }
    }
    let mut state: HashMap<T::Key, Option<T::Value>> = HashMap::new();
    let mut per_tx = Vec::with_capacity(txs.len());
    let mut admission = Admission::new(mode, block_gas_limit);
    for (i, tx) in txs.iter().enumerate() {
        let mut out = tx
            .execute(&mut Overlay { base, writes: &state })
            .map_err(|_| BlockInvalid { index: i, reason: "the task suspended without a parallel executor".into() })?;
        out.writes = normalize(&out.writes);
        out.failure_writes = normalize(&out.failure_writes);
        let settled = settle(out, |k, d| apply_delta(lookup(&state, base, k).as_ref(), d).is_some());
        match admission.step(i, &settled, tx.gas_limit())? {
            Admit::End => break,
            Admit::Skip => per_tx.push(settled),
            Admit::Include => {
                for (k, w) in &settled.writes {
                    let v = match w {
                        WriteOp::Put(v) => Some(v.clone()),
                        WriteOp::Delete => None,
                        WriteOp::Delta(d) => apply_delta(lookup(&state, base, k).as_ref(), *d),
                    };
                    state.insert(k.clone(), v);
                }
                per_tx.push(settled);
            }
        }
    }
    let mut writes: Vec<(T::Key, Option<T::Value>)> = state.into_iter().collect();
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(BlockOutput {
        per_tx,
        included: admission.included,
        writes,
        gas_used: admission.used,
        stats: ExecStats::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Value for u128 {
        fn as_counter(&self) -> Option<u128> {
            Some(*self)
        }
        fn from_counter(n: u128) -> Self {
            n
        }
    }

    #[test]
    fn deltas_stay_in_bounds() {
        assert_eq!(apply_delta::<u128>(None, 5), Some(5));
        assert_eq!(apply_delta::<u128>(Some(&3), -3), Some(0));
        assert_eq!(apply_delta::<u128>(Some(&3), -4), None);
        assert_eq!(apply_delta::<u128>(Some(&u128::MAX), 1), None);
        assert_eq!(apply_delta::<u128>(Some(&(u128::MAX - 1)), i128::MAX), None);
    }
}
