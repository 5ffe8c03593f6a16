//! Import errors: an invalid block (with the reason) is kept apart from an
//! internal failure (the database, a bug), and both from blocks that are
//! merely not importable now (unknown parent, a reorg too deep).

use cinder_consensus::ConsensusInvalid;
use cinder_primitives::{Address, Hash, ShardId};

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
    /// A sharded block's chunk is invalid.
    #[error("chunk of shard {shard}: {reason}")]
    Chunk {
        /// The chunk's shard.
        shard: ShardId,
        /// Why.
        reason: ChunkInvalid,
    },
}

/// Why a chunk of a sharded block is invalid (docs/design/sharding.md).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkInvalid {
    /// Not one chunk per shard, in shard order.
    #[error("{got} chunks where the chain's blocks carry {expected}")]
    Count {
        /// Chunks in the block.
        got: usize,
        /// The chain's shards.
        expected: usize,
    },
    /// The chunk headers' transaction counts do not add up to the block's
    /// transactions.
    #[error("the chunk headers count {counted} transactions up to here, the block has {carried}")]
    TransactionCount {
        /// Counted by the chunk headers.
        counted: usize,
        /// In the block.
        carried: usize,
    },
    /// The previous block's chunk headers are not one per shard.
    #[error("the previous block has {got} chunk headers, the chain has {expected} shards")]
    PreviousCount {
        /// Chunk headers.
        got: usize,
        /// The chain's shards.
        expected: usize,
    },
    /// A transaction is invalid on its own or at its position.
    #[error("transaction {index}: {reason}")]
    Transaction {
        /// Its index in the chunk.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The block pays its fees to the outbox account.
    #[error("the fee recipient is the outbox account, which is never stored")]
    OutboxCoinbase,
    /// An incoming receipt is refused.
    #[error("incoming receipt {index}: {reason}")]
    Receipt {
        /// Its position among the chunk's incoming receipts.
        index: usize,
        /// Why.
        reason: ReceiptInvalid,
    },
    /// Receipts the previous block sent to this shard are missing.
    #[error("{got} receipts from shard {from}, its chunk in the previous block sent {expected} here")]
    MissingReceipts {
        /// The source shard.
        from: ShardId,
        /// Carried.
        got: u64,
        /// Sent.
        expected: u64,
    },
    /// A header field is not what executing the chunk gives.
    #[error("{field}: {header} in the chunk header, {computed} computed")]
    Header {
        /// The field.
        field: &'static str,
        /// In the header.
        header: String,
        /// From execution.
        computed: String,
    },
}

/// Why an incoming cross-shard receipt is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptInvalid {
    /// Addressed to another shard.
    #[error("addressed to shard {dest}, carried by shard {shard}'s chunk")]
    WrongDestination {
        /// Its destination.
        dest: ShardId,
        /// The chunk's shard.
        shard: ShardId,
    },
    /// From a shard the chain does not have, or out of the canonical order
    /// (by source shard, then sequence number).
    #[error("from shard {from}, out of order after shard {after}")]
    Order {
        /// Its source.
        from: ShardId,
        /// The source of the receipt before it.
        after: ShardId,
    },
    /// Not emitted by the previous block.
    #[error("emitted at height {got}; a chunk applies the receipts of the previous block, {expected}")]
    Height {
        /// Its height.
        got: u64,
        /// The previous block's.
        expected: u64,
    },
    /// Already applied.
    #[error("sequence number {seq} from shard {from} was applied already (the next is {next})")]
    Replayed {
        /// Its source.
        from: ShardId,
        /// Its number.
        seq: u64,
        /// The next the shard expects.
        next: u64,
    },
    /// Not the next of its stream.
    #[error("sequence number {seq} from shard {from}, the next is {next}")]
    Gap {
        /// Its source.
        from: ShardId,
        /// Its number.
        seq: u64,
        /// The next the shard expects.
        next: u64,
    },
    /// Its proof does not verify against the source chunk's outgoing root,
    /// or not at the position its stream's receipts hold there.
    #[error("its proof does not verify against shard {from}'s outgoing root {root} at position {index}")]
    Proof {
        /// Its source.
        from: ShardId,
        /// The source chunk's outgoing root.
        root: Hash,
        /// The position it must hold.
        index: u64,
    },
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
