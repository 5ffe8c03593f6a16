//! Batch insertion into the Jellyfish tree with the subtrees under the
//! root's 16 children updated on all cores.
//!
//! It follows `jmt`'s own batch insertion (`batch_put_value_sets`) step for
//! step, so the nodes, their keys, the root and the stale-node index are
//! exactly `jmt`'s (the tests hold it to `jmt` on random trees); only the
//! order of work differs. `jmt` keeps its node constructors private: nodes
//! are built as their borsh encoding and decoded into `jmt`'s types, and
//! hashed by `jmt` itself.

use anyhow::{Context, Result, bail};
use jmt::storage::{LeafNode, Node, NodeKey};
use jmt::{KeyHash, ValueHash, Version};
use rayon::prelude::*;

use crate::{Blake3Hasher, StateStore};

/// What an insertion writes.
#[derive(Default)]
pub(crate) struct Written {
    /// New nodes.
    pub nodes: Vec<(NodeKey, Node)>,
    /// Nodes replaced (no longer in the new version's tree).
    pub stale: Vec<NodeKey>,
}

impl Written {
    fn append(&mut self, mut o: Written) {
        self.nodes.append(&mut o.nodes);
        self.stale.append(&mut o.stale);
    }
}

/// A child as its parent records it.
#[derive(Clone, Copy)]
struct ChildRef {
    hash: [u8; 32],
    version: Version,
    /// `None` for a leaf.
    leaf_count: Option<usize>,
}

fn nibble(k: &KeyHash, depth: usize) -> u8 {
    let b = k.0[depth / 2];
    if depth.is_multiple_of(2) { b >> 4 } else { b & 0x0f }
}

/// `jmt`'s node key: version, nibble count, packed nibbles (borsh).
pub(crate) fn node_key(version: Version, path: &[u8]) -> Result<NodeKey> {
    let packed: Vec<u8> = path.chunks(2).map(|c| (c[0] << 4) | c.get(1).copied().unwrap_or(0)).collect();
    let mut b = Vec::with_capacity(20 + packed.len());
    b.extend(version.to_le_bytes());
    b.extend((path.len() as u64).to_le_bytes());
    b.extend(u32::try_from(packed.len()).context("a nibble path longer than 2^32")?.to_le_bytes());
    b.extend(packed);
    borsh::from_slice(&b).context("a node key does not decode")
}

/// `jmt`'s internal node over `children` (borsh: 16 optional children of
/// hash, version and type, the child count, the leaf count; tag 1 of the
/// node enum), with its hash and leaf count.
fn internal(children: &[Option<ChildRef>; 16]) -> Result<(Node, ChildRef)> {
    let mut b = Vec::with_capacity(1 + 16 * 50 + 16);
    b.push(1);
    let (mut count, mut leaves) = (0u64, 0u64);
    for c in children {
        match c {
            None => b.push(0),
            Some(c) => {
                count += 1;
                b.push(1);
                b.extend(c.hash);
                b.extend(c.version.to_le_bytes());
                match c.leaf_count {
                    None => {
                        b.push(0);
                        leaves += 1;
                    }
                    Some(n) => {
                        b.push(1);
                        b.extend((n as u64).to_le_bytes());
                        leaves += n as u64;
                    }
                }
            }
        }
    }
    b.extend(count.to_le_bytes());
    b.extend(leaves.to_le_bytes());
    let node: Node = borsh::from_slice(&b).context("an internal node does not decode")?;
    let Node::Internal(i) = &node else { bail!("an internal node decoded as another kind") };
    let r = ChildRef { hash: i.hash::<Blake3Hasher>(), version: 0, leaf_count: Some(i.leaf_count()) };
    Ok((node, r))
}

fn leaf(version: Version, path: &[u8], key: KeyHash, value: ValueHash, out: &mut Written) -> Result<ChildRef> {
    let l = LeafNode::new(key, value);
    let hash = l.hash::<Blake3Hasher>();
    out.nodes.push((node_key(version, path)?, Node::Leaf(l)));
    Ok(ChildRef { hash, version, leaf_count: None })
}

/// Splits sorted `kvs` into runs sharing the nibble at `depth`.
fn runs(kvs: &[(KeyHash, ValueHash)], depth: usize) -> Vec<(u8, &[(KeyHash, ValueHash)])> {
    let mut out = Vec::with_capacity(16);
    let mut start = 0;
    while start < kvs.len() {
        let n = nibble(&kvs[start].0, depth);
        let len = kvs[start..].iter().take_while(|(k, _)| nibble(k, depth) == n).count();
        out.push((n, &kvs[start..start + len]));
        start += len;
    }
    out
}

fn child_path(path: &[u8], n: u8) -> Vec<u8> {
    let mut p = Vec::with_capacity(path.len() + 1);
    p.extend_from_slice(path);
    p.push(n);
    p
}

fn finish_internal(
    version: Version,
    path: &[u8],
    children: &[Option<ChildRef>; 16],
    out: &mut Written,
) -> Result<ChildRef> {
    let (node, r) = internal(children)?;
    out.nodes.push((node_key(version, path)?, node));
    Ok(ChildRef { version, ..r })
}

