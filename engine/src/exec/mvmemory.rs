//! Multi-version memory (Block-STM, section 3 and Algorithm 2).
//!
//! For each key, a map from transaction index to the entry that transaction
//! wrote in its latest incarnation: a write op tagged with the incarnation,
//! or an ESTIMATE left by an aborted incarnation. Keys are sharded over
//! read-write locks; each key's versions have their own read-write lock,
//! held only for a lookup or an update, so reads of a hot key (a fee pool)
//! run side by side. Counter reads sum deltas through per-key bucket sums
//! ([`KeyVersions`]), so a counter every transaction adds to stays cheap.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};

use hashbrown::{DefaultHashBuilder, HashTable};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{Key, StateView, Value, Visit, WriteOp, apply_delta, merge_range};

pub(crate) type TxnIdx = usize;
pub(crate) type Incarnation = u32;
pub(crate) type Version = (TxnIdx, Incarnation);

const SHARD_BITS: u32 = 7;
const SHARDS: usize = 1 << SHARD_BITS;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only follows a panic, which ends the run anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read_lock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Debug)]
enum Entry<V> {
    Written(Incarnation, WriteOp<V>),
    Estimate,
}

impl<V> Entry<V> {
    fn delta(&self) -> Option<i128> {
        match self {
            Entry::Written(_, WriteOp::Delta(d)) => Some(*d),
            _ => None,
        }
    }
}

/// Delta entries below which reads scan instead of using bucket sums.
const SCAN_DELTAS: usize = 8;
/// Transaction indices per bucket of delta sums.
const BUCKET: usize = 16;

/// The versions of one key.
///
/// Reading a counter at `txn` needs the sum of every delta between the
/// nearest non-delta entry below `txn` and `txn`. With every transaction
/// adding to one counter (a fee pool) a scan would make the block
/// quadratic; once a key has more than [`SCAN_DELTAS`] deltas, a Fenwick
/// tree over buckets of [`BUCKET`] indices keeps their sums, so a read costs
/// a logarithm plus two partial buckets.
#[derive(Debug)]
struct KeyVersions<V> {
    entries: Entries<V>,
    deltas: usize,
    /// Entries that are not deltas (writes, ESTIMATEs).
    plain: usize,
    /// Sums of the positive and of the negative deltas among the entries.
    up: Wide,
    down: Wide,
    hot: Option<Box<Hot>>,
}

/// The sums of a counter with many deltas.
#[derive(Debug)]
struct Hot {
    /// Indices of the entries that are not deltas (writes, ESTIMATEs).
    barriers: BTreeSet<TxnIdx>,
    sums: Fenwick,
}

impl<V: Value> KeyVersions<V> {
    fn new() -> Self {
        KeyVersions { entries: Entries::Empty, deltas: 0, plain: 0, up: Wide::ZERO, down: Wide::ZERO, hot: None }
    }

    /// Puts (`Some`) or removes (`None`) the entry of `txn`; `n` is the
    /// block's size (for the bucket sums).
    fn set(&mut self, txn: TxnIdx, entry: Option<Entry<V>>, n: usize) {
        let new_delta = entry.as_ref().and_then(Entry::delta);
        let barrier = entry.as_ref().is_some_and(|e| e.delta().is_none());
        let old = match entry {
            Some(e) => self.entries.insert(txn, e),
            None => self.entries.remove(txn),
        };
        let old_delta = old.as_ref().and_then(Entry::delta);
        self.deltas = self.deltas + usize::from(new_delta.is_some()) - usize::from(old_delta.is_some());
        let old_plain = old.as_ref().is_some_and(|e| e.delta().is_none());
        self.plain = self.plain + usize::from(barrier) - usize::from(old_plain);
        for (d, sign) in [(old_delta, true), (new_delta, false)] {
            if let Some(d) = d {
                let w = if sign { Wide::from(d).neg() } else { Wide::from(d) };
                if d >= 0 {
                    self.up = self.up.add(w);
                } else {
                    self.down = self.down.add(w);
                }
            }
        }
        if let Some(h) = &mut self.hot {
            if let Some(d) = old_delta {
                h.sums.add(txn / BUCKET, d, true);
            }
            if let Some(d) = new_delta {
                h.sums.add(txn / BUCKET, d, false);
            }
            if barrier {
                h.barriers.insert(txn);
            } else {
                h.barriers.remove(&txn);
            }
        } else if self.deltas > SCAN_DELTAS {
            let mut h = Hot { barriers: BTreeSet::new(), sums: Fenwick::new(n.div_ceil(BUCKET).max(1)) };
            for (j, e) in self.entries.range(0..usize::MAX) {
                match e.delta() {
                    Some(d) => h.sums.add(j / BUCKET, d, false),
                    None => {
                        h.barriers.insert(j);
                    }
                }
            }
            self.hot = Some(Box::new(h));
        }
    }

