//! Proof of stake: the header and body rules of blocks finalized by
//! Tendermint (cinder-bft), and fork choice over them.
//!
//! A PoS header keeps the 80-byte header layout with `bits = 0`, `nonce = 0`
//! and `version = 1`; its consensus data is a [`PosHeaderData`]: the
//! millisecond time, the round, the proposer's index, its VRF proof, the
//! seed after the block and the hash of the block's `last_commit`. The
//! rules:
//!
//! - the validator set of a block is the one its parent's state records
//!   for the block's epoch (cinder-staking; the chain hands it over in the
//!   [`Ancestry`]), and the set that signed the parent is there too;
//! - the proposer is the one [`ValidatorSet::proposer`] picks for the
//!   height and round from the parent's seed, and the coinbase is its
//!   operator's address;
//! - its VRF proof over (chain, height, parent seed) verifies under its
//!   key, and the seed is [`PosHeaderData::next_seed`] of the parent's seed
//!   and that output (genesis's seed is derived from its id);
//! - time is in milliseconds, after the parent's, not more than the drift
//!   ahead of the local clock, and the PoW header's seconds agree;
//! - the body's `last_commit` certifies the parent with more than 2/3 of
//!   the parent height's validator power (none for the first block).
//!
//! The block reward and the fees go to the staking account
//! ([`STAKING_ADDRESS`]), which pays them out to the set pro rata to stake.
//!
//! Every block's child proves it final, so the finalized height is the
//! head's parent at least (the node also holds the head's own
//! certificate once it decides); fork choice is the longer chain, which can
//! only differ above the finalized height.

use cinder_bft::{Height, ValidatorSet};
use cinder_engine::sig::{PublicKey, VerifyingKey, vrf_verify};
use cinder_primitives::{Address, Block, CONSENSUS_VERSION, Hash, Header, PosHeaderData, STAKING_ADDRESS, commit_hash};
use cinder_staking::store::{ConsensusSet, SetMember};

use crate::{
    Ancestry, BASE_VERSION, ChainSpec, Consensus, ConsensusInvalid, PosSpec, Proposal, SealJob, SpecError, Tip,
};

/// The validators of a height: keys, powers, payout addresses, by index.
#[derive(Clone, Debug)]
pub struct Validators {
    /// Voting power.
    pub set: ValidatorSet,
    /// Consensus keys (parsed once).
    pub keys: Vec<VerifyingKey>,
    /// Public keys as bytes.
    pub public_keys: Vec<PublicKey>,
    /// Each one's operator (its blocks' coinbase).
    pub addresses: Vec<Address>,
}

impl Validators {
    /// The validators of a recorded consensus set.
    pub fn from_set(set: &ConsensusSet) -> Result<Validators, String> {
        let mut keys = Vec::with_capacity(set.members.len());
        for (i, m) in set.members.iter().enumerate() {
            keys.push(VerifyingKey::from_bytes(&m.key).map_err(|e| format!("validator {i}'s key: {e}"))?);
        }
        Ok(Validators {
            set: ValidatorSet::new(set.members.iter().map(|m| m.power).collect()).map_err(|e| e.to_string())?,
            keys,
            public_keys: set.members.iter().map(|m| PublicKey(m.key)).collect(),
            addresses: set.members.iter().map(|m| m.operator).collect(),
        })
    }

    /// The genesis set of a PoS spec: each validator its own operator.
    pub fn genesis(spec: &PosSpec) -> ConsensusSet {
        ConsensusSet {
            members: spec
                .validators
                .iter()
                .map(|v| SetMember { operator: Address::from_public_key(&v.key), key: v.key.0, power: v.power })
                .collect(),
        }
    }

    /// The index of `key`, if it is a validator.
    pub fn index_of(&self, key: &PublicKey) -> Option<u16> {
        self.public_keys.iter().position(|k| k == key).and_then(|i| u16::try_from(i).ok())
    }
    /// Powers by index.
    pub fn powers(&self) -> Vec<u64> {
        (0..u16::try_from(self.set.len()).unwrap_or(u16::MAX))
            .map(|i| self.set.power(cinder_bft::ValidatorIndex(i)))
            .collect()
    }
}

