//! Binary Merkle trees over BLAKE3: roots, inclusion proofs, batch proof
//! verification and incremental append. Specified in docs/protocol.md.
//!
//! **Hashing.** Leaves and inner nodes are hashed under two different
//! BLAKE3 keys (keyed mode), derived once from context strings:
//!
//! - leaf: `BLAKE3_keyed(LEAF_KEY, data)`, any length;
//! - node: `BLAKE3_keyed(NODE_KEY, left || right)`: 64 bytes, exactly one
//!   BLAKE3 compression per inner node;
//! - empty tree: `BLAKE3_keyed(NODE_KEY, "")`.
//!
//! The keys separate the domains without a prefix byte (which would cost a
//! second compression per node): a 64-byte leaf can never pass for a node.
//!
//! **Shape.** Level by level, nodes are paired left to right; an odd last
//! node is carried up unchanged, never duplicated (Bitcoin's duplication
//! makes `[a, b, c]` and `[a, b, c, c]` share a root: CVE-2012-2459). This is
//! RFC 6962's shape: the root of `n > 1` leaves is
//! `node(root(first k), root(rest))` with `k` the largest power of two below
//! `n`. A proof therefore carries the leaf count.
//!
//! **Speed.** [`root`] hashes subtrees of 2^14 leaves on rayon's threads,
//! each level eight (AVX2) or sixteen (AVX-512) nodes per SIMD compression,
//! with the same multi-input BLAKE3 kernel as the PoW search; [`naive_root`]
//! is the recursive oracle on the `blake3` crate. The GPU root lives in
//! `crate::gpu` (feature `gpu`).

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::hash::blake3 as b3;
use crate::pow::{Algo, Isa};

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// Context string of the leaf key (`BLAKE3_derive_key(context, "")`).
pub const LEAF_CONTEXT: &str = "cinder merkle 2026-11-23 leaf v1";
/// Context string of the node key.
pub const NODE_CONTEXT: &str = "cinder merkle 2026-11-23 node v1";

/// Flags of a one-block keyed BLAKE3 hash.
const ONE_BLOCK_KEYED: u32 = b3::CHUNK_START | b3::CHUNK_END | b3::ROOT | b3::KEYED_HASH;

/// Leaves per parallel subtree (a power of two).
const SUBTREE: usize = 1 << 14;

struct Keys {
    leaf: [u8; 32],
    node: [u8; 32],
    leaf_cv: [u32; 8],
    node_cv: [u32; 8],
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let leaf = blake3::derive_key(LEAF_CONTEXT, b"");
        let node = blake3::derive_key(NODE_CONTEXT, b"");
        Keys { leaf, node, leaf_cv: b3::key_words(&leaf), node_cv: b3::key_words(&node) }
    })
}

/// The key inner nodes are hashed under.
pub fn node_key() -> [u8; 32] {
    keys().node
}

/// The key leaves are hashed under.
pub fn leaf_key() -> [u8; 32] {
    keys().leaf
}

/// The hash of a leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    *blake3::keyed_hash(&keys().leaf, data).as_bytes()
}

/// The hash of an inner node: one BLAKE3 compression.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut block = [0u32; 16];
    for k in 0..8 {
        block[k] = word(left, k);
        block[8 + k] = word(right, k);
    }
    let out = b3::compress(&b3::CompressInput {
        cv: keys().node_cv,
        block,
        counter: 0,
        block_len: 64,
        flags: ONE_BLOCK_KEYED,
    });
    let mut h = [0u8; 32];
    for (c, w) in h.chunks_exact_mut(4).zip(&out[..8]) {
        c.copy_from_slice(&w.to_le_bytes());
    }
    h
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    *blake3::keyed_hash(&keys().node, b"").as_bytes()
}

fn word(h: &[u8], k: usize) -> u32 {
    u32::from_le_bytes([h[4 * k], h[4 * k + 1], h[4 * k + 2], h[4 * k + 3]])
}

