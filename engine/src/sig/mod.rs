//! ed25519 signatures with one validation rule: ZIP-215.
//!
//! Single verification ([`verify`]) and batch verification
//! ([`BatchVerifier`]) accept exactly the same signatures, on every input,
//! whatever else shares a batch. The rule (docs/design/signatures.md):
//!
//! - the public key `A` and the signature's `R` must decode to curve points;
//!   non-canonical encodings (`y >= p`) and points of small or mixed order are
//!   accepted;
//! - `S` must be canonical: `S < L`;
//! - `k = SHA-512(R_bytes || A_bytes || message)`, over the bytes as given;
//! - the **cofactored** equation must hold: `[8]R == [8]([S]B - [k]A)`.
//!
//! The cofactored equation is what makes batching exact: a random linear
//! combination of cofactored equations is zero exactly when each one is
//! (with probability 1 - 2^-128 over the batch coefficients). A cofactorless
//! check (ed25519-dalek's `verify_batch`) can accept or reject a crafted
//! mixed-order signature depending on its neighbours: a consensus split.
//!
//! Signed payloads are domain-separated where they are built
//! ([`signing_message`]); the verifiers take the final message bytes.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

mod batch;
mod vrf;

pub use batch::{BadSignatures, BatchVerifier, KeyCache, Strategy};
pub use vrf::{
    OUTPUT_LEN as VRF_OUTPUT_LEN, Output as VrfOutput, PROOF_LEN as VRF_PROOF_LEN, Proof as VrfProof, VrfError,
    vrf_verify,
};

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};

/// Length of a public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a secret key seed.
pub const SEED_LEN: usize = 32;

/// Why a signature was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The public key is not 32 bytes.
    #[error("public key must be {PUBLIC_KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
    /// The signature is not 64 bytes.
    #[error("signature must be {SIGNATURE_LEN} bytes, got {0}")]
    SignatureLength(usize),
    /// The public key does not decode to a curve point.
    #[error("public key is not a curve point")]
    BadKey,
    /// `R` does not decode, `S >= L`, or the equation does not hold.
    #[error("signature does not verify")]
    Invalid,
}

/// What a signature is for. The tag is prepended to the payload, so a
/// signature made for one purpose never verifies for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A transaction.
    Tx,
    /// A consensus vote.
    Vote,
    /// A block proposal.
    Proposal,
    /// Double-signing evidence.
    Evidence,
}

impl Domain {
    /// The tag bytes.
    pub fn tag(self) -> &'static [u8] {
        match self {
            Domain::Tx => b"CINDER_TX",
            Domain::Vote => b"CINDER_VOTE",
            Domain::Proposal => b"CINDER_PROPOSAL",
            Domain::Evidence => b"CINDER_EVIDENCE",
        }
    }
}

/// The bytes actually signed for `payload` in `domain`: the tag, a zero
/// byte (tags contain none), then the payload.
pub fn signing_message(domain: Domain, payload: &[u8]) -> Vec<u8> {
    let tag = domain.tag();
    let mut m = Vec::with_capacity(tag.len() + 1 + payload.len());
    m.extend_from_slice(tag);
    m.push(0);
    m.extend_from_slice(payload);
    m
}

/// An ed25519 public key (32 bytes, as encoded; not checked until used).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// From exactly 32 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, SigError> {
        b.try_into().map(PublicKey).map_err(|_| SigError::KeyLength(b.len()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

/// An ed25519 signature (`R || S`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl Signature {
    /// From exactly 64 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, SigError> {
        b.try_into().map(Signature).map_err(|_| SigError::SignatureLength(b.len()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// A secret signing key. Its bytes are wiped when it is dropped; `Debug`
/// never shows them.
pub struct SecretKey {
    seed: Zeroizing<[u8; SEED_LEN]>,
    signing: ed25519_zebra::SigningKey,
}

impl SecretKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        getrandom::fill(&mut seed[..])?;
        Ok(Self::from_seed(&seed))
    }

    /// The key for a 32-byte seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        SecretKey { seed: Zeroizing::new(*seed), signing: ed25519_zebra::SigningKey::from(*seed) }
    }

    /// The seed, for a keystore to encrypt. Wiped when the returned value drops.
    pub fn to_seed(&self) -> Zeroizing<[u8; SEED_LEN]> {
        self.seed.clone()
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(ed25519_zebra::VerificationKeyBytes::from(&self.signing).into())
    }

    /// Signs `message` (already domain-separated: see [`signing_message`]).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }

    /// Signs `payload` in `domain`.
    pub fn sign_in(&self, domain: Domain, payload: &[u8]) -> Signature {
        self.sign(&signing_message(domain, payload))
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.signing.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?}, secret redacted)", self.public_key())
    }
}

