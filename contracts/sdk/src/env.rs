//! The host functions of ABI `cinder_v1` and safe wrappers around them.
//!
//! Every host function charges gas before it works and checks every
//! pointer and length it is given; a bad one traps the call (docs/design/
//! contracts.md has the table of functions and their gas).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::Address;

mod raw {
    #[link(wasm_import_module = "cinder_v1")]
    extern "C" {
        pub fn input_len() -> i32;
        pub fn input_read(ptr: *mut u8);
        pub fn result_len() -> i32;
        pub fn result_read(ptr: *mut u8);
        pub fn return_data(ptr: *const u8, len: i32);
        pub fn revert(ptr: *const u8, len: i32) -> !;
        pub fn storage_read(key_ptr: *const u8, key_len: i32) -> i32;
        pub fn storage_write(key_ptr: *const u8, key_len: i32, val_ptr: *const u8, val_len: i32);
        pub fn storage_remove(key_ptr: *const u8, key_len: i32);
        pub fn storage_scan(start_ptr: *const u8, start_len: i32, end_ptr: *const u8, end_len: i32, limit: i32) -> i32;
        pub fn caller(out: *mut u8);
        pub fn origin(out: *mut u8);
        pub fn self_address(out: *mut u8);
        pub fn value(out: *mut u8);
        pub fn block_height() -> i64;
        pub fn block_time_ms() -> i64;
        pub fn balance(addr: *const u8, out: *mut u8);
        pub fn transfer(to: *const u8, amount: *const u8) -> i32;
        pub fn emit(topics: *const u8, topic_count: i32, data: *const u8, data_len: i32);
        pub fn call(
            contract: *const u8,
            method_ptr: *const u8,
            method_len: i32,
            args_ptr: *const u8,
            args_len: i32,
            value: *const u8,
            gas: i64,
        ) -> i32;
        pub fn blake3(ptr: *const u8, len: i32, out: *mut u8);
        pub fn sha256(ptr: *const u8, len: i32, out: *mut u8);
        pub fn ed25519_verify(key: *const u8, msg_ptr: *const u8, msg_len: i32, sig: *const u8) -> i32;
        pub fn merkle_verify(
            root: *const u8,
            leaf_ptr: *const u8,
            leaf_len: i32,
            index: i64,
            count: i64,
            siblings: *const u8,
            sibling_count: i32,
        ) -> i32;
        pub fn groth16_verify(
            vk_ptr: *const u8,
            vk_len: i32,
            proof_ptr: *const u8,
            proof_len: i32,
            inputs: *const u8,
            input_count: i32,
        ) -> i32;
    }
}

/// The longest storage key.
pub const MAX_KEY_BYTES: usize = 128;
/// The largest storage value.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

fn len(n: usize) -> i32 {
    // Lengths come from slices in a 32-bit memory: they fit.
    n as i32
}

/// The result buffer: what the last storage read, scan or call left.
fn take_result() -> Vec<u8> {
    // SAFETY: the host writes exactly `result_len()` bytes at the pointer.
    unsafe {
        let n = raw::result_len() as usize;
        let mut v = vec![0u8; n];
        raw::result_read(v.as_mut_ptr());
        v
    }
}

/// The call's input (a method's arguments, `init`'s or `migrate`'s).
pub fn input() -> Vec<u8> {
    // SAFETY: the host writes exactly `input_len()` bytes at the pointer.
    unsafe {
        let n = raw::input_len() as usize;
        let mut v = vec![0u8; n];
        raw::input_read(v.as_mut_ptr());
        v
    }
}

/// Sets what the call returns (replacing anything set before).
pub fn set_return(data: &[u8]) {
    // SAFETY: a valid slice.
    unsafe { raw::return_data(data.as_ptr(), len(data.len())) }
}

/// Ends the call as reverted with `message`: every write of the call (and
/// of the calls it made) is undone; a transaction's fee is still paid.
pub fn revert(message: &str) -> ! {
    // SAFETY: a valid slice; the host does not return.
    unsafe { raw::revert(message.as_ptr(), len(message.len())) }
}

/// The value of `key` in this contract's storage.
pub fn read(key: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: a valid slice.
    let n = unsafe { raw::storage_read(key.as_ptr(), len(key.len())) };
    if n < 0 { None } else { Some(take_result()) }
}

