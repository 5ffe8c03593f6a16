//! The node over real RocksDB and real JSON-RPC on loopback: reads and
//! transfers, every kind of bad input with its documented error and no
//! change, subscriptions, the work API, and reorgs returning transactions
//! to the pool.

mod common;
mod contracts;
mod ops;
mod rpc;
mod shard;
mod work;
