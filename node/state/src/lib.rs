//! # cinder-state
//!
//! The authenticated account state: a Jellyfish Merkle tree (the `jmt`
//! crate) hashed with BLAKE3, keyed by BLAKE3 of the address, valued by the
//! canonical encoding of [`Account`]. Its root goes in every header; it
//! proves an account's presence or absence against that root. Data records
//! that are not accounts (the staking ledger next) share the tree under
//! domain-separated keys ([`data_key`], [`State::apply_all`]).
//!
//! **Ordered records** ([`State::apply_records`], [`State::ordered_range`])
//! are data records whose keys can also be listed in key order (contract
//! storage, which contracts iterate). Their values live in the tree like
//! any record (under [`ordered_key`], so they are proven the same way);
//! beside the tree, an index of (key, version, present) entries lets a
//! scan find the keys of a range at any version, following the version's
//! lineage exactly as value reads do. The index is not authenticated: it
//! only says which tree keys to read.
//!
//! **Versions** are a monotonic commit counter, not the height: every
//! commit gets a version above every existing one, so two competing blocks
//! at one height never share (or overwrite) a node. `jmt` builds version `n`
//! on version `n - 1`; a block whose parent state is not the newest version
//! therefore first gets a *link* version whose root is a copy of its parent's
//! root (children point at the old nodes, nothing is copied below the root),
//! and the value index follows each version's lineage through the links
//! ([`Lineage`]), so a branch never reads another branch's values.
//!
//! Storage is behind [`StateStore`]: [`MemStore`] here, RocksDB in the node's
//! storage crate. [`State::apply`] computes a new root and the batch that
//! commits it without writing anything, so block import can check the root
//! and commit state, block and indexes in one atomic write.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use anyhow::{Context, Result, bail};
use cinder_primitives::{Account, Address, Hash, decode, encode};
use jmt::proof::SparseMerkleProof;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, OwnedValue, SimpleHasher};

/// A state version: the tree's commit counter.
pub use jmt::{KeyHash, Version};
use rayon::prelude::*;

/// BLAKE3 for the tree's nodes, leaves and key hashes.
pub struct Blake3Hasher(blake3::Hasher);