/// Sets `key` to `value` in this contract's storage (keys at most
/// [`MAX_KEY_BYTES`], values at most [`MAX_VALUE_BYTES`]: longer ones trap).
pub fn write(key: &[u8], value: &[u8]) {
    // SAFETY: valid slices.
    unsafe { raw::storage_write(key.as_ptr(), len(key.len()), value.as_ptr(), len(value.len())) }
}

/// Removes `key` from this contract's storage.
pub fn remove(key: &[u8]) {
    // SAFETY: a valid slice.
    unsafe { raw::storage_remove(key.as_ptr(), len(key.len())) }
}

/// The entries of this contract's storage with keys in `start..=end`, in
/// key order, at most `limit` of them.
pub fn scan(start: &[u8], end: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    // SAFETY: valid slices.
    let n = unsafe { raw::storage_scan(start.as_ptr(), len(start.len()), end.as_ptr(), len(end.len()), limit as i32) };
    let buf = take_result();
    let mut out = Vec::with_capacity(n.max(0) as usize);
    let mut r = crate::codec::Reader::new(&buf);
    for _ in 0..n.max(0) {
        match (r.bytes(), r.bytes()) {
            (Some(k), Some(v)) => out.push((k.to_vec(), v.to_vec())),
            _ => revert("the host returned a malformed scan"),
        }
    }
    out
}

/// The entries whose keys start with `prefix`, after `after` (a full key,
/// exclusive) if given, in key order, at most `limit`.
pub fn scan_prefix(prefix: &[u8], after: Option<&[u8]>, limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut end = Vec::with_capacity(MAX_KEY_BYTES);
    end.extend_from_slice(prefix);
    end.resize(MAX_KEY_BYTES.max(prefix.len()), 0xff);
    let start = match after {
        Some(a) => {
            let mut s = a.to_vec();
            s.push(0);
            if s.as_slice() < prefix { prefix.to_vec() } else { s }
        }
        None => prefix.to_vec(),
    };
    scan(&start, &end, limit)
}

fn address_of(f: unsafe extern "C" fn(*mut u8)) -> Address {
    let mut a = [0u8; 32];
    // SAFETY: the host writes 32 bytes.
    unsafe { f(a.as_mut_ptr()) };
    Address(a)
}

/// Who called: the transaction's sender, or the contract that called this
/// one.
pub fn caller() -> Address {
    address_of(raw::caller)
}

/// The transaction's sender (whatever contract called this one).
pub fn origin() -> Address {
    address_of(raw::origin)
}

/// This contract's address.
pub fn self_address() -> Address {
    address_of(raw::self_address)
}

/// The value moved to this contract with the call.
pub fn value() -> u128 {
    let mut b = [0u8; 16];
    // SAFETY: the host writes 16 bytes.
    unsafe { raw::value(b.as_mut_ptr()) };
    u128::from_le_bytes(b)
}

/// The block's height.
pub fn block_height() -> u64 {
    // SAFETY: no pointers.
    unsafe { raw::block_height() as u64 }
}

/// The block's time, Unix milliseconds.
pub fn block_time_ms() -> u64 {
    // SAFETY: no pointers.
    unsafe { raw::block_time_ms() as u64 }
}

/// The balance of `account`.
pub fn balance(account: &Address) -> u128 {
    let mut b = [0u8; 16];
    // SAFETY: 32 bytes in, 16 out.
    unsafe { raw::balance(account.0.as_ptr(), b.as_mut_ptr()) };
    u128::from_le_bytes(b)
}

/// Moves `amount` from this contract's balance to `to`; `false` if the
/// balance is short (nothing moves).
pub fn transfer(to: &Address, amount: u128) -> bool {
    let a = amount.to_le_bytes();
    // SAFETY: 32 and 16 bytes.
    unsafe { raw::transfer(to.0.as_ptr(), a.as_ptr()) == 0 }
}

/// Emits an event with up to four topics and up to 1 KiB of data.
pub fn emit(topics: &[[u8; 32]], data: &[u8]) {
    let flat: Vec<u8> = topics.iter().flat_map(|t| t.iter().copied()).collect();
    // SAFETY: valid slices.
    unsafe { raw::emit(flat.as_ptr(), len(topics.len()), data.as_ptr(), len(data.len())) }
}

