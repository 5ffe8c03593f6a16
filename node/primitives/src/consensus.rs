//! Proof-of-stake consensus messages as signed and gossiped: votes,
//! proposals, double-vote evidence and commit certificates, with batch
//! verification of votes.
//!
//! Each is signed over its canonical encoding under its own domain
//! (`CINDER_VOTE`, `CINDER_PROPOSAL`), and carries the chain id, so a
//! signature never verifies for another purpose or another chain. The
//! voting rules themselves live in cinder-bft; these are their wire form
//! (the block id is the value voted on).

use std::io::{self, Read, Write};

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_engine::sig::{self, BatchVerifier, Domain, Strategy, VerifyingKey};

use crate::codec::{Limited, encode};
use crate::types::Hash;

/// The encoding version of consensus messages.
pub const CONSENSUS_VERSION: u8 = 1;

/// Prevote or precommit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub enum VoteType {
    /// The first vote of a round.
    Prevote,
    /// The second.
    Precommit,
}

/// A vote, as signed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct VoteData {
    /// [`CONSENSUS_VERSION`].
    pub version: u8,
    /// The chain it is for.
    pub chain_id: u64,
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// Prevote or precommit.
    pub kind: VoteType,
    /// The block voted for; `None` is nil.
    pub block: Option<Hash>,
    /// The voter's index in the height's validator set.
    pub validator: u16,
}

impl VoteData {
    /// The bytes signed: the encoding under the vote domain.
    pub fn signing_message(&self) -> Vec<u8> {
        sig::signing_message(Domain::Vote, &encode(self))
    }
    /// Signs with `key`.
    pub fn sign(self, key: &sig::SecretKey) -> SignedVote {
        let signature = key.sign(&self.signing_message());
        SignedVote { data: self, signature }
    }
}

/// A vote and its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedVote {
    /// The vote.
    pub data: VoteData,
    /// ed25519 over [`VoteData::signing_message`].
    pub signature: sig::Signature,
}

/// A proposal, as signed: the proposer's block for a round.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ProposalData {
    /// [`CONSENSUS_VERSION`].
    pub version: u8,
    /// The chain it is for.
    pub chain_id: u64,
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The proposed block's id.
    pub block: Hash,
    /// The round of the polka that lets a locked value be proposed again.
    pub pol_round: Option<u32>,
    /// The proposer's index in the height's validator set.
    pub proposer: u16,
}

impl ProposalData {
    /// The bytes signed: the encoding under the proposal domain.
    pub fn signing_message(&self) -> Vec<u8> {
        sig::signing_message(Domain::Proposal, &encode(self))
    }
    /// Signs with `key`.
    pub fn sign(self, key: &sig::SecretKey) -> SignedProposal {
        let signature = key.sign(&self.signing_message());
        SignedProposal { data: self, signature }
    }
}

/// A proposal and its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedProposal {
    /// The proposal.
    pub data: ProposalData,
    /// ed25519 over [`ProposalData::signing_message`].
    pub signature: sig::Signature,
}

macro_rules! signed_borsh {
    ($t:ty, $data:ty, $name:literal, $max:expr) => {
        impl BorshSerialize for $t {
            fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
                self.data.serialize(w)?;
                self.signature.0.serialize(w)
            }
        }
        impl BorshDeserialize for $t {
            fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
                let data = <$data>::deserialize_reader(r)?;
                if data.version != CONSENSUS_VERSION {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} version {}, expected {CONSENSUS_VERSION}", $name, data.version),
                    ));
                }
                let signature = sig::Signature(<[u8; 64]>::deserialize_reader(r)?);
                Ok(Self { data, signature })
            }
        }
        impl Limited for $t {
            const NAME: &'static str = $name;
            const MAX_BYTES: usize = $max;
        }
    };
}

signed_borsh!(SignedVote, VoteData, "signed vote", 256);
signed_borsh!(SignedProposal, ProposalData, "signed proposal", 256);

