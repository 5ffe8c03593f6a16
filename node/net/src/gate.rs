//! The gate: a behaviour that refuses connections to and from banned
//! peers and, while a peer filter is set, from every peer outside it, and
//! closes the connections of peers that become refused.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Why the gate refused a peer.
#[derive(Debug)]
pub struct Refused {
    peer: PeerId,
    banned: bool,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.banned {
            write!(f, "peer {} is banned", self.peer)
        } else {
            write!(f, "peer {} is outside the peer filter", self.peer)
        }
    }
}

impl std::error::Error for Refused {}

/// Bans and the peer filter.
#[derive(Debug, Default)]
pub struct Gate {
    bans: HashMap<PeerId, Instant>,
    allow: Option<HashSet<PeerId>>,
    close: VecDeque<PeerId>,
    waker: Option<Waker>,
}

impl Gate {
    fn check(&self, peer: &PeerId) -> Result<(), ConnectionDenied> {
        if self.bans.get(peer).is_some_and(|u| *u > Instant::now()) {
            return Err(ConnectionDenied::new(Refused { peer: *peer, banned: true }));
        }
        if self.allow.as_ref().is_some_and(|a| !a.contains(peer)) {
            return Err(ConnectionDenied::new(Refused { peer: *peer, banned: false }));
        }
        Ok(())
    }

    /// Whether `peer` may connect now.
    pub fn admits(&self, peer: &PeerId) -> bool {
        self.check(peer).is_ok()
    }

    fn close_later(&mut self, peer: PeerId) {
        self.close.push_back(peer);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Bans `peer` until `until` and closes its connections.
    pub fn ban(&mut self, peer: PeerId, until: Instant) {
        self.bans.insert(peer, until);
        self.close_later(peer);
    }

    /// Lifts `peer`'s ban.
    pub fn unban(&mut self, peer: &PeerId) {
        self.bans.remove(peer);
    }

    /// Admits only `allow` (or everyone: `None`); closes the connections
    /// of `connected` peers now outside it.
    pub fn set_filter(&mut self, allow: Option<HashSet<PeerId>>, connected: impl IntoIterator<Item = PeerId>) {
        self.allow = allow;
        for p in connected {
            if self.allow.as_ref().is_some_and(|a| !a.contains(&p)) {
                self.close_later(p);
            }
        }
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(p) = peer {
            self.check(&p)?;
        }
        Ok(Vec::new())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm<'_>) {}

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        if let Some(peer_id) = self.close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection { peer_id, connection: CloseConnection::All });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
