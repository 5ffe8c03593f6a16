//! # cinder-consensus
//!
//! The rules that decide which blocks are valid and which chain is the
//! best, with no I/O: the [`Consensus`] trait, its proof-of-work
//! implementation [`Pow`] (ASERT difficulty retarget every block, median
//! time past, bounded future drift, chain work, heaviest chain), and chain
//! specs ([`ChainSpec`], TOML). The node reaches consensus only through the
//! trait, so stake-weighted PoS with BFT finality plugs in next to PoW.

mod pos;
mod pow;
mod spec;
mod u256;

use cinder_engine::pow::PowJob;
use cinder_primitives::{Address, Block, Hash, Header};

pub use pos::{Pos, Validators, genesis_seed};
pub use pow::{BASE_VERSION, MTP_WINDOW, Pow, VERSION_ROLL_MASK, work_of_bits};
pub use spec::{
    Alloc, ChainSpec, ConsensusKind, DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_LIMIT_BITS, DEFAULT_MAX_BLOCK_BYTES, GovSpec,
    MAX_GENESIS_SUPPLY, PosSpec, PosValidator, PowSpec, SpecError, StakingSpec,
};

/// Why a header breaks the consensus rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusInvalid {
    /// The PoW header's version, without the bits a miner may roll
    /// ([`VERSION_ROLL_MASK`]), is not [`BASE_VERSION`].
    #[error("PoW header version {0:#010x}: outside the rollable bits 0x1fffe000 it must be 1")]
    Version(u32),
    /// The PoW header's commitment is not the hash of the other fields.
    #[error("the PoW header's commitment does not match the header fields")]
    Commitment,
    /// Consensus data this engine does not use.
    #[error("consensus data must be empty under PoW ({0} bytes)")]
    ConsensusData(usize),
    /// `bits` that do not decode or are easier than the chain's limit.
    #[error("bits {bits:#010x}: {reason}")]
    BadBits {
        /// The header's bits.
        bits: u32,
        /// Why.
        reason: String,
    },
    /// The PoW hash is above the target.
    #[error("PoW hash {hash} does not meet the target of bits {bits:#010x}")]
    PowHash {
        /// The hash, display order.
        hash: String,
        /// The header's bits.
        bits: u32,
    },
    /// `bits` other than the retarget's.
    #[error("bits {got:#010x}, the retarget requires {expected:#010x}")]
    WrongBits {
        /// In the header.
        got: u32,
        /// Required.
        expected: u32,
    },
    /// Not after the median time past.
    #[error("time {time} is not after the median time past {mtp}")]
    TimeTooOld {
        /// The header's time.
        time: u32,
        /// The median of the previous blocks' times.
        mtp: u32,
    },
    /// Too far in the future.
    #[error("time {time} is more than {drift} s ahead of the local clock ({now})")]
    TimeTooNew {
        /// The header's time.
        time: u32,
        /// Local time.
        now: u64,
        /// Allowed drift.
        drift: u32,
    },
    /// Not the parent's height + 1.
    #[error("height {got}, expected {expected}")]
    Height {
        /// In the header.
        got: u64,
        /// Parent's + 1.
        expected: u64,
    },
    /// PoS consensus data that does not decode or disagrees with the
    /// header.
    #[error("PoS header data: {0}")]
    PosData(String),
    /// A PoS time not after the parent's.
    #[error("time {time_ms} ms is not after the parent's {parent_ms} ms")]
    PosTimeTooOld {
        /// The header's.
        time_ms: u64,
        /// The parent's.
        parent_ms: u64,
    },
    /// A PoS time too far ahead of the local clock.
    #[error("time {time_ms} ms is past the local clock's limit {limit_ms} ms")]
    PosTimeTooNew {
        /// The header's.
        time_ms: u64,
        /// Local time plus the allowed drift.
        limit_ms: u64,
    },
    /// Not the proposer of its height and round.
    #[error("proposer {got} at round {round}: the seed picks {expected}")]
    Proposer {
        /// The round.
        round: u32,
        /// In the header.
        got: u16,
        /// Picked.
        expected: u16,
    },
    /// A VRF proof that does not verify, or a seed not derived from it.
    #[error("VRF: {0}")]
    Vrf(String),
    /// A `last_commit` that does not certify the parent.
    #[error("last commit: {0}")]
    LastCommit(String),
    /// Does not name the parent.
    #[error("previous block {got}, expected {expected}")]
    Parent {
        /// In the header.
        got: Hash,
        /// The parent given.
        expected: Hash,
    },
}

