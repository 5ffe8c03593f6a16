//! The proof checks behind the host functions `groth16_verify` and
//! `merkle_verify`.
//!
//! Groth16 on BN254 with arkworks (`ark-groth16`): the verifying key and
//! the proof in arkworks' compressed canonical form (points checked to be
//! on the curve and in the prime-order subgroup), public inputs as 32-byte
//! little-endian canonical field elements. Prepared verifying keys are kept
//! in a small cache by BLAKE3 of their bytes: that saves the key's parsing,
//! subgroup checks and one pairing per call, and changes no gas (gas is a
//! formula of the sizes, charged before the work).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, VerifyingKey};
use ark_serialize::CanonicalDeserialize;

use crate::host::lock;
use crate::limits::{MAX_GROTH16_INPUTS, MAX_GROTH16_VK_BYTES, MAX_MERKLE_DEPTH};

/// Prepared keys kept at most.
const VK_CACHE: usize = 64;

/// What a Groth16 check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofCheck {
    /// The proof is valid for these inputs.
    Valid,
    /// Well-formed, but not a proof of these inputs.
    Invalid,
    /// The key, the proof or an input does not decode, or the number of
    /// inputs is not the key's.
    Malformed,
}

impl ProofCheck {
    /// The host function's return value: 1, 0, -1.
    pub fn code(self) -> i32 {
        match self {
            ProofCheck::Valid => 1,
            ProofCheck::Invalid => 0,
            ProofCheck::Malformed => -1,
        }
    }
}

/// Prepared keys by BLAKE3 of their bytes.
type KeyCache = Mutex<HashMap<[u8; 32], Arc<PreparedVerifyingKey<Bn254>>>>;

fn prepared(vk: &[u8]) -> Option<Arc<PreparedVerifyingKey<Bn254>>> {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    let id = *blake3::hash(vk).as_bytes();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = lock(cache).get(&id) {
        return Some(p.clone());
    }
    let key = VerifyingKey::<Bn254>::deserialize_compressed(vk).ok()?;
    let p = Arc::new(ark_groth16::prepare_verifying_key(&key));
    let mut c = lock(cache);
    if c.len() >= VK_CACHE {
        c.clear();
    }
    c.insert(id, p.clone());
    Some(p)
}

/// Checks `proof` for `inputs` (32 bytes each) under `vk`.
pub fn groth16_verify(vk: &[u8], proof: &[u8], inputs: &[u8]) -> ProofCheck {
    if vk.len() > MAX_GROTH16_VK_BYTES || !inputs.len().is_multiple_of(32) || inputs.len() / 32 > MAX_GROTH16_INPUTS {
        return ProofCheck::Malformed;
    }
    let Some(pvk) = prepared(vk) else { return ProofCheck::Malformed };
    if pvk.vk.gamma_abc_g1.len() != inputs.len() / 32 + 1 {
        return ProofCheck::Malformed;
    }
    let Ok(proof) = Proof::<Bn254>::deserialize_compressed(proof) else { return ProofCheck::Malformed };
    let mut xs = Vec::with_capacity(inputs.len() / 32);
    for chunk in inputs.chunks_exact(32) {
        match Fr::deserialize_compressed(chunk) {
            Ok(x) => xs.push(x),
            Err(_) => return ProofCheck::Malformed,
        }
    }
    match Groth16::<Bn254>::verify_proof(&pvk, &proof, &xs) {
        Ok(true) => ProofCheck::Valid,
        Ok(false) => ProofCheck::Invalid,
        Err(_) => ProofCheck::Malformed,
    }
}

/// Whether `leaf` (its data) is at `index` of `count` leaves in the
/// BLAKE3 Merkle tree with `root`, by the engine's rules (docs/protocol.md:
/// keyed leaf and node hashes, odd nodes carried up). `None` when the
/// proof has more than [`MAX_MERKLE_DEPTH`] siblings.
pub fn merkle_verify(root: &[u8; 32], leaf: &[u8], index: u64, count: u64, siblings: Vec<[u8; 32]>) -> Option<bool> {
    if siblings.len() > MAX_MERKLE_DEPTH {
        return None;
    }
    let proof = cinder_engine::merkle::Proof { index, leaf_count: count, siblings };
    Some(proof.verify(root, &cinder_engine::merkle::leaf_hash(leaf)))
}