    /// Sum and count of the deltas at indices in `0..i` (`sums` present).
    fn prefix(&self, f: &Fenwick, i: TxnIdx) -> (Wide, u64) {
        let (mut sum, mut count) = f.prefix(i / BUCKET);
        for e in self.entries.range(i - i % BUCKET..i).filter_map(|(_, e)| e.delta()) {
            sum = sum.add(Wide::from(e));
            count += 1;
        }
        (sum, count)
    }

    fn read<K, S: StateView<K, V>>(&self, k: &K, txn: TxnIdx, base: &S) -> Read<V> {
        let Some(h) = &self.hot else { return self.read_by_scan(k, txn, base) };
        let f = &h.sums;
        let barrier = h.barriers.range(..txn).next_back().copied();
        let (version, below) = match barrier.map(|j| (j, self.entries.get(j))) {
            None => (None, base.get(k)),
            // Barriers mirror the entries; were they ever out of step, the
            // scan is the slow but plain answer.
            Some((_, None)) => return self.read_by_scan(k, txn, base),
            Some((j, Some(Entry::Estimate))) => return Read::Dependency(j),
            Some((j, Some(Entry::Written(inc, WriteOp::Put(v))))) => (Some((j, *inc)), Some(v.clone())),
            Some((j, Some(Entry::Written(inc, _)))) => (Some((j, *inc)), None),
        };
        let (hi, n_hi) = self.prefix(f, txn);
        let (lo, n_lo) = match barrier {
            Some(j) => self.prefix(f, j + 1),
            None => (Wide::ZERO, 0),
        };
        if n_hi == n_lo {
            return Read::Versioned(version, below);
        }
        let sum = hi.add(lo.neg());
        Read::Resolved(
            below.as_ref().map_or(Some(0), Value::as_counter).and_then(|c| sum.apply(c)).map(V::from_counter),
        )
    }

    /// Whether adding `d` at any position is certainly in bounds: nothing
    /// but deltas on this key, and even all the positive (or all the
    /// negative) ones together with `d` keep the base value in bounds. Then
    /// the outcome needs no read of the counter.
    fn delta_certain(&self, base: Option<V>, d: i128) -> bool {
        if self.plain > 0 {
            return false;
        }
        let Some(c) = base.as_ref().map_or(Some(0), Value::as_counter) else { return false };
        let all = if d >= 0 { self.up } else { self.down };
        all.add(Wide::from(d)).apply(c).is_some()
    }

    fn read_by_scan<K, S: StateView<K, V>>(&self, k: &K, txn: TxnIdx, base: &S) -> Read<V> {
        let mut deltas: Vec<i128> = Vec::new();
        for (j, e) in self.entries.range(0..txn).rev() {
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
                    return Read::Resolved(resolve(found, &deltas));
                }
            }
        }
        if deltas.is_empty() {
            Read::Versioned(None, base.get(k))
        } else {
            Read::Resolved(resolve(base.get(k), &deltas))
        }
    }
}

/// Entries up to this many are a sorted vector, more a B-tree.
const SMALL_ENTRIES: usize = 32;

/// A key's entries by transaction index: most keys have one (kept inline,
/// no allocation) or a few (a small sorted vector); hot keys move to a
/// B-tree.
#[derive(Debug)]
enum Entries<V> {
    Empty,
    One([(TxnIdx, Entry<V>); 1]),
    Small(Vec<(TxnIdx, Entry<V>)>),
    Large(BTreeMap<TxnIdx, Entry<V>>),
}

