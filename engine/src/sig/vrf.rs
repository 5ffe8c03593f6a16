//! ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03): a verifiable
//! random function on the validators' own ed25519 keys.
//!
//! For one key and one input there is exactly one output a verifier
//! accepts (the proof pins `Gamma = x * H(alpha)`), unlike an ed25519
//! signature, whose nonce the signer may choose freely. That uniqueness is
//! what makes a VRF output usable as a proposer-selection seed: the only
//! choice its owner has is to publish it or not (docs/design/pos.md).
//!
//! Written here on curve25519-dalek (no maintained crate implements the
//! final RFC 9381 suite on ed25519 keys); it is held to the RFC's
//! Appendix B.3 vectors (tests/vectors/ecvrf_edwards25519_sha512_tai.json,
//! checked in tests/tests/it/signatures.rs).

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::{SEED_LEN, SecretKey};

/// The suite string of ECVRF-EDWARDS25519-SHA512-TAI.
const SUITE: u8 = 0x03;
/// Proof length: Gamma (32), c (16), s (32).
pub const PROOF_LEN: usize = 80;
/// Output length (SHA-512).
pub const OUTPUT_LEN: usize = 64;

/// A VRF proof (`pi_string`).
pub type Proof = [u8; PROOF_LEN];
/// A VRF output (`beta_string`).
pub type Output = [u8; OUTPUT_LEN];

/// Why a proof is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VrfError {
    /// The public key does not decode to a point.
    #[error("the VRF public key is not a curve point")]
    BadKey,
    /// The public key has small order (anyone could prove for it).
    #[error("the VRF public key has small order")]
    SmallOrderKey,
    /// Gamma does not decode, or `s` is not below the group order.
    #[error("the VRF proof does not decode")]
    BadProof,
    /// The challenge does not match: a wrong key, input or proof.
    #[error("the VRF proof does not verify")]
    Mismatch,
    /// No point found for the input (probability 2^-256).
    #[error("no curve point for the VRF input")]
    NoPoint,
}

/// The secret scalar and the hash prefix of RFC 8032 5.1.5.
fn expand(seed: &[u8; SEED_LEN]) -> (Scalar, Zeroizing<[u8; 32]>) {
    let h: [u8; 64] = Sha512::digest(seed).into();
    let mut x = Zeroizing::new([0u8; 32]);
    x.copy_from_slice(&h[..32]);
    x[0] &= 248;
    x[31] &= 127;
    x[31] |= 64;
    let mut prefix = Zeroizing::new([0u8; 32]);
    prefix.copy_from_slice(&h[32..]);
    (Scalar::from_bytes_mod_order(*x), prefix)
}

/// ECVRF_encode_to_curve_try_and_increment (RFC 9381 5.4.1.1), the salt
/// being the public key as given.
fn encode_to_curve(pk: &[u8; 32], alpha: &[u8]) -> Result<EdwardsPoint, VrfError> {
    for ctr in 0..=u8::MAX {
        let hash: [u8; 64] = Sha512::new()
            .chain_update([SUITE, 0x01])
            .chain_update(pk)
            .chain_update(alpha)
            .chain_update([ctr, 0x00])
            .finalize()
            .into();
        let mut candidate = [0u8; 32];
        candidate.copy_from_slice(&hash[..32]);
        if let Some(p) = CompressedEdwardsY(candidate).decompress() {
            return Ok(p.mul_by_cofactor());
        }
    }
    Err(VrfError::NoPoint)
}

/// ECVRF_challenge_generation (RFC 9381 5.4.3): the first 16 bytes.
fn challenge(points: [&EdwardsPoint; 5]) -> [u8; 16] {
    let mut h = Sha512::new().chain_update([SUITE, 0x02]);
    for p in points {
        h.update(p.compress().as_bytes());
    }
    let d: [u8; 64] = h.chain_update([0x00]).finalize().into();
    let mut c = [0u8; 16];
    c.copy_from_slice(&d[..16]);
    c
}

fn scalar_of_challenge(c: &[u8; 16]) -> Scalar {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(c);
    Scalar::from_bytes_mod_order(b)
}

/// ECVRF_proof_to_hash (RFC 9381 5.2) of a decoded Gamma.
fn output_of(gamma: &EdwardsPoint) -> Output {
    Sha512::new()
        .chain_update([SUITE, 0x03])
        .chain_update(gamma.mul_by_cofactor().compress().as_bytes())
        .chain_update([0x00])
        .finalize()
        .into()
}

