//! The proof host functions' checks: Groth16 (BN254) against the
//! known-answer vector of `cinder-zk kat` (tests/vectors/groth16_age.json)
//! and tampered proofs, keys and inputs; BLAKE3 Merkle inclusion against
//! the engine's trees.

use cinder_engine::merkle::{Tree, leaf_hash};
use cinder_vm::zk::{ProofCheck, groth16_verify, merkle_verify};
use proptest::prelude::*;

struct Kat {
    vk: Vec<u8>,
    proof: Vec<u8>,
    inputs: Vec<u8>,
}

fn kat() -> Kat {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../vectors/groth16_age.json")).expect("the vector is JSON");
    let h = |k: &serde_json::Value| hex::decode(k.as_str().expect("hex")).expect("hex");
    let inputs = v["inputs"].as_array().expect("inputs").iter().flat_map(h).collect();
    Kat { vk: h(&v["vk"]), proof: h(&v["proof"]), inputs }
}

#[test]
fn the_known_answer_proof_verifies() {
    let k = kat();
    assert_eq!(k.proof.len(), 128);
    assert_eq!(groth16_verify(&k.vk, &k.proof, &k.inputs), ProofCheck::Valid);
}

#[test]
fn the_vector_is_what_the_prover_makes_today() {
    let fresh = cinder_zk::kat::json().expect("the prover runs");
    let stored = include_str!("../vectors/groth16_age.json");
    assert_eq!(fresh.trim(), stored.trim(), "regenerate with `cinder-zk kat`");
}

#[test]
fn wrong_inputs_fail() {
    let k = kat();
    // Another bound (2007 instead of 2008).
    let mut inputs = k.inputs.clone();
    inputs[32] = 0xd7;
    assert_eq!(groth16_verify(&k.vk, &k.proof, &inputs), ProofCheck::Invalid);
    // Another commitment.
    let mut inputs = k.inputs.clone();
    inputs[0] ^= 1;
    assert_eq!(groth16_verify(&k.vk, &k.proof, &inputs), ProofCheck::Invalid);
    // Inputs swapped.
    let swapped = [&k.inputs[32..], &k.inputs[..32]].concat();
    assert_ne!(groth16_verify(&k.vk, &k.proof, &swapped), ProofCheck::Valid);
    // Too few, too many, not a multiple of 32, not canonical (>= the modulus).
    assert_eq!(groth16_verify(&k.vk, &k.proof, &k.inputs[..32]), ProofCheck::Malformed);
    assert_eq!(groth16_verify(&k.vk, &k.proof, &[k.inputs.clone(), vec![0; 32]].concat()), ProofCheck::Malformed);
    assert_eq!(groth16_verify(&k.vk, &k.proof, &k.inputs[..40]), ProofCheck::Malformed);
    let mut inputs = k.inputs.clone();
    inputs[32..].fill(0xff);
    assert_eq!(groth16_verify(&k.vk, &k.proof, &inputs), ProofCheck::Malformed);
}

#[test]
fn a_tampered_proof_or_key_fails() {
    let k = kat();
    // Every byte of the proof, flipped: never valid.
    for i in 0..k.proof.len() {
        let mut p = k.proof.clone();
        p[i] ^= 0x01;
        assert_ne!(groth16_verify(&k.vk, &p, &k.inputs), ProofCheck::Valid, "proof byte {i}");
    }
    assert_eq!(groth16_verify(&k.vk, &k.proof[..127], &k.inputs), ProofCheck::Malformed);
    assert_eq!(groth16_verify(&k.vk, &[], &k.inputs), ProofCheck::Malformed);
    // Another setup's key does not accept this proof.
    let other = cinder_zk::to_bytes(&cinder_zk::setup([0x44; 32]).expect("setup").vk);
    assert_eq!(groth16_verify(&other, &k.proof, &k.inputs), ProofCheck::Invalid);
    // A damaged key.
    let mut vk = k.vk.clone();
    vk[5] ^= 0x10;
    assert_ne!(groth16_verify(&vk, &k.proof, &k.inputs), ProofCheck::Valid);
    assert_eq!(groth16_verify(&k.vk[..100], &k.proof, &k.inputs), ProofCheck::Malformed);
    assert_eq!(groth16_verify(&[], &k.proof, &k.inputs), ProofCheck::Malformed);
}

#[test]
fn merkle_proofs_of_the_engines_trees_verify_and_nothing_else_does() {
    for n in [1u64, 2, 3, 5, 8, 13, 100] {
        let data: Vec<Vec<u8>> = (0..n).map(|i| format!("record {i}").into_bytes()).collect();
        let tree = Tree::new(data.iter().map(|d| leaf_hash(d)).collect());
        let root = tree.root();
        for i in 0..n {
            let p = tree.proof(i).expect("in range");
            assert_eq!(merkle_verify(&root, &data[i as usize], i, n, p.siblings.clone()), Some(true));
            // Wrong data, index or root. (The count only shapes the path: the
            // root does not commit to it, as in RFC 6962.)
            assert_eq!(merkle_verify(&root, b"forged", i, n, p.siblings.clone()), Some(false));
            if n > 1 {
                assert_eq!(merkle_verify(&root, &data[i as usize], (i + 1) % n, n, p.siblings.clone()), Some(false));
            }
            assert_eq!(merkle_verify(&[0; 32], &data[i as usize], i, n, p.siblings), Some(false));
        }
        assert_eq!(merkle_verify(&root, &data[0], n, n, vec![]), Some(false));
    }
    assert_eq!(merkle_verify(&[0; 32], b"x", 0, 1, vec![[0; 32]; 65]), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_proof_bytes_never_verify(bytes in proptest::collection::vec(any::<u8>(), 128)) {
        let k = kat();
        prop_assert_ne!(groth16_verify(&k.vk, &bytes, &k.inputs), ProofCheck::Valid);
    }
}