impl<V> Entries<V> {
    fn insert(&mut self, txn: TxnIdx, e: Entry<V>) -> Option<Entry<V>> {
        let (now, old) = match std::mem::replace(self, Entries::Empty) {
            Entries::Empty => (Entries::One([(txn, e)]), None),
            Entries::One([(j, old)]) if j == txn => (Entries::One([(j, e)]), Some(old)),
            Entries::One([first]) => {
                let mut v = Vec::with_capacity(4);
                if first.0 < txn {
                    v.extend([first, (txn, e)]);
                } else {
                    v.extend([(txn, e), first]);
                }
                (Entries::Small(v), None)
            }
            Entries::Small(mut v) => match v.binary_search_by_key(&txn, |(j, _)| *j) {
                Ok(i) => {
                    let old = std::mem::replace(&mut v[i].1, e);
                    (Entries::Small(v), Some(old))
                }
                Err(i) if v.len() < SMALL_ENTRIES => {
                    v.insert(i, (txn, e));
                    (Entries::Small(v), None)
                }
                Err(_) => {
                    let mut m: BTreeMap<TxnIdx, Entry<V>> = v.into_iter().collect();
                    m.insert(txn, e);
                    (Entries::Large(m), None)
                }
            },
            Entries::Large(mut m) => {
                let old = m.insert(txn, e);
                (Entries::Large(m), old)
            }
        };
        *self = now;
        old
    }

    fn remove(&mut self, txn: TxnIdx) -> Option<Entry<V>> {
        match self {
            Entries::Empty => None,
            Entries::One([(j, _)]) if *j == txn => match std::mem::replace(self, Entries::Empty) {
                Entries::One([(_, e)]) => Some(e),
                _ => None,
            },
            Entries::One(_) => None,
            Entries::Small(v) => v.binary_search_by_key(&txn, |(j, _)| *j).ok().map(|i| v.remove(i).1),
            Entries::Large(m) => m.remove(&txn),
        }
    }

    fn get(&self, txn: TxnIdx) -> Option<&Entry<V>> {
        match self {
            Entries::Large(m) => m.get(&txn),
            _ => {
                let v = self.as_slice();
                v.binary_search_by_key(&txn, |(j, _)| *j).ok().map(|i| &v[i].1)
            }
        }
    }

    /// The entries of the inline and vector forms.
    fn as_slice(&self) -> &[(TxnIdx, Entry<V>)] {
        match self {
            Entries::One(a) => a,
            Entries::Small(v) => v,
            Entries::Empty | Entries::Large(_) => &[],
        }
    }

    /// The entries with indices in `r`, in order (reversible).
    fn range(&self, r: std::ops::Range<TxnIdx>) -> EntriesIter<'_, V> {
        match self {
            Entries::Large(m) => EntriesIter::Large(m.range(r)),
            _ => {
                let v = self.as_slice();
                let a = v.partition_point(|(j, _)| *j < r.start);
                let b = v.partition_point(|(j, _)| *j < r.end).max(a);
                EntriesIter::Small(v[a..b].iter())
            }
        }
    }
}

enum EntriesIter<'a, V> {
    Small(std::slice::Iter<'a, (TxnIdx, Entry<V>)>),
    Large(std::collections::btree_map::Range<'a, TxnIdx, Entry<V>>),
}

impl<'a, V> Iterator for EntriesIter<'a, V> {
    type Item = (TxnIdx, &'a Entry<V>);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            EntriesIter::Small(i) => i.next().map(|(j, e)| (*j, e)),
            EntriesIter::Large(i) => i.next().map(|(j, e)| (*j, e)),
        }
    }
}

impl<V> DoubleEndedIterator for EntriesIter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            EntriesIter::Small(i) => i.next_back().map(|(j, e)| (*j, e)),
            EntriesIter::Large(i) => i.next_back().map(|(j, e)| (*j, e)),
        }
    }
}

