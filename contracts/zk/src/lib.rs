//! # cinder-zk
//!
//! The zero-knowledge side of the identity contract
//! (`contracts/examples/identity`), off chain: a Groth16 circuit on BN254,
//! its setup, and the prover a credential holder runs. The node never links
//! this crate; it only verifies proofs, with the VM's `groth16_verify` host
//! function (`node/vm`).
//!
//! **The statement.** An issuer commits to a holder's attribute (a birth
//! year, a credit score: any integer below 2^32) as
//! `C = Poseidon(attribute, salt)` and registers `C` on chain. The holder
//! later proves "the attribute committed in `C` is at most `bound`" (born
//! in or before `bound`, so at least 18 years old when `bound` is this year
//! minus 18) without showing the attribute or the salt. Public inputs, in
//! order: `C`, `bound`.
//!
//! **The circuit** ([`AtMostCircuit`]): Poseidon over BN254's scalar field
//! (arkworks' sponge gadget: rate 2, capacity 1, alpha 5, 8 full and 57
//! partial rounds, constants from [`find_poseidon_ark_and_mds`]), the
//! attribute and `bound - attribute` each split into 32 bits, so that
//! `attribute <= bound` holds over the integers and not only modulo the
//! field. 1,2xx constraints: a proof takes tens of milliseconds.
//!
//! **Encodings** (what the contract stores and the host function takes):
//! the verifying key and the proof in arkworks' compressed canonical form
//! (the proof is 128 bytes), each public input as 32 bytes little-endian,
//! canonical (below the field's modulus).
//!
//! The setup here is one party's (a seeded RNG): fine for a devnet and the
//! tests; a production credential scheme runs a multi-party ceremony and
//! publishes its transcript.

use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use ark_bn254::{Bn254, Fr};
use ark_crypto_primitives::sponge::CryptographicSponge;
use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_crypto_primitives::sponge::poseidon::{PoseidonConfig, PoseidonSponge, find_poseidon_ark_and_mds};
use ark_ff::{PrimeField, UniformRand};
use ark_groth16::{Groth16, Proof, ProvingKey, VerifyingKey};
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::prelude::Boolean;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_snark::SNARK;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// Bits of a committed attribute (and of `bound - attribute`).
pub const ATTRIBUTE_BITS: usize = 32;

/// Poseidon's parameters for BN254's scalar field (rate 2, capacity 1).
pub fn poseidon_config() -> &'static PoseidonConfig<Fr> {
    static CONFIG: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(u64::from(Fr::MODULUS_BIT_SIZE), 2, 8, 57, 0);
        PoseidonConfig::new(8, 57, 5, mds, ark, 2, 1)
    })
}

/// The commitment to `attribute` with `salt`: `Poseidon(attribute, salt)`.
pub fn commit(attribute: u32, salt: Fr) -> Fr {
    let mut sponge = PoseidonSponge::new(poseidon_config());
    sponge.absorb(&Fr::from(attribute));
    sponge.absorb(&salt);
    let out: Vec<Fr> = sponge.squeeze_field_elements(1);
    out[0]
}

/// "The attribute committed in `commitment` is at most `bound`": the
/// witness (attribute, salt) is `None` during setup.
#[derive(Clone, Debug)]
pub struct AtMostCircuit {
    /// The committed attribute (secret).
    pub attribute: Option<u32>,
    /// The commitment's salt (secret).
    pub salt: Option<Fr>,
    /// The commitment (public input 1).
    pub commitment: Option<Fr>,
    /// The bound (public input 2).
    pub bound: Option<u32>,
}

/// Splits `value` (whose integer is `native`) into `ATTRIBUTE_BITS` bits
/// and constrains their sum to equal it: `value < 2^32`.
fn range_check(cs: &ConstraintSystemRef<Fr>, value: &FpVar<Fr>, native: Option<u64>) -> Result<(), SynthesisError> {
    let mut sum = FpVar::<Fr>::Constant(Fr::from(0u64));
    let mut weight = Fr::from(1u64);
    for i in 0..ATTRIBUTE_BITS {
        let bit = Boolean::new_witness(cs.clone(), || {
            native.map(|n| (n >> i) & 1 == 1).ok_or(SynthesisError::AssignmentMissing)
        })?;
        sum += FpVar::from(bit) * weight;
        weight += weight;
    }
    sum.enforce_equal(value)
}