impl SecretKey {
    /// The VRF proof for `alpha` (RFC 9381 5.1) and its output; the same
    /// key and input always give the same proof.
    pub fn vrf_prove(&self, alpha: &[u8]) -> Result<(Proof, Output), VrfError> {
        let (x, prefix) = expand(&self.seed);
        let pk = self.public_key().0;
        let h = encode_to_curve(&pk, alpha)?;
        let h_string = h.compress().to_bytes();
        let gamma = h * x;
        // ECVRF_nonce_generation_RFC8032 (5.4.2.2).
        let k_hash: [u8; 64] = Sha512::new().chain_update(&prefix[..]).chain_update(h_string).finalize().into();
        let k = Zeroizing::new(Scalar::from_bytes_mod_order_wide(&k_hash));
        let y = EdwardsPoint::mul_base(&x);
        let c = challenge([&y, &h, &gamma, &EdwardsPoint::mul_base(&k), &(h * *k)]);
        let s = *k + scalar_of_challenge(&c) * x;
        let mut pi = [0u8; PROOF_LEN];
        pi[..32].copy_from_slice(gamma.compress().as_bytes());
        pi[32..48].copy_from_slice(&c);
        pi[48..].copy_from_slice(s.as_bytes());
        Ok((pi, output_of(&gamma)))
    }
}

/// Verifies `proof` of `alpha` under public key `pk` (RFC 9381 5.3, with
/// the key validation of 5.4.5) and returns the output.
pub fn vrf_verify(pk: &[u8; 32], alpha: &[u8], proof: &Proof) -> Result<Output, VrfError> {
    let y = CompressedEdwardsY(*pk).decompress().ok_or(VrfError::BadKey)?;
    if y.is_small_order() {
        return Err(VrfError::SmallOrderKey);
    }
    let mut g = [0u8; 32];
    g.copy_from_slice(&proof[..32]);
    let gamma = CompressedEdwardsY(g).decompress().ok_or(VrfError::BadProof)?;
    let mut c = [0u8; 16];
    c.copy_from_slice(&proof[32..48]);
    let mut s = [0u8; 32];
    s.copy_from_slice(&proof[48..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).ok_or(VrfError::BadProof)?;
    let h = encode_to_curve(pk, alpha)?;
    let cs = scalar_of_challenge(&c);
    let u = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-cs, &y, &s);
    let v = h * s - gamma * cs;
    if challenge([&y, &h, &gamma, &u, &v]) != c {
        return Err(VrfError::Mismatch);
    }
    Ok(output_of(&gamma))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32])
    }

    #[test]
    fn proofs_are_deterministic_and_verify() {
        let k = seed(7);
        let (p1, o1) = k.vrf_prove(b"height 5").unwrap();
        let (p2, o2) = k.vrf_prove(b"height 5").unwrap();
        assert_eq!((p1, o1), (p2, o2));
        assert_eq!(vrf_verify(&k.public_key().0, b"height 5", &p1), Ok(o1));
        let (_, o3) = k.vrf_prove(b"height 6").unwrap();
        assert_ne!(o1, o3);
    }

    #[test]
    fn wrong_key_input_or_bytes_are_refused() {
        let k = seed(7);
        let (pi, _) = k.vrf_prove(b"a").unwrap();
        assert_eq!(vrf_verify(&seed(8).public_key().0, b"a", &pi), Err(VrfError::Mismatch));
        assert_eq!(vrf_verify(&k.public_key().0, b"b", &pi), Err(VrfError::Mismatch));
        for i in [0, 31, 32, 47, 48, 79] {
            let mut bad = pi;
            bad[i] ^= 0x01;
            assert!(vrf_verify(&k.public_key().0, b"a", &bad).is_err(), "byte {i}");
        }
        let mut high_s = pi;
        high_s[79] = 0xff;
        assert_eq!(vrf_verify(&k.public_key().0, b"a", &high_s), Err(VrfError::BadProof));
        let identity = EdwardsPoint::mul_base(&Scalar::ZERO).compress().to_bytes();
        assert_eq!(vrf_verify(&identity, b"a", &pi), Err(VrfError::SmallOrderKey));
    }
}