/// A signed 256-bit integer (two's complement, `hi * 2^128 + lo`): sums of
/// any number of `i128` deltas without overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wide {
    hi: i128,
    lo: u128,
}

impl Wide {
    const ZERO: Wide = Wide { hi: 0, lo: 0 };

    fn add(self, o: Wide) -> Wide {
        let (lo, carry) = self.lo.overflowing_add(o.lo);
        Wide { hi: self.hi.wrapping_add(o.hi).wrapping_add(i128::from(carry)), lo }
    }

    fn neg(self) -> Wide {
        Wide { hi: !self.hi, lo: !self.lo }.add(Wide { hi: 0, lo: 1 })
    }

    /// `c + self` if it is in `0..=u128::MAX`.
    fn apply(self, c: u128) -> Option<u128> {
        let r = self.add(Wide { hi: 0, lo: c });
        (r.hi == 0).then_some(r.lo)
    }
}

impl From<i128> for Wide {
    fn from(d: i128) -> Self {
        Wide { hi: if d < 0 { -1 } else { 0 }, lo: d.cast_unsigned() }
    }
}

/// A Fenwick (binary indexed) tree of delta sums and counts per bucket.
#[derive(Debug)]
struct Fenwick {
    tree: Vec<(Wide, u64)>,
}

impl Fenwick {
    fn new(buckets: usize) -> Self {
        Fenwick { tree: vec![(Wide::ZERO, 0); buckets + 1] }
    }

    /// Adds a delta `d` to bucket `b`, or removes one (`remove`).
    fn add(&mut self, b: usize, d: i128, remove: bool) {
        let (d, c) = if remove { (Wide::from(d).neg(), u64::MAX) } else { (Wide::from(d), 1) };
        let mut i = b + 1;
        while i < self.tree.len() {
            self.tree[i].0 = self.tree[i].0.add(d);
            self.tree[i].1 = self.tree[i].1.wrapping_add(c);
            i += i & i.wrapping_neg();
        }
    }

    /// Sum and count of the buckets `0..b`.
    fn prefix(&self, b: usize) -> (Wide, u64) {
        let (mut s, mut c) = (Wide::ZERO, 0u64);
        let mut i = b;
        while i > 0 {
            s = s.add(self.tree[i].0);
            c = c.wrapping_add(self.tree[i].1);
            i &= i - 1;
        }
        (s, c)
    }
}

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

/// What a range read saw of one key it looked at.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Seen<V> {
    /// A plain write of this version, or the base state (`None`).
    Version(Option<Version>),
    /// A value resolved from deltas.
    Value(Option<V>),
}

/// A range read as validation repeats it.
#[derive(Clone, Debug)]
pub(crate) struct RangeRead<K, V> {
    pub(crate) start: K,
    pub(crate) end: K,
    pub(crate) limit: usize,
    /// Every key the scan looked at, in order, with what it saw.
    pub(crate) seen: Vec<(K, Seen<V>)>,
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
    /// The same scan must look at the same keys and see the same of each.
    Range(Box<RangeRead<K, V>>),
}

/// A key and its versions, in a shard's table.
struct Slot<K, V> {
    key: K,
    versions: RwLock<KeyVersions<V>>,
}

pub(crate) struct MvMemory<K, V> {
    n: usize,
    shards: Vec<RwLock<HashTable<Slot<K, V>>>>,
    hasher: DefaultHashBuilder,
    /// Per transaction: keys of its last recorded write set.
    last_written: Vec<Mutex<Vec<K>>>,
    /// Per transaction: read set of its last recorded incarnation.
    last_read: Vec<Mutex<Vec<ReadDesc<K, V>>>>,
    /// The keys that have versions, in order, for range reads: built on the
    /// first range read (`ranged`), then kept up to date as keys appear. A
    /// block without range reads never pays for it.
    ordered: Mutex<BTreeSet<K>>,
    ranged: AtomicBool,
}

