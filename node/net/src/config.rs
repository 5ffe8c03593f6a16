//! Network settings and the node key.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// How the network runs.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Addresses to listen on (TCP and/or QUIC multiaddrs).
    pub listen: Vec<Multiaddr>,
    /// Addresses others reach this node at (announced, and Kademlia serves
    /// from the start).
    pub external: Vec<Multiaddr>,
    /// Peers dialled at start and whenever the node has too few peers:
    /// `/ip4/.../tcp/.../p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Relays to reserve a slot on (`.../p2p/<relay id>`); peers then reach
    /// this node through `<relay>/p2p-circuit/p2p/<this id>`.
    pub relays: Vec<Multiaddr>,
    /// The most established connections in total.
    pub max_connections: u32,
    /// The most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// The most connections being set up at once, each way.
    pub max_pending: u32,
    /// Peers the node tries to keep connected (it dials known peers while
    /// below).
    pub target_peers: usize,
    /// Kademlia answers queries from the start (otherwise only once an
    /// external address is confirmed, which never happens on loopback).
    pub kad_server: bool,
    /// Serve as a circuit relay (v2) for others.
    pub relay_server: bool,
    /// Connect only to these peers (`None`: anyone not banned).
    pub allowlist: Option<Vec<PeerId>>,
    /// How long a peer scored below the threshold stays banned.
    pub ban_duration: Duration,
    /// AutoNAT probes: only trust servers at global addresses (off for
    /// private networks and tests).
    pub autonat_only_global: bool,
    /// How often peers are asked for their status.
    pub status_interval: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: vec![
                Multiaddr::empty().with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED)).with(Protocol::Tcp(30333)),
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
                    .with(Protocol::Udp(30333))
                    .with(Protocol::QuicV1),
            ],
            external: Vec::new(),
            bootnodes: Vec::new(),
            relays: Vec::new(),
            max_connections: 64,
            max_connections_per_peer: 2,
            max_pending: 32,
            target_peers: 16,
            kad_server: false,
            relay_server: false,
            allowlist: None,
            ban_duration: Duration::from_secs(600),
            autonat_only_global: true,
            status_interval: Duration::from_secs(5),
        }
    }
}

/// The peer id at the end of `addr` (`.../p2p/<id>`).
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().last().and_then(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// Parses a comma-separated list of multiaddrs that end in `/p2p/<id>`.
pub fn parse_peer_addrs(list: &str) -> Result<Vec<Multiaddr>> {
    let mut out = Vec::new();
    for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let a: Multiaddr = s.parse().with_context(|| format!("{s:?} is not a multiaddr"))?;
        if peer_of(&a).is_none() {
            bail!("{s:?} does not end in /p2p/<peer id>");
        }
        out.push(a);
    }
    Ok(out)
}

/// Loads the node's ed25519 key from `path` (32 secret bytes), creating it
/// (mode 0600, never overwriting) if missing. A key file others can read is
/// refused.
pub fn load_or_create_key(path: &Path) -> Result<Keypair> {
    match std::fs::read(path) {
        Ok(mut bytes) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    bail!(
                        "the node key {} is readable by others (mode {:o}); chmod 600 it",
                        path.display(),
                        mode & 0o777
                    );
                }
            }
            if bytes.len() != 32 {
                bail!("the node key {} has {} bytes, not 32", path.display(), bytes.len());
            }
            Keypair::ed25519_from_bytes(&mut bytes).with_context(|| format!("the node key {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = libp2p::identity::ed25519::Keypair::generate();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(path).with_context(|| format!("creating the node key {}", path.display()))?;
            f.write_all(&key.secret().as_ref()[..32])
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing the node key {}", path.display()))?;
            Ok(Keypair::from(key))
        }
        Err(e) => Err(e).with_context(|| format!("reading the node key {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_key_is_created_private_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("cinder-net-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("node.key");
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load_or_create_key(&path).unwrap_err().to_string().contains("readable by others"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create_key(&path).unwrap_err().to_string().contains("not 32"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn peer_addresses_need_a_peer_id() {
        let id = PeerId::random();
        let ok =
            parse_peer_addrs(&format!("/ip4/127.0.0.1/tcp/1/p2p/{id}, /ip4/1.2.3.4/udp/2/quic-v1/p2p/{id}")).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(peer_of(&ok[0]), Some(id));
        assert!(parse_peer_addrs("/ip4/127.0.0.1/tcp/1").is_err());
        assert!(parse_peer_addrs("nonsense").is_err());
        assert!(parse_peer_addrs("").unwrap().is_empty());
    }
}
