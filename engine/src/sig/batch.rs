//! Batch verification under the ZIP-215 rule, over rayon, with bisection.
//!
//! For a set of signatures the check is one multiscalar multiplication:
//!
//! ```text
//! [8] ( [-sum z_i s_i] B + sum [z_i] R_i + sum [z_i k_i] A_i ) == identity
//! ```
//!
//! with independent 128-bit coefficients `z_i`. It holds when every single
//! cofactored equation holds, and fails otherwise except with probability
//! about 2^-128. The coefficients come from BLAKE3 in keyed mode (a PRF)
//! under a 32-byte key drawn from the operating system for every `verify`
//! call, so no signer can predict them.
//!
//! The items are cut into chunks verified in parallel. Each item is parsed
//! once (both points decompressed, `S` range-checked, `k` hashed); an item
//! that fails parsing is rejected without touching the batch. When a chunk's
//! check fails it is split in halves and each half checked again, down to
//! single items, which are decided by [`super::verify`] itself: the verdict
//! for every item is exactly the single verdict. Keys that repeat within a
//! chunk are coalesced into one term.

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rayon::prelude::*;
use sha2::{Digest, Sha512};

use super::{PUBLIC_KEY_LEN, SIGNATURE_LEN};

/// How a batch is verified. Both give identical verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// On the calling thread.
    Sequential,
    /// Chunks spread over the current rayon pool (run inside
    /// `ThreadPool::install` to choose the threads).
    Parallel,
}

/// The indices (in `add` order) of the signatures that did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} of the batch's signatures are invalid (first at index {})", .indices.len(), .indices.first().copied().unwrap_or(0))]
pub struct BadSignatures {
    /// Sorted, no duplicates.
    pub indices: Vec<usize>,
}

/// Decoded public keys by their bytes, shared by the batches that use it
/// ([`BatchVerifier::verify_cached`]): a key seen before (a busy account, a
/// validator) skips its decompression, which is about a third of a batch
/// signature's cost. Only successful decodings are kept; each entry is
/// exactly what decoding its bytes gives, so a hit and a miss give the same
/// verdict. Bounded: a shard that fills up starts over.
pub struct KeyCache {
    shards: Vec<std::sync::Mutex<hashbrown::HashMap<[u8; PUBLIC_KEY_LEN], EdwardsPoint>>>,
    per_shard: usize,
}

impl KeyCache {
    const SHARDS: usize = 64;

    /// A cache of about `capacity` keys (about 200 bytes each).
    pub fn new(capacity: usize) -> Self {
        KeyCache {
            shards: (0..Self::SHARDS).map(|_| Default::default()).collect(),
            per_shard: capacity.div_ceil(Self::SHARDS).max(1),
        }
    }

    /// The process's cache (262,144 keys, about 50 MiB when full): what the
    /// node's pool and block import share, so a transaction's key decoded
    /// at admission is not decoded again when its block is imported.
    pub fn shared() -> &'static KeyCache {
        static SHARED: std::sync::OnceLock<KeyCache> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| KeyCache::new(1 << 18))
    }

    fn shard(
        &self,
        key: &[u8; PUBLIC_KEY_LEN],
    ) -> &std::sync::Mutex<hashbrown::HashMap<[u8; PUBLIC_KEY_LEN], EdwardsPoint>> {
        // The key's bytes are a point encoding, uniform enough to pick a shard.
        &self.shards[usize::from(key[0]) % Self::SHARDS]
    }

    /// The decoded `key`, from the cache or decompressed (and kept);
    /// `None` if it does not decode.
    pub(crate) fn decode(&self, key: &[u8; PUBLIC_KEY_LEN]) -> Option<EdwardsPoint> {
        let shard = self.shard(key);
        if let Some(p) = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key) {
            return Some(*p);
        }
        let point = CompressedEdwardsY(*key).decompress()?;
        let mut m = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= self.per_shard {
            m.clear();
        }
        m.insert(*key, point);
        Some(point)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()).sum()
    }

    /// True when it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Collects (public key, message, signature) triples and verifies them all.
