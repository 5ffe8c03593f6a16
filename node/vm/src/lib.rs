//! # cinder-vm
//!
//! The execution layer: how a transaction changes state, as a task of the
//! engine's Block-STM executor ([`TxTask`]). Transfers and staking
//! payments are plain account updates; contracts are WebAssembly modules
//! run on wasmtime, the only crate that depends on it.
//!
//! - [`Vm`]: the engine in a deterministic configuration (fuel metering as
//!   gas, NaN canonicalisation, no threads / SIMD / WASI / clock /
//!   randomness, bounded memory, table and stack, the same machine code on
//!   every x86-64 node), upload-time validation ([`CodeError`]), a bounded
//!   cache of compiled modules by code hash, and a pooling allocator.
//! - The host ABI `cinder_v1` (docs/design/contracts.md): input and return
//!   data, the contract's own storage (read, write, remove, ordered scans),
//!   caller / origin / value / block, balances and transfers, events, calls
//!   to other contracts that roll back with their callee, BLAKE3, SHA-256,
//!   ed25519 (ZIP-215), BLAKE3 Merkle inclusion proofs by the engine's
//!   rules and Groth16 proofs on BN254 ([`zk`]).
//! - [`Runner`] / [`TxTask`] / [`receipt`]: a block's transactions for the
//!   executor, with the chain's fee rules, and the receipts they leave.
//! - [`StateKey`] / [`Val`]: the executor's keys and values. Storage reads
//!   are reads of the executor's multi-version memory: a read the executor
//!   must suspend stops the instance, and the transaction runs again.
//! - [`harness::TestChain`]: an in-memory chain to test contracts on the
//!   host without a node.
//!
//! ```no_run
//! use cinder_vm::harness::TestChain;
//! # fn main() -> anyhow::Result<()> {
//! # let wasm: &[u8] = &[];
//! let mut chain = TestChain::new()?;
//! let alice = chain.account(1_000_000_000_000);
//! let counter = chain.deploy(alice, wasm, &7u64.to_le_bytes())?.created.expect("deployed");
//! let r = chain.call(alice, counter, "increment", &1u64.to_le_bytes(), 0)?;
//! assert_eq!(r.output, 8u64.to_le_bytes());
//! # Ok(()) }
//! ```

mod call;
pub mod harness;
mod host;
pub mod limits;
mod query;
mod runtime;
mod state;
mod task;
mod transfer;
pub mod zk;

pub use query::{Query, QueryResult, StateTxView, query};
pub use runtime::{CONCURRENT_RUNS, CodeError, Vm};
pub use state::{BlockEnv, StateKey, StorageKey, Val};
pub use task::{
    ContractTask, NO_OUTBOX_TRANSFERS, NO_SHARDED_CONTRACTS, NO_SYSTEM_OPS, Outcome, Rules, Runner,
    SYSTEM_OPS_ON_SHARD_ZERO, ShardRule, Status, TxTask, receipt,
};
pub use transfer::{
    GOV_CONTENT_BYTE, GOV_GAS, GOV_SUBMIT_GAS, IBC_BYTE, IBC_GAS, IBC_POW_HEADER, IBC_SIGNATURE, MAX_TRANSFER,
    STAKE_GAS, TRANSFER_GAS, TransferTask, ibc_gas, plain_gas,
};
