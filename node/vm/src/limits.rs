//! The limits of contract execution and the gas table: one place, every
//! number documented in docs/design/contracts.md. Changing any of them
//! changes consensus.

/// The ABI version: the import module every host function lives in.
pub const ABI_MODULE: &str = "cinder_v1";

/// Most WebAssembly pages (64 KiB each) a contract instance's memory may
/// have: 16 MiB. `memory.grow` past it returns -1.
pub const MAX_MEMORY_PAGES: u64 = 256;
/// Most entries of a contract's function table.
pub const MAX_TABLE_ELEMENTS: u64 = 4096;
/// Most functions a module may define.
pub const MAX_FUNCTIONS: usize = 10_000;
/// Most globals a module may define.
pub const MAX_GLOBALS: usize = 256;
/// Most exports a module may have.
pub const MAX_EXPORTS: usize = 512;
/// Native stack the contract's WebAssembly may use in one call frame
/// (wasmtime's `max_wasm_stack`): deeper recursion traps with "stack
/// overflow" instead of crashing the node.
pub const MAX_WASM_STACK: usize = 256 * 1024;
/// Stack of the fiber each call runs on (must exceed [`MAX_WASM_STACK`]
/// plus the host's own frames).
pub const FIBER_STACK: usize = 1024 * 1024;

/// Most nested contract calls (the transaction's own call is depth 1).
pub const MAX_CALL_DEPTH: usize = 8;
/// Most contract instances one transaction creates (every call, nested or
/// not, instantiates its callee afresh).
pub const MAX_CALLS_PER_TX: usize = 64;

/// The longest storage key.
pub const MAX_KEY_BYTES: usize = 128;
/// The largest storage value.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// The most entries one storage scan returns.
pub const MAX_SCAN_ENTRIES: usize = 1024;

/// Most public inputs of a Groth16 proof `groth16_verify` takes.
pub const MAX_GROTH16_INPUTS: usize = 32;
/// The largest Groth16 verifying key (compressed) `groth16_verify` takes:
/// room for [`MAX_GROTH16_INPUTS`] inputs.
pub const MAX_GROTH16_VK_BYTES: usize = 2048;
/// Most siblings of a Merkle proof `merkle_verify` takes (2^64 leaves).
pub const MAX_MERKLE_DEPTH: usize = 64;

/// Gas: one unit of WebAssembly fuel is one unit of gas (wasmtime counts
/// one per instruction; control-flow markers, `nop` and `drop` are free).
pub mod gas {
    /// A transaction that calls a contract, before any code runs.
    pub const CALL_BASE: u64 = 21_000;
    /// Per byte of a call's arguments (and of `init` / `migrate` input).
    pub const ARGS_BYTE: u64 = 16;
    /// A deploy or a migration, before any code runs.
    pub const DEPLOY_BASE: u64 = 50_000;
    /// Per byte of code deployed: validation, compilation, storage.
    pub const CODE_BYTE: u64 = 100;
    /// Changing a contract's admin.
    pub const SET_ADMIN: u64 = 30_000;

    /// Every host function, before its own cost.
    pub const HOST_CALL: u64 = 100;
    /// Per byte copied in or out of the contract's memory by a host
    /// function (input, return data, results, hash inputs).
    pub const COPY_BYTE: u64 = 1;
    /// A storage read (a state lookup).
    pub const STORAGE_READ: u64 = 2_000;
    /// Per byte of a storage read's key and value.
    pub const STORAGE_READ_BYTE: u64 = 3;
    /// A storage write (a state-tree update at the block's end).
    pub const STORAGE_WRITE: u64 = 10_000;
    /// Per byte of a storage write's key and value.
    pub const STORAGE_WRITE_BYTE: u64 = 30;
    /// A storage removal.
    pub const STORAGE_REMOVE: u64 = 5_000;
    /// A storage scan.
    pub const STORAGE_SCAN: u64 = 2_000;
    /// Per entry a scan returns.
    pub const SCAN_ENTRY: u64 = 1_000;
    /// A balance query.
    pub const BALANCE: u64 = 2_000;
    /// A transfer out of the contract's balance.
    pub const TRANSFER: u64 = 10_000;
    /// An event.
    pub const EMIT: u64 = 1_000;
    /// Per topic of an event.
    pub const EMIT_TOPIC: u64 = 500;
    /// Per byte of an event's data.
    pub const EMIT_BYTE: u64 = 10;
    /// A call to another contract (instantiating it), before its own gas.
    pub const CALL: u64 = 10_000;
    /// BLAKE3, plus [`HASH_BYTE`] per byte.
    pub const BLAKE3: u64 = 200;
    /// SHA-256, plus 2 x [`HASH_BYTE`] per byte.
    pub const SHA256: u64 = 200;
    /// Per byte hashed by BLAKE3 (SHA-256 costs twice this).
    pub const HASH_BYTE: u64 = 1;
    /// An ed25519 signature check (about 50 µs of a core), plus
    /// [`HASH_BYTE`] per message byte.
    pub const ED25519_VERIFY: u64 = 50_000;
    /// A Groth16 check on BN254, before its inputs. Priced at the worst
    /// case, a key the node has not seen (parsing, subgroup checks,
    /// preparing it, then the multi-pairing): 6.1 ms on dev-2c against
    /// 2.8 ms with the key cached (`cinder-bench usecases`). Gas cannot
    /// depend on the cache, so a block full of fresh keys takes no longer
    /// than its gas says.
    pub const GROTH16_VERIFY: u64 = 6_000_000;
    /// Per public input of a Groth16 check (a G1 scalar multiplication and
    /// its share of the key).
    pub const GROTH16_INPUT: u64 = 150_000;
    /// A Merkle inclusion check, plus [`HASH_BYTE`] per leaf byte and
    /// [`MERKLE_NODE`] per sibling.
    pub const MERKLE_VERIFY: u64 = 500;
    /// Per sibling of a Merkle proof (one BLAKE3 compression).
    pub const MERKLE_NODE: u64 = 200;
    /// Per WebAssembly page `memory.grow` adds (wasmtime's variable
    /// operator cost, at most 255).
    pub const MEMORY_GROW_PAGE: u8 = 255;
}