impl SimpleHasher for Blake3Hasher {
    fn new() -> Self {
        Blake3Hasher(blake3::Hasher::new())
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

type Tree<'a, R> = JellyfishMerkleTree<'a, R, Blake3Hasher>;

/// The tree key of an account.
pub fn account_key(address: &Address) -> KeyHash {
    KeyHash::with::<Blake3Hasher>(address.0)
}

/// The tree key of a data record (what is not an account: the staking
/// ledger, later contract storage): BLAKE3 in derive-key mode ("cinder
/// state data v1") over the namespace's length, the namespace and the key.
/// Account keys are plain BLAKE3 of 32 bytes, so the two never collide
/// (short of a BLAKE3 collision).
pub fn data_key(namespace: &str, key: &[u8]) -> KeyHash {
    let mut h = blake3::Hasher::new_derive_key("cinder state data v1");
    h.update(&(namespace.len() as u64).to_le_bytes());
    h.update(namespace.as_bytes());
    h.update(key);
    KeyHash(*h.finalize().as_bytes())
}

/// The tree key of an ordered record ([`State::apply_records`]): a data
/// record in the namespace `"ordered"`.
pub fn ordered_key(key: &[u8]) -> KeyHash {
    data_key("ordered", key)
}

/// The smallest key above `key` in byte order: `key` followed by a zero
/// byte.
pub fn successor(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.extend_from_slice(key);
    k.push(0);
    k
}

/// The root of the empty state.
pub fn empty_root() -> Hash {
    Hash(Tree::<Reader<'static, MemStore>>::EMPTY_ROOT.0)
}

/// The key of the root node at `version`. `jmt` keeps its constructor
/// private; the key is its borsh encoding: the version, a nibble count of 0
/// (as u64) and an empty byte vector.
pub fn root_key(version: Version) -> Result<NodeKey> {
    let mut b = Vec::with_capacity(20);
    b.extend(version.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    borsh::from_slice(&b).context("the root node key does not decode")
}

/// A link: versions from `start` up to the next link descend from `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// First version of the segment (a link version: the parent's root).
    pub start: Version,
    /// The version whose state the segment continues.
    pub base: Version,
}

/// What a commit writes.
#[derive(Clone, Debug, Default)]
pub struct StateBatch {
    /// The version this batch creates.
    pub version: Version,
    /// New tree nodes (including a link root, if any).
    pub nodes: Vec<(NodeKey, Node)>,
    /// New values, `None` for a deleted account.
    pub values: Vec<(Version, KeyHash, Option<OwnedValue>)>,
    /// The link this commit starts, if its parent is not the newest version.
    pub link: Option<Link>,
    /// Nodes the new version no longer uses (for pruning beyond the reorg
    /// depth), with the version that made them stale.
    pub stale: Vec<(Version, NodeKey)>,
    /// Index entries of ordered records at `version`: the key and whether
    /// it is present (`false`: deleted), sorted by key.
    pub ordered: Vec<(Vec<u8>, bool)>,
}

/// Where the tree lives.
pub trait StateStore: Send + Sync {
    /// A node.
    fn node(&self, key: &NodeKey) -> Result<Option<Node>>;
    /// The newest value of `key` with a version in `from..=to`: `Some(None)`
    /// if it was deleted there, `None` if it was not written there.
    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>>;
    /// The link with the greatest start at or below `version`.
    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>>;
    /// The newest version, if any.
    fn latest(&self) -> Result<Option<Version>>;
    /// Writes a batch (atomically).
    fn commit(&self, batch: &StateBatch) -> Result<()>;
    /// The smallest ordered-record key in `from..=to` with an index entry
    /// at any version.
    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>>;
    /// The newest index entry of ordered-record `key` with a version in
    /// `from..=to`: `Some(present)`, or `None` if it has none there.
    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>>;
}

impl<S: StateStore + ?Sized> StateStore for &S {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>> {
        (**self).node(key)
    }
    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>> {
        (**self).value_between(key, from, to)
    }
    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>> {
        (**self).link_at_or_below(version)
    }
    fn latest(&self) -> Result<Option<Version>> {
        (**self).latest()
    }
    fn commit(&self, batch: &StateBatch) -> Result<()> {
        (**self).commit(batch)
    }
    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).ordered_next(from, to)
    }
    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>> {
        (**self).ordered_between(key, from, to)
    }
}

/// A version's ancestry: its own segment, then the segments of the
/// versions it links to.
pub struct Lineage;

impl Lineage {
    /// The version ranges `version`'s state reads from, newest first: its
    /// own segment, then each segment it links down to.
    pub fn segments<S: StateStore + ?Sized>(store: &S, version: Version) -> Result<Vec<(Version, Version)>> {
        let mut out = Vec::new();
        let mut to = version;
        loop {
            let link = store.link_at_or_below(to)?;
            let from = link.map_or(0, |l| l.start);
            out.push((from, to));
            match link {
                Some(l) if l.base < l.start => to = l.base,
                Some(l) => bail!("link at {} to {} does not go down", l.start, l.base),
                None => return Ok(out),
            }
        }
    }

    /// Whether ordered-record `key` is present in the state whose lineage
    /// is `segments` (from [`Lineage::segments`]).
    pub fn ordered_present<S: StateStore + ?Sized>(
        store: &S,
        key: &[u8],
        segments: &[(Version, Version)],
    ) -> Result<bool> {
        for (from, to) in segments {
            if let Some(present) = store.ordered_between(key, *from, *to)? {
                return Ok(present);
            }
        }
        Ok(false)
    }

