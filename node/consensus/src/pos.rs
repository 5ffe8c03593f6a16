//! Proof of stake: the header and body rules of blocks finalized by
//! Tendermint (cinder-bft), and fork choice over them.
//!
//! A PoS header keeps the 80-byte header layout with `bits = 0`, `nonce = 0`
//! and `version = 1`; its consensus data is a [`PosHeaderData`]: the
//! millisecond time, the round, the proposer's index, its VRF proof, the
//! seed after the block and the hash of the block's `last_commit`. The
//! rules:
//!
//! - the proposer is the one [`ValidatorSet::proposer`] picks for the
//!   height and round from the parent's seed, and the coinbase is its
//!   address;
//! - its VRF proof over (chain, height, parent seed) verifies under its
//!   key, and the seed is [`PosHeaderData::next_seed`] of the parent's seed
//!   and that output (genesis's seed is derived from its id);
//! - time is in milliseconds, after the parent's, not more than the drift
//!   ahead of the local clock, and the PoW header's seconds agree;
//! - the body's `last_commit` certifies the parent with more than 2/3 of
//!   the parent height's validator power (none for the first block).
//!
//! Every block's child proves it final, so the finalized height is the
//! head's parent at least (the node also holds the head's own
//! certificate once it decides); fork choice is the longer chain, which can
//! only differ above the finalized height.

use cinder_bft::{Height, ValidatorSet};
use cinder_engine::sig::{PublicKey, VerifyingKey, vrf_verify};
use cinder_primitives::{Address, Block, CONSENSUS_VERSION, Hash, Header, PosHeaderData, commit_hash};

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
    /// Where each one's blocks pay.
    pub addresses: Vec<Address>,
}

impl Validators {
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
    validators: Validators,
}

/// The seed genesis hands its first proposer.
pub fn genesis_seed(genesis_id: &Hash) -> Hash {
    Hash(*blake3::Hasher::new_derive_key("cinder genesis seed v1").update(&genesis_id.0).finalize().as_bytes())
}

impl Pos {
    /// The rules of `spec` (which must be a PoS spec).
    pub fn new(spec: &ChainSpec) -> Result<Pos, SpecError> {
        let p = spec.pos.clone().ok_or_else(|| SpecError::Invalid("consensus = \"pos\" needs a [pos] table".into()))?;
        let mut keys = Vec::with_capacity(p.validators.len());
        let mut public_keys = Vec::with_capacity(p.validators.len());
        for (i, v) in p.validators.iter().enumerate() {
            let k = VerifyingKey::from_bytes(&v.key.0)
                .map_err(|e| SpecError::Invalid(format!("pos.validators[{i}].key: {e}")))?;
            keys.push(k);
            public_keys.push(v.key);
        }
        let set = ValidatorSet::new(p.validators.iter().map(|v| v.power).collect())
            .map_err(|e| SpecError::Invalid(format!("pos.validators: {e}")))?;
        let addresses = public_keys.iter().map(Address::from_public_key).collect();
        Ok(Pos {
            chain_id: spec.chain_id,
            genesis_time_ms: u64::from(spec.genesis_time) * 1000,
            reward: spec.block_reward,
            spec: p,
            validators: Validators { set, keys, public_keys, addresses },
        })
    }

    /// The PoS parameters.
    pub fn spec(&self) -> &PosSpec {
        &self.spec
    }

    /// The validators of `height`. The set is the genesis one until
    /// staking changes it at epoch boundaries.
    pub fn validators(&self, _height: Height) -> &Validators {
        &self.validators
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

    /// The proposer of `height` and `round` on a parent with `seed`.
    pub fn proposer(&self, seed: &Hash, height: Height, round: u32) -> u16 {
        self.validators(height).set.proposer(&seed.0, height, round).0
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
        let v = self.validators(header.height());
        let p = usize::from(d.proposer);
        let Some(address) = v.addresses.get(p) else {
            return Err(ConsensusInvalid::PosData(format!("proposer {} is not a validator", d.proposer)));
        };
        if header.fields.coinbase != *address {
            return Err(ConsensusInvalid::PosData(format!("the coinbase is not proposer {}'s address", d.proposer)));
        }
        Ok(())
    }

    fn check_with_parent(&self, header: &Header, a: &Ancestry<'_>) -> Result<(), ConsensusInvalid> {
        let expected = a.parent.height().saturating_add(1);
        if header.height() != expected {
            return Err(ConsensusInvalid::Height { got: header.height(), expected });
        }
        if header.prev() != a.parent_id {
            return Err(ConsensusInvalid::Parent { got: header.prev(), expected: a.parent_id });
        }
        let d = Pos::data(header)?;
        let (seed, parent_ms) = self.parent_seed_and_time(a.parent, &a.parent_id)?;
        if d.time_ms <= parent_ms {
            return Err(ConsensusInvalid::PosTimeTooOld { time_ms: d.time_ms, parent_ms });
        }
        let height = header.height();
        let expected = self.proposer(&seed, height, d.round);
        if d.proposer != expected {
            return Err(ConsensusInvalid::Proposer { round: d.round, got: d.proposer, expected });
        }
        let v = self.validators(height);
        let key = &v.public_keys[usize::from(d.proposer)];
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
        let v = self.validators(parent_height);
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
        vec![(header.fields.coinbase, self.reward)]
    }
}