/// A public key decoded once, for keys used again and again (a validator
/// set, busy accounts): verification with it skips decoding the key, which
/// is a third to a half of a batch's cost per signature.
#[derive(Clone, Copy)]
pub struct VerifyingKey {
    bytes: [u8; PUBLIC_KEY_LEN],
    point: EdwardsPoint,
    zebra: ed25519_zebra::VerificationKey,
}

impl VerifyingKey {
    /// Decodes a key (ZIP-215: any encoding that decodes to a curve point).
    pub fn from_bytes(public_key: &[u8]) -> Result<Self, SigError> {
        let pk = PublicKey::from_slice(public_key)?;
        let point = CompressedEdwardsY(pk.0).decompress().ok_or(SigError::BadKey)?;
        let zebra = ed25519_zebra::VerificationKey::try_from(ed25519_zebra::VerificationKeyBytes::from(pk.0))
            .map_err(|_| SigError::BadKey)?;
        Ok(VerifyingKey { bytes: pk.0, point, zebra })
    }

    /// The encoded key, as given.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.bytes)
    }

    pub(crate) fn point(&self) -> EdwardsPoint {
        self.point
    }

    /// [`verify`] with this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SigError> {
        let sig = Signature::from_slice(signature)?;
        self.zebra.verify(&ed25519_zebra::Signature::from_bytes(&sig.0), message).map_err(|_| SigError::Invalid)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", hex::encode(self.bytes))
    }
}

/// Verifies one signature under the ZIP-215 rule. Takes raw bytes so that a
/// wrong-length key or signature is a rejection, not a panic.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SigError> {
    let pk = PublicKey::from_slice(public_key)?;
    let sig = Signature::from_slice(signature)?;
    let vk = ed25519_zebra::VerificationKey::try_from(ed25519_zebra::VerificationKeyBytes::from(pk.0))
        .map_err(|_| SigError::BadKey)?;
    vk.verify(&ed25519_zebra::Signature::from_bytes(&sig.0), message).map_err(|_| SigError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_domains() {
        let sk = SecretKey::from_seed(&[7u8; 32]);
        let pk = sk.public_key();
        let sig = sk.sign_in(Domain::Tx, b"pay bob 5");
        assert_eq!(verify(&pk.0, &signing_message(Domain::Tx, b"pay bob 5"), &sig.0), Ok(()));
        // The same payload in another domain does not verify.
        assert_eq!(verify(&pk.0, &signing_message(Domain::Vote, b"pay bob 5"), &sig.0), Err(SigError::Invalid));
        assert_eq!(verify(&pk.0, b"pay bob 5", &sig.0), Err(SigError::Invalid));
    }

    #[test]
    fn verifying_key_agrees_with_byte_verification() {
        let sk = SecretKey::from_seed(&[9u8; 32]);
        let vk = VerifyingKey::from_bytes(&sk.public_key().0).unwrap();
        let sig = sk.sign(b"m");
        assert_eq!(vk.verify(b"m", &sig.0), Ok(()));
        assert_eq!(vk.verify(b"n", &sig.0), Err(SigError::Invalid));
        assert_eq!(vk.public_key(), sk.public_key());
        // y = 2 is not on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(VerifyingKey::from_bytes(&not_a_point).unwrap_err(), SigError::BadKey);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert_eq!(verify(&[0u8; 31], b"", &[0u8; 64]), Err(SigError::KeyLength(31)));
        assert_eq!(verify(&[0u8; 32], b"", &[0u8; 65]), Err(SigError::SignatureLength(65)));
    }

    #[test]
    fn secret_key_debug_is_redacted() {
        let sk = SecretKey::from_seed(&[0xab; 32]);
        let s = format!("{sk:?}");
        assert!(!s.contains("abab"), "{s}");
        assert!(s.contains("redacted"));
        assert_eq!(*sk.to_seed(), [0xab; 32]);
        let fresh = SecretKey::generate().unwrap();
        assert_ne!(fresh.public_key(), sk.public_key());
    }
}