    /// The value of `key` in the state at `version`.
    pub fn value<S: StateStore + ?Sized>(store: &S, key: KeyHash, version: Version) -> Result<Option<OwnedValue>> {
        let mut to = version;
        // Each step moves to a strictly lower version: this terminates.
        loop {
            let link = store.link_at_or_below(to)?;
            let from = link.map_or(0, |l| l.start);
            if let Some(v) = store.value_between(key, from, to)? {
                return Ok(v);
            }
            match link {
                Some(l) if l.base < l.start => to = l.base,
                Some(l) => bail!("link at {} to {} does not go down", l.start, l.base),
                None => return Ok(None),
            }
        }
    }
}

/// Reads the tree through a store, seeing a pending link root.
struct Reader<'a, S: ?Sized> {
    store: &'a S,
    pending: Option<(NodeKey, Node)>,
}

impl<S: StateStore + ?Sized> TreeReader for Reader<'_, S> {
    fn get_node_option(&self, key: &NodeKey) -> Result<Option<Node>> {
        if let Some((k, n)) = &self.pending
            && k == key
        {
            return Ok(Some(n.clone()));
        }
        self.store.node(key)
    }
    fn get_value_option(&self, max_version: Version, key: KeyHash) -> Result<Option<OwnedValue>> {
        Lineage::value(self.store, key, max_version)
    }
    fn get_rightmost_leaf(&self) -> Result<Option<(NodeKey, LeafNode)>> {
        bail!("restoring a tree from chunks is not supported")
    }
}

/// A proof of a data record's value (or absence) under a state root.
pub struct DataProof(SparseMerkleProof<Blake3Hasher>);

impl DataProof {
    /// Checks that record `key` has `value` (`None`: absent) under `root`.
    pub fn verify(&self, root: &Hash, key: KeyHash, value: Option<&[u8]>) -> Result<()> {
        self.0.verify(jmt::RootHash(root.0), key, value.map(<[u8]>::to_vec))
    }
    /// The proof's bytes (borsh of jmt's `SparseMerkleProof`).
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.0).unwrap_or_default()
    }
    /// Decodes [`DataProof::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<DataProof> {
        Ok(DataProof(borsh::from_slice(bytes).context("decoding a data proof")?))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The account state over a store.
pub struct State<S> {
    store: S,
}

/// A proof of an account's value (or absence) under a state root.
pub struct AccountProof(SparseMerkleProof<Blake3Hasher>);

impl AccountProof {
    /// Checks that `address` has `account` (`None`: no account) under `root`.
    pub fn verify(&self, root: &Hash, address: &Address, account: Option<&Account>) -> Result<()> {
        let value = account.map(encode);
        self.0.verify(jmt::RootHash(root.0), account_key(address), value)
    }
    /// The proof's bytes: the borsh encoding of jmt's `SparseMerkleProof`
    /// (what `cinder_getProof` returns).
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.0).unwrap_or_default()
    }
    /// Decodes [`AccountProof::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<AccountProof> {
        Ok(AccountProof(borsh::from_slice(bytes).context("decoding an account proof")?))
    }
}