/// Why a piece of double-vote evidence proves nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The two votes differ in more than their block.
    #[error("the votes are not of one validator, chain, height, round and kind")]
    NotComparable,
    /// They agree: no conflict.
    #[error("the votes name the same block")]
    SameBlock,
    /// A signature does not verify under the validator's key.
    #[error("vote {0}'s signature does not verify")]
    BadSignature(u8),
}

/// Two conflicting votes of one validator: its proof of double-signing.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DoubleVote {
    /// One vote.
    pub first: SignedVote,
    /// The other, for a different block (or nil).
    pub second: SignedVote,
}

impl Limited for DoubleVote {
    const NAME: &'static str = "double-vote evidence";
    const MAX_BYTES: usize = 512;
}

impl DoubleVote {
    /// Checks that the two votes are of the validator whose key is `key`,
    /// for one chain, height, round and kind, name different blocks, and
    /// are both signed by it.
    pub fn check(&self, key: &VerifyingKey) -> Result<(), EvidenceError> {
        let (a, b) = (&self.first.data, &self.second.data);
        if (a.version, a.chain_id, a.height, a.round, a.kind, a.validator)
            != (b.version, b.chain_id, b.height, b.round, b.kind, b.validator)
        {
            return Err(EvidenceError::NotComparable);
        }
        if a.block == b.block {
            return Err(EvidenceError::SameBlock);
        }
        for (i, v) in [(0u8, &self.first), (1u8, &self.second)] {
            key.verify(&v.data.signing_message(), &v.signature.0).map_err(|_| EvidenceError::BadSignature(i))?;
        }
        Ok(())
    }
}

/// Verifies the signatures of `votes` as one batch (the engine's, over
/// the current rayon pool): the verdict of each, in order. `keys[i]` is
/// validator i's key; a vote naming no validator is invalid.
pub fn verify_votes(votes: &[SignedVote], keys: &[VerifyingKey]) -> Vec<bool> {
    let mut ok = vec![false; votes.len()];
    let mut batch = BatchVerifier::with_capacity(votes.len(), 96);
    let mut slots = Vec::with_capacity(votes.len());
    for (i, v) in votes.iter().enumerate() {
        if let Some(key) = keys.get(usize::from(v.data.validator)) {
            batch.add_with_key(key, &v.data.signing_message(), &v.signature.0);
            slots.push(i);
        }
    }
    let bad = match batch.verify(Strategy::Parallel) {
        Ok(()) => Vec::new(),
        Err(e) => e.indices,
    };
    for (k, i) in slots.iter().enumerate() {
        if let Some(slot) = ok.get_mut(*i) {
            *slot = bad.binary_search(&k).is_err();
        }
    }
    ok
}

/// Why a commit certificate proves nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// No precommits.
    #[error("a certificate needs precommits")]
    Empty,
    /// A vote that is not a precommit for the certificate's block, or of
    /// another chain, height or round.
    #[error("vote {0} is not a precommit for the certified block")]
    Mismatch(usize),
    /// Validator indices not strictly increasing (a repeat, or unsorted).
    #[error("validator indices must be strictly increasing (at entry {0})")]
    Order(usize),
    /// An index outside the validator set.
    #[error("validator {0} is not in the set")]
    Unknown(u16),
    /// Signatures that do not verify (entry indices).
    #[error("{} signatures do not verify (first at entry {})", .0.len(), .0.first().copied().unwrap_or(0))]
    BadSignatures(Vec<usize>),
    /// The signers hold no more than 2/3 of the power.
    #[error("the signers hold {power} of {total}: not more than 2/3")]
    NoQuorum {
        /// Signed.
        power: u128,
        /// All.
        total: u128,
    },
}

/// The precommits that decided a block, compactly: the block and round
/// once, then each signer's index and signature. The next header carries
/// it, so anyone holding the validator set can check that a block is
/// final with one batch verification.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitCertificate {
    /// [`CONSENSUS_VERSION`].
    pub version: u8,
    /// The chain.
    pub chain_id: u64,
    /// The decided height.
    pub height: u64,
    /// The round it was decided in.
    pub round: u32,
    /// The decided block.
    pub block: Hash,
    /// Signers (strictly increasing index) and their precommit signatures.
    pub signatures: Vec<(u16, [u8; 64])>,
}