/// Proof-of-stake consensus rules.
#[derive(Clone, Debug)]
pub struct Pos {
    chain_id: u64,
    genesis_time_ms: u64,
    reward: u128,
    spec: PosSpec,
}

/// The seed genesis hands its first proposer.
pub fn genesis_seed(genesis_id: &Hash) -> Hash {
    Hash(*blake3::Hasher::new_derive_key("cinder genesis seed v1").update(&genesis_id.0).finalize().as_bytes())
}

impl Pos {
    /// The rules of `spec` (which must be a PoS spec).
    pub fn new(spec: &ChainSpec) -> Result<Pos, SpecError> {
        let p = spec.pos.clone().ok_or_else(|| SpecError::Invalid("consensus = \"pos\" needs a [pos] table".into()))?;
        Validators::from_set(&Validators::genesis(&p))
            .map_err(|e| SpecError::Invalid(format!("pos.validators: {e}")))?;
        Ok(Pos {
            chain_id: spec.chain_id,
            genesis_time_ms: u64::from(spec.genesis_time) * 1000,
            reward: spec.block_reward,
            spec: p,
        })
    }

    /// The PoS parameters.
    pub fn spec(&self) -> &PosSpec {
        &self.spec
    }

    /// The set a block is checked against, from its ancestry.
    fn set_of<'a>(a: &Ancestry<'a>) -> Result<&'a Validators, ConsensusInvalid> {
        a.validators.ok_or_else(|| ConsensusInvalid::PosData("no validator set for the block's height".into()))
    }

    /// A header's PoS data.
    pub fn data(header: &Header) -> Result<PosHeaderData, ConsensusInvalid> {
        let d = PosHeaderData::from_bytes(header.fields.consensus_data.as_slice())
            .map_err(|e| ConsensusInvalid::PosData(e.to_string()))?;
        if d.version != CONSENSUS_VERSION {
            return Err(ConsensusInvalid::PosData(format!("version {}", d.version)));
        }
        Ok(d)
    }

    /// The seed and millisecond time a block's parent hands on (genesis:
    /// derived from its id, and its time).
    pub fn parent_seed_and_time(&self, parent: &Header, parent_id: &Hash) -> Result<(Hash, u64), ConsensusInvalid> {
        if parent.height() == 0 {
            return Ok((genesis_seed(parent_id), self.genesis_time_ms));
        }
        let d = Pos::data(parent)?;
        Ok((d.seed, d.time_ms))
    }

    /// The proposer of `height` and `round` among `validators` on a
    /// parent with `seed`.
    pub fn proposer(validators: &Validators, seed: &Hash, height: Height, round: u32) -> u16 {
        validators.set.proposer(&seed.0, height, round).0
    }
}