impl<S: StateStore> State<S> {
    /// The state over `store`.
    pub fn new(store: S) -> Self {
        State { store }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The root at `version`.
    pub fn root(&self, version: Version) -> Result<Hash> {
        let reader = Reader { store: &self.store, pending: None };
        Ok(Hash(Tree::new(&reader).get_root_hash(version)?.0))
    }

    /// The account at `address` in the state at `version`.
    pub fn account(&self, version: Version, address: &Address) -> Result<Option<Account>> {
        match Lineage::value(&self.store, account_key(address), version)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(decode::<Account>(&bytes).context("a stored account does not decode")?)),
        }
    }

    /// The data record `key` ([`data_key`]) in the state at `version`.
    pub fn data(&self, version: Version, key: KeyHash) -> Result<Option<Vec<u8>>> {
        Lineage::value(&self.store, key, version)
    }

    /// The ordered record `key` in the state at `version`.
    pub fn ordered(&self, version: Version, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Lineage::value(&self.store, ordered_key(key), version)
    }

    /// The ordered records with keys in `start..=end` in the state at
    /// `version`, in key order, the first `limit` of them.
    pub fn ordered_range(
        &self,
        version: Version,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        if limit == 0 || start > end {
            return Ok(out);
        }
        let segments = Lineage::segments(&self.store, version)?;
        let mut next = self.store.ordered_next(start, end)?;
        while let Some(key) = next {
            if Lineage::ordered_present(&self.store, &key, &segments)? {
                let value = Lineage::value(&self.store, ordered_key(&key), version)?.with_context(|| {
                    format!("ordered record 0x{} is indexed at version {version} but has no value", hex(&key))
                })?;
                out.push((key.clone(), value));
                if out.len() == limit {
                    break;
                }
            }
            next = self.store.ordered_next(&successor(&key), end)?;
        }
        Ok(out)
    }

    /// A data record `key` at `version` with its proof against the root
    /// (an ordered record's tree key is [`ordered_key`]).
    pub fn prove_data(&self, version: Version, key: KeyHash) -> Result<(Option<Vec<u8>>, DataProof)> {
        let reader = Reader { store: &self.store, pending: None };
        let (value, proof) = Tree::new(&reader).get_with_proof(key, version)?;
        Ok((value, DataProof(proof)))
    }

    /// The account at `address` at `version` with its proof.
    pub fn prove(&self, version: Version, address: &Address) -> Result<(Option<Account>, AccountProof)> {
        let reader = Reader { store: &self.store, pending: None };
        let (value, proof) = Tree::new(&reader).get_with_proof(account_key(address), version)?;
        let account = value.map(|b| decode::<Account>(&b)).transpose().context("a stored account does not decode")?;
        Ok((account, AccountProof(proof)))
    }

    /// The root and the batch of the state `parent` (`None`: the empty
    /// state, for genesis) with `updates` applied (`None` deletes). Writes
    /// nothing; [`StateStore::commit`] the batch to keep it.
    pub fn apply(&self, parent: Option<Version>, updates: &[(Address, Option<Account>)]) -> Result<(Hash, StateBatch)> {
        self.apply_all(parent, updates, &[])
    }

    /// [`State::apply`] with data records too (`key` from [`data_key`];
    /// `None` deletes). Accounts and records share one tree and one root.
    pub fn apply_all(
        &self,
        parent: Option<Version>,
        updates: &[(Address, Option<Account>)],
        data: &[(KeyHash, Option<Vec<u8>>)],
    ) -> Result<(Hash, StateBatch)> {
        self.apply_records(parent, updates, data, &[])
    }

    /// [`State::apply_all`] with ordered records too (`None` deletes): their
    /// values go in the tree under [`ordered_key`], their keys in the
    /// batch's index entries.
    pub fn apply_records(
        &self,
        parent: Option<Version>,
        updates: &[(Address, Option<Account>)],
        data: &[(KeyHash, Option<Vec<u8>>)],
        ordered: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(Hash, StateBatch)> {
        let latest = self.store.latest()?;
        // Encoding and key hashing in parallel; the tree hashes its nodes.
        let mut set: Vec<(KeyHash, Option<OwnedValue>)> =
            updates.par_iter().map(|(a, acct)| (account_key(a), acct.as_ref().map(encode))).collect();
        set.extend(data.iter().cloned());
        set.extend(ordered.iter().map(|(k, v)| (ordered_key(k), v.clone())));
        let mut index: Vec<(Vec<u8>, bool)> = ordered.iter().map(|(k, v)| (k.clone(), v.is_some())).collect();
        // The last update of a key wins, as in the tree.
        index.reverse();
        index.sort_by(|a, b| a.0.cmp(&b.0));
        index.dedup_by(|later, earlier| later.0 == earlier.0);
        set.sort_by_key(|(k, _)| *k);
        set.dedup_by(|later, earlier| {
            // Keep the last update of a key.
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        let (version, link, pending) = match (parent, latest) {
            (None, None) => (0, None, None),
            (None, Some(_)) => bail!("the state already has versions; a parent version is needed"),
            (Some(p), None) => bail!("parent version {p} does not exist: the state is empty"),
            (Some(p), Some(l)) if p > l => bail!("parent version {p} does not exist (newest is {l})"),
            (Some(p), Some(l)) if p == l => (l + 1, None, None),
            (Some(p), Some(l)) => {
                // A link version whose root is the parent's root.
                let start = l + 1;
                let root = self
                    .store
                    .node(&root_key(p)?)?
                    .with_context(|| format!("no root at parent version {p} (pruned?)"))?;
                (start + 1, Some(Link { start, base: p }), Some((root_key(start)?, root)))
            }
        };
        let reader = Reader { store: &self.store, pending: pending.clone() };
        let lineage = LinkedStore { inner: &self.store, link };
        let reader = Reader { store: &lineage, pending: reader.pending };
        let insert_only = !set.is_empty() && set.iter().all(|(_, v)| v.is_some());
        if insert_only && let Some(p) = parent {
            // The subtrees under the root's children on all cores.
            let old_root_key = root_key(version - 1)?;
            let old_root = match &reader.pending {
                Some((_, n)) => n.clone(),
                None => self.store.node(&root_key(p)?)?.with_context(|| format!("no root at version {p} (pruned?)"))?,
            };
            let kvs: Vec<(KeyHash, jmt::ValueHash)> = set
                .par_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (*k, jmt::ValueHash::with::<Blake3Hasher>(v))))
                .collect();
            if let Some((root, w)) = parallel::insert_batch(&self.store, version, old_root_key, old_root, &kvs)? {
                let mut nodes = w.nodes;
                if let Some(p) = reader.pending {
                    nodes.push(p);
                }
                let values = set.into_iter().map(|(k, v)| (version, k, v)).collect();
                let stale = w.stale.into_iter().map(|k| (version, k)).collect();
                return Ok((Hash(root), StateBatch { version, nodes, values, link, stale, ordered: index }));
            }
        }
        let tree = Tree::new(&reader);
        // jmt's batch insertion walks each touched subtree once; its
        // per-key `put_value_set` walks from the root for every key (several
        // times slower). The batch path takes insertions only.
        let (root, update) = if insert_only {
            let kvs: Vec<(KeyHash, OwnedValue)> = set.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
            let (mut roots, update) = tree.batch_put_value_sets(vec![kvs], None, version)?;
            (roots.pop().context("no root from the batch update")?, update)
        } else {
            tree.put_value_set(set, version)?
        };
        let mut nodes: Vec<(NodeKey, Node)> =
            update.node_batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())).collect();
        if let Some(p) = pending {
            nodes.push(p);
        }
        let values = update.node_batch.values().iter().map(|((v, k), val)| (*v, *k, val.clone())).collect();
        let stale = update.stale_node_index_batch.iter().map(|s| (s.stale_since_version, s.node_key.clone())).collect();
        Ok((Hash(root.0), StateBatch { version, nodes, values, link, stale, ordered: index }))
    }

    /// Applies and commits; returns the new version and root.
    pub fn commit(&self, parent: Option<Version>, updates: &[(Address, Option<Account>)]) -> Result<(Version, Hash)> {
        let (root, batch) = self.apply(parent, updates)?;
        self.store.commit(&batch)?;
        Ok((batch.version, root))
    }
}

