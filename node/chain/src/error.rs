//! Import errors: an invalid block (with the reason) is kept apart from an
//! internal failure (the database, a bug), and both from blocks that are
//! merely not importable now (unknown parent, a reorg too deep).

use cinder_consensus::ConsensusInvalid;
use cinder_primitives::{Address, Hash};

/// Why a block is invalid. Each case leaves the database unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockInvalid {
    /// Larger than the chain's block size limit.
    #[error("{bytes} bytes, the chain allows {max}")]
    TooLarge {
        /// Encoded size.
        bytes: u64,
        /// The chain's limit.
        max: u64,
    },
    /// Breaks the consensus rules (PoW, time, bits, height, commitment).
    #[error("consensus: {0}")]
    Consensus(#[from] ConsensusInvalid),
    /// A transaction is invalid on its own or at its position.
    #[error("transaction {index}: {reason}")]
    Transaction {
        /// Its index in the block.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A transaction's signature does not verify.
    #[error("transaction {index}: bad signature")]
    Signature {
        /// Its index in the block (the first bad one).
        index: usize,
    },
    /// The header's transactions root is not the transactions'.
    #[error("transactions root {header} in the header, {computed} computed")]
    TransactionsRoot {
        /// In the header.
        header: Hash,
        /// From the transactions.
        computed: Hash,
    },
    /// The header's receipts root is not the execution's.
    #[error("receipts root {header} in the header, {computed} computed")]
    ReceiptsRoot {
        /// In the header.
        header: Hash,
        /// From execution.
        computed: Hash,
    },
    /// The header's state root is not the execution's.
    #[error("state root {header} in the header, {computed} computed")]
    StateRoot {
        /// In the header.
        header: Hash,
        /// From execution.
        computed: Hash,
    },
    /// A consensus credit (the block reward) overflows a balance.
    #[error("the block's credits overflow the balance of {0}")]
    CreditOverflow(Address),
}

/// Why a block was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The block is invalid; peers that sent it misbehaved.
    #[error("invalid block {id}: {reason}")]
    Invalid {
        /// The block.
        id: Hash,
        /// Why.
        reason: BlockInvalid,
    },
    /// Its parent is not stored (yet).
    #[error("block {id}: its parent {parent} is not known")]
    UnknownParent {
        /// The block.
        id: Hash,
        /// Its parent.
        parent: Hash,
    },
    /// It would win fork choice, but reverting to its fork point goes past
    /// the pruning depth or the finalized height.
    #[error("block {id} would revert {depth} blocks; at most {max} may be reverted")]
    ReorgTooDeep {
        /// The block.
        id: Hash,
        /// Blocks the reorg would revert.
        depth: u64,
        /// The most allowed.
        max: u64,
    },
    /// The block is at a software upgrade this binary does not know: the
    /// node must stop (the block may be valid).
    #[error("block {id}: {needed}")]
    UpgradeNeeded {
        /// The block.
        id: Hash,
        /// The upgrade.
        needed: crate::gov::UpgradeNeeded,
    },
    /// The node failed (storage, a bug); the block may be valid.
    #[error("importing block {id}: {source:#}")]
    Internal {
        /// The block.
        id: Hash,
        /// What failed.
        source: anyhow::Error,
    },
}

impl ImportError {
    /// The reason, if the block is invalid.
    pub fn invalid(&self) -> Option<&BlockInvalid> {
        match self {
            ImportError::Invalid { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