impl Consensus for Pos {
    fn name(&self) -> &'static str {
        "pos"
    }

    fn ancestry_window(&self) -> usize {
        1
    }

    fn check_header(&self, header: &Header, now: u64) -> Result<(), ConsensusInvalid> {
        if header.pow.version() != BASE_VERSION {
            return Err(ConsensusInvalid::Version(header.pow.version()));
        }
        if !header.commitment_matches() {
            return Err(ConsensusInvalid::Commitment);
        }
        if header.pow.bits() != 0 || header.pow.nonce() != 0 {
            return Err(ConsensusInvalid::PosData("bits and nonce must be 0".into()));
        }
        let d = Pos::data(header)?;
        if u64::from(header.pow.time()) != d.time_ms / 1000 {
            return Err(ConsensusInvalid::PosData(format!(
                "time {} s does not match {} ms",
                header.pow.time(),
                d.time_ms
            )));
        }
        let limit = now.saturating_mul(1000).saturating_add(self.spec.max_future_drift_ms);
        if d.time_ms > limit {
            return Err(ConsensusInvalid::PosTimeTooNew { time_ms: d.time_ms, limit_ms: limit });
        }
        Ok(())
    }

    fn check_with_parent(&self, header: &Header, a: &Ancestry<'_>) -> Result<(), ConsensusInvalid> {
        crate::check_link(header, a)?;
        let d = Pos::data(header)?;
        let (seed, parent_ms) = self.parent_seed_and_time(a.parent, &a.parent_id)?;
        if d.time_ms <= parent_ms {
            return Err(ConsensusInvalid::PosTimeTooOld { time_ms: d.time_ms, parent_ms });
        }
        let height = header.height();
        let v = Pos::set_of(a)?;
        let expected = Pos::proposer(v, &seed, height, d.round);
        if d.proposer != expected {
            return Err(ConsensusInvalid::Proposer { round: d.round, got: d.proposer, expected });
        }
        let p = usize::from(d.proposer);
        let (Some(key), Some(address)) = (v.public_keys.get(p), v.addresses.get(p)) else {
            return Err(ConsensusInvalid::PosData(format!("proposer {} is not a validator", d.proposer)));
        };
        if header.fields.coinbase != *address {
            return Err(ConsensusInvalid::PosData(format!("the coinbase is not proposer {}'s address", d.proposer)));
        }
        let input = PosHeaderData::vrf_input(self.chain_id, height, &seed);
        let output = vrf_verify(&key.0, &input, &d.vrf_proof).map_err(|e| ConsensusInvalid::Vrf(e.to_string()))?;
        if d.seed != PosHeaderData::next_seed(&seed, &output) {
            return Err(ConsensusInvalid::Vrf("the seed is not derived from the VRF output".into()));
        }
        Ok(())
    }

    fn check_body(&self, block: &Block, a: &Ancestry<'_>) -> Result<(), ConsensusInvalid> {
        let d = Pos::data(&block.header)?;
        if d.last_commit != commit_hash(block.last_commit.as_ref()) {
            return Err(ConsensusInvalid::LastCommit("the header does not commit to it".into()));
        }
        let parent_height = a.parent.height();
        let Some(c) = &block.last_commit else {
            if parent_height == 0 {
                return Ok(());
            }
            return Err(ConsensusInvalid::LastCommit(format!("missing: it must certify block {parent_height}")));
        };
        if parent_height == 0 {
            return Err(ConsensusInvalid::LastCommit("genesis has no certificate".into()));
        }
        if (c.version, c.chain_id, c.height, c.block) != (CONSENSUS_VERSION, self.chain_id, parent_height, a.parent_id)
        {
            return Err(ConsensusInvalid::LastCommit(format!(
                "it certifies block {} at height {}, not the parent",
                c.block, c.height
            )));
        }
        let v = a
            .parent_validators
            .ok_or_else(|| ConsensusInvalid::LastCommit("no validator set for the parent's height".into()))?;
        c.verify(&v.keys, &v.powers()).map_err(|e| ConsensusInvalid::LastCommit(e.to_string()))?;
        Ok(())
    }

    fn block_weight(&self, _header: &Header) -> Result<u128, ConsensusInvalid> {
        Ok(1)
    }

    fn prefers(&self, candidate: &Tip, current: &Tip) -> bool {
        candidate.weight > current.weight
    }

    fn finalized_height(&self, head: &Tip) -> Option<u64> {
        Some(head.height.saturating_sub(1))
    }

    fn propose(&self, ancestry: &Ancestry<'_>, now: u64) -> Proposal {
        // The time only: the validator adds the signed parts.
        let parent_ms = self.parent_seed_and_time(ancestry.parent, &ancestry.parent_id).map_or(0, |(_, t)| t);
        let time_ms = now.saturating_mul(1000).max(parent_ms.saturating_add(1));
        Proposal { time: u32::try_from(time_ms / 1000).unwrap_or(u32::MAX), bits: 0, consensus_data: Vec::new() }
    }

    fn seal_job(&self, _header: &Header) -> Result<SealJob, ConsensusInvalid> {
        Err(ConsensusInvalid::PosData("proof-of-stake blocks are not sealed by work".into()))
    }

    fn block_credits(&self, header: &Header) -> Vec<(Address, u128)> {
        if header.height() == 0 || self.reward == 0 {
            return Vec::new();
        }
        vec![(STAKING_ADDRESS, self.reward)]
    }

    fn fee_recipient(&self, _header: &Header) -> Address {
        STAKING_ADDRESS
    }
}