/// A store seen with a link that is not committed yet.
struct LinkedStore<'a, S> {
    inner: &'a S,
    link: Option<Link>,
}

impl<S: StateStore> StateStore for LinkedStore<'_, S> {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>> {
        self.inner.node(key)
    }
    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>> {
        self.inner.value_between(key, from, to)
    }
    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>> {
        match self.link {
            Some(l) if l.start <= version => Ok(Some(l)),
            _ => self.inner.link_at_or_below(version),
        }
    }
    fn latest(&self) -> Result<Option<Version>> {
        self.inner.latest()
    }
    fn commit(&self, batch: &StateBatch) -> Result<()> {
        self.inner.commit(batch)
    }
    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.ordered_next(from, to)
    }
    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>> {
        self.inner.ordered_between(key, from, to)
    }
}

/// A store that reads through to `base` and keeps its own commits in
/// memory: blocks built on a database without writing to it (block
/// production, benchmark generation). Every version committed here is above
/// the base's newest, so its values shadow the base's.
pub struct Overlay<B> {
    base: B,
    top: MemStore,
}

impl<B: StateStore> Overlay<B> {
    /// An empty overlay on `base`.
    pub fn new(base: B) -> Self {
        Overlay { base, top: MemStore::default() }
    }
}

impl<B: StateStore> StateStore for Overlay<B> {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>> {
        match self.top.node(key)? {
            Some(n) => Ok(Some(n)),
            None => self.base.node(key),
        }
    }
    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>> {
        match self.top.value_between(key, from, to)? {
            Some(v) => Ok(Some(v)),
            None => self.base.value_between(key, from, to),
        }
    }
    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>> {
        let (t, b) = (self.top.link_at_or_below(version)?, self.base.link_at_or_below(version)?);
        Ok(match (t, b) {
            (Some(t), Some(b)) => Some(if t.start >= b.start { t } else { b }),
            (t, b) => t.or(b),
        })
    }
    fn latest(&self) -> Result<Option<Version>> {
        Ok(match self.top.latest()? {
            Some(v) => Some(v),
            None => self.base.latest()?,
        })
    }
    fn commit(&self, batch: &StateBatch) -> Result<()> {
        if let Some(l) = self.latest()?
            && batch.version <= l
        {
            bail!("version {} is not above the newest ({l})", batch.version);
        }
        self.top.commit(batch)
    }
    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>> {
        let (t, b) = (self.top.ordered_next(from, to)?, self.base.ordered_next(from, to)?);
        Ok(match (t, b) {
            (Some(t), Some(b)) => Some(t.min(b)),
            (t, b) => t.or(b),
        })
    }
    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>> {
        match self.top.ordered_between(key, from, to)? {
            Some(p) => Ok(Some(p)),
            None => self.base.ordered_between(key, from, to),
        }
    }
}