#[derive(Clone, Debug, Default)]
pub struct BatchVerifier {
    keys: Vec<[u8; PUBLIC_KEY_LEN]>,
    /// Keys already decoded by the caller ([`super::VerifyingKey`]).
    points: Vec<Option<EdwardsPoint>>,
    sigs: Vec<[u8; SIGNATURE_LEN]>,
    /// All messages back to back; `spans[i]` locates message `i`.
    msgs: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// Wrong-length key or signature: rejected without looking further.
    malformed: Vec<bool>,
    chunk: Option<usize>,
}

/// An item parsed for the batch equation.
struct Parsed {
    index: usize,
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `n` items and `msg_bytes` bytes of messages.
    pub fn with_capacity(n: usize, msg_bytes: usize) -> Self {
        BatchVerifier {
            keys: Vec::with_capacity(n),
            points: Vec::with_capacity(n),
            sigs: Vec::with_capacity(n),
            msgs: Vec::with_capacity(msg_bytes),
            spans: Vec::with_capacity(n),
            malformed: Vec::with_capacity(n),
            chunk: None,
        }
    }

    /// Fixes the number of signatures per multiscalar multiplication
    /// (default: the batch split evenly over the threads, 64 to 2048).
    pub fn with_chunk_size(mut self, n: usize) -> Self {
        self.chunk = Some(n.max(1));
        self
    }

    /// Adds a signature; returns its index. Takes raw bytes: a wrong-length
    /// key or signature is an invalid item, reported like any other.
    pub fn add(&mut self, public_key: &[u8], message: &[u8], signature: &[u8]) -> usize {
        let key: Option<[u8; PUBLIC_KEY_LEN]> = public_key.try_into().ok();
        let sig: Option<[u8; SIGNATURE_LEN]> = signature.try_into().ok();
        self.malformed.push(key.is_none() || sig.is_none());
        self.keys.push(key.unwrap_or([0; PUBLIC_KEY_LEN]));
        self.points.push(None);
        self.sigs.push(sig.unwrap_or([0; SIGNATURE_LEN]));
        self.spans.push((self.msgs.len(), message.len()));
        self.msgs.extend_from_slice(message);
        self.keys.len() - 1
    }

