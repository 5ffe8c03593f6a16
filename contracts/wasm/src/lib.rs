//! # cinder-contracts
//!
//! The example contracts of `contracts/examples`, compiled to WebAssembly
//! when this crate builds (by `scripts/build-contracts.sh`, with the SDK
//! in `contracts/sdk`): tests, benchmarks and `cinder devnet` deploy these
//! bytes. No `.wasm` file is committed; the build is reproducible.

/// The fungible token (`contracts/examples/token`).
pub const TOKEN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/token.wasm"));
/// The counter (`contracts/examples/counter`).
pub const COUNTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/counter.wasm"));
/// The contract that calls others (`contracts/examples/caller`).
pub const CALLER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/caller.wasm"));
/// The key-value registry with prefix listings (`contracts/examples/kv`).
pub const KV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kv.wasm"));

/// The constant-product market between two tokens (`contracts/examples/swap`).
pub const SWAP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/swap.wasm"));
/// The token-governed DAO with a timelock (`contracts/examples/dao`).
pub const DAO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dao.wasm"));
/// Issuers, credentials as commitments, Groth16 proofs
/// (`contracts/examples/identity`).
pub const IDENTITY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/identity.wasm"));
/// Tokenized assets with an allowlist and fractions (`contracts/examples/asset`).
pub const ASSET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/asset.wasm"));
/// Custody histories and anchored batches (`contracts/examples/supply`).
pub const SUPPLY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/supply.wasm"));

/// Every example by name.
pub const ALL: [(&str, &[u8]); 9] = [
    ("token", TOKEN),
    ("counter", COUNTER),
    ("caller", CALLER),
    ("kv", KV),
    ("swap", SWAP),
    ("dao", DAO),
    ("identity", IDENTITY),
    ("asset", ASSET),
    ("supply", SUPPLY),
];
