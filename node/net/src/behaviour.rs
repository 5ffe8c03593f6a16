//! The libp2p behaviours Cinder runs, composed, and the swarm around them.
#![allow(missing_docs, reason = "the NetworkBehaviour derive generates an undocumented event enum")]

use std::time::Duration;

use anyhow::{Context, Result};
use cinder_primitives::Hash;
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Swarm, SwarmBuilder, autonat, connection_limits, dcutr, gossipsub, identify, kad, noise, ping, relay,
    request_response, tcp, yamux,
};

use crate::config::NetConfig;
use crate::gate::Gate;
use crate::protocol::{MAX_TX_BATCH_BYTES, SYNC_PROTOCOL, SyncCodec, kad_protocol};

/// The identify protocol name.
pub const IDENTIFY_PROTOCOL: &str = "/cinder/id/1";
/// How long a sync request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a Cinder node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Bans and the peer filter (first, so refused peers go no further).
    pub gate: Gate,
    /// Connection limits.
    pub limits: connection_limits::Behaviour,
    /// Reaching peers through relays, and being reached through them.
    pub relay_client: relay::client::Behaviour,
    /// Relaying for others (when configured).
    pub relay: Toggle<relay::Behaviour>,
    /// Upgrading relayed connections to direct ones (hole punching).
    pub dcutr: dcutr::Behaviour,
    /// Learning whether this node is reachable.
    pub autonat: autonat::Behaviour,
    /// Exchanging listen addresses, observed addresses and agents.
    pub identify: identify::Behaviour,
    /// Liveness.
    pub ping: ping::Behaviour,
    /// Peer discovery.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Block and transaction gossip.
    pub gossipsub: gossipsub::Behaviour,
    /// Status, headers and bodies.
    pub sync: request_response::Behaviour<SyncCodec>,
}

/// The gossipsub settings: anonymous messages (no per-message signature:
/// peers are scored by who relayed what), content-addressed ids so the same
/// block or batch from two nodes is one message, validation by the node
/// before anything is forwarded, and a size limit that fits the chain's
/// largest block.
pub fn gossip_config(max_block_bytes: u64) -> Result<gossipsub::Config> {
    let max = usize::try_from(max_block_bytes).unwrap_or(usize::MAX).saturating_add(64 << 10).max(MAX_TX_BATCH_BYTES);
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::new(&blake3::hash(&m.data).as_bytes()[..20]))
        .max_transmit_size(max)
        .heartbeat_interval(Duration::from_millis(700))
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
        .map_err(|e| anyhow::anyhow!("gossipsub settings: {e}"))
}

/// Builds the swarm: TCP (noise, yamux), QUIC, the relay client transport,
/// and [`Behaviour`].
pub fn build_swarm(key: Keypair, cfg: &NetConfig, genesis: &Hash, max_block_bytes: u64) -> Result<Swarm<Behaviour>> {
    let gossip = gossip_config(max_block_bytes)?;
    let kad_proto = kad_protocol(genesis);
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .context("the TCP transport")?
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .context("the relay transport")?
        .with_behaviour(|key, relay_client| {
            let id = key.public().to_peer_id();
            let mut kcfg = kad::Config::new(kad_proto);
            kcfg.set_query_timeout(Duration::from_secs(30));
            let mut kad = kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), kcfg);
            if cfg.kad_server {
                kad.set_mode(Some(kad::Mode::Server));
            }
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(cfg.max_connections))
                .with_max_established_per_peer(Some(cfg.max_connections_per_peer))
                .with_max_pending_incoming(Some(cfg.max_pending))
                .with_max_pending_outgoing(Some(cfg.max_pending));
            let autonat = autonat::Behaviour::new(
                id,
                autonat::Config {
                    only_global_ips: cfg.autonat_only_global,
                    boot_delay: Duration::from_secs(2),
                    retry_interval: Duration::from_secs(20),
                    refresh_interval: Duration::from_secs(300),
                    throttle_server_period: Duration::from_secs(5),
                    confidence_max: 2,
                    ..Default::default()
                },
            );
            let relay = cfg.relay_server.then(|| relay::Behaviour::new(id, relay::Config::default()));
            Ok(Behaviour {
                gate: Gate::default(),
                limits: connection_limits::Behaviour::new(limits),
                relay_client,
                relay: Toggle::from(relay),
                dcutr: dcutr::Behaviour::new(id),
                autonat,
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                        .with_agent_version(format!("cinder/{}", env!("CARGO_PKG_VERSION"))),
                ),
                ping: ping::Behaviour::new(ping::Config::new()),
                kad,
                gossipsub: gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip)
                    .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))?,
                sync: request_response::Behaviour::with_codec(
                    SyncCodec,
                    [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(REQUEST_TIMEOUT)
                        .with_max_concurrent_streams(128),
                ),
            })
        })
        .map_err(|e| anyhow::anyhow!("building the network behaviour: {e}"))?
        // Peers stay connected while idle: gossip needs the mesh up.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}