/// The recursive definition, on the `blake3` crate: the oracle.
pub fn naive_root(leaves: &[Hash]) -> Hash {
    fn rec(l: &[Hash], key: &[u8; 32]) -> Hash {
        if l.len() == 1 {
            return l[0];
        }
        // The largest power of two strictly below the length.
        let k = 1usize << (usize::BITS - 1 - (l.len() - 1).leading_zeros());
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&rec(&l[..k], key));
        both[32..].copy_from_slice(&rec(&l[k..], key));
        *blake3::keyed_hash(key, &both).as_bytes()
    }
    if leaves.is_empty() { empty_root() } else { rec(leaves, &keys().node) }
}

/// Hashes `pairs` (consecutive left/right hashes) into `out`, SIMD lanes.
fn hash_pairs(isa: Isa, pairs: &[Hash], out: &mut [Hash]) {
    debug_assert_eq!(pairs.len(), 2 * out.len());
    let cv = &keys().node_cv;
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, Isa::Avx2 | Isa::Avx512) && std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected.
        unsafe { x86::hash_pairs_avx2(cv, pairs, out) };
        return;
    }
    let _ = isa;
    for (p, o) in pairs.chunks(2).zip(out.iter_mut()) {
        let len = |_: usize| 64u32;
        let w = |_: usize, k: usize| if k < 8 { word(&p[0], k) } else { word(&p[1], k - 8) };
        // SAFETY: u32 lanes need no instruction set.
        unsafe { crate::hash::lanes::b3_one_block_many::<u32>(cv, ONE_BLOCK_KEYED, 1, len, w, std::slice::from_mut(o)) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::ONE_BLOCK_KEYED;
    use crate::hash::lanes::x86::{Avx2, Avx512, transpose8};
    use crate::hash::lanes::{Lanes, b3_compress, b3_one_block_many};

    /// Eight nodes per compression: eight 64-byte pairs are loaded as rows
    /// and transposed into message-word vectors; the eight 32-byte results are
    /// transposed back and stored as rows.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hash_pairs_avx2(cv: &[u32; 8], pairs: &[[u8; 32]], out: &mut [[u8; 32]]) {
        let full = out.len() / 8;
        unsafe {
            let cvv: [Avx2; 8] = std::array::from_fn(|k| Avx2::splat(cv[k]));
            let zero = Avx2::splat(0);
            let len = Avx2::splat(64);
            let flags = Avx2::splat(ONE_BLOCK_KEYED);
            for g in 0..full {
                let src = pairs.as_ptr().add(16 * g).cast::<u8>();
                let lo: [__m256i; 8] = std::array::from_fn(|i| _mm256_loadu_si256(src.add(64 * i).cast()));
                let hi: [__m256i; 8] = std::array::from_fn(|i| _mm256_loadu_si256(src.add(64 * i + 32).cast()));
                let (lo, hi) = (transpose8(lo), transpose8(hi));
                let m: [Avx2; 16] = std::array::from_fn(|k| Avx2(if k < 8 { lo[k] } else { hi[k - 8] }));
                let o = b3_compress(&cvv, &m, zero, zero, len, flags);
                let rows = transpose8(std::array::from_fn(|k| o[k].0));
                let dst = out.as_mut_ptr().add(8 * g).cast::<u8>();
                for (i, r) in rows.iter().enumerate() {
                    _mm256_storeu_si256(dst.add(32 * i).cast(), *r);
                }
            }
            let rest = out.len() - 8 * full;
            if rest > 0 {
                let p = &pairs[16 * full..];
                let w = |j: usize, k: usize| super::word(&p[2 * j + k / 8], k % 8);
                b3_one_block_many::<Avx2>(cv, ONE_BLOCK_KEYED, rest, |_| 64, w, &mut out[8 * full..]);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn one_block_avx2<L: Fn(usize) -> u32, W: Fn(usize, usize) -> u32>(
        cv: &[u32; 8],
        flags: u32,
        n: usize,
        len: L,
        word: W,
        out: &mut [[u8; 32]],
    ) {
        unsafe { b3_one_block_many::<Avx2>(cv, flags, n, len, word, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn one_block_avx512<L: Fn(usize) -> u32, W: Fn(usize, usize) -> u32>(
        cv: &[u32; 8],
        flags: u32,
        n: usize,
        len: L,
        word: W,
        out: &mut [[u8; 32]],
    ) {
        unsafe { b3_one_block_many::<Avx512>(cv, flags, n, len, word, out) }
    }
}

/// The next level up: pairs hashed, an odd last node carried.
fn parent_level(isa: Isa, level: &[Hash]) -> Vec<Hash> {
    let mut up = vec![[0u8; 32]; level.len().div_ceil(2)];
    parent_level_into(isa, level, &mut up);
    up
}

/// [`parent_level`] into `up` (exactly `level.len().div_ceil(2)` long).
fn parent_level_into(isa: Isa, level: &[Hash], up: &mut [Hash]) {
    let pairs = level.len() / 2;
    hash_pairs(isa, &level[..2 * pairs], &mut up[..pairs]);
    if level.len() % 2 == 1 {
        up[pairs] = level[level.len() - 1];
    }
}

/// The root of `leaves` by repeated [`parent_level_into`], on this thread,
/// ping-ponging between two scratch buffers (kept by the caller so that
/// repeated calls allocate nothing).
fn root_sequential(isa: Isa, leaves: &[Hash], scratch: &mut (Vec<Hash>, Vec<Hash>)) -> Hash {
    match leaves.len() {
        0 => return empty_root(),
        1 => return leaves[0],
        _ => {}
    }
    let (a, b) = scratch;
    let mut n = leaves.len().div_ceil(2);
    a.resize(n, [0u8; 32]);
    b.resize(n.div_ceil(2), [0u8; 32]);
    parent_level_into(isa, leaves, &mut a[..n]);
    let (mut src, mut dst) = (a, b);
    while n > 1 {
        let m = n.div_ceil(2);
        parent_level_into(isa, &src[..n], &mut dst[..m]);
        std::mem::swap(&mut src, &mut dst);
        n = m;
    }
    src[0]
}

/// The root of `leaves` (already leaf-hashed), on rayon's current pool.
pub fn root(leaves: &[Hash]) -> Hash {
    let isa = Isa::best(Algo::Blake3);
    if leaves.len() <= SUBTREE {
        return root_sequential(isa, leaves, &mut Default::default());
    }
    // Aligned subtrees of SUBTREE leaves are subtrees of the whole tree (the
    // last one may be partial: its root is what the whole tree carries up),
    // so their roots are the level log2(SUBTREE) of the whole tree.
    let tops: Vec<Hash> = leaves
        .par_chunks(SUBTREE)
        .map_init(<(Vec<Hash>, Vec<Hash>)>::default, |scratch, c| root_sequential(isa, c, scratch))
        .collect();
    root_sequential(isa, &tops, &mut Default::default())
}

/// [`root`] on one thread.
pub fn root_single_thread(leaves: &[Hash]) -> Hash {
    root_sequential(Isa::best(Algo::Blake3), leaves, &mut Default::default())
}

/// Where a Merkle root is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootBackend {
    /// [`root`]: SIMD on rayon.
    Cpu,
    /// `GpuDevice::merkle_root`.
    Gpu,
}

/// The smallest tree for which [`RootBackend::detect`] picks a hardware
/// GPU, or `None` for never. Decided by `cinder-bench merkle --backend gpu`
/// and the criterion `merkle` bench (docs/benchmarks.md): no hardware GPU
/// has been measured yet, and on the software adapter the CPU root is faster
/// at every size (2^20 leaves: 13 ms on 2 cores against 130 ms), so `None`.
pub const GPU_MIN_LEAVES: Option<usize> = None;

impl RootBackend {
    /// The faster backend for `leaves` leaves, given whether a hardware GPU
    /// is open. Software adapters are never chosen.
    pub fn detect(leaves: usize, hardware_gpu: bool) -> RootBackend {
        match GPU_MIN_LEAVES {
            Some(min) if hardware_gpu && leaves >= min => RootBackend::Gpu,
            _ => RootBackend::Cpu,
        }
    }
}

/// Leaf hashes of many data items, in parallel; items of at most 64 bytes
/// take the SIMD path (one compression each).
pub fn hash_leaves<T: AsRef<[u8]> + Sync>(data: &[T]) -> Vec<Hash> {
    let isa = Isa::best(Algo::Blake3);
    let mut out = vec![[0u8; 32]; data.len()];
    out.par_chunks_mut(256).zip(data.par_chunks(256)).for_each(|(o, d)| {
        if d.iter().all(|x| x.as_ref().len() <= 64) {
            hash_short_leaves(isa, d, o);
        } else {
            for (h, x) in o.iter_mut().zip(d) {
                *h = leaf_hash(x.as_ref());
            }
        }
    });
    out
}

fn hash_short_leaves<T: AsRef<[u8]>>(isa: Isa, data: &[T], out: &mut [Hash]) {
    let cv = &keys().leaf_cv;
    let lanes = match isa {
        Isa::Avx512 => 16,
        Isa::Avx2 => 8,
        _ => 1,
    };
    for (d, o) in data.chunks(lanes).zip(out.chunks_mut(lanes)) {
        let n = o.len();
        let len = |j: usize| crate::hash::block_len_u32(d[j].as_ref().len());
        let w = |j: usize, k: usize| {
            let b = d[j].as_ref();
            let mut x = [0u8; 4];
            for (i, v) in x.iter_mut().enumerate() {
                *v = b.get(4 * k + i).copied().unwrap_or(0);
            }
            u32::from_le_bytes(x)
        };
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: from Isa::best(Blake3), which checked AVX-512F+BW.
            Isa::Avx512 => unsafe { x86::one_block_avx512(cv, ONE_BLOCK_KEYED, n, len, w, o) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: from Isa::best(Blake3), which checked AVX2.
            Isa::Avx2 => unsafe { x86::one_block_avx2(cv, ONE_BLOCK_KEYED, n, len, w, o) },
            // SAFETY: u32 lanes need no instruction set.
            _ => unsafe { crate::hash::lanes::b3_one_block_many::<u32>(cv, ONE_BLOCK_KEYED, n, len, w, o) },
        }
    }
}

/// Why a proof is malformed (a well-formed proof for the wrong leaf or root
/// simply does not verify).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index is not below the leaf count.
    #[error("leaf index {index} is not below the leaf count {count}")]
    IndexOutOfRange {
        /// Claimed index.
        index: u64,
        /// Claimed leaf count.
        count: u64,
    },
    /// The number of siblings does not match the path.
    #[error("proof has {got} siblings, the path needs {expected}")]
    WrongLength {
        /// Siblings given.
        got: usize,
        /// Siblings the path needs.
        expected: usize,
    },
}

/// An inclusion proof: the leaf's index, the tree's size and the sibling of
/// every node on the path that has one (carried nodes have none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The leaf's position.
    pub index: u64,
    /// Leaves in the tree.
    pub leaf_count: u64,
    /// Siblings from the leaf's level up.
    pub siblings: Vec<Hash>,
}

/// One step of a path: the sibling is on the left or on the right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// The sides of the siblings on the path of `index` in a tree of `count`
/// leaves, from the bottom (carried levels have no step).
fn path(index: u64, count: u64) -> Result<Vec<Side>, ProofError> {
    if index >= count {
        return Err(ProofError::IndexOutOfRange { index, count });
    }
    let (mut i, mut n) = (index, count);
    let mut sides = Vec::new();
    while n > 1 {
        if i % 2 == 1 {
            sides.push(Side::Left);
        } else if i + 1 < n {
            sides.push(Side::Right);
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    Ok(sides)
}

impl Proof {
    /// The root this proof gives for `leaf` (a leaf hash).
    pub fn compute_root(&self, leaf: &Hash) -> Result<Hash, ProofError> {
        let sides = path(self.index, self.leaf_count)?;
        if sides.len() != self.siblings.len() {
            return Err(ProofError::WrongLength { got: self.siblings.len(), expected: sides.len() });
        }
        let mut cur = *leaf;
        for (side, sib) in sides.iter().zip(&self.siblings) {
            cur = match side {
                Side::Left => node_hash(sib, &cur),
                Side::Right => node_hash(&cur, sib),
            };
        }
        Ok(cur)
    }

    /// Whether `leaf` is at `index` in the tree with `root`.
    pub fn verify(&self, root: &Hash, leaf: &Hash) -> bool {
        self.compute_root(leaf).is_ok_and(|r| r == *root)
    }
}

/// Verifies many proofs against one root, in parallel, sixteen (AVX-512) or
/// eight (AVX2) paths per SIMD compression. Returns the indices of the
/// proofs that fail, sorted.
pub fn verify_proofs(root: &Hash, items: &[(Hash, &Proof)]) -> Vec<usize> {
    let isa = Isa::best(Algo::Blake3);
    let group = match isa {
        Isa::Avx512 => 16,
        Isa::Avx2 => 8,
        _ => 1,
    };
    let mut bad: Vec<usize> = items
        .par_chunks(group * 16)
        .enumerate()
        .flat_map_iter(|(c, chunk)| {
            let mut bad = Vec::new();
            for (g, lanes) in chunk.chunks(group).enumerate() {
                let base = c * group * 16 + g * group;
                verify_group(isa, root, lanes, base, &mut bad);
            }
            bad.into_iter()
        })
        .collect();
    bad.sort_unstable();
    bad
}

/// One SIMD group of proofs: step `t` of every path at once.
fn verify_group(isa: Isa, root: &Hash, lanes: &[(Hash, &Proof)], base: usize, bad: &mut Vec<usize>) {
    let mut cur: Vec<Hash> = lanes.iter().map(|(leaf, _)| *leaf).collect();
    let mut ok: Vec<bool> = vec![true; lanes.len()];
    let mut sides: Vec<Vec<Side>> = Vec::with_capacity(lanes.len());
    for (j, (_, p)) in lanes.iter().enumerate() {
        match path(p.index, p.leaf_count) {
            Ok(s) if s.len() == p.siblings.len() => sides.push(s),
            _ => {
                ok[j] = false;
                sides.push(Vec::new());
            }
        }
    }
    let steps = sides.iter().map(Vec::len).max().unwrap_or(0);
    let mut pairs = vec![[0u8; 32]; 2 * lanes.len()];
    let mut out = vec![[0u8; 32]; lanes.len()];
    for t in 0..steps {
        for (j, (_, p)) in lanes.iter().enumerate() {
            let (l, r) = match sides[j].get(t) {
                Some(Side::Left) => (p.siblings[t], cur[j]),
                Some(Side::Right) => (cur[j], p.siblings[t]),
                None => (cur[j], cur[j]), // finished: result unused
            };
            pairs[2 * j] = l;
            pairs[2 * j + 1] = r;
        }
        hash_pairs(isa, &pairs, &mut out);
        for j in 0..lanes.len() {
            if t < sides[j].len() {
                cur[j] = out[j];
            }
        }
    }
    for j in 0..lanes.len() {
        if !ok[j] || cur[j] != *root {
            bad.push(base + j);
        }
    }
}

/// A whole tree kept level by level, for proofs.
#[derive(Clone, Debug)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// Builds the tree of `leaves` (leaf hashes); levels of many nodes are
    /// hashed in parallel.
    pub fn new(leaves: Vec<Hash>) -> Self {
        let isa = Isa::best(Algo::Blake3);
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let level = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up = if level.len() >= 2 * SUBTREE {
                let pairs = level.len() / 2;
                let mut up = vec![[0u8; 32]; level.len().div_ceil(2)];
                up[..pairs]
                    .par_chunks_mut(4096)
                    .zip(level[..2 * pairs].par_chunks(8192))
                    .for_each(|(o, p)| hash_pairs(isa, p, o));
                if level.len() % 2 == 1 {
                    up[pairs] = level[level.len() - 1];
                }
                up
            } else {
                parent_level(isa, level)
            };
            levels.push(up);
        }
        Tree { levels }
    }

    /// Leaves in the tree.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// True for the empty tree.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The root.
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => empty_root(),
        }
    }

    /// The proof for leaf `index`, or `None` past the end.
    pub fn proof(&self, index: u64) -> Option<Proof> {
        let count = self.len();
        let sides = path(index, count).ok()?;
        let mut siblings = Vec::with_capacity(sides.len());
        let mut i = usize::try_from(index).ok()?;
        for level in &self.levels[..self.levels.len() - 1] {
            if i % 2 == 1 {
                siblings.push(level[i - 1]);
            } else if i + 1 < level.len() {
                siblings.push(level[i + 1]);
            }
            i /= 2;
        }
        Some(Proof { index, leaf_count: count, siblings })
    }
}

/// Appends leaves one at a time and gives the root of all so far, in
/// O(log n) memory: the roots of the perfect subtrees, largest first (as a
/// binary counter). For transaction and receipt roots built while a block
/// is assembled.
#[derive(Clone, Debug, Default)]
pub struct Accumulator {
    /// (height, root) of each perfect subtree, heights strictly decreasing.
    stack: Vec<(u32, Hash)>,
    count: u64,
}

impl Accumulator {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.stack.last() {
            if h != node.0 {
                break;
            }
            self.stack.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.stack.push(node);
        self.count += 1;
    }

    /// The root of the leaves so far (same as [`root`] of them).
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut acc)) = it.next() else { return empty_root() };
        for &(_, left) in it {
            acc = node_hash(&left, &acc);
        }
        acc
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "test inputs")]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn node_hash_is_one_keyed_blake3_compression() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&a);
        both[32..].copy_from_slice(&b);
        assert_eq!(node_hash(&a, &b), *blake3::keyed_hash(&node_key(), &both).as_bytes());
        assert_ne!(leaf_hash(&both), node_hash(&a, &b), "a 64-byte leaf is not a node");
    }

    #[test]
    fn shapes_follow_rfc6962_and_never_duplicate() {
        let l = leaves(7);
        assert_eq!(naive_root(&[]), empty_root());
        assert_eq!(naive_root(&l[..1]), l[0]);
        assert_eq!(naive_root(&l[..3]), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        let abcd = node_hash(&node_hash(&l[0], &l[1]), &node_hash(&l[2], &l[3]));
        assert_eq!(naive_root(&l[..7]), node_hash(&abcd, &node_hash(&node_hash(&l[4], &l[5]), &l[6])));
        // CVE-2012-2459: duplicating the last leaf changes the root.
        let mut dup = l[..3].to_vec();
        dup.push(l[2]);
        assert_ne!(naive_root(&dup), naive_root(&l[..3]));
    }

    #[test]
    fn fast_roots_equal_the_naive_root() {
        for n in (0..=300).chain([1023, 1024, 1025, 4097]) {
            let l = leaves(n);
            let want = naive_root(&l);
            assert_eq!(root(&l), want, "{n}");
            assert_eq!(root_single_thread(&l), want, "{n}");
            assert_eq!(Tree::new(l.clone()).root(), want, "{n}");
            let mut acc = Accumulator::new();
            for x in &l {
                acc.push(*x);
            }
            assert_eq!(acc.root(), want, "{n}");
        }
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        for n in [1u64, 2, 3, 5, 8, 13, 100] {
            let l = leaves(n as usize);
            let t = Tree::new(l.clone());
            let r = t.root();
            for i in 0..n {
                let p = t.proof(i).unwrap();
                assert!(p.verify(&r, &l[i as usize]), "n {n} i {i}");
                assert!(!p.verify(&r, &leaf_hash(b"other")));
                if n > 1 {
                    let mut q = p.clone();
                    q.index = (i + 1) % n;
                    assert!(!q.verify(&r, &l[i as usize]) || l[q.index as usize] == l[i as usize]);
                    let mut q = p.clone();
                    q.siblings[0][0] ^= 1;
                    assert!(!q.verify(&r, &l[i as usize]));
                }
            }
            assert!(t.proof(n).is_none());
        }
    }

    #[test]
    fn detect_follows_the_measured_threshold() {
        assert_eq!(RootBackend::detect(1 << 30, false), RootBackend::Cpu, "never a software adapter");
        match GPU_MIN_LEAVES {
            None => assert_eq!(RootBackend::detect(1 << 30, true), RootBackend::Cpu),
            Some(min) => {
                assert_eq!(RootBackend::detect(min, true), RootBackend::Gpu);
                assert_eq!(RootBackend::detect(min - 1, true), RootBackend::Cpu);
            }
        }
    }

    #[test]
    fn short_leaves_take_the_simd_path_exactly() {
        let data: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; i % 70]).collect();
        let want: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        assert_eq!(hash_leaves(&data), want);
    }
}