impl ConstraintSynthesizer<Fr> for AtMostCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let missing = SynthesisError::AssignmentMissing;
        let commitment = FpVar::new_input(cs.clone(), || self.commitment.ok_or(missing))?;
        let bound = FpVar::new_input(cs.clone(), || self.bound.map(Fr::from).ok_or(missing))?;
        let attribute = FpVar::new_witness(cs.clone(), || self.attribute.map(Fr::from).ok_or(missing))?;
        let salt = FpVar::new_witness(cs.clone(), || self.salt.ok_or(missing))?;

        let mut sponge = PoseidonSpongeVar::new(cs.clone(), poseidon_config());
        sponge.absorb(&attribute)?;
        sponge.absorb(&salt)?;
        let hashed = sponge.squeeze_field_elements(1)?;
        hashed[0].enforce_equal(&commitment)?;

        range_check(&cs, &attribute, self.attribute.map(u64::from))?;
        let gap = &bound - &attribute;
        // A dishonest witness (attribute > bound) gets some bits: the sum
        // cannot equal the field's `bound - attribute`, so no proof exists.
        let native_gap = self.attribute.zip(self.bound).map(|(a, b)| u64::from(b.wrapping_sub(a)));
        range_check(&cs, &gap, native_gap)
    }
}

/// A proving key and its verifying key.
pub struct Keys {
    /// What the holder proves with.
    pub pk: ProvingKey<Bn254>,
    /// What the contract stores and verifies with.
    pub vk: VerifyingKey<Bn254>,
}

/// The circuit's keys from a 32-byte seed (a one-party setup: the seed's
/// holder could forge proofs; see the crate's documentation).
pub fn setup(seed: [u8; 32]) -> Result<Keys> {
    let mut rng = ChaCha20Rng::from_seed(seed);
    let blank = AtMostCircuit { attribute: None, salt: None, commitment: None, bound: None };
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(blank, &mut rng).context("the Groth16 setup failed")?;
    Ok(Keys { pk, vk })
}

/// A salt drawn from `seed` (tests and known answers) — a real issuer
/// draws it from the operating system's RNG ([`random_salt`]).
pub fn salt_from_seed(seed: [u8; 32]) -> Fr {
    Fr::rand(&mut ChaCha20Rng::from_seed(seed))
}

/// A fresh random salt.
pub fn random_salt() -> Result<Fr> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(salt_from_seed(seed))
}

/// A proof that the attribute in `commit(attribute, salt)` is at most
/// `bound`; `Err` when it is not (no proof exists).
pub fn prove(pk: &ProvingKey<Bn254>, attribute: u32, salt: Fr, bound: u32, rng_seed: [u8; 32]) -> Result<Proof<Bn254>> {
    if attribute > bound {
        bail!("the attribute {attribute} is above the bound {bound}: there is no proof");
    }
    let circuit = AtMostCircuit {
        attribute: Some(attribute),
        salt: Some(salt),
        commitment: Some(commit(attribute, salt)),
        bound: Some(bound),
    };
    let mut rng = ChaCha20Rng::from_seed(rng_seed);
    Groth16::<Bn254>::prove(pk, circuit, &mut rng).context("proving failed")
}

/// The public inputs of a proof about `commitment` and `bound`, in the
/// chain's encoding (32 bytes little-endian each).
pub fn public_inputs(commitment: Fr, bound: u32) -> Vec<[u8; 32]> {
    vec![field_bytes(&commitment), field_bytes(&Fr::from(bound))]
}

/// A field element as 32 bytes, little-endian.
pub fn field_bytes(f: &Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    // A field element's canonical form is exactly 32 bytes.
    let mut buf = Vec::with_capacity(32);
    if f.serialize_compressed(&mut buf).is_ok() {
        out.copy_from_slice(&buf[..32]);
    }
    out
}

/// A field element from 32 canonical little-endian bytes.
pub fn field_from_bytes(b: &[u8]) -> Result<Fr> {
    if b.len() != 32 {
        bail!("a field element is 32 bytes, not {}", b.len());
    }
    Fr::deserialize_compressed(b).map_err(|e| anyhow::anyhow!("not a canonical field element: {e}"))
}

/// Any arkworks value in its compressed canonical form.
pub fn to_bytes<T: CanonicalSerialize>(v: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(v.compressed_size());
    // Writing to a Vec does not fail.
    let _ = v.serialize_compressed(&mut buf);
    buf
}

/// Checks a proof the way the chain does (the oracle for the host
/// function's tests).
pub fn verify(vk: &VerifyingKey<Bn254>, inputs: &[[u8; 32]], proof: &Proof<Bn254>) -> Result<bool> {
    let inputs: Vec<Fr> = inputs.iter().map(|b| field_from_bytes(b)).collect::<Result<_>>()?;
    Groth16::<Bn254>::verify(vk, &inputs, proof).context("verification failed")
}

/// The known-answer vector: fixed seeds, so anyone can regenerate it.
pub mod kat {
    use super::*;