#[cfg(test)]
mod tests {
    use cinder_engine::sig::SecretKey;
    use cinder_primitives::{BoundedBytes, CommitCertificate, HeaderFields, SignedVote, VoteData, VoteType};

    use super::*;
    use crate::{Alloc, ConsensusKind, PosValidator};

    const CHAIN: u64 = 77;
    const GENESIS_TIME: u32 = 1_700_000_000;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i + 1; 32])
    }

    fn spec() -> ChainSpec {
        ChainSpec {
            name: "pos-test".into(),
            chain_id: CHAIN,
            consensus: ConsensusKind::Pos,
            genesis_time: GENESIS_TIME,
            block_reward: 5,
            block_gas_limit: crate::DEFAULT_BLOCK_GAS_LIMIT,
            max_block_bytes: crate::DEFAULT_MAX_BLOCK_BYTES,
            min_gas_price: 0,
            max_code_bytes: cinder_primitives::MAX_CODE_BYTES as u64,
            pow: None,
            pos: Some(PosSpec {
                validators: (0..4).map(|i| PosValidator { key: key(i).public_key(), power: 10 }).collect(),
                max_future_drift_ms: 10_000,
                timeout_propose_ms: 1_000,
                timeout_prevote_ms: 500,
                timeout_precommit_ms: 500,
                timeout_delta_ms: 500,
                min_block_interval_ms: 200,
                staking: crate::StakingSpec::default(),
                gov: crate::GovSpec::default(),
            }),
            alloc: vec![Alloc { address: Address([1; 32]), balance: 1 }],
            shards: 1,
        }
    }

    fn genesis() -> Header {
        let fields = HeaderFields { extra_nonce: CHAIN, ..HeaderFields::default() };
        Header::new(Hash::default(), GENESIS_TIME, 0, fields)
    }

    /// A correctly made child of `parent` at `round`, with `last_commit`.
    fn child(pos: &Pos, parent: &Header, round: u32, last_commit: Option<&CommitCertificate>) -> Header {
        let parent_id = parent.id();
        let (seed, parent_ms) = pos.parent_seed_and_time(parent, &parent_id).unwrap();
        let height = parent.height() + 1;
        let proposer = Pos::proposer(&set(), &seed, height, round);
        let k = key(u8::try_from(proposer).unwrap());
        let (vrf_proof, out) = k.vrf_prove(&PosHeaderData::vrf_input(CHAIN, height, &seed)).unwrap();
        let time_ms = parent_ms + 1_000;
        let data = PosHeaderData {
            version: CONSENSUS_VERSION,
            time_ms,
            round,
            proposer,
            vrf_proof,
            seed: PosHeaderData::next_seed(&seed, &out),
            last_commit: commit_hash(last_commit),
        };
        let fields = HeaderFields {
            height,
            coinbase: Address::from_public_key(&k.public_key()),
            consensus_data: BoundedBytes::new(data.to_bytes()).unwrap(),
            ..HeaderFields::default()
        };
        Header::new(parent_id, u32::try_from(time_ms / 1000).unwrap(), 0, fields)
    }

    fn with_data(h: &Header, edit: impl FnOnce(&mut PosHeaderData)) -> Header {
        let mut d = Pos::data(h).unwrap();
        edit(&mut d);
        let mut fields = h.fields.clone();
        fields.consensus_data = BoundedBytes::new(d.to_bytes()).unwrap();
        Header::new(h.prev(), u32::try_from(d.time_ms / 1000).unwrap(), 0, fields)
    }

    fn cert(block: &Header, signers: &[u8]) -> CommitCertificate {
        let votes: Vec<SignedVote> = signers
            .iter()
            .map(|i| {
                VoteData {
                    version: CONSENSUS_VERSION,
                    chain_id: CHAIN,
                    height: block.height(),
                    round: 0,
                    kind: VoteType::Precommit,
                    block: Some(block.id()),
                    validator: u16::from(*i),
                }
                .sign(&key(*i))
            })
            .collect();
        CommitCertificate::from_votes(&votes).unwrap()
    }

    fn block(header: Header, last_commit: Option<CommitCertificate>) -> Block {
        Block { header, transactions: Default::default(), last_commit, chunks: Default::default() }
    }

    fn set() -> Validators {
        Validators::from_set(&Validators::genesis(spec().pos.as_ref().unwrap())).unwrap()
    }

    fn ancestry(parent: &Header) -> Ancestry<'_> {
        let v: &'static Validators = Box::leak(Box::new(set()));
        Ancestry { parent, parent_id: parent.id(), recent_times: &[], validators: Some(v), parent_validators: Some(v) }
    }

    #[test]
    fn a_well_made_chain_passes_every_rule() {
        let pos = Pos::new(&spec()).unwrap();
        let g = genesis();
        let h1 = child(&pos, &g, 0, None);
        let now = u64::from(GENESIS_TIME) + 10;
        pos.check_header(&h1, now).unwrap();
        pos.check_with_parent(&h1, &ancestry(&g)).unwrap();
        pos.check_body(&block(h1.clone(), None), &ancestry(&g)).unwrap();
        let c1 = cert(&h1, &[0, 1, 2]);
        let h2 = child(&pos, &h1, 1, Some(&c1));
        pos.check_header(&h2, now).unwrap();
        pos.check_with_parent(&h2, &ancestry(&h1)).unwrap();
        pos.check_body(&block(h2, Some(c1)), &ancestry(&h1)).unwrap();
        assert_eq!(pos.finalized_height(&Tip { id: Hash::default(), height: 9, weight: 9 }), Some(8));
        assert!(pos.prefers(
            &Tip { id: Hash([1; 32]), height: 3, weight: 3 },
            &Tip { id: Hash([2; 32]), height: 2, weight: 2 }
        ));
        assert!(!pos.prefers(
            &Tip { id: Hash([1; 32]), height: 3, weight: 3 },
            &Tip { id: Hash([2; 32]), height: 3, weight: 3 }
        ));
    }

    #[test]
    fn broken_headers_are_refused_with_their_reason() {
        let pos = Pos::new(&spec()).unwrap();
        let g = genesis();
        let h1 = child(&pos, &g, 0, None);
        let now = u64::from(GENESIS_TIME) + 10;
        let a = ancestry(&g);
        let d = Pos::data(&h1).unwrap();
        // Another validator as proposer of the round.
        let other = (d.proposer + 1) % 4;
        let wrong = with_data(&h1, |x| x.proposer = other);
        assert!(matches!(pos.check_with_parent(&wrong, &a), Err(ConsensusInvalid::Proposer { .. })), "proposer");
        // A later round picks its own proposer; claiming round 1 with round 0's may not match.
        let seed = pos.parent_seed_and_time(&g, &g.id()).unwrap().0;
        let r = (1..50).find(|r| Pos::proposer(&set(), &seed, 1, *r) != d.proposer).unwrap();
        let wrong_round = with_data(&h1, |x| x.round = r);
        assert!(matches!(pos.check_with_parent(&wrong_round, &a), Err(ConsensusInvalid::Proposer { .. })));
        // A VRF proof of another input, a damaged proof, a seed not from the output.
        let (other_proof, _) = key(u8::try_from(d.proposer).unwrap()).vrf_prove(b"something else").unwrap();
        let bad_vrf = with_data(&h1, |x| x.vrf_proof = other_proof);
        assert!(matches!(pos.check_with_parent(&bad_vrf, &a), Err(ConsensusInvalid::Vrf(_))), "vrf");
        let bad_seed = with_data(&h1, |x| x.seed = Hash([7; 32]));
        assert!(matches!(pos.check_with_parent(&bad_seed, &a), Err(ConsensusInvalid::Vrf(_))), "seed");
        // Time: not after genesis, too far ahead, seconds disagreeing.
        let old = with_data(&h1, |x| x.time_ms = u64::from(GENESIS_TIME) * 1000);
        assert!(matches!(pos.check_with_parent(&old, &a), Err(ConsensusInvalid::PosTimeTooOld { .. })));
        let ahead = with_data(&h1, |x| x.time_ms = (now + 11) * 1000);
        assert!(matches!(pos.check_header(&ahead, now), Err(ConsensusInvalid::PosTimeTooNew { .. })));
        let mut secs = h1.clone();
        secs.pow = cinder_engine::pow::Header::new(1, g.id().0, h1.fields.commitment().0, GENESIS_TIME + 99, 0, 0);
        assert!(matches!(pos.check_header(&secs, now), Err(ConsensusInvalid::PosData(_))));
        // Bits or nonce set, a coinbase other than the proposer's, garbage data.
        let mut bits = h1.clone();
        bits.pow =
            cinder_engine::pow::Header::new(1, g.id().0, h1.fields.commitment().0, h1.pow.time(), 0x207f_ffff, 0);
        assert!(pos.check_header(&bits, now).is_err());
        let mut f = h1.fields.clone();
        f.coinbase = Address([9; 32]);
        let coinbase = Header::new(g.id(), h1.pow.time(), 0, f);
        assert!(matches!(pos.check_with_parent(&coinbase, &a), Err(ConsensusInvalid::PosData(_))));
        // Without a set, nothing passes.
        let no_set = Ancestry { validators: None, parent_validators: None, ..a };
        assert!(matches!(pos.check_with_parent(&h1, &no_set), Err(ConsensusInvalid::PosData(_))));
        let mut f = h1.fields.clone();
        f.consensus_data = BoundedBytes::new(vec![1, 2, 3]).unwrap();
        let garbage = Header::new(g.id(), h1.pow.time(), 0, f);
        assert!(matches!(pos.check_header(&garbage, now), Err(ConsensusInvalid::PosData(_))));
        assert!(pos.seal_job(&h1).is_err());
    }

    #[test]
    fn the_last_commit_must_certify_the_parent_with_a_quorum() {
        let pos = Pos::new(&spec()).unwrap();
        let g = genesis();
        let h1 = child(&pos, &g, 0, None);
        let a = ancestry(&h1);
        let good = cert(&h1, &[0, 1, 3]);
        // Missing, or present but not committed by the header.
        let h2 = child(&pos, &h1, 0, Some(&good));
        assert!(matches!(pos.check_body(&block(h2.clone(), None), &a), Err(ConsensusInvalid::LastCommit(_))));
        let h2_none = child(&pos, &h1, 0, None);
        assert!(matches!(pos.check_body(&block(h2_none, None), &a), Err(ConsensusInvalid::LastCommit(_))));
        // Two of four signers: no quorum.
        let weak = cert(&h1, &[0, 1]);
        let h2w = child(&pos, &h1, 0, Some(&weak));
        let e = pos.check_body(&block(h2w, Some(weak)), &a).unwrap_err();
        assert!(e.to_string().contains("not more than 2/3"), "{e}");
        // A certificate of another block.
        let other = cert(&with_data(&h1, |x| x.round = 5), &[0, 1, 2]);
        let h2o = child(&pos, &h1, 0, Some(&other));
        assert!(matches!(pos.check_body(&block(h2o, Some(other)), &a), Err(ConsensusInvalid::LastCommit(_))));
        // A forged signature.
        let mut forged = good.clone();
        forged.signatures[1].1[0] ^= 1;
        let h2f = child(&pos, &h1, 0, Some(&forged));
        assert!(pos.check_body(&block(h2f, Some(forged)), &a).is_err());
        // The first block after genesis carries none.
        let g_a = ancestry(&g);
        let h1c = child(&pos, &g, 0, Some(&good));
        assert!(pos.check_body(&block(h1c, Some(good.clone())), &g_a).is_err());
        pos.check_body(&block(h2, Some(good)), &a).unwrap();
    }

    #[test]
    fn specs_are_checked() {
        let mut s = spec();
        s.pos.as_mut().unwrap().validators[1].key = s.pos.as_ref().unwrap().validators[0].key;
        assert!(s.validate().unwrap_err().to_string().contains("listed twice"));
        let mut s = spec();
        s.pos.as_mut().unwrap().validators[2].power = 0;
        assert!(s.validate().unwrap_err().to_string().contains("positive"));
        let mut s = spec();
        s.pos.as_mut().unwrap().validators.clear();
        assert!(s.validate().unwrap_err().to_string().contains("empty"));
        let mut s = spec();
        s.pos = None;
        assert!(s.validate().unwrap_err().to_string().contains("[pos] table"));
        spec().validate().unwrap();
    }
}