impl Limited for CommitCertificate {
    const NAME: &'static str = "commit certificate";
    /// 1,024 validators of 66 bytes each, and the fields.
    const MAX_BYTES: usize = 1_024 * 66 + 128;
}

impl CommitCertificate {
    /// The certificate of `precommits` (all for one chain, height, round
    /// and block; any order).
    pub fn from_votes(precommits: &[SignedVote]) -> Result<CommitCertificate, CertError> {
        let first = precommits.first().ok_or(CertError::Empty)?;
        let d = &first.data;
        let Some(block) = d.block else { return Err(CertError::Mismatch(0)) };
        let mut signatures = Vec::with_capacity(precommits.len());
        for (i, v) in precommits.iter().enumerate() {
            let e = &v.data;
            if e.kind != VoteType::Precommit
                || (e.version, e.chain_id, e.height, e.round, e.block)
                    != (d.version, d.chain_id, d.height, d.round, Some(block))
            {
                return Err(CertError::Mismatch(i));
            }
            signatures.push((e.validator, v.signature.0));
        }
        signatures.sort_by_key(|(i, _)| *i);
        if let Some(k) = signatures.windows(2).position(|w| matches!(w, [a, b] if a.0 == b.0)) {
            return Err(CertError::Order(k.saturating_add(1)));
        }
        Ok(CommitCertificate {
            version: d.version,
            chain_id: d.chain_id,
            height: d.height,
            round: d.round,
            block,
            signatures,
        })
    }

    /// The signed precommits it stands for.
    pub fn votes(&self) -> impl Iterator<Item = SignedVote> + '_ {
        self.signatures.iter().map(|(validator, sig)| SignedVote {
            data: VoteData {
                version: self.version,
                chain_id: self.chain_id,
                height: self.height,
                round: self.round,
                kind: VoteType::Precommit,
                block: Some(self.block),
                validator: *validator,
            },
            signature: sig::Signature(*sig),
        })
    }

    /// Checks it against the height's validators (`keys` and `powers` by
    /// index): signers strictly increasing and in the set, every signature
    /// valid (one batch), more than 2/3 of the power. Returns the power
    /// that signed.
    pub fn verify(&self, keys: &[VerifyingKey], powers: &[u64]) -> Result<u128, CertError> {
        if self.signatures.is_empty() {
            return Err(CertError::Empty);
        }
        let mut last: Option<u16> = None;
        let mut power = 0u128;
        for (k, (i, _)) in self.signatures.iter().enumerate() {
            if last.is_some_and(|l| l >= *i) {
                return Err(CertError::Order(k));
            }
            last = Some(*i);
            let p =
                powers.get(usize::from(*i)).filter(|_| usize::from(*i) < keys.len()).ok_or(CertError::Unknown(*i))?;
            power = power.saturating_add(u128::from(*p));
        }
        let total = powers.iter().fold(0u128, |a, p| a.saturating_add(u128::from(*p)));
        if power.saturating_mul(3) <= total.saturating_mul(2) {
            return Err(CertError::NoQuorum { power, total });
        }
        let votes: Vec<SignedVote> = self.votes().collect();
        let ok = verify_votes(&votes, keys);
        let bad: Vec<usize> = ok.iter().enumerate().filter(|(_, ok)| !**ok).map(|(i, _)| i).collect();
        if !bad.is_empty() {
            return Err(CertError::BadSignatures(bad));
        }
        Ok(power)
    }
}

