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

/// Every example by name.
pub const ALL: [(&str, &[u8]); 4] = [("token", TOKEN), ("counter", COUNTER), ("caller", CALLER), ("kv", KV)];