/// How a call to another contract failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// It reverted, with this message.
    Reverted(String),
    /// It ran out of the gas it was given.
    OutOfGas,
    /// It trapped, of this kind.
    Trapped(String),
    /// No contract at the address, or no such method.
    NotCallable(String),
}

/// Calls `method` of `contract` with `args`, moving `value` to it and
/// giving it at most `gas` (0: all it may have). Its writes apply if it
/// succeeds and are undone if it fails; either way this call goes on.
pub fn call(contract: &Address, method: &str, args: &[u8], value: u128, gas: u64) -> Result<Vec<u8>, CallError> {
    let v = value.to_le_bytes();
    // SAFETY: valid slices and fixed-size buffers.
    let status = unsafe {
        raw::call(
            contract.0.as_ptr(),
            method.as_ptr(),
            len(method.len()),
            args.as_ptr(),
            len(args.len()),
            v.as_ptr(),
            gas as i64,
        )
    };
    let result = take_result();
    let text = || String::from_utf8_lossy(&result).into_owned();
    match status {
        0 => Ok(result),
        1 => Err(CallError::Reverted(text())),
        2 => Err(CallError::OutOfGas),
        3 => Err(CallError::Trapped(text())),
        _ => Err(CallError::NotCallable(text())),
    }
}

/// BLAKE3 of `data`.
pub fn blake3(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: a valid slice and 32 bytes out.
    unsafe { raw::blake3(data.as_ptr(), len(data.len()), out.as_mut_ptr()) };
    out
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: a valid slice and 32 bytes out.
    unsafe { raw::sha256(data.as_ptr(), len(data.len()), out.as_mut_ptr()) };
    out
}

/// Whether `signature` is `key`'s ed25519 signature of `message` (the
/// chain's ZIP-215 rule).
pub fn ed25519_verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    // SAFETY: fixed-size buffers and a valid slice.
    unsafe { raw::ed25519_verify(key.as_ptr(), message.as_ptr(), len(message.len()), signature.as_ptr()) == 1 }
}

/// Whether `leaf` (the leaf's data, hashed by the host) is at `index` of
/// `count` leaves in the BLAKE3 Merkle tree with `root`: the engine's tree
/// (docs/protocol.md, "Merkle trees"; what `cinder_engine::merkle` builds
/// off chain). `siblings` go from the leaf's level up; at most 64.
pub fn merkle_verify(root: &[u8; 32], leaf: &[u8], index: u64, count: u64, siblings: &[[u8; 32]]) -> bool {
    let flat: Vec<u8> = siblings.iter().flat_map(|s| s.iter().copied()).collect();
    // SAFETY: valid slices; the host reads `siblings.len()` x 32 bytes.
    unsafe {
        raw::merkle_verify(
            root.as_ptr(),
            leaf.as_ptr(),
            len(leaf.len()),
            index as i64,
            count as i64,
            flat.as_ptr(),
            len(siblings.len()),
        ) == 1
    }
}

/// What [`groth16_verify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Groth16 {
    /// A valid proof of these public inputs.
    Valid,
    /// Well-formed, but not a proof of these inputs.
    Invalid,
    /// The key, the proof or an input does not decode, or the number of
    /// inputs is not the key's.
    Malformed,
}

/// Checks a Groth16 proof on BN254: `vk` and `proof` in arkworks'
/// compressed form, each public input 32 bytes little-endian (canonical).
/// Gas: 6,000,000 plus 150,000 per input (docs/design/contracts.md).
pub fn groth16_verify(vk: &[u8], proof: &[u8], inputs: &[[u8; 32]]) -> Groth16 {
    let flat: Vec<u8> = inputs.iter().flat_map(|s| s.iter().copied()).collect();
    // SAFETY: valid slices; the host reads `inputs.len()` x 32 bytes.
    let r = unsafe {
        raw::groth16_verify(vk.as_ptr(), len(vk.len()), proof.as_ptr(), len(proof.len()), flat.as_ptr(), len(inputs.len()))
    };
    match r {
        1 => Groth16::Valid,
        0 => Groth16::Invalid,
        _ => Groth16::Malformed,
    }
}
