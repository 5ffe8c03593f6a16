//! Multi-version memory (Block-STM, section 3 and Algorithm 2).
//!
//! For each key, a map from transaction index to the entry that transaction
//! wrote in its latest incarnation: a write op tagged with the incarnation,
//! or an ESTIMATE left by an aborted incarnation. Keys are sharded over
//! mutexes; each key's map has its own lock, held only for a lookup.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Key, StateView, Value, WriteOp, apply_delta};

pub(crate) type TxnIdx = usize;
pub(crate) type Incarnation = u32;
pub(crate) type Version = (TxnIdx, Incarnation);

const SHARDS: usize = 128;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only follows a panic, which ends the run anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Debug)]
enum Entry<V> {
    Written(Incarnation, WriteOp<V>),
    Estimate,
}

type Versions<V> = Arc<Mutex<BTreeMap<TxnIdx, Entry<V>>>>;

/// What a read saw.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Read<V> {
    /// A plain write of `version`, or the base state (`None`).
    Versioned(Option<Version>, Option<V>),
    /// A value computed from deltas over a write or the base state.
    Resolved(Option<V>),
    /// An ESTIMATE of this transaction is in the way.
    Dependency(TxnIdx),
}

impl<V: Clone> Read<V> {
    fn value(&self) -> Option<Option<V>> {
        match self {
            Read::Versioned(_, v) | Read::Resolved(v) => Some(v.clone()),
            Read::Dependency(_) => None,
        }
    }
}

/// How a read is validated.
#[derive(Clone, Debug)]
pub(crate) enum ReadDesc<K, V> {
    /// Must see the same version again.
    Version(K, Option<Version>),
    /// Must see the same value again (delta-resolved reads).
    Value(K, Option<V>),
    /// Adding `delta` to the value here must stay in bounds (`ok`) or not.
    DeltaOutcome(K, i128, bool),
}

pub(crate) struct MvMemory<K, V> {
    shards: Vec<Mutex<HashMap<K, Versions<V>>>>,
    hasher: RandomState,
    /// Per transaction: keys of its last recorded write set.
    last_written: Vec<Mutex<Vec<K>>>,
    /// Per transaction: read set of its last recorded incarnation.
    last_read: Vec<Mutex<Vec<ReadDesc<K, V>>>>,
}

impl<K: Key, V: Value> MvMemory<K, V> {
    pub(crate) fn new(n: usize) -> Self {
        MvMemory {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            last_written: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            last_read: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    fn shard(&self, k: &K) -> &Mutex<HashMap<K, Versions<V>>> {
        &self.shards[usize::try_from(self.hasher.hash_one(k) % SHARDS as u64).unwrap_or(0)]
    }

    fn versions(&self, k: &K) -> Option<Versions<V>> {
        lock(self.shard(k)).get(k).cloned()
    }

    fn versions_or_insert(&self, k: &K) -> Versions<V> {
        lock(self.shard(k)).entry(k.clone()).or_default().clone()
    }

    /// Enters write hints as ESTIMATEs before execution starts.
    pub(crate) fn seed_estimates(&self, txn: TxnIdx, keys: Vec<K>) {
        for k in &keys {
            lock(&self.versions_or_insert(k)).insert(txn, Entry::Estimate);
        }
        *lock(&self.last_written[txn]) = keys;
    }

    /// The value of `k` as transaction `txn` sees it.
    pub(crate) fn read<S: StateView<K, V>>(&self, k: &K, txn: TxnIdx, base: &S) -> Read<V> {
        let Some(versions) = self.versions(k) else { return Read::Versioned(None, base.get(k)) };
        let map = lock(&versions);
        let mut deltas: Vec<i128> = Vec::new();
        for (&j, e) in map.range(..txn).rev() {
            match e {
                Entry::Estimate => return Read::Dependency(j),
                Entry::Written(inc, op) => {
                    let found = match op {
                        WriteOp::Put(v) => Some(v.clone()),
                        WriteOp::Delete => None,
                        WriteOp::Delta(d) => {
                            deltas.push(*d);
                            continue;
                        }
                    };
                    if deltas.is_empty() {
                        return Read::Versioned(Some((j, *inc)), found);
                    }
                    drop(map);
                    return Read::Resolved(resolve(found, &deltas));
                }
            }
        }
        drop(map);
        if deltas.is_empty() {
            Read::Versioned(None, base.get(k))
        } else {
            Read::Resolved(resolve(base.get(k), &deltas))
        }
    }

    /// Records an incarnation's reads and writes; returns whether it wrote a
    /// key its previous incarnation (or its hints) did not.
    pub(crate) fn record(
        &self,
        txn: TxnIdx,
        inc: Incarnation,
        reads: Vec<ReadDesc<K, V>>,
        writes: &[(K, WriteOp<V>)],
    ) -> bool {
        let new_keys: Vec<K> = writes.iter().map(|(k, _)| k.clone()).collect();
        for (k, op) in writes {
            lock(&self.versions_or_insert(k)).insert(txn, Entry::Written(inc, op.clone()));
        }
        let prev = std::mem::replace(&mut *lock(&self.last_written[txn]), new_keys.clone());
        let now: HashSet<&K> = new_keys.iter().collect();
        for k in prev.iter().filter(|k| !now.contains(k)) {
            if let Some(v) = self.versions(k) {
                lock(&v).remove(&txn);
            }
        }
        let before: HashSet<&K> = prev.iter().collect();
        let wrote_new = new_keys.iter().any(|k| !before.contains(k));
        *lock(&self.last_read[txn]) = reads;
        wrote_new
    }

    /// An aborted incarnation's writes become ESTIMATEs.
    pub(crate) fn convert_writes_to_estimates(&self, txn: TxnIdx) {
        let keys = lock(&self.last_written[txn]).clone();
        for k in &keys {
            if let Some(v) = self.versions(k) {
                lock(&v).insert(txn, Entry::Estimate);
            }
        }
    }

    /// Whether `txn`'s last read set still holds.
    pub(crate) fn validate_read_set<S: StateView<K, V>>(&self, txn: TxnIdx, base: &S) -> bool {
        let reads = lock(&self.last_read[txn]).clone();
        reads.iter().all(|r| match r {
            ReadDesc::Version(k, ver) => matches!(self.read(k, txn, base), Read::Versioned(now, _) if now == *ver),
            ReadDesc::Value(k, val) => self.read(k, txn, base).value().is_some_and(|now| now == *val),
            ReadDesc::DeltaOutcome(k, d, ok) => {
                self.read(k, txn, base).value().is_some_and(|now| apply_delta(now.as_ref(), *d).is_some() == *ok)
            }
        })
    }

    /// The keys `txn` wrote in its last incarnation.
    pub(crate) fn written_keys(&self, txn: TxnIdx) -> Vec<K> {
        lock(&self.last_written[txn]).clone()
    }
}

/// Applies `deltas` (newest first, as collected) to `base`; `None` if a step
/// leaves the counter's bounds (possible only in a speculative state that
/// validation will reject).
fn resolve<V: Value>(base: Option<V>, deltas: &[i128]) -> Option<V> {
    let mut v = base;
    for d in deltas.iter().rev() {
        v = Some(apply_delta(v.as_ref(), *d)?);
    }
    v
}
