//! What a block's execution reads and writes: the keys and values of the
//! Block-STM executor, and the block a transaction runs in.
//!
//! An account is two keys, its balance and its nonce, so that credits (the
//! recipient's amount, the coinbase's fee) are commutative deltas that
//! never conflict. A contract is its record ([`StateKey::Contract`]), its
//! code (shared by hash, [`StateKey::Code`]) and its storage, one key per
//! entry ([`StateKey::Storage`]), ordered by contract then key so that a
//! scan of a contract's keys is a range of the executor's keys.

use std::fmt;
use std::sync::Arc;

use cinder_engine::exec::Value;
use cinder_primitives::{Address, Hash};

/// A contract storage key (at most [`crate::limits::MAX_KEY_BYTES`]),
/// shared cheaply between the executor's versions.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey(pub Arc<[u8]>);

impl StorageKey {
    /// The key of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        StorageKey(Arc::from(bytes))
    }
    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(&self.0))
    }
}

/// A key of the execution state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKey {
    /// An account's balance (a counter).
    Balance(Address),
    /// An account's nonce (a counter).
    Nonce(Address),
    /// A contract's record ([`cinder_primitives::ContractInfo`], encoded).
    Contract(Address),
    /// Contract code by its BLAKE3 hash.
    Code(Hash),
    /// An entry of a contract's storage.
    Storage(Address, StorageKey),
}

impl StateKey {
    /// A storage key of `contract`.
    pub fn storage(contract: Address, key: &[u8]) -> StateKey {
        StateKey::Storage(contract, StorageKey::new(key))
    }
}

/// A value of the execution state: a counter (balances, nonces) or bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum Val {
    /// A counter.
    Num(u128),
    /// Bytes (a contract record, code, a storage value).
    Bytes(Arc<[u8]>),
}

impl Val {
    /// The counter, if it is one.
    pub fn num(&self) -> Option<u128> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Bytes(_) => None,
        }
    }
    /// The bytes, if it is bytes.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Val::Bytes(b) => Some(b),
            Val::Num(_) => None,
        }
    }
    /// Bytes of `b`.
    pub fn from_bytes(b: &[u8]) -> Val {
        Val::Bytes(Arc::from(b))
    }
}

impl fmt::Debug for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Num(n) => write!(f, "{n}"),
            Val::Bytes(b) if b.len() <= 64 => write!(f, "0x{}", hex::encode(b)),
            Val::Bytes(b) => write!(f, "0x{}… ({} bytes)", hex::encode(&b[..32]), b.len()),
        }
    }
}

impl Value for Val {
    fn as_counter(&self) -> Option<u128> {
        self.num()
    }
    fn from_counter(n: u128) -> Self {
        Val::Num(n)
    }
}

/// The block a transaction executes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEnv {
    /// Its height.
    pub height: u64,
    /// Its time, Unix milliseconds (PoW headers carry seconds: x 1000).
    pub time_ms: u64,
    /// Who receives the fees.
    pub coinbase: Address,
}