/// What the rules see of a block's ancestry.
#[derive(Clone, Copy, Debug)]
pub struct Ancestry<'a> {
    /// The parent's header.
    pub parent: &'a Header,
    /// The parent's id.
    pub parent_id: Hash,
    /// Times of the parent and its predecessors, oldest first, the parent's
    /// last: [`Consensus::ancestry_window`] of them (fewer near genesis).
    pub recent_times: &'a [u32],
    /// PoS: the validators of the block's height, as the parent's state
    /// records them (`None` under PoW).
    pub validators: Option<&'a Validators>,
    /// PoS: the validators of the parent's height, who signed its commit
    /// certificate (`None` under PoW and for genesis).
    pub parent_validators: Option<&'a Validators>,
}

/// A chain tip as fork choice sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Block id.
    pub id: Hash,
    /// Height.
    pub height: u64,
    /// Cumulative weight ([`Consensus::block_weight`] summed from genesis).
    pub weight: u128,
}

/// The consensus fields of a block to be produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Its time (after the median time past).
    pub time: u32,
    /// Its bits.
    pub bits: u32,
    /// Its consensus data.
    pub consensus_data: Vec<u8>,
}

/// What sealing a produced block takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealJob {
    /// Search a nonce (the engine's miners run it); the nonce found goes in
    /// the PoW header.
    Pow(PowJob),
}

/// The consensus rules a node runs.
pub trait Consensus: Send + Sync {
    /// A short name (`pow`).
    fn name(&self) -> &'static str;
    /// How many ancestors' times [`Ancestry::recent_times`] must hold.
    fn ancestry_window(&self) -> usize;
    /// Checks a header on its own (`now`: local Unix time in seconds).
    fn check_header(&self, header: &Header, now: u64) -> Result<(), ConsensusInvalid>;
    /// Checks a header against its parent and ancestry.
    fn check_with_parent(&self, header: &Header, ancestry: &Ancestry<'_>) -> Result<(), ConsensusInvalid>;
    /// Checks what the body carries for consensus against the parent (PoS:
    /// the parent's commit certificate; PoW: nothing may be there).
    fn check_body(&self, block: &Block, _ancestry: &Ancestry<'_>) -> Result<(), ConsensusInvalid> {
        if block.last_commit.is_some() {
            return Err(ConsensusInvalid::LastCommit(format!("a {} block carries none", self.name())));
        }
        Ok(())
    }
    /// The weight a valid block adds to its chain (PoW: the work of its
    /// target).
    fn block_weight(&self, header: &Header) -> Result<u128, ConsensusInvalid>;
    /// Fork choice: whether `candidate` replaces `current` as the head
    /// (PoW: strictly more work; at equal work the first seen stays).
    fn prefers(&self, candidate: &Tip, current: &Tip) -> bool;
    /// The highest height no reorg may revert (`None` under PoW).
    fn finalized_height(&self, head: &Tip) -> Option<u64>;
    /// The consensus fields of a new block on `ancestry` at local time
    /// `now`.
    fn propose(&self, ancestry: &Ancestry<'_>, now: u64) -> Proposal;
    /// What sealing `header` takes.
    fn seal_job(&self, header: &Header) -> Result<SealJob, ConsensusInvalid>;
    /// Balances the block credits after its transactions (PoW: the block
    /// reward to the coinbase; PoS: to the staking account).
    fn block_credits(&self, header: &Header) -> Vec<(Address, u128)>;
    /// Where the block's transaction fees go (PoW: the coinbase; PoS: the
    /// staking account, which shares them with the set).
    fn fee_recipient(&self, header: &Header) -> Address {
        header.fields.coinbase
    }
}

/// The rules every consensus shares: `header` is at its parent's height + 1
/// and names its parent.
pub(crate) fn check_link(header: &Header, a: &Ancestry<'_>) -> Result<(), ConsensusInvalid> {
    let expected = a.parent.height().saturating_add(1);
    if header.height() != expected {
        return Err(ConsensusInvalid::Height { got: header.height(), expected });
    }
    if header.prev() != a.parent_id {
        return Err(ConsensusInvalid::Parent { got: header.prev(), expected: a.parent_id });
    }
    Ok(())
}

/// The consensus a spec names.
pub fn for_spec(spec: &ChainSpec) -> Result<Box<dyn Consensus>, SpecError> {
    spec.validate()?;
    match spec.consensus {
        ConsensusKind::Pow => Ok(Box::new(Pow::new(spec)?)),
        ConsensusKind::Pos => Ok(Box::new(Pos::new(spec)?)),
    }
}
