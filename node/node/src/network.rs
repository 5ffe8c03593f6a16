//! What the node knows of its peer-to-peer network.
//!
//! The network lives in its own crate (cinder-net, on libp2p); the node
//! and its RPC see it only through [`NetworkView`], so nothing here (and
//! nothing in the chain or consensus) imports libp2p.

use cinder_rpc::{NetInfoJson, PeerJson, SyncingJson};

/// The node's view of its network.
pub trait NetworkView: Send + Sync {
    /// The connected peers.
    fn peers(&self) -> Vec<PeerJson>;
    /// The node's own identity, addresses, NAT status and NAT-traversal
    /// counters.
    fn info(&self) -> NetInfoJson;
    /// Connected peers, counted.
    fn peer_count(&self) -> usize;
    /// Sync progress while the node catches up with a heavier peer; `None`
    /// when it is not behind.
    fn syncing(&self) -> Option<SyncingJson>;
    /// Connect only to the peers in `allow` (libp2p peer ids) and drop the
    /// others; `None` lifts the filter. Returns the number allowed.
    fn set_peer_filter(&self, allow: Option<Vec<String>>) -> Result<usize, String>;
}
