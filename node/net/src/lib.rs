//! # cinder-net
//!
//! Cinder's peer-to-peer network, on libp2p. The node (cinder-node) sees
//! it only through [`cinder_node::NetworkView`]; the chain and consensus
//! never import libp2p.
//!
//! - Transports: TCP (noise, yamux) and QUIC; identify, ping; connection
//!   limits in total, per peer and while pending.
//! - Discovery: bootnodes, Kademlia (server mode with an external address
//!   or when configured, as testnets do), a random walk while below the
//!   target peer count.
//! - NAT traversal: AutoNAT, circuit relay v2 (client, and server when
//!   configured), DCUtR hole punching.
//! - Gossip ([`protocol::topics`]): blocks and transaction batches on
//!   gossipsub, validated before they are forwarded (a block's PoW and
//!   stateless checks; a batch's signatures as one batch), with the size
//!   limit following the chain's largest block.
//! - Sync ([`sync`]): status, headers and bodies over request-response;
//!   header-first, bodies from several peers in parallel, imported through
//!   the chain's pipelined import; catch-up and switching to a heavier fork.
//! - Reputation ([`peers`]): scores from gossip validity, responses and
//!   protocol violations, bans with expiry, rate limits per peer and
//!   protocol, bounded queues everywhere ([`gate`] enforces bans and the
//!   peer filter).

pub mod behaviour;
pub mod config;
pub mod gate;
pub mod peers;
pub mod protocol;
mod serve;
mod service;
pub mod sync;

pub use config::{NetConfig, load_or_create_key, parse_peer_addrs, peer_of};
pub use libp2p::{Multiaddr, PeerId, identity::Keypair};
pub use service::{NetStats, Network, Shared};