/// A store that reads through to `base` with one uncommitted batch on top:
/// the state of a block whose write is still under way, read by its child's
/// verification meanwhile (pipelined import). It borrows the batch, so the
/// writer and the readers share it without a copy; it takes no commits.
pub struct Pending<'a, B> {
    base: B,
    top: Option<PendingBatch<'a>>,
}

/// A batch indexed for reads.
struct PendingBatch<'a> {
    version: Version,
    nodes: HashMap<&'a NodeKey, &'a Node>,
    values: HashMap<KeyHash, (Version, &'a Option<OwnedValue>)>,
    ordered: BTreeMap<&'a [u8], bool>,
    link: Option<Link>,
}

impl<'a, B: StateStore> Pending<'a, B> {
    /// `batch` (if any) on top of `base`; the batch's version must be above
    /// every version of `base` it does not already hold.
    pub fn new(base: B, batch: Option<&'a StateBatch>) -> Self {
        let top = batch.map(|b| {
            let mut values: HashMap<KeyHash, (Version, &Option<OwnedValue>)> = HashMap::with_capacity(b.values.len());
            for (v, k, val) in &b.values {
                if values.get(k).is_none_or(|(old, _)| *old <= *v) {
                    values.insert(*k, (*v, val));
                }
            }
            PendingBatch {
                version: b.version,
                nodes: b.nodes.iter().map(|(k, n)| (k, n)).collect(),
                values,
                ordered: b.ordered.iter().map(|(k, p)| (k.as_slice(), *p)).collect(),
                link: b.link,
            }
        });
        Pending { base, top }
    }
}

