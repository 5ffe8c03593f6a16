//! Smart-contract transactions, the contract record kept in state, and
//! the events contracts emit (docs/protocol.md, "Contracts";
//! docs/design/contracts.md).

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::{Bounded, BoundedBytes, BoundedString, Limited};
use crate::{Address, Hash};

/// The largest contract code (WebAssembly bytes). A deploying transaction
/// must also fit [`crate::MAX_TX_BYTES`], which leaves a little less.
pub const MAX_CODE_BYTES: usize = 64 * 1024;
/// The largest argument bytes of a call, a deploy's `init` or a migration.
pub const MAX_ARGS_BYTES: usize = 16 * 1024;
/// The longest method name.
pub const MAX_METHOD_BYTES: usize = 64;
/// The most bytes a call returns.
pub const MAX_RETURN_BYTES: usize = 16 * 1024;
/// The most events one transaction emits (nested calls included).
pub const MAX_EVENTS: usize = 64;
/// The most topics of one event.
pub const MAX_TOPICS: usize = 4;
/// The most data bytes of one event.
pub const MAX_EVENT_DATA: usize = 1024;

/// Deploys `code` as a new contract at [`contract_address`] of the sender
/// and its nonce, runs its `init` export (if it has one) with
/// `init_args`, and moves `value` to it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Deploy {
    /// The WebAssembly module.
    pub code: BoundedBytes<MAX_CODE_BYTES>,
    /// What `init` reads as its input.
    pub init_args: BoundedBytes<MAX_ARGS_BYTES>,
    /// Moved from the sender to the contract before `init` runs.
    pub value: u128,
    /// Who may migrate the contract to new code or change this (`None`:
    /// the code can never change).
    pub admin: Option<Address>,
}

/// Calls `method` (an export of the contract's module) with `args` as its
/// input, moving `value` to the contract first. The transaction's gas
/// limit bounds it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Call {
    /// The contract.
    pub contract: Address,
    /// The exported function to run.
    pub method: BoundedString<MAX_METHOD_BYTES>,
    /// Its input.
    pub args: BoundedBytes<MAX_ARGS_BYTES>,
    /// Moved from the sender to the contract before the call.
    pub value: u128,
}

/// What a contract's admin may do. New operations are appended with new
/// tags.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AdminOp {
    /// Tag 0: replace the contract's code with `code` and run the new
    /// code's `migrate` export (which it must have) on the old storage
    /// with `args`. If `migrate` fails, nothing changes.
    Migrate {
        /// The contract.
        contract: Address,
        /// The new WebAssembly module.
        code: BoundedBytes<MAX_CODE_BYTES>,
        /// What `migrate` reads as its input.
        args: BoundedBytes<MAX_ARGS_BYTES>,
    },
    /// Tag 1: set the admin to `admin`, or clear it (`None`: the code is
    /// immutable from then on).
    SetAdmin {
        /// The contract.
        contract: Address,
        /// The new admin.
        admin: Option<Address>,
    },
}

impl AdminOp {
    /// The contract it acts on.
    pub fn contract(&self) -> Address {
        match self {
            AdminOp::Migrate { contract, .. } | AdminOp::SetAdmin { contract, .. } => *contract,
        }
    }
}

/// The address of the contract `deployer` creates with its transaction of
/// nonce `nonce`: BLAKE3 in derive-key mode ("cinder contract address v1")
/// over the deployer's address and the nonce (8 bytes, little-endian). No
/// key's address is derived this way, so nobody holds a contract's key.
pub fn contract_address(deployer: &Address, nonce: u64) -> Address {
    let mut h = blake3::Hasher::new_derive_key("cinder contract address v1");
    h.update(&deployer.0);
    h.update(&nonce.to_le_bytes());
    Address(*h.finalize().as_bytes())
}

/// The record of a contract in state (namespace `"contract"`, keyed by its
/// address). Its code is a separate record keyed by the code's hash, so
/// contracts sharing code store it once.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ContractInfo {
    /// Format version, 1.
    pub version: u8,
    /// BLAKE3 of the code.
    pub code_hash: Hash,
    /// Who may migrate it or change this; `None`: immutable.
    pub admin: Option<Address>,
    /// The account that deployed it.
    pub creator: Address,
}

impl Limited for ContractInfo {
    const NAME: &'static str = "contract record";
    const MAX_BYTES: usize = 1 + 32 + 33 + 32;
}

/// An event a contract emitted: indexed topics and data.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Event {
    /// The contract that emitted it.
    pub contract: Address,
    /// Up to [`MAX_TOPICS`] 32-byte topics (what logs are filtered by).
    pub topics: Bounded<Hash, MAX_TOPICS>,
    /// Up to [`MAX_EVENT_DATA`] bytes.
    pub data: BoundedBytes<MAX_EVENT_DATA>,
}

impl Limited for Event {
    const NAME: &'static str = "event";
    const MAX_BYTES: usize = 32 + 4 + MAX_TOPICS * 32 + 4 + MAX_EVENT_DATA;
}
