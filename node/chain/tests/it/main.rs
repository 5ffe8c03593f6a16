//! Integration tests of block import on RocksDB: valid chains and proofs,
//! the invalid-block corpus, reorgs against a fresh replay.

mod common;
mod contracts;
mod genesis;
mod gov;
mod import;
mod invalid;
mod pos;
mod posnet;
mod produce;
mod prune;
mod reorg;
mod shard;
mod staking;