impl<B: StateStore> StateStore for Pending<'_, B> {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>> {
        match self.top.as_ref().and_then(|t| t.nodes.get(key)) {
            Some(n) => Ok(Some((*n).clone())),
            None => self.base.node(key),
        }
    }
    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>> {
        match self.top.as_ref().and_then(|t| t.values.get(&key)) {
            Some((v, val)) if (from..=to).contains(v) => Ok(Some((*val).clone())),
            _ => self.base.value_between(key, from, to),
        }
    }
    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>> {
        let t = self.top.as_ref().and_then(|t| t.link).filter(|l| l.start <= version);
        let b = self.base.link_at_or_below(version)?;
        Ok(match (t, b) {
            (Some(t), Some(b)) => Some(if t.start >= b.start { t } else { b }),
            (t, b) => t.or(b),
        })
    }
    fn latest(&self) -> Result<Option<Version>> {
        let b = self.base.latest()?;
        Ok(match &self.top {
            Some(t) => Some(b.map_or(t.version, |b| b.max(t.version))),
            None => b,
        })
    }
    fn commit(&self, batch: &StateBatch) -> Result<()> {
        bail!("a pending state is read-only (version {} not written)", batch.version)
    }
    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>> {
        let t = match &self.top {
            Some(t) if from <= to => t
                .ordered
                .range::<[u8], _>((std::ops::Bound::Included(from), std::ops::Bound::Included(to)))
                .next()
                .map(|(k, _)| k.to_vec()),
            _ => None,
        };
        let b = self.base.ordered_next(from, to)?;
        Ok(match (t, b) {
            (Some(t), Some(b)) => Some(t.min(b)),
            (t, b) => t.or(b),
        })
    }
    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>> {
        match &self.top {
            Some(t)
                if (from..=to).contains(&t.version)
                    && let Some(p) = t.ordered.get(key) =>
            {
                Ok(Some(*p))
            }
            _ => self.base.ordered_between(key, from, to),
        }
    }
}

/// The tree in memory (tests, tools, and the node's in-memory mode).
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<Mem>,
}

#[derive(Default)]
struct Mem {
    nodes: HashMap<NodeKey, Node>,
    values: HashMap<KeyHash, BTreeMap<Version, Option<OwnedValue>>>,
    ordered: BTreeMap<Vec<u8>, BTreeMap<Version, bool>>,
    links: BTreeMap<Version, Version>,
    latest: Option<Version>,
}

impl StateStore for MemStore {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>> {
        Ok(self.inner.read().unwrap_or_else(PoisonError::into_inner).nodes.get(key).cloned())
    }
    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>> {
        let m = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(m.values.get(&key).and_then(|v| v.range(from..=to).next_back()).map(|(_, v)| v.clone()))
    }
    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>> {
        let m = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(m.links.range(..=version).next_back().map(|(&start, &base)| Link { start, base }))
    }
    fn latest(&self) -> Result<Option<Version>> {
        Ok(self.inner.read().unwrap_or_else(PoisonError::into_inner).latest)
    }
    fn commit(&self, batch: &StateBatch) -> Result<()> {
        let mut m = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if m.latest.is_some_and(|l| batch.version <= l) {
            bail!("version {} is not above the newest ({:?})", batch.version, m.latest);
        }
        for (k, n) in &batch.nodes {
            m.nodes.insert(k.clone(), n.clone());
        }
        for (v, k, val) in &batch.values {
            m.values.entry(*k).or_default().insert(*v, val.clone());
        }
        for (k, present) in &batch.ordered {
            m.ordered.entry(k.clone()).or_default().insert(batch.version, *present);
        }
        if let Some(l) = batch.link {
            m.links.insert(l.start, l.base);
        }
        m.latest = Some(batch.version);
        Ok(())
    }
    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>> {
        let m = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if from > to {
            return Ok(None);
        }
        Ok(m.ordered.range(from.to_vec()..=to.to_vec()).next().map(|(k, _)| k.clone()))
    }
    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>> {
        let m = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(m.ordered.get(key).and_then(|v| v.range(from..=to).next_back()).map(|(_, p)| *p))
    }
}

mod parallel;

#[doc(hidden)]
pub mod conformance;

#[cfg(test)]
mod tests;
