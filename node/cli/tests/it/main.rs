//! `cinder` as a user runs it: a devnet process with real RocksDB and RPC
//! on loopback, the wallet commands, clean and hard restarts, and database
//! checkpoints.

mod devnet;
