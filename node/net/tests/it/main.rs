//! cinder-net's integration tests: real libp2p on loopback, real nodes on
//! RocksDB, in one process (the multi-process network tests are in the
//! cinder CLI's tests).

mod common;
mod discovery;
mod gossip_sync;
mod pos;
mod reputation;