/// The consensus data of a proof-of-stake header (its borsh encoding is
/// the header's `consensus_data`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PosHeaderData {
    /// [`CONSENSUS_VERSION`].
    pub version: u8,
    /// Milliseconds since the Unix epoch (the PoW header's `time` holds
    /// the same instant in seconds).
    pub time_ms: u64,
    /// The round the block was proposed in.
    pub round: u32,
    /// The proposer's validator index.
    pub proposer: u16,
    /// The proposer's VRF proof (RFC 9381) over [`PosHeaderData::vrf_input`].
    pub vrf_proof: [u8; sig::VRF_PROOF_LEN],
    /// The randomness seed after this block: [`PosHeaderData::next_seed`]
    /// of the parent's seed and the VRF output. It picks the proposers of
    /// the next height.
    pub seed: Hash,
    /// [`commit_hash`] of the block's `last_commit`.
    pub last_commit: Hash,
}

impl PosHeaderData {
    /// What the proposer of `height` proves its VRF over: the chain, the
    /// height and the parent's seed. Not the round: a proposer cannot get
    /// another output by waiting for a later round.
    pub fn vrf_input(chain_id: u64, height: u64, parent_seed: &Hash) -> Vec<u8> {
        let mut v = b"cinder seed v1".to_vec();
        v.extend_from_slice(&chain_id.to_le_bytes());
        v.extend_from_slice(&height.to_le_bytes());
        v.extend_from_slice(&parent_seed.0);
        v
    }

    /// The seed after a block: BLAKE3 (derive-key "cinder seed v1") of the
    /// parent's seed and the block's VRF output.
    pub fn next_seed(parent_seed: &Hash, output: &sig::VrfOutput) -> Hash {
        let mut h = blake3::Hasher::new_derive_key("cinder seed v1");
        h.update(&parent_seed.0);
        h.update(output);
        Hash(*h.finalize().as_bytes())
    }

    /// The encoding for the header.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a header's consensus data (exactly, no trailing bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<PosHeaderData, crate::DecodeError> {
        crate::decode(bytes)
    }
}

impl Limited for PosHeaderData {
    const NAME: &'static str = "PoS header data";
    const MAX_BYTES: usize = 1 + 8 + 4 + 2 + sig::VRF_PROOF_LEN + 32 + 32;
}

