//! `cinder` as a user runs it: a devnet process with real RocksDB and RPC
//! on loopback, the wallet commands, clean and hard restarts, database
//! checkpoints, and a four-process testnet.
//!
//! Each test runs whole node processes; they take turns ([`serial`]) so
//! they never compete for the two cores of CI.

mod devnet;
mod testnet;

/// Held for the whole of a multi-process test.
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
