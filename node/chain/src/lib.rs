//! # cinder-chain
//!
//! Block import: the pipeline that turns a received block into committed
//! chain state, on the engine's accelerated parts.
//!
//! 1. **Stateless checks** in parallel: size, the consensus rules (PoW,
//!    time, retarget bits, height), each transaction's envelope (chain id,
//!    size), the transactions root (engine::merkle).
//! 2. **Signatures**: every signature of the block in one batch
//!    (engine::sig, all cores, bisection to the bad one).
//! 3. **Execution** of transfers and contracts (cinder-vm) under Block-STM
//!    (engine::exec, Verify): an invalid transaction rejects the block with
//!    its index and reason; the receipts root is checked. Contract records,
//!    code and storage live in the state tree ([`contracts`]).
//! 4. **State root**: the updates applied to the Jellyfish Merkle tree,
//!    compared with the header's.
//! 5. **One atomic write** (cinder-storage): block, receipts, state, indexes
//!    and, if fork choice (the [`Consensus`](cinder_consensus::Consensus)
//!    trait) prefers the block's chain, the new head, reverting and
//!    replaying across a reorg in the same batch.
//!
//! A chain of several shards executes a block as one chunk per shard, in
//! parallel, with cross-shard receipts between them ([`shard`]).
//!
//! Errors keep invalid blocks ([`ImportError::Invalid`] with a
//! [`BlockInvalid`] reason) apart from internal failures.

mod build;
mod chain;
pub mod contracts;
mod error;
mod exec;
pub mod genesis;
pub mod gov;
mod produce;
pub mod shard;
mod sharded;
pub mod staking;
pub mod workload;

/// The inter-blockchain rules the chain runs (`cinder-ibc`).
pub use cinder_ibc as ibc;

/// The transaction semantics now live in cinder-vm; these names stay.
pub mod vm {
    pub use cinder_vm::{MAX_TRANSFER, STAKE_GAS, StateKey, TRANSFER_GAS, TransferTask, Val};
}

pub use build::{Built, build_block, build_block_from, build_block_proposed, seal_cpu};
pub use chain::{Chain, ChainConfig, Checked, ImportStatus, Imported, Phases, unix_now};
pub use contracts::{
    Estimate, EstimateFailed, FoundLog, LogQuery, LogQueryError, MAX_LOG_BLOCKS, MAX_LOGS, MAX_UNFILTERED_LOG_BLOCKS,
    QUERY_GAS_CAP, StateAt,
};
pub use error::{BlockInvalid, ChunkInvalid, ImportError, ReceiptInvalid};
pub use exec::BlockContext;
pub use produce::{produce, seal};
pub use sharded::incoming_from;