impl<K: Key, V: Value> MvMemory<K, V> {
    pub(crate) fn new(n: usize) -> Self {
        MvMemory {
            n,
            // About four keys per transaction (sender, recipient, nonce, a
            // counter): sized up front so tables rarely grow mid-block.
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::with_capacity(4 * n / SHARDS))).collect(),
            hasher: DefaultHashBuilder::default(),
            last_written: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            last_read: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            ordered: Mutex::new(BTreeSet::new()),
            ranged: AtomicBool::new(false),
        }
    }

    /// The key's hash and its shard (hashed once per access).
    fn locate(&self, k: &K) -> (u64, &RwLock<HashTable<Slot<K, V>>>) {
        let h = self.hasher.hash_one(k);
        (h, &self.shards[usize::try_from(h >> (64 - SHARD_BITS)).unwrap_or(0)])
    }

    /// Runs `f` on the versions of `k`, if it has any.
    fn with<R>(&self, k: &K, f: impl FnOnce(&RwLock<KeyVersions<V>>) -> R) -> Option<R> {
        let (h, shard) = self.locate(k);
        read_lock(shard).find(h, |s| s.key == *k).map(|s| f(&s.versions))
    }

    /// Runs `f` on the versions of `k`, created if missing.
    fn with_or_insert<R>(&self, k: &K, f: impl FnOnce(&RwLock<KeyVersions<V>>) -> R) -> R {
        let (h, shard) = self.locate(k);
        {
            let table = read_lock(shard);
            if let Some(s) = table.find(h, |s| s.key == *k) {
                return f(&s.versions);
            }
        }
        let r = {
            let mut table = write_lock(shard);
            let entry = table
                .entry(h, |s| s.key == *k, |s| self.hasher.hash_one(&s.key))
                .or_insert_with(|| Slot { key: k.clone(), versions: RwLock::new(KeyVersions::new()) });
            f(&entry.get().versions)
        };
        // After the shard's lock is released (the index is built under its
        // own lock, reading the shards): either the builder saw this key in
        // its shard, or this load sees the flag it set before reading them.
        if self.ranged.load(Ordering::SeqCst) {
            lock(&self.ordered).insert(k.clone());
        }
        r
    }

    /// The keys with versions in `start..=end`, in order.
    fn keys_in(&self, start: &K, end: &K) -> Vec<K> {
        let mut ordered = lock(&self.ordered);
        if !self.ranged.load(Ordering::SeqCst) {
            self.ranged.store(true, Ordering::SeqCst);
            for shard in &self.shards {
                ordered.extend(read_lock(shard).iter().map(|s| s.key.clone()));
            }
        }
        ordered.range(start..=end).cloned().collect()
    }

    /// The range `start..=end` as `txn` sees it, the first `limit` present
    /// entries, with what it saw of each key it looked at; `Err(j)` if an
    /// ESTIMATE of `j` is in the way.
    #[allow(clippy::type_complexity, reason = "entries and their observations")]
    pub(crate) fn range<S: StateView<K, V>>(
        &self,
        start: &K,
        end: &K,
        limit: usize,
        txn: TxnIdx,
        base: &S,
    ) -> Result<(Vec<(K, V)>, Vec<(K, Seen<V>)>), TxnIdx> {
        let written = if limit == 0 || start > end { Vec::new() } else { self.keys_in(start, end) };
        let mut seen = Vec::new();
        let entries = merge_range(base, start, end, limit, &written, |k, visit| match visit {
            Visit::Base(v) => {
                seen.push((k.clone(), Seen::Version(None)));
                Ok(Some(v))
            }
            Visit::Written => match self.read(k, txn, base) {
                Read::Dependency(j) => Err(j),
                Read::Versioned(ver, v) => {
                    seen.push((k.clone(), Seen::Version(ver)));
                    Ok(v)
                }
                Read::Resolved(v) => {
                    seen.push((k.clone(), Seen::Value(v.clone())));
                    Ok(v)
                }
            },
        })?;
        Ok((entries, seen))
    }

    /// Enters write hints as ESTIMATEs before execution starts.
    pub(crate) fn seed_estimates(&self, txn: TxnIdx, keys: Vec<K>) {
        for k in &keys {
            self.with_or_insert(k, |v| write_lock(v).set(txn, Some(Entry::Estimate), self.n));
        }
        *lock(&self.last_written[txn]) = keys;
    }

    /// The value of `k` as transaction `txn` sees it.
    pub(crate) fn read<S: StateView<K, V>>(&self, k: &K, txn: TxnIdx, base: &S) -> Read<V> {
        self.with(k, |v| read_lock(v).read(k, txn, base)).unwrap_or_else(|| Read::Versioned(None, base.get(k)))
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
            self.with_or_insert(k, |v| write_lock(v).set(txn, Some(Entry::Written(inc, op.clone())), self.n));
        }
        let prev = std::mem::replace(&mut *lock(&self.last_written[txn]), new_keys);
        let now = lock(&self.last_written[txn]);
        let (now_set, prev_set) = (KeySet::new(&now), KeySet::new(&prev));
        for k in prev.iter().filter(|k| !now_set.contains(k)) {
            self.with(k, |v| write_lock(v).set(txn, None, self.n));
        }
        let wrote_new = now.iter().any(|k| !prev_set.contains(k));
        drop(now);
        *lock(&self.last_read[txn]) = reads;
        wrote_new
    }

    /// An aborted incarnation's writes become ESTIMATEs.
    pub(crate) fn convert_writes_to_estimates(&self, txn: TxnIdx) {
        let keys = lock(&self.last_written[txn]).clone();
        for k in &keys {
            self.with(k, |v| write_lock(v).set(txn, Some(Entry::Estimate), self.n));
        }
    }

    /// Whether a delta `d` on `k` stays in bounds at every position in the
    /// block, as far as the entries now show (see
    /// [`KeyVersions::delta_certain`]); `false` means "read and see".
    pub(crate) fn delta_certain<S: StateView<K, V>>(&self, k: &K, d: i128, base: &S) -> bool {
        self.with(k, |v| read_lock(v).delta_certain(base.get(k), d))
            .unwrap_or_else(|| apply_delta(base.get(k).as_ref(), d).is_some())
    }

    /// Whether `txn`'s last read set still holds.
    pub(crate) fn validate_read_set<S: StateView<K, V>>(&self, txn: TxnIdx, base: &S) -> bool {
        let reads = lock(&self.last_read[txn]);
        reads.iter().all(|r| match r {
            ReadDesc::Version(k, ver) => matches!(self.read(k, txn, base), Read::Versioned(now, _) if now == *ver),
            ReadDesc::Value(k, val) => self.read(k, txn, base).value().is_some_and(|now| now == *val),
            ReadDesc::DeltaOutcome(k, d, ok) => {
                (*ok && self.delta_certain(k, *d, base))
                    || self.read(k, txn, base).value().is_some_and(|now| apply_delta(now.as_ref(), *d).is_some() == *ok)
            }
            ReadDesc::Range(r) => {
                self.range(&r.start, &r.end, r.limit, txn, base).is_ok_and(|(_, seen)| seen == r.seen)
            }
        })
    }

    /// Shards `part`, `part + parts`, ...: the value just before `end` of
    /// every key written below `end`, sorted by key. The shards and the read
    /// and write sets of transactions `part`, `part + parts`, ... are freed
    /// here, on the calling thread. `Err(j)` if a value still depends on an
    /// ESTIMATE of `j`.
    pub(crate) fn drain_final<S: StateView<K, V>>(
        &self,
        end: TxnIdx,
        base: &S,
        part: usize,
        parts: usize,
    ) -> Result<Vec<(K, Option<V>)>, TxnIdx> {
        for i in (part..self.n).step_by(parts.max(1)) {
            drop(std::mem::take(&mut *lock(&self.last_read[i])));
            drop(std::mem::take(&mut *lock(&self.last_written[i])));
        }
        let mut out = Vec::new();
        for shard in self.shards.iter().skip(part).step_by(parts.max(1)) {
            let table = std::mem::take(&mut *write_lock(shard));
            for slot in table {
                let versions = slot.versions.into_inner().unwrap_or_else(PoisonError::into_inner);
                if versions.entries.range(0..end).next().is_none() {
                    continue;
                }
                match versions.read(&slot.key, end, base) {
                    Read::Dependency(j) => return Err(j),
                    Read::Versioned(_, v) | Read::Resolved(v) => out.push((slot.key, v)),
                }
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Membership in a write set: a scan for the usual handful of keys, a hash
/// set for large ones.
enum KeySet<'a, K> {
    Small(&'a [K]),
    Large(std::collections::HashSet<&'a K>),
}

impl<'a, K: Key> KeySet<'a, K> {
    fn new(keys: &'a [K]) -> Self {
        if keys.len() <= 16 { KeySet::Small(keys) } else { KeySet::Large(keys.iter().collect()) }
    }

    fn contains(&self, k: &K) -> bool {
        match self {
            KeySet::Small(s) => s.contains(k),
            KeySet::Large(s) => s.contains(k),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn wide_sums_do_not_overflow() {
        let mut w = Wide::ZERO;
        for _ in 0..4 {
            w = w.add(Wide::from(i128::MAX));
        }
        for _ in 0..4 {
            w = w.add(Wide::from(i128::MAX).neg());
        }
        assert_eq!(w, Wide::ZERO);
        assert_eq!(Wide::from(-5).apply(5), Some(0));
        assert_eq!(Wide::from(-6).apply(5), None);
        assert_eq!(Wide::from(1).apply(u128::MAX), None);
        assert_eq!(Wide::from(i128::MAX).add(Wide::from(i128::MAX)).apply(1), Some(u128::MAX));
    }

    /// Random entries on one key: reads through the bucket sums equal reads
    /// by scanning, at every index, as entries come and go. (They may differ
    /// only when a speculative intermediate sum leaves the counter's bounds,
    /// which validation rejects either way; the values here stay far inside.)
    #[test]
    fn bucket_sums_read_like_a_scan() {
        let n = 700;
        let base: HashMap<u8, u128> = HashMap::from([(0, 1_000_000)]);
        let mut hot: KeyVersions<u128> = KeyVersions::new();
        let mut x = 0x1234_5678_u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for step in 0..3000 {
            let txn = usize::try_from(next(n as u64)).unwrap();
            let entry = match next(10) {
                0 => None,
                1 => Some(Entry::Estimate),
                2 => Some(Entry::Written(1, WriteOp::Put(100_000 + u128::from(next(500))))),
                3 => Some(Entry::Written(2, WriteOp::Put(u128::MAX / 2))),
                _ => Some(Entry::Written(0, WriteOp::Delta(i128::from(next(200)) - 60))),
            };
            hot.set(txn, entry, n);
            if step % 97 == 0 {
                assert!(hot.hot.is_some() || hot.deltas <= SCAN_DELTAS);
                for at in (0..=n).step_by(7) {
                    assert_eq!(hot.read(&0, at, &base), hot.read_by_scan(&0, at, &base), "step {step}, at {at}");
                }
            }
        }
        assert!(hot.hot.is_some(), "the test never reached the bucket sums");
        assert!(matches!(hot.entries, Entries::Large(_)));
    }

    #[test]
    fn entries_stay_sorted_through_every_form() {
        let mut e: Entries<u128> = Entries::Empty;
        for i in (0..100).rev() {
            assert!(e.insert(i * 2, Entry::Estimate).is_none());
        }
        assert!(matches!(e, Entries::Large(_)));
        let idx: Vec<usize> = e.range(10..20).map(|(j, _)| j).collect();
        assert_eq!(idx, vec![10, 12, 14, 16, 18]);
        let mut small: Entries<u128> = Entries::Empty;
        small.insert(5, Entry::Estimate);
        assert!(matches!(small, Entries::One(_)));
        small.insert(3, Entry::Written(0, WriteOp::Delete));
        assert!(matches!(small, Entries::Small(_)));
        assert_eq!(small.range(0..10).map(|(j, _)| j).collect::<Vec<_>>(), vec![3, 5]);
        assert!(small.remove(3).is_some() && small.remove(3).is_none());
        assert_eq!(small.range(0..10).rev().map(|(j, _)| j).collect::<Vec<_>>(), vec![5]);
        assert!(small.get(5).is_some() && small.get(4).is_none());
    }
}