    /// Adds a signature under a key decoded beforehand; returns its index.
    pub fn add_with_key(&mut self, key: &super::VerifyingKey, message: &[u8], signature: &[u8]) -> usize {
        let i = self.add(&key.public_key().0, message, signature);
        self.points[i] = Some(key.point());
        i
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn message(&self, i: usize) -> &[u8] {
        let (start, len) = self.spans[i];
        &self.msgs[start..start + len]
    }

    /// Verifies every item. `Ok` when all are valid, else the indices of
    /// those that are not; identical to calling [`super::verify`] on each.
    pub fn verify(&self, strategy: Strategy) -> Result<(), BadSignatures> {
        self.verify_with(strategy, None)
    }

    /// [`BatchVerifier::verify`] with the keys not decoded by the caller
    /// taken from `cache` (and the ones it lacks decoded into it). Same
    /// verdicts.
    pub fn verify_cached(&self, strategy: Strategy, cache: &KeyCache) -> Result<(), BadSignatures> {
        self.verify_with(strategy, Some(cache))
    }

    fn verify_with(&self, strategy: Strategy, cache: Option<&KeyCache>) -> Result<(), BadSignatures> {
        let n = self.len();
        if n == 0 {
            return Ok(());
        }
        let mut key = [0u8; 32];
        // Without OS randomness the coefficients would be predictable: then
        // decide every item singly (slow, never wrong).
        let random = getrandom::fill(&mut key).is_ok();
        let threads = match strategy {
            Strategy::Sequential => 1,
            Strategy::Parallel => rayon::current_num_threads(),
        };
        let chunk = self.chunk.unwrap_or_else(|| n.div_ceil(threads).clamp(64, 2048));
        let run = |c: usize| -> Vec<usize> {
            let range = c * chunk..((c + 1) * chunk).min(n);
            if random { self.verify_chunk(range, &key, cache) } else { range.filter(|&i| !self.single_ok(i)).collect() }
        };
        let chunks = n.div_ceil(chunk);
        let mut bad: Vec<usize> = match strategy {
            Strategy::Sequential => (0..chunks).flat_map(run).collect(),
            Strategy::Parallel => (0..chunks).into_par_iter().flat_map_iter(run).collect(),
        };
        bad.sort_unstable();
        if bad.is_empty() { Ok(()) } else { Err(BadSignatures { indices: bad }) }
    }

    /// Parses item `i`, or `None` if it cannot verify under any equation.
    fn parse(&self, i: usize, cache: Option<&KeyCache>) -> Option<Parsed> {
        if self.malformed[i] {
            return None;
        }
        let key = &self.keys[i];
        let sig = &self.sigs[i];
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&sig[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&sig[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let a = match (self.points[i], cache) {
            (Some(a), _) => a,
            (None, Some(c)) => c.decode(key)?,
            (None, None) => CompressedEdwardsY(*key).decompress()?,
        };
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        let h: [u8; 64] =
            Sha512::new().chain_update(r_bytes).chain_update(key).chain_update(self.message(i)).finalize().into();
        Some(Parsed { index: i, a, r, s, k: Scalar::from_bytes_mod_order_wide(&h) })
    }

    fn single_ok(&self, i: usize) -> bool {
        !self.malformed[i] && super::verify(&self.keys[i], self.message(i), &self.sigs[i]).is_ok()
    }

    fn verify_chunk(&self, range: std::ops::Range<usize>, key: &[u8; 32], cache: Option<&KeyCache>) -> Vec<usize> {
        let mut bad = Vec::new();
        let mut parsed = Vec::with_capacity(range.len());
        for i in range {
            match self.parse(i, cache) {
                Some(p) => parsed.push(p),
                None => bad.push(i),
            }
        }
        self.bisect(&parsed, key, 0, &mut bad);
        bad
    }

    fn bisect(&self, items: &[Parsed], key: &[u8; 32], depth: u32, bad: &mut Vec<usize>) {
        match items {
            [] => {}
            [one] => {
                if !self.single_ok(one.index) {
                    bad.push(one.index);
                }
            }
            _ => {
                if !self.equation_holds(items, key, depth) {
                    let (l, r) = items.split_at(items.len() / 2);
                    self.bisect(l, key, depth + 1, bad);
                    self.bisect(r, key, depth + 1, bad);
                }
            }
        }
    }

    /// The batch equation over `items`, coefficients from `key`.
    #[allow(non_snake_case, reason = "the names of the equation")]
    fn equation_holds(&self, items: &[Parsed], key: &[u8; 32], depth: u32) -> bool {
        let mut B_coeff = Scalar::ZERO;
        let mut R_coeffs = Vec::with_capacity(items.len());
        let mut Rs = Vec::with_capacity(items.len());
        let mut A_coeffs: Vec<Scalar> = Vec::with_capacity(items.len());
        let mut As: Vec<EdwardsPoint> = Vec::with_capacity(items.len());
        let mut slot: HashMap<[u8; 32], usize> = HashMap::with_capacity(items.len());
        for p in items {
            let z = coefficient(key, p.index, depth);
            B_coeff -= z * p.s;
            R_coeffs.push(z);
            Rs.push(p.r);
            let j = *slot.entry(self.keys[p.index]).or_insert_with(|| {
                A_coeffs.push(Scalar::ZERO);
                As.push(p.a);
                As.len() - 1
            });
            A_coeffs[j] += z * p.k;
        }
        let check = EdwardsPoint::vartime_multiscalar_mul(
            std::iter::once(&B_coeff).chain(A_coeffs.iter()).chain(R_coeffs.iter()),
            std::iter::once(&ED25519_BASEPOINT_POINT).chain(As.iter()).chain(Rs.iter()),
        );
        check.mul_by_cofactor().is_identity()
    }
}

/// The 128-bit coefficient of item `index` at bisection depth `depth`.
fn coefficient(key: &[u8; 32], index: usize, depth: u32) -> Scalar {
    let mut input = [0u8; 12];
    input[..8].copy_from_slice(&(index as u64).to_le_bytes());
    input[8..].copy_from_slice(&depth.to_le_bytes());
    let h = blake3::keyed_hash(key, &input);
    let mut z = [0u8; 16];
    z.copy_from_slice(&h.as_bytes()[..16]);
    Scalar::from(u128::from_le_bytes(z))
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "test inputs")]
mod tests {
    use super::super::SecretKey;
    use super::*;

    fn batch(n: usize, bad: &[usize]) -> BatchVerifier {
        let mut b = BatchVerifier::new();
        for i in 0..n {
            let sk = SecretKey::from_seed(&[(i % 251) as u8; 32]);
            let msg = format!("message {i}");
            let mut sig = sk.sign(msg.as_bytes()).0;
            if bad.contains(&i) {
                sig[40] ^= 1;
            }
            b.add(&sk.public_key().0, msg.as_bytes(), &sig);
        }
        b
    }

    #[test]
    fn valid_batches_pass_both_ways() {
        for n in [1, 2, 3, 64, 65, 300] {
            let b = batch(n, &[]);
            assert_eq!(b.verify(Strategy::Sequential), Ok(()), "{n}");
            assert_eq!(b.verify(Strategy::Parallel), Ok(()), "{n}");
        }
        assert_eq!(BatchVerifier::new().verify(Strategy::Parallel), Ok(()));
    }

    #[test]
    fn bisection_finds_every_bad_index() {
        let bad = vec![0, 7, 8, 150, 299];
        let b = batch(300, &bad).with_chunk_size(64);
        assert_eq!(b.verify(Strategy::Sequential), Err(BadSignatures { indices: bad.clone() }));
        assert_eq!(b.verify(Strategy::Parallel), Err(BadSignatures { indices: bad }));
    }

    #[test]
    fn malformed_items_are_invalid_not_fatal() {
        let mut b = batch(5, &[]);
        b.add(&[1, 2, 3], b"short key", &[0u8; 64]);
        b.add(&[0u8; 32], b"short sig", &[0u8; 10]);
        let mut s = batch(1, &[]).sigs[0];
        s[63] |= 0xf0; // S >= L
        b.add(&batch(1, &[]).keys[0], b"message 0", &s);
        assert_eq!(b.verify(Strategy::Parallel).unwrap_err().indices, vec![5, 6, 7]);
    }

    #[test]
    fn a_key_cache_gives_the_same_verdicts_cold_and_warm() {
        let bad = vec![3, 64, 65, 199];
        let mut b = batch(200, &bad);
        // An undecodable key (y = 2 is not on the curve) and a short one.
        let off_curve = (0u8..=255)
            .map(|x| {
                let mut k = [0u8; 32];
                k[0] = x;
                k
            })
            .find(|k| CompressedEdwardsY(*k).decompress().is_none())
            .unwrap();
        b.add(&off_curve, b"m", &[0u8; 64]);
        b.add(&[1, 2], b"m", &[0u8; 64]);
        let want: Vec<usize> = bad.iter().copied().chain([200, 201]).collect();
        let cache = KeyCache::new(64);
        for round in 0..3 {
            for strategy in [Strategy::Sequential, Strategy::Parallel] {
                assert_eq!(b.verify_cached(strategy, &cache).unwrap_err().indices, want, "round {round}");
            }
            assert!(!cache.is_empty() && cache.len() <= 64 + KeyCache::SHARDS, "bounded: {}", cache.len());
        }
        // A cached key decodes to what decompression gives.
        for k in &b.keys[..200] {
            assert_eq!(cache.decode(k), CompressedEdwardsY(*k).decompress());
        }
    }

    #[test]
    fn decoded_keys_mix_with_raw_keys() {
        let sk = SecretKey::from_seed(&[3; 32]);
        let vk = super::super::VerifyingKey::from_bytes(&sk.public_key().0).unwrap();
        let mut b = batch(10, &[4]);
        b.add_with_key(&vk, b"x", &sk.sign(b"x").0);
        b.add_with_key(&vk, b"y", &sk.sign(b"x").0);
        assert_eq!(b.verify(Strategy::Sequential).unwrap_err().indices, vec![4, 11]);
    }

    #[test]
    fn repeated_keys_are_coalesced_correctly() {
        let sk = SecretKey::from_seed(&[1; 32]);
        let mut b = BatchVerifier::new();
        for i in 0..100u32 {
            let m = i.to_le_bytes();
            let mut sig = sk.sign(&m).0;
            if i == 42 {
                sig[33] ^= 4;
            }
            b.add(&sk.public_key().0, &m, &sig);
        }
        assert_eq!(b.verify(Strategy::Sequential).unwrap_err().indices, vec![42]);
    }
}
