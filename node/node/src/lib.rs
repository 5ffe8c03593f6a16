//! # cinder-node
//!
//! The node's services around the chain core: what `cinder node` and
//! `cinder devnet` run.
//!
//! - [`Node`]: the chain (cinder-chain, RocksDB) and its mempool; RPC
//!   transactions are admitted in batches (one signature batch per batch of
//!   arrivals); after each import the pool drops what the new chain
//!   included, takes back what a reorg reverted, and subscribers hear of
//!   the new head.
//! - [`Producer`]: the node's own mining: a template from the pool on the
//!   head (engine::exec in Build mode), sealed by the engine's PoW search
//!   (CPU SIMD or GPU), cancelled the moment the head moves and refreshed
//!   within a second when transactions arrive.
//! - [`work`]: `cinder_getWork` / `cinder_submitWork` for external miners,
//!   with version rolling under a BIP 320 mask and shares for hashrate.
//! - [`rpc`]: the JSON-RPC server (jsonrpsee, HTTP and WebSocket), with
//!   request, batch, connection and per-client rate limits.
//! - [`metrics`]: Prometheus text at `GET /metrics`.
//! - [`NetworkView`]: what the peer-to-peer network (cinder-net) shows the
//!   node and its RPC; the node hands the network its own blocks and the
//!   transactions its RPC admitted ([`Node::subscribe_local_blocks`],
//!   [`Node::subscribe_local_txs`]).
//! - [`Validator`]: proof of stake — the consensus driver (cinder-pos) on
//!   its own thread: proposals checked with every import rule, votes,
//!   timers, decided blocks imported with their certificates; consensus
//!   messages in through [`Node::deliver_consensus`], out through
//!   [`Node::subscribe_consensus`].

pub mod explorer;
pub mod metrics;
mod network;
mod node;
mod producer;
pub mod rpc;
mod validator;
pub mod work;

pub use network::NetworkView;
pub use node::{LogControl, MiningStats, Node, NodeConfig};
pub use producer::{MAX_TEMPLATE_TXS, Producer, REFRESH_AFTER};
pub use rpc::{RpcConfig, RpcServer};
pub use validator::{CRASH_ENV, EQUIVOCATE_ENV, Finalized, Validator, now_ms};