/// The hash a PoS header commits to for a block's `last_commit`: BLAKE3 of
/// the certificate's encoding, all zeros for none.
pub fn commit_hash(c: Option<&CommitCertificate>) -> Hash {
    c.map_or(Hash::default(), |c| Hash::of(&encode(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode;

    fn key(i: u8) -> sig::SecretKey {
        sig::SecretKey::from_seed(&[i; 32])
    }

    fn vote(i: u16, block: Option<Hash>) -> VoteData {
        VoteData {
            version: CONSENSUS_VERSION,
            chain_id: 7,
            height: 3,
            round: 1,
            kind: VoteType::Precommit,
            block,
            validator: i,
        }
    }

    #[test]
    fn votes_round_trip_and_batch_verify() {
        let keys: Vec<VerifyingKey> =
            (0..4u8).map(|i| VerifyingKey::from_bytes(&key(i).public_key().0).unwrap()).collect();
        let mut votes: Vec<SignedVote> =
            (0..4u16).map(|i| vote(i, Some(Hash([9; 32]))).sign(&key(u8::try_from(i).unwrap()))).collect();
        for v in &votes {
            assert_eq!(&decode::<SignedVote>(&encode(v)).unwrap(), v);
        }
        assert_eq!(verify_votes(&votes, &keys), vec![true; 4]);
        // A forged vote (signed by another key), one naming no validator.
        votes[2] = vote(2, None).sign(&key(3));
        votes.push(vote(9, None).sign(&key(0)));
        assert_eq!(verify_votes(&votes, &keys), vec![true, true, false, true, false]);
        // The signature is bound to the chain.
        let mut other_chain = votes[0].clone();
        other_chain.data.chain_id = 8;
        assert_eq!(verify_votes(&[other_chain], &keys), vec![false]);
    }

    #[test]
    fn bad_encodings_are_errors() {
        let v = vote(0, None).sign(&key(0));
        let mut bytes = encode(&v);
        bytes[0] = 2;
        assert!(decode::<SignedVote>(&bytes).is_err());
        let bytes = encode(&v);
        assert!(decode::<SignedVote>(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode::<SignedVote>(&long).is_err());
    }

    #[test]
    fn double_vote_evidence() {
        let k = VerifyingKey::from_bytes(&key(1).public_key().0).unwrap();
        let a = vote(1, Some(Hash([1; 32]))).sign(&key(1));
        let b = vote(1, None).sign(&key(1));
        let ev = DoubleVote { first: a.clone(), second: b.clone() };
        assert_eq!(ev.check(&k), Ok(()));
        assert_eq!(decode::<DoubleVote>(&encode(&ev)).unwrap(), ev);
        assert_eq!(DoubleVote { first: a.clone(), second: a.clone() }.check(&k), Err(EvidenceError::SameBlock));
        let mut later = b.clone();
        later.data.round = 2;
        assert_eq!(DoubleVote { first: a.clone(), second: later }.check(&k), Err(EvidenceError::NotComparable));
        let forged = vote(1, None).sign(&key(2));
        assert_eq!(DoubleVote { first: a, second: forged }.check(&k), Err(EvidenceError::BadSignature(1)));
    }

    #[test]
    fn commit_certificates() {
        let keys: Vec<VerifyingKey> =
            (0..4u8).map(|i| VerifyingKey::from_bytes(&key(i).public_key().0).unwrap()).collect();
        let powers = [1u64, 1, 1, 1];
        let b = Some(Hash([9; 32]));
        let pc = |i: u16| vote(i, b).sign(&key(u8::try_from(i).unwrap()));
        // Any order in; sorted, and 3 of 4 is more than 2/3.
        let cert = CommitCertificate::from_votes(&[pc(2), pc(0), pc(3)]).unwrap();
        assert_eq!(cert.signatures.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 2, 3]);
        assert_eq!(cert.verify(&keys, &powers), Ok(3));
        assert_eq!(decode::<CommitCertificate>(&encode(&cert)).unwrap(), cert);
        // 2 of 4 is not; with power 1, 1, 1, 3 even three small ones are not.
        let two = CommitCertificate::from_votes(&[pc(0), pc(1)]).unwrap();
        assert_eq!(two.verify(&keys, &powers), Err(CertError::NoQuorum { power: 2, total: 4 }));
        assert_eq!(
            CommitCertificate::from_votes(&[pc(0), pc(1), pc(2)]).unwrap().verify(&keys, &[1, 1, 1, 3]),
            Err(CertError::NoQuorum { power: 3, total: 6 })
        );
        // Repeats, other blocks, prevotes, strangers, forgeries.
        assert_eq!(CommitCertificate::from_votes(&[pc(0), pc(0), pc(1)]), Err(CertError::Order(1)));
        assert_eq!(CommitCertificate::from_votes(&[pc(0), vote(1, None).sign(&key(1))]), Err(CertError::Mismatch(1)));
        let mut prevote = vote(1, b);
        prevote.kind = VoteType::Prevote;
        assert_eq!(CommitCertificate::from_votes(&[pc(0), prevote.sign(&key(1))]), Err(CertError::Mismatch(1)));
        assert!(CommitCertificate::from_votes(&[]).is_err());
        let mut unsorted = cert.clone();
        unsorted.signatures.swap(0, 1);
        assert_eq!(unsorted.verify(&keys, &powers), Err(CertError::Order(1)));
        let mut stranger = cert.clone();
        stranger.signatures.push((7, [0; 64]));
        assert_eq!(stranger.verify(&keys, &powers), Err(CertError::Unknown(7)));
        let mut forged = cert.clone();
        forged.signatures[1].1 = vote(2, b).sign(&key(3)).signature.0;
        assert_eq!(forged.verify(&keys, &powers), Err(CertError::BadSignatures(vec![1])));
        let mut moved = cert;
        moved.block = Hash([8; 32]);
        assert_eq!(moved.verify(&keys, &powers), Err(CertError::BadSignatures(vec![0, 1, 2])));
    }
}