    /// The setup's seed.
    pub const SETUP_SEED: [u8; 32] = [0x11; 32];
    /// The salt's seed.
    pub const SALT_SEED: [u8; 32] = [0x22; 32];
    /// The prover's seed.
    pub const PROOF_SEED: [u8; 32] = [0x33; 32];
    /// The committed attribute (a birth year).
    pub const ATTRIBUTE: u32 = 1990;
    /// The bound proven (born in or before 2008).
    pub const BOUND: u32 = 2008;

    /// The vector as JSON: verifying key, proof, public inputs (hex).
    pub fn json() -> Result<String> {
        let keys = setup(SETUP_SEED)?;
        let salt = salt_from_seed(SALT_SEED);
        let proof = prove(&keys.pk, ATTRIBUTE, salt, BOUND, PROOF_SEED)?;
        let inputs = public_inputs(commit(ATTRIBUTE, salt), BOUND);
        Ok(format!(
            "{{\n  \"provenance\": \"cinder-zk kat: setup seed 0x11 x 32, salt seed 0x22 x 32, proof seed 0x33 x 32, attribute 1990, bound 2008 (arkworks 0.5 Groth16 on BN254, ChaCha20 RNG)\",\n  \"vk\": \"{}\",\n  \"proof\": \"{}\",\n  \"inputs\": [\"{}\", \"{}\"]\n}}",
            hex::encode(to_bytes(&keys.vk)),
            hex::encode(to_bytes(&proof)),
            hex::encode(inputs[0]),
            hex::encode(inputs[1])
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_honest_proof_verifies_and_a_false_statement_has_none() {
        let keys = setup([7; 32]).unwrap();
        let salt = salt_from_seed([1; 32]);
        let c = commit(1990, salt);
        let proof = prove(&keys.pk, 1990, salt, 2008, [2; 32]).unwrap();
        assert!(verify(&keys.vk, &public_inputs(c, 2008), &proof).unwrap());
        // The same proof for another bound or commitment fails.
        assert!(!verify(&keys.vk, &public_inputs(c, 2007), &proof).unwrap());
        assert!(!verify(&keys.vk, &public_inputs(commit(1990, salt_from_seed([3; 32])), 2008), &proof).unwrap());
        // The bound itself passes; one past it has no proof.
        assert!(prove(&keys.pk, 2008, salt, 2008, [2; 32]).is_ok());
        assert!(prove(&keys.pk, 2009, salt, 2008, [2; 32]).is_err());
    }

    #[test]
    fn a_lying_witness_does_not_satisfy_the_circuit() {
        use ark_relations::r1cs::ConstraintSystem;
        let salt = salt_from_seed([1; 32]);
        // attribute 2010 > bound 2008, forced past `prove`'s check.
        let c = AtMostCircuit {
            attribute: Some(2010),
            salt: Some(salt),
            commitment: Some(commit(2010, salt)),
            bound: Some(2008),
        };
        let cs = ConstraintSystem::<Fr>::new_ref();
        c.generate_constraints(cs.clone()).unwrap();
        assert!(!cs.is_satisfied().unwrap());
        // The honest one is satisfied; a wrong commitment is not.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let ok = AtMostCircuit {
            attribute: Some(1990),
            salt: Some(salt),
            commitment: Some(commit(1990, salt)),
            bound: Some(2008),
        };
        ok.generate_constraints(cs.clone()).unwrap();
        assert!(cs.is_satisfied().unwrap());
        let cs = ConstraintSystem::<Fr>::new_ref();
        let bad = AtMostCircuit {
            attribute: Some(1990),
            salt: Some(salt),
            commitment: Some(commit(1991, salt)),
            bound: Some(2008),
        };
        bad.generate_constraints(cs.clone()).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }

    #[test]
    fn setup_and_proofs_are_deterministic_from_their_seeds() {
        let a = setup([9; 32]).unwrap();
        let b = setup([9; 32]).unwrap();
        assert_eq!(to_bytes(&a.vk), to_bytes(&b.vk));
        let salt = salt_from_seed([4; 32]);
        let p1 = prove(&a.pk, 2000, salt, 2008, [5; 32]).unwrap();
        let p2 = prove(&b.pk, 2000, salt, 2008, [5; 32]).unwrap();
        assert_eq!(to_bytes(&p1), to_bytes(&p2));
        assert_eq!(to_bytes(&p1).len(), 128);
    }

    #[test]
    fn field_bytes_round_trip_and_refuse_non_canonical_values() {
        let f = salt_from_seed([6; 32]);
        assert_eq!(field_from_bytes(&field_bytes(&f)).unwrap(), f);
        assert!(field_from_bytes(&[0xff; 32]).is_err());
        assert!(field_from_bytes(&[0; 31]).is_err());
    }
}
