//! # cinder-sdk
//!
//! Writing Cinder smart contracts in Rust. A contract is a WebAssembly
//! module (`wasm32-unknown-unknown`) whose exported functions are its
//! methods; the chain runs them on wasmtime with gas metering
//! (docs/design/contracts.md).
//!
//! - [`contract!`] turns plain functions into exported methods: it decodes
//!   the arguments, runs the body, returns the encoded `Ok` value or
//!   reverts with the `Err` message.
//! - [`env`]: the host functions (storage, caller and value, balances and
//!   transfers, events, calls to other contracts, hashes, signatures).
//! - [`storage`]: typed [`Item`]s and [`Map`]s, listed in key order.
//! - [`codec`]: the argument encoding (borsh's rules).
//! - [`math`]: exact 256-bit products for prices, shares and pools.
//!
//! `init` runs once when the contract is deployed, `migrate` when its
//! admin moves it to new code; neither can be called otherwise.
//!
//! ```ignore
//! use cinder_sdk::{contract, ensure, env, Address, Map, Result};
//!
//! const COUNT: cinder_sdk::Item<u64> = cinder_sdk::Item::new(b"count");
//!
//! contract! {
//!     pub fn init(start: u64) -> Result<()> {
//!         COUNT.save(&start);
//!         Ok(())
//!     }
//!     pub fn increment(by: u64) -> Result<u64> {
//!         let n = COUNT.load_or(0).checked_add(by).ok_or("overflow")?;
//!         COUNT.save(&n);
//!         Ok(n)
//!     }
//! }
//! ```
//!
//! The SDK is `#![no_std]` with `alloc`; the contract crate itself links
//! `std` (its allocator and panic handling; a panic traps the call). It
//! builds with rustc 1.63 (Debian's wasm32 standard library), see
//! `scripts/build-contracts.sh`.

#![no_std]

extern crate alloc;

pub mod codec;
pub mod env;
pub mod heap;
pub mod math;
pub mod storage;

use alloc::string::{String, ToString};

pub use codec::{Decode, Encode, decode, encode};
pub use env::CallError;
pub use storage::{Item, Map, MapKey};

/// An account or contract address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 32]);

/// Why a method failed: the revert message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error(s.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        Error(match e {
            CallError::Reverted(m) => alloc::format!("the called contract reverted: {m}"),
            CallError::OutOfGas => "the called contract ran out of gas".to_string(),
            CallError::Trapped(t) => alloc::format!("the called contract trapped: {t}"),
            CallError::NotCallable(m) => alloc::format!("the call failed: {m}"),
        })
    }
}

/// A method's result.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Returns `Err(msg)` from the method unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $msg:expr) => {
        if !$cond {
            return Err($crate::Error::from($msg));
        }
    };
}

/// The 32-byte topic naming an event: BLAKE3 of `name`.
pub fn topic(name: &str) -> [u8; 32] {
    env::blake3(name.as_bytes())
}

/// Ends a method: `Ok(v)` returns `v` encoded, `Err(e)` reverts with its
/// message.
pub fn finish<T: Encode>(result: Result<T>) {
    match result {
        Ok(v) => env::set_return(&encode(&v)),
        Err(e) => env::revert(&e.0),
    }
}

/// Exports each function as a contract method: the input decodes as the
/// tuple of its arguments (a bad input reverts), the body runs, and its
/// `Result` becomes the return data or the revert. It also installs the
/// SDK's allocator ([`heap::BumpAlloc`]) as the global allocator, so use
/// it once per contract crate.
#[macro_export]
macro_rules! contract {
    ($( $(#[$meta:meta])* pub fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $ret:ty $body:block )*) => {
        #[global_allocator]
        static CINDER_ALLOCATOR: $crate::heap::BumpAlloc = $crate::heap::BumpAlloc;

        $(
            $(#[$meta])*
            #[no_mangle]
            pub extern "C" fn $name() {
                let input = $crate::env::input();
                #[allow(unused_parens)]
                let ($($arg,)*): ($($ty,)*) = match $crate::codec::decode(&input) {
                    Some(v) => v,
                    None => $crate::env::revert(concat!("bad arguments to ", stringify!($name))),
                };
                let result: $ret = (move || -> $ret { $body })();
                $crate::finish(result);
            }
        )*
    };
}