/// A new subtree holding `kvs` (jmt's `batch_create_subtree`).
fn create(version: Version, path: &[u8], kvs: &[(KeyHash, ValueHash)], out: &mut Written) -> Result<ChildRef> {
    if let [(k, v)] = kvs {
        return leaf(version, path, *k, *v, out);
    }
    let mut children = [None; 16];
    for (n, run) in runs(kvs, path.len()) {
        children[n as usize] = Some(create(version, &child_path(path, n), run, out)?);
    }
    finish_internal(version, path, &children, out)
}

/// A subtree holding an existing leaf and `kvs` (jmt's
/// `batch_create_subtree_with_existing_leaf`).
fn create_with_leaf(
    version: Version,
    path: &[u8],
    existing: &LeafNode,
    kvs: &[(KeyHash, ValueHash)],
    out: &mut Written,
) -> Result<ChildRef> {
    let key = existing.key_hash();
    if let [(k, v)] = kvs
        && *k == key
    {
        return leaf(version, path, key, *v, out);
    }
    let bucket = nibble(&key, path.len());
    let mut children = [None; 16];
    let mut isolated = true;
    for (n, run) in runs(kvs, path.len()) {
        let p = child_path(path, n);
        children[n as usize] = Some(if n == bucket {
            isolated = false;
            create_with_leaf(version, &p, existing, run, out)?
        } else {
            create(version, &p, run, out)?
        });
    }
    if isolated {
        let p = child_path(path, bucket);
        let hash = existing.hash::<Blake3Hasher>();
        out.nodes.push((node_key(version, &p)?, Node::Leaf(existing.clone())));
        children[bucket as usize] = Some(ChildRef { hash, version, leaf_count: None });
    }
    finish_internal(version, path, &children, out)
}

/// Inserts `kvs` (sorted, distinct keys) under the stored node `old` at
/// `path` (jmt's `batch_insert_at`); the children of nodes above
/// `parallel_depth` are updated on all cores.
fn insert<S: StateStore + ?Sized>(
    store: &S,
    version: Version,
    path: &[u8],
    old_key: NodeKey,
    old: Node,
    kvs: &[(KeyHash, ValueHash)],
    parallel_depth: usize,
) -> Result<(ChildRef, Written)> {
    let mut out = Written::default();
    out.stale.push(old_key.clone());
    let r = match old {
        Node::Null => bail!("an empty subtree below the root"),
        Node::Leaf(l) => create_with_leaf(version, path, &l, kvs, &mut out)?,
        Node::Internal(node) => {
            let mut children = [None; 16];
            for (n, c) in children.iter_mut().enumerate() {
                let nib = u8::try_from(n).unwrap_or(0);
                *c = node.child(nib.into()).map(|c| ChildRef {
                    hash: c.hash,
                    version: c.version,
                    leaf_count: (!c.is_leaf()).then(|| c.leaf_count()),
                });
            }
            let work = |(n, run): &(u8, &[(KeyHash, ValueHash)])| -> Result<(u8, ChildRef, Written)> {
                let p = child_path(path, *n);
                match children[*n as usize] {
                    Some(c) => {
                        let k = node_key(c.version, &p)?;
                        let child =
                            store.node(&k)?.with_context(|| format!("state node {k:?} is missing (pruned?)"))?;
                        let (r, w) = insert(store, version, &p, k, child, run, parallel_depth)?;
                        Ok((*n, r, w))
                    }
                    None => {
                        let mut w = Written::default();
                        let r = create(version, &p, run, &mut w)?;
                        Ok((*n, r, w))
                    }
                }
            };
            let groups = runs(kvs, path.len());
            let done: Vec<(u8, ChildRef, Written)> = if path.len() < parallel_depth {
                groups.par_iter().map(work).collect::<Result<_>>()?
            } else {
                groups.iter().map(work).collect::<Result<_>>()?
            };
            for (n, r, w) in done {
                children[n as usize] = Some(r);
                out.append(w);
            }
            finish_internal(version, path, &children, &mut out)?
        }
    };
    Ok((r, out))
}

/// Inserts `kvs` (sorted by key, distinct) into the tree whose root node is
/// `root` (stored at `root_key`), creating `version`: the new root hash and
/// what to write. `None` if the tree is empty (the caller uses `jmt`).
pub(crate) fn insert_batch<S: StateStore + ?Sized>(
    store: &S,
    version: Version,
    root_key: NodeKey,
    root: Node,
    kvs: &[(KeyHash, ValueHash)],
) -> Result<Option<([u8; 32], Written)>> {
    if matches!(root, Node::Null) || kvs.is_empty() {
        return Ok(None);
    }
    // Two levels in parallel: 16 to 256 independent subtrees.
    let (r, mut w) = insert(store, version, &[], root_key, root, kvs, 2)?;
    // In key order, as jmt hands them over: RocksDB's memtable takes sorted
    // inserts markedly faster (the commit took 16 ms unsorted vs 28 ms).
    w.nodes.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    w.stale.par_sort_unstable();
    Ok(Some((r.hash, w)))
}
