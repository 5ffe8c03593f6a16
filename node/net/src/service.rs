//! The network service: one task drives the swarm; blocking work (block
//! validation, transaction admission, answering sync requests) runs on
//! tokio's blocking pool, imports on one importer thread, and their results
//! come back to the task as [`Done`] messages.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cinder_chain::{BlockInvalid, ImportError, ImportStatus};
use cinder_mempool::Rejected;
use cinder_node::{NetworkView, Node};
use cinder_pos::message::{ConsensusMessage, Unchecked};
use cinder_primitives::{Block, Bounded, Hash, SignedTransaction, decode, encode};
use cinder_rpc::{NetInfoJson, PeerJson, SyncingJson};
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm, autonat, dcutr, identify, kad, relay};
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{Behaviour, BehaviourEvent, build_swarm};
use crate::config::{NetConfig, peer_of};
use crate::peers::{PeerBook, Penalty, REWARD_VALID_BLOCK, Traffic};
use crate::protocol::{MAX_TX_BATCH, Request, Response, Status, TxBatch, consensus_topic, topics};
use crate::serve;
use crate::sync::{Fetch, SyncJob};

/// The most gossip messages being validated at once; more are ignored.
const MAX_VALIDATING: usize = 512;
/// The most inbound requests being answered at once; more are dropped.
const MAX_SERVING: usize = 64;
/// The most inbound requests of one peer being answered at once, so one
/// peer's flood cannot take the others' share.
const MAX_SERVING_PER_PEER: usize = 4;
/// The most imports queued for the importer thread.
const IMPORT_QUEUE: usize = 256;
/// How often the service ticks (dials, status rounds, bans, sync).
const TICK: Duration = Duration::from_millis(250);
/// A peer whose sync failed is not synced from again for this long.
const SYNC_BACKOFF: Duration = Duration::from_secs(30);
/// A peer is redialled at most this often.
const REDIAL_AFTER: Duration = Duration::from_secs(5);
/// A relay reservation that failed or closed is tried again after this.
const RELAY_RETRY: Duration = Duration::from_secs(5);

/// Counters of the network.
#[derive(Debug, Default)]
pub struct NetStats {
    /// Gossiped blocks accepted (valid, forwarded).
    pub blocks_accepted: AtomicU64,
    /// Gossiped blocks or batches rejected as invalid.
    pub gossip_rejected: AtomicU64,
    /// Gossiped transaction batches accepted.
    pub tx_batches_accepted: AtomicU64,
    /// Blocks imported by sync.
    pub synced_blocks: AtomicU64,
    /// Peers banned.
    pub bans: AtomicU64,
    /// Hole punches (DCUtR) that succeeded.
    pub hole_punches: AtomicU64,
    /// Hole punches that failed.
    pub hole_punch_failures: AtomicU64,
    /// Relay reservations accepted.
    pub reservations: AtomicU64,
    /// Connections through a relay circuit, either way.
    pub circuits: AtomicU64,
}

/// What the service shares with the node, RPC and tests.
pub struct Shared {
    peer_id: PeerId,
    peers: Mutex<Vec<PeerJson>>,
    syncing: Mutex<Option<SyncingJson>>,
    nat: Mutex<String>,
    listen: Mutex<Vec<Multiaddr>>,
    external: Mutex<Vec<Multiaddr>>,
    sync_sources: Mutex<HashSet<PeerId>>,
    validated: tokio::sync::broadcast::Sender<(Hash, Instant)>,
    cmd: mpsc::Sender<Command>,
    /// Counters.
    pub stats: NetStats,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// How many distinct peers have served this node block bodies in sync.
    pub fn sync_sources(&self) -> usize {
        lock(&self.sync_sources).len()
    }
    /// Gossiped blocks as they pass validation (and are forwarded), with
    /// the moment they did: what propagation is timed by.
    pub fn subscribe_validated(&self) -> tokio::sync::broadcast::Receiver<(Hash, Instant)> {
        self.validated.subscribe()
    }
}

impl NetworkView for Shared {
    fn peers(&self) -> Vec<PeerJson> {
        lock(&self.peers).clone()
    }
    fn peer_count(&self) -> usize {
        lock(&self.peers).len()
    }
    fn info(&self) -> NetInfoJson {
        let s = &self.stats;
        NetInfoJson {
            peer_id: self.peer_id.to_string(),
            listen_addrs: lock(&self.listen).iter().map(ToString::to_string).collect(),
            external_addrs: lock(&self.external).iter().map(ToString::to_string).collect(),
            nat: lock(&self.nat).clone(),
            relay_reservations: s.reservations.load(Ordering::Relaxed),
            relay_circuits: s.circuits.load(Ordering::Relaxed),
            hole_punches: s.hole_punches.load(Ordering::Relaxed),
            hole_punch_failures: s.hole_punch_failures.load(Ordering::Relaxed),
        }
    }
    fn syncing(&self) -> Option<SyncingJson> {
        lock(&self.syncing).clone()
    }
    fn set_peer_filter(&self, allow: Option<Vec<String>>) -> Result<usize, String> {
        let set = match allow {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|s| s.parse::<PeerId>().map_err(|e| format!("{s:?} is not a peer id: {e}")))
                    .collect::<Result<HashSet<_>, _>>()?,
            ),
        };
        let n = set.as_ref().map_or(usize::MAX, HashSet::len);
        self.cmd.try_send(Command::SetFilter(set)).map_err(|e| format!("the network is busy or stopped: {e}"))?;
        Ok(n)
    }
}

/// Requests to the service.
enum Command {
    SetFilter(Option<HashSet<PeerId>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), String>>),
    Listen(Multiaddr, oneshot::Sender<Result<(), String>>),
    Stop,
}

/// A running network.
pub struct Network {
    peer_id: PeerId,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Network {
    /// Starts the network for `node` with `key` on the current tokio
    /// runtime: listens, dials the bootnodes, reserves relay slots, and
    /// attaches itself to the node (RPC and metrics see it). Returns once
    /// every listen address is bound.
    pub async fn start(node: Arc<Node>, key: Keypair, cfg: NetConfig) -> Result<Network> {
        let peer_id = key.public().to_peer_id();
        let genesis = node.chain().genesis_id();
        let mut swarm = build_swarm(key, &cfg, &genesis, node.chain().spec().max_block_bytes)?;
        let (blocks_topic, txs_topic) = topics(&genesis);
        let (blocks_topic, txs_topic) = (IdentTopic::new(blocks_topic), IdentTopic::new(txs_topic));
        let gs = &mut swarm.behaviour_mut().gossipsub;
        gs.subscribe(&blocks_topic).map_err(|e| anyhow::anyhow!("subscribing to blocks: {e}"))?;
        gs.subscribe(&txs_topic).map_err(|e| anyhow::anyhow!("subscribing to transactions: {e}"))?;
        let consensus = match node.chain().spec().pos {
            Some(_) => {
                let topic = IdentTopic::new(consensus_topic(&genesis));
                gs.subscribe(&topic).map_err(|e| anyhow::anyhow!("subscribing to consensus: {e}"))?;
                Some(ConsensusGossip { topic })
            }
            None => None,
        };
        if let Some(allow) = &cfg.allowlist {
            swarm.behaviour_mut().gate.set_filter(Some(allow.iter().copied().collect()), []);
        }
        for a in &cfg.listen {
            swarm.listen_on(a.clone()).with_context(|| format!("listening on {a}"))?;
        }
        for a in &cfg.external {
            swarm.add_external_address(a.clone());
        }
        // Wait until the listeners are bound so callers can print them.
        let mut bound = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while bound.len() < cfg.listen.len() {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => bound.push(address),
                Ok(SwarmEvent::ListenerError { error, .. }) => anyhow::bail!("listening: {error}"),
                Ok(SwarmEvent::ListenerClosed { reason: Err(e), .. }) => anyhow::bail!("listening: {e}"),
                Ok(_) => {}
                Err(_) => anyhow::bail!("the listen addresses were not bound within 10 s"),
            }
        }
        let (cmd, cmd_rx) = mpsc::channel(256);
        let shared = Arc::new(Shared {
            peer_id,
            peers: Mutex::new(Vec::new()),
            syncing: Mutex::new(None),
            nat: Mutex::new("unknown".into()),
            listen: Mutex::new(bound),
            external: Mutex::new(cfg.external.clone()),
            sync_sources: Mutex::new(HashSet::new()),
            validated: tokio::sync::broadcast::channel(256).0,
            cmd,
            stats: NetStats::default(),
        });
        node.set_network(shared.clone());
        let (done_tx, done_rx) = mpsc::channel(4096);
        let importer = spawn_importer(node.clone(), done_tx.clone())?;
        let mut svc = Service {
            swarm,
            node,
            shared: shared.clone(),
            book: PeerBook::new(cfg.ban_duration),
            cfg,
            blocks_topic,
            txs_topic,
            consensus,
            peers: HashMap::new(),
            known: HashMap::new(),
            last_dial: HashMap::new(),
            requests: HashMap::new(),
            sync: None,
            done_tx,
            importer,
            validating: 0,
            serving: 0,
            serving_by: HashMap::new(),
            last_status_round: Instant::now(),
            last_kad_walk: None,
            sync_backoff: HashMap::new(),
            relays: HashSet::new(),
            relay_listeners: HashMap::new(),
            relay_retry: Vec::new(),
            outbox: Vec::new(),
        };
        svc.bootstrap();
        let task = tokio::spawn(svc.run(cmd_rx, done_rx));
        Ok(Network { peer_id, shared, task: Some(task) })
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }
    /// The bound listen addresses (relay circuits included once reserved).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        lock(&self.shared.listen).clone()
    }
    /// The first bound address of `kind` ("tcp" or "quic") with this
    /// node's peer id appended, for others to dial.
    pub fn dial_addr(&self, quic: bool) -> Option<Multiaddr> {
        self.listen_addrs()
            .into_iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)) == quic && !is_circuit(a))
            .map(|a| a.with(Protocol::P2p(self.peer_id)))
    }
    /// What the node, RPC and metrics see.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
    /// AutoNAT's verdict: "unknown", "public <addr>" or "private".
    pub fn nat_status(&self) -> String {
        lock(&self.shared.nat).clone()
    }
    /// Dials `addr` (a multiaddr, ideally ending in `/p2p/<id>`).
    pub async fn dial(&self, addr: Multiaddr) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.shared.cmd.send(Command::Dial(addr, tx)).await.context("the network stopped")?;
        rx.await.context("the network stopped")?.map_err(anyhow::Error::msg)
    }
    /// Listens on `addr` as well (a relay circuit address reserves a slot).
    pub async fn listen_on(&self, addr: Multiaddr) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.shared.cmd.send(Command::Listen(addr, tx)).await.context("the network stopped")?;
        rx.await.context("the network stopped")?.map_err(anyhow::Error::msg)
    }
    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        let _ = self.shared.cmd.send(Command::Stop).await;
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn is_loopback(a: &Multiaddr) -> bool {
    a.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

fn is_circuit(a: &Multiaddr) -> bool {
    a.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// A connected peer.
struct Peer {
    /// The address of its direct connection, else of a relayed one.
    address: Multiaddr,
    outbound: bool,
    /// Its open direct (not relayed) connections: none means it is
    /// reached through relay circuits only.
    direct: usize,
    connections: usize,
    status: Option<Status>,
    agent: Option<String>,
    inflight: usize,
}

/// An outbound request awaiting its response.
#[derive(Clone, Debug)]
enum Pending {
    Status,
    Headers,
    Bodies(u64),
}

/// Work finished off the service task.
pub(crate) enum Done {
    BlockChecked { msg: MessageId, source: PeerId, verdict: Result<Option<Box<Block>>, (Penalty, String)> },
    TxsChecked { msg: MessageId, source: PeerId, verdict: Verdict },
    ConsensusChecked { msg: MessageId, source: PeerId, verdict: Verdict },
    Answered { peer: PeerId, channel: ResponseChannel<Response>, response: Option<Response> },
    GossipImported { source: PeerId, id: Hash, result: Result<ImportStatus, ImportError> },
    SyncImported { seq: u64, imported: usize, error: Option<ImportError> },
}

/// A transaction batch's fate.
pub(crate) enum Verdict {
    Accept,
    Ignore,
    Reject(String),
}

/// Work for the importer thread.
enum ImportJob {
    Gossip { block: Box<Block>, source: PeerId },
    Sync { seq: u64, blocks: Vec<Block> },
}

fn spawn_importer(node: Arc<Node>, done: mpsc::Sender<Done>) -> Result<std::sync::mpsc::SyncSender<ImportJob>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<ImportJob>(IMPORT_QUEUE);
    std::thread::Builder::new()
        .name("cinder-net-import".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                let d = match job {
                    ImportJob::Gossip { block, source } => {
                        let result = node.import(&block).map(|r| r.status);
                        Done::GossipImported { source, id: block.id(), result }
                    }
                    ImportJob::Sync { seq, blocks } => {
                        let (imported, error) = node.import_chain(&blocks);
                        Done::SyncImported { seq, imported, error }
                    }
                };
                if done.blocking_send(d).is_err() {
                    break;
                }
            }
        })
        .context("starting the import thread")?;
    Ok(tx)
}

struct ConsensusGossip {
    topic: IdentTopic,
}

struct Service {
    swarm: Swarm<Behaviour>,
    node: Arc<Node>,
    shared: Arc<Shared>,
    cfg: NetConfig,
    blocks_topic: IdentTopic,
    txs_topic: IdentTopic,
    /// Proof of stake: the consensus topic.
    consensus: Option<ConsensusGossip>,
    book: PeerBook,
    peers: HashMap<PeerId, Peer>,
    known: HashMap<PeerId, HashSet<Multiaddr>>,
    last_dial: HashMap<PeerId, Instant>,
    requests: HashMap<OutboundRequestId, (PeerId, Pending)>,
    sync: Option<SyncJob>,
    done_tx: mpsc::Sender<Done>,
    importer: std::sync::mpsc::SyncSender<ImportJob>,
    validating: usize,
    serving: usize,
    serving_by: HashMap<PeerId, usize>,
    last_status_round: Instant,
    last_kad_walk: Option<Instant>,
    sync_backoff: HashMap<PeerId, Instant>,
    /// The relays we keep a reservation on (dialled only by it).
    relays: HashSet<PeerId>,
    /// Circuit listeners (one per relay reservation) and their relay.
    relay_listeners: HashMap<ListenerId, Multiaddr>,
    /// Reservations to try again, and when.
    relay_retry: Vec<(Instant, Multiaddr)>,
    /// Own transactions waiting to be gossiped ([`Service::queue_txs`]).
    outbox: Vec<SignedTransaction>,
}

/// How often a partial batch of own transactions is gossiped.
const TX_FLUSH: Duration = Duration::from_millis(50);

impl Service {
    async fn run(mut self, mut cmds: mpsc::Receiver<Command>, mut done: mpsc::Receiver<Done>) {
        let mut local_blocks = self.node.subscribe_local_blocks();
        let mut local_txs = self.node.subscribe_local_txs();
        let mut consensus_out = self.node.subscribe_consensus();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(TX_FLUSH);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                Some(d) = done.recv() => self.on_done(d),
                cmd = cmds.recv() => match cmd {
                    Some(Command::Stop) | None => break,
                    Some(c) => self.on_command(c),
                },
                b = local_blocks.recv() => match b {
                    Ok(b) => self.publish_block(&b),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("{n} own blocks were not announced (the network fell behind)");
                    }
                    Err(_) => break,
                },
                t = local_txs.recv() => match t {
                    Ok(t) => self.queue_txs(&t),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("{n} transaction batches were not gossiped (the network fell behind)");
                    }
                    Err(_) => break,
                },
                m = consensus_out.recv() => match m {
                    Ok(m) => self.publish_consensus(&m),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("{n} consensus messages were not gossiped (the network fell behind)");
                    }
                    Err(_) => break,
                },
                _ = tick.tick() => self.on_tick(),
                _ = flush.tick(), if !self.outbox.is_empty() => self.flush_txs(),
            }
        }
        tracing::info!("network stopped");
    }

    // ----- dialling and discovery -----

    fn bootstrap(&mut self) {
        // A relay is dialled only by its circuit listener (below): a second
        // connection to it would come from another port, and the port the
        // NAT maps for the reservation is what hole punching relies on.
        self.relays = self.cfg.relays.iter().filter_map(peer_of).collect();
        for a in self.cfg.bootnodes.clone() {
            if let Some(p) = peer_of(&a) {
                self.known.entry(p).or_default().insert(a.clone());
                if !is_circuit(&a) {
                    self.swarm.behaviour_mut().kad.add_address(&p, a.clone());
                }
                if self.relays.contains(&p) {
                    continue;
                }
            }
            self.dial(a);
        }
        for r in self.cfg.relays.clone() {
            self.reserve(r);
        }
    }

    /// Listens through `relay` (a reservation there), dialling it if need
    /// be; a failure is retried after [`RELAY_RETRY`].
    fn reserve(&mut self, relay: Multiaddr) {
        match self.swarm.listen_on(relay.clone().with(Protocol::P2pCircuit)) {
            Ok(id) => {
                self.relay_listeners.insert(id, relay);
            }
            Err(e) => {
                tracing::warn!("reserving a slot on relay {relay}: {e}");
                self.relay_retry.push((Instant::now() + RELAY_RETRY, relay));
            }
        }
    }

    fn dial(&mut self, addr: Multiaddr) {
        if let Some(p) = peer_of(&addr) {
            if p == *self.swarm.local_peer_id() || !self.swarm.behaviour().gate.admits(&p) {
                return;
            }
            self.last_dial.insert(p, Instant::now());
        }
        if let Err(e) = self.swarm.dial(addr.clone()) {
            tracing::debug!("dialling {addr}: {e}");
        }
    }

    /// Dials `peer` on all of `addrs` at once (the first to connect wins:
    /// a NATed peer's private address fails, its relay circuit works).
    fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if peer == *self.swarm.local_peer_id() || !self.swarm.behaviour().gate.admits(&peer) || addrs.is_empty() {
            return;
        }
        self.last_dial.insert(peer, Instant::now());
        let opts = DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::DisconnectedAndNotDialing).build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, "dialling: {e}");
        }
    }

    /// Dials known peers while below the target, and walks the DHT.
    fn keep_connected(&mut self, now: Instant) {
        if self.peers.len() >= self.cfg.target_peers {
            return;
        }
        let me = *self.swarm.local_peer_id();
        let candidates: Vec<(PeerId, Vec<Multiaddr>)> = self
            .known
            .iter()
            .filter(|(p, _)| **p != me && !self.peers.contains_key(p) && !self.relays.contains(p))
            .filter(|(p, _)| self.last_dial.get(p).is_none_or(|t| now.duration_since(*t) >= REDIAL_AFTER))
            .filter(|(p, _)| self.swarm.behaviour().gate.admits(p) && !self.book.is_banned(p, now))
            .map(|(p, addrs)| (*p, addrs.iter().cloned().collect()))
            .take(8)
            .collect();
        for (p, addrs) in candidates {
            self.dial_peer(p, addrs);
        }
        if !self.peers.is_empty() && self.last_kad_walk.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(30))
        {
            self.last_kad_walk = Some(now);
            // A random walk finds peers near a random key: new routing
            // table entries get dialled as they appear.
            self.swarm.behaviour_mut().kad.get_closest_peers(PeerId::random());
        }
    }

    // ----- swarm events -----

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(b) => self.on_behaviour(b),
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                let (address, outbound) = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => (address.clone(), true),
                    ConnectedPoint::Listener { send_back_addr, .. } => (send_back_addr.clone(), false),
                };
                let direct = !endpoint.is_relayed();
                let p = self.peers.entry(peer_id).or_insert(Peer {
                    address: address.clone(),
                    outbound,
                    direct: 0,
                    connections: 0,
                    status: None,
                    agent: None,
                    inflight: 0,
                });
                p.connections = num_established.get() as usize;
                if direct {
                    p.direct = p.direct.saturating_add(1);
                    if p.direct == 1 && num_established.get() > 1 {
                        // A direct connection next to a relayed one (a hole punch).
                        (p.address, p.outbound) = (address, outbound);
                        self.publish_peers();
                    }
                }
                if self.relays.contains(&peer_id) {
                    let now = Instant::now();
                    for (t, r) in &mut self.relay_retry {
                        if peer_of(r) == Some(peer_id) {
                            *t = now;
                        }
                    }
                }
                if num_established.get() == 1 {
                    tracing::debug!(%peer_id, "peer connected");
                    self.request_status(peer_id);
                    self.publish_peers();
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, endpoint, .. } => {
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                    tracing::debug!(%peer_id, "peer disconnected");
                    if let Some(s) = &mut self.sync {
                        s.peer_gone(&peer_id);
                    }
                    self.publish_peers();
                } else if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.connections = num_established as usize;
                    if !endpoint.is_relayed() {
                        // The last direct one gone: reached through a relay again.
                        p.direct = p.direct.saturating_sub(1);
                        if p.direct == 0 {
                            self.publish_peers();
                        }
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!("listening on {address}");
                let mut l = lock(&self.shared.listen);
                if !l.contains(&address) {
                    l.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => lock(&self.shared.listen).retain(|a| *a != address),
            SwarmEvent::ListenerClosed { listener_id, reason, .. } => {
                if let Some(relay) = self.relay_listeners.remove(&listener_id) {
                    let ok = reason.is_ok();
                    match reason {
                        Ok(()) => tracing::info!("the reservation on relay {relay} ended; renewing it"),
                        Err(e) => tracing::warn!("the reservation on relay {relay} failed: {e}"),
                    }
                    // Closed without an error while the relay is connected:
                    // our reservation dial lost a race with another dial;
                    // reserve over that connection at the next tick (or
                    // as soon as that dial connects, below).
                    let connected = peer_of(&relay).is_some_and(|r| self.peers.contains_key(&r));
                    let wait = if ok && connected { Duration::ZERO } else { RELAY_RETRY };
                    self.relay_retry.push((Instant::now() + wait, relay));
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!(?listener_id, "listener error: {error}");
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!("external address confirmed: {address}");
                let mut e = lock(&self.shared.external);
                if !e.contains(&address) {
                    e.push(address);
                }
            }
            SwarmEvent::ExternalAddrExpired { address } => lock(&self.shared.external).retain(|a| *a != address),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
            }
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                self.on_gossip(propagation_source, message_id, message);
            }
            BehaviourEvent::Sync(e) => self.on_sync_event(e),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // A peer's loopback addresses mean something only to a
                // peer on the same host. Its relay circuits are kept: they
                // are how peers behind NATs are reached (then hole punched).
                let mut local = false;
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.agent = Some(info.agent_version.clone());
                    local = is_loopback(&p.address);
                }
                let kad_proto = crate::protocol::kad_protocol(&self.node.chain().genesis_id());
                let speaks_kad = info.protocols.contains(&kad_proto);
                for a in info.listen_addrs.into_iter().filter(|a| local || !is_loopback(a)) {
                    if speaks_kad {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, a.clone());
                    }
                    let set = self.known.entry(peer_id).or_default();
                    if set.len() < 8 {
                        set.insert(a);
                    }
                }
            }
            // Discovered: connect if we want more peers.
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, addresses, .. })
                if !self.peers.contains_key(&peer) && self.peers.len() < self.cfg.target_peers =>
            {
                let set = self.known.entry(peer).or_default();
                for a in addresses.iter() {
                    if set.len() < 8 {
                        set.insert(a.clone());
                    }
                }
                self.dial_peer(peer, addresses.into_vec());
            }
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. }) => {
                let s = match &new {
                    autonat::NatStatus::Public(a) => format!("public {a}"),
                    autonat::NatStatus::Private => "private".to_string(),
                    autonat::NatStatus::Unknown => "unknown".to_string(),
                };
                tracing::info!("AutoNAT: {s}");
                *lock(&self.shared.nat) = s;
            }
            BehaviourEvent::RelayClient(relay::client::Event::ReservationReqAccepted { relay_peer_id, .. }) => {
                tracing::info!(%relay_peer_id, "relay reservation accepted");
                self.shared.stats.reservations.fetch_add(1, Ordering::Relaxed);
            }
            BehaviourEvent::RelayClient(
                relay::client::Event::OutboundCircuitEstablished { .. }
                | relay::client::Event::InboundCircuitEstablished { .. },
            ) => {
                self.shared.stats.circuits.fetch_add(1, Ordering::Relaxed);
            }
            BehaviourEvent::Dcutr(dcutr::Event { remote_peer_id, result }) => match result {
                Ok(_) => {
                    tracing::info!(%remote_peer_id, "hole punch succeeded: direct connection");
                    self.shared.stats.hole_punches.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::info!(%remote_peer_id, "hole punch failed: {e}");
                    self.shared.stats.hole_punch_failures.fetch_add(1, Ordering::Relaxed);
                }
            },
            _ => {}
        }
    }

    // ----- reputation -----

    fn penalize(&mut self, peer: PeerId, p: Penalty, why: &str) {
        let now = Instant::now();
        tracing::debug!(%peer, ?p, "penalty: {why}");
        if let Some(until) = self.book.penalize(peer, p, now) {
            tracing::warn!(%peer, "banned for {:?}: {why}", self.cfg.ban_duration);
            self.shared.stats.bans.fetch_add(1, Ordering::Relaxed);
            self.swarm.behaviour_mut().gate.ban(peer, until);
            self.known.remove(&peer);
            self.swarm.behaviour_mut().kad.remove_peer(&peer);
        }
    }

    // ----- gossip -----

    fn publish_block(&mut self, block: &Block) {
        let bytes = encode(block);
        let topic = self.blocks_topic.clone();
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            tracing::debug!("announcing block {}: {e}", block.id());
        }
    }

    /// Queues this node's own transactions for gossip: they go out in
    /// batches of up to half [`MAX_TX_BATCH`], at most one partial batch
    /// every [`TX_FLUSH`], so a node relaying its clients' load stays under
    /// its peers' rate limit for transaction batches however its clients
    /// split what they send.
    fn queue_txs(&mut self, txs: &[SignedTransaction]) {
        self.outbox.extend_from_slice(txs);
        while self.outbox.len() >= MAX_TX_BATCH / 2 {
            let full: Vec<SignedTransaction> = self.outbox.drain(..MAX_TX_BATCH / 2).collect();
            self.publish_txs(&full);
        }
    }

    fn flush_txs(&mut self) {
        let all = std::mem::take(&mut self.outbox);
        self.publish_txs(&all);
    }

    fn publish_txs(&mut self, txs: &[SignedTransaction]) {
        for chunk in txs.chunks(MAX_TX_BATCH / 2) {
            let Ok(batch) = Bounded::new(chunk.to_vec()) else { continue };
            let topic = self.txs_topic.clone();
            if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, encode(&TxBatch(batch))) {
                tracing::debug!("gossiping {} transactions: {e}", chunk.len());
            }
        }
    }

    fn publish_consensus(&mut self, m: &ConsensusMessage) {
        let Some(c) = &self.consensus else { return };
        let topic = c.topic.clone();
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, encode(m)) {
            // InsufficientPeers when alone (a one-validator devnet).
            tracing::debug!("gossiping a consensus message: {e}");
        }
    }

    fn report(&mut self, msg: &MessageId, source: &PeerId, a: MessageAcceptance) {
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(msg, source, a);
    }

    fn on_gossip(&mut self, source: PeerId, msg: MessageId, message: gossipsub::Message) {
        let now = Instant::now();
        let is_block = message.topic == self.blocks_topic.hash();
        if let Some(c) = &self.consensus
            && message.topic == c.topic.hash()
        {
            self.on_consensus_gossip(source, msg, message.data, now);
            return;
        }
        if !is_block && message.topic != self.txs_topic.hash() {
            self.report(&msg, &source, MessageAcceptance::Reject);
            self.penalize(source, Penalty::InvalidGossip, "a message on an unknown topic");
            return;
        }
        let traffic = if is_block { Traffic::Blocks } else { Traffic::TxBatches };
        if !self.book.allow(source, traffic, now) {
            self.report(&msg, &source, MessageAcceptance::Ignore);
            // Blocks over the limit are an offence. Transaction batches are
            // dropped, not punished: an honest node relays what its clients
            // send, at their pace, and a ban would cut it off (and its
            // blocks and votes with it) for its clients' doing.
            if is_block {
                self.penalize(source, Penalty::RateLimited, "gossip over its rate limit");
            }
            return;
        }
        if self.validating >= MAX_VALIDATING {
            self.report(&msg, &source, MessageAcceptance::Ignore);
            return;
        }
        self.validating += 1;
        let node = self.node.clone();
        let done = self.done_tx.clone();
        let data = message.data;
        tokio::task::spawn_blocking(move || {
            let d = if is_block {
                Done::BlockChecked { msg, source, verdict: check_block(&node, &data) }
            } else {
                Done::TxsChecked { msg, source, verdict: admit_txs(&node, &data) }
            };
            let _ = done.blocking_send(d);
        });
    }

    /// A consensus message: decoded, its signature checked against the
    /// validator set, then forwarded and handed to the consensus thread.
    fn on_consensus_gossip(&mut self, source: PeerId, msg: MessageId, data: Vec<u8>, now: Instant) {
        if !self.book.allow(source, Traffic::Consensus, now) {
            self.report(&msg, &source, MessageAcceptance::Ignore);
            self.penalize(source, Penalty::RateLimited, "consensus gossip over its rate limit");
            return;
        }
        if self.validating >= MAX_VALIDATING {
            self.report(&msg, &source, MessageAcceptance::Ignore);
            return;
        }
        if self.consensus.is_none() {
            return;
        }
        self.validating += 1;
        let (node, done) = (self.node.clone(), self.done_tx.clone());
        tokio::task::spawn_blocking(move || {
            let chain = node.chain();
            let chain_id = chain.spec().chain_id;
            // The set of the message's height, from this node's head state.
            let keys_at = |h: u64| chain.validators_at_height(h).ok().flatten();
            let verdict = match decode::<ConsensusMessage>(&data) {
                Err(e) => Verdict::Reject(format!("an undecodable consensus message: {e}")),
                Ok(m) => match m.precheck_at(chain_id, keys_at) {
                    Err(Unchecked::Invalid(why)) => Verdict::Reject(format!("a consensus message: {why}")),
                    Err(Unchecked::UnknownSet(h)) => {
                        // A height past this node's state (it has not
                        // imported the epoch's last block yet): not
                        // forwarded, but the consensus thread keeps it for
                        // when the height comes and checks it then.
                        if h > chain.head().map_or(0, |t| t.height) {
                            node.deliver_consensus(m);
                        }
                        Verdict::Ignore
                    }
                    Ok(()) => {
                        if node.deliver_consensus(m) {
                            Verdict::Accept
                        } else {
                            Verdict::Ignore
                        }
                    }
                },
            };
            let _ = done.blocking_send(Done::ConsensusChecked { msg, source, verdict });
        });
    }

    // ----- sync protocol -----

    fn request(&mut self, peer: PeerId, req: Request, kind: Pending) {
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
        self.requests.insert(id, (peer, kind));
        if let Some(p) = self.peers.get_mut(&peer) {
            p.inflight += 1;
        }
    }

    fn request_status(&mut self, peer: PeerId) {
        match serve::status(self.node.chain()) {
            Ok(s) => self.request(peer, Request::Status(s), Pending::Status),
            Err(e) => tracing::error!("reading our status: {e:#}"),
        }
    }

    fn on_sync_event(&mut self, e: request_response::Event<Request, Response>) {
        use request_response::{Event, Message};
        match e {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                self.on_request(peer, request, channel);
            }
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                let Some((_, kind)) = self.requests.remove(&request_id) else { return };
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.inflight = p.inflight.saturating_sub(1);
                }
                self.on_response(peer, kind, response);
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                let Some((_, kind)) = self.requests.remove(&request_id) else { return };
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.inflight = p.inflight.saturating_sub(1);
                }
                let decode_error = matches!(&error, request_response::OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData);
                if decode_error {
                    self.penalize(peer, Penalty::BadResponse, &format!("an undecodable response: {error}"));
                } else if self.peers.contains_key(&peer) {
                    self.penalize(peer, Penalty::Timeout, &format!("a failed request: {error}"));
                }
                match kind {
                    Pending::Status => {}
                    Pending::Headers => {
                        if self.sync.as_ref().is_some_and(|s| s.peer == peer) {
                            self.end_sync("the headers request failed", true);
                        }
                    }
                    Pending::Bodies(seq) => {
                        if let Some(s) = &mut self.sync {
                            s.fetch_failed(seq, peer);
                        }
                    }
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                if matches!(&error, request_response::InboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.penalize(peer, Penalty::BadResponse, &format!("an undecodable request: {error}"));
                }
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_request(&mut self, peer: PeerId, req: Request, channel: ResponseChannel<Response>) {
        if !self.book.allow(peer, Traffic::Requests, Instant::now()) {
            self.penalize(peer, Penalty::RateLimited, "sync requests over its rate limit");
            return; // dropping the channel fails the peer's request
        }
        if let Request::Status(s) = &req {
            self.on_status(peer, *s);
        }
        let mine = self.serving_by.get(&peer).copied().unwrap_or(0);
        if mine >= MAX_SERVING_PER_PEER {
            self.penalize(peer, Penalty::RateLimited, "too many requests at once");
            return;
        }
        if self.serving >= MAX_SERVING {
            return;
        }
        self.serving += 1;
        self.serving_by.insert(peer, mine + 1);
        let node = self.node.clone();
        let done = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            let response =
                serve::answer(node.chain(), &req).map_err(|e| tracing::error!("answering a sync request: {e:#}")).ok();
            let _ = done.blocking_send(Done::Answered { peer, channel, response });
        });
    }

    fn on_status(&mut self, peer: PeerId, s: Status) {
        if s.genesis != self.node.chain().genesis_id() {
            self.penalize(peer, Penalty::WrongNetwork, "a peer of another chain");
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.status = Some(s);
        }
    }

    fn on_response(&mut self, peer: PeerId, kind: Pending, response: Response) {
        match (kind, response) {
            (Pending::Status, Response::Status(s)) => {
                self.on_status(peer, s);
                self.maybe_start_sync();
            }
            (Pending::Headers, Response::Headers(headers)) => {
                let Some(s) = &mut self.sync else { return };
                if s.peer != peer {
                    return;
                }
                let node = self.node.clone();
                let chain = node.chain();
                let known = |h: &Hash| chain.db().block_meta(h).ok().flatten().is_some();
                match s.on_headers(headers.into_inner(), chain.consensus(), cinder_chain::unix_now(), known) {
                    Ok(()) => {}
                    Err((p, why)) => {
                        self.penalize(peer, p, &why);
                        self.end_sync(&why, true);
                    }
                }
                self.drive_sync();
            }
            (Pending::Bodies(seq), Response::Bodies(blocks)) => {
                let Some(s) = &mut self.sync else { return };
                match s.on_bodies(seq, peer, blocks.into_inner()) {
                    Ok(()) => {
                        let mut set = lock(&self.shared.sync_sources);
                        if set.len() < 1024 {
                            set.insert(peer);
                        }
                    }
                    Err((p, why)) => self.penalize(peer, p, &why),
                }
                self.drive_sync();
            }
            (_, _) => self.penalize(peer, Penalty::BadResponse, "a response of the wrong kind"),
        }
    }

    // ----- sync driver -----

    fn our_weight(&self) -> u128 {
        self.node.chain().head().map(|h| h.weight).unwrap_or(0)
    }

    /// Starts syncing from the heaviest peer heavier than us.
    fn maybe_start_sync(&mut self) {
        if self.sync.is_some() {
            return;
        }
        let ours = self.our_weight();
        let best = self
            .peers
            .iter()
            .filter_map(|(id, p)| p.status.map(|s| (*id, s)))
            .filter(|(_, s)| s.weight > ours)
            .filter(|(id, _)| self.sync_backoff.get(id).is_none_or(|t| t.elapsed() >= SYNC_BACKOFF))
            .max_by_key(|(_, s)| s.weight);
        let Some((peer, status)) = best else { return };
        let start = self.node.chain().head().map(|h| h.height).unwrap_or(0);
        tracing::info!(%peer, height = status.height, "syncing from a heavier peer");
        self.sync = Some(SyncJob::new(peer, status, start));
        self.drive_sync();
    }

    /// Ends the sync; a `failed` one is not retried from that peer for
    /// [`SYNC_BACKOFF`].
    fn end_sync(&mut self, why: &str, failed: bool) {
        if let Some(s) = self.sync.take() {
            tracing::info!(peer = %s.peer, "sync ended: {why}");
            // Requests still in flight are dropped when they answer.
            if failed {
                self.sync_backoff.insert(s.peer, Instant::now());
            }
        }
        *lock(&self.shared.syncing) = None;
    }

    /// Sends what the sync job wants next: headers, bodies, an import.
    fn drive_sync(&mut self) {
        let Some(s) = &mut self.sync else { return };
        let mut wants = Vec::new();
        if s.wants_headers() {
            wants.push(Fetch::Headers(s.peer, s.last_header()));
        }
        // Peers that can serve bodies: connected, status at or above the
        // chunk's height, not overloaded.
        let peers: Vec<(PeerId, u64, usize)> =
            self.peers.iter().filter_map(|(id, p)| p.status.map(|st| (*id, st.height, p.inflight))).collect();
        wants.extend(s.assign_bodies(&peers));
        let import = s.next_import();
        let finished = s.finished();
        for w in wants {
            match w {
                Fetch::Headers(peer, tip) => match serve::locator(self.node.chain(), tip) {
                    Ok(locator) => {
                        self.request(
                            peer,
                            Request::Headers {
                                locator,
                                max: u32::try_from(crate::protocol::MAX_HEADERS).unwrap_or(u32::MAX),
                            },
                            Pending::Headers,
                        );
                        if let Some(s) = &mut self.sync {
                            s.headers_requested();
                        }
                    }
                    Err(e) => tracing::error!("building a locator: {e:#}"),
                },
                Fetch::Bodies(peer, seq, ids) => {
                    let Ok(ids) = Bounded::new(ids) else { continue };
                    self.request(peer, Request::Bodies(ids), Pending::Bodies(seq));
                }
            }
        }
        if let Some((seq, blocks)) = import
            && let Err(e) = self.importer.try_send(ImportJob::Sync { seq, blocks })
        {
            {
                let (std::sync::mpsc::TrySendError::Full(job) | std::sync::mpsc::TrySendError::Disconnected(job)) = e;
                if let (ImportJob::Sync { seq, blocks }, Some(s)) = (job, &mut self.sync) {
                    s.put_back(seq, blocks);
                }
            }
        }
        if finished {
            self.end_sync("caught up", false);
            // Someone may be heavier still.
            let peers: Vec<PeerId> = self.peers.keys().copied().collect();
            for p in peers {
                self.request_status(p);
            }
        } else {
            self.publish_sync();
        }
    }

    fn publish_sync(&self) {
        let Some(s) = &self.sync else { return };
        let current = self.node.chain().head().map(|h| h.height).unwrap_or(0);
        *lock(&self.shared.syncing) = Some(SyncingJson {
            starting_block: s.started_height,
            current_block: current,
            highest_block: s.target.height.max(current),
        });
    }

    // ----- results from the blocking side -----

    fn on_done(&mut self, d: Done) {
        match d {
            Done::BlockChecked { msg, source, verdict } => {
                self.validating -= 1;
                match verdict {
                    Ok(Some(block)) => {
                        self.report(&msg, &source, MessageAcceptance::Accept);
                        let _ = self.shared.validated.send((block.id(), Instant::now()));
                        self.shared.stats.blocks_accepted.fetch_add(1, Ordering::Relaxed);
                        if self.importer.try_send(ImportJob::Gossip { block, source }).is_err() {
                            tracing::warn!("the import queue is full: a gossiped block waits for sync");
                        }
                    }
                    Ok(None) => self.report(&msg, &source, MessageAcceptance::Ignore),
                    Err((penalty, why)) => {
                        self.report(&msg, &source, MessageAcceptance::Reject);
                        self.shared.stats.gossip_rejected.fetch_add(1, Ordering::Relaxed);
                        self.penalize(source, penalty, &why);
                    }
                }
            }
            Done::TxsChecked { msg, source, verdict } => {
                self.validating -= 1;
                match verdict {
                    Verdict::Accept => {
                        self.shared.stats.tx_batches_accepted.fetch_add(1, Ordering::Relaxed);
                        self.report(&msg, &source, MessageAcceptance::Accept);
                    }
                    Verdict::Ignore => self.report(&msg, &source, MessageAcceptance::Ignore),
                    Verdict::Reject(why) => {
                        self.shared.stats.gossip_rejected.fetch_add(1, Ordering::Relaxed);
                        self.report(&msg, &source, MessageAcceptance::Reject);
                        self.penalize(source, Penalty::InvalidGossip, &why);
                    }
                }
            }
            Done::ConsensusChecked { msg, source, verdict } => {
                self.validating -= 1;
                match verdict {
                    Verdict::Accept => self.report(&msg, &source, MessageAcceptance::Accept),
                    Verdict::Ignore => self.report(&msg, &source, MessageAcceptance::Ignore),
                    Verdict::Reject(why) => {
                        self.shared.stats.gossip_rejected.fetch_add(1, Ordering::Relaxed);
                        self.report(&msg, &source, MessageAcceptance::Reject);
                        self.penalize(source, Penalty::InvalidGossip, &why);
                    }
                }
            }
            Done::Answered { peer, channel, response } => {
                self.serving -= 1;
                if let Some(n) = self.serving_by.get_mut(&peer) {
                    *n -= 1;
                    if *n == 0 {
                        self.serving_by.remove(&peer);
                    }
                }
                if let Some(r) = response
                    && self.swarm.behaviour_mut().sync.send_response(channel, r).is_err()
                {
                    tracing::debug!(%peer, "the peer went before our answer");
                }
            }
            Done::GossipImported { source, id, result } => match result {
                Ok(status) => {
                    if matches!(status, ImportStatus::Head | ImportStatus::Reorg { .. }) {
                        self.book.reward(source, REWARD_VALID_BLOCK, Instant::now());
                    }
                }
                Err(ImportError::UnknownParent { .. }) => {
                    // We are behind (or on another branch): ask its status,
                    // which starts a sync if it is heavier.
                    tracing::debug!(%source, %id, "a gossiped block with an unknown parent");
                    self.request_status(source);
                }
                Err(e @ ImportError::Invalid { .. }) => {
                    self.penalize(source, Penalty::InvalidBlock, &format!("relayed an invalid block: {e}"));
                }
                Err(e @ ImportError::ReorgTooDeep { .. }) => tracing::warn!(%source, "{e}"),
                Err(e) => tracing::error!("importing a gossiped block: {e}"),
            },
            Done::SyncImported { seq, imported, error } => {
                self.shared.stats.synced_blocks.fetch_add(imported as u64, Ordering::Relaxed);
                let Some(s) = &mut self.sync else { return };
                match error {
                    None => s.imported(seq),
                    Some(e) => {
                        let blame = s.blame(seq);
                        match &e {
                            ImportError::Invalid { reason: BlockInvalid::TransactionsRoot { .. }, .. } => {
                                // The body does not match its header: the
                                // peer that served the body lied.
                                if let Some(p) = blame.bodies {
                                    self.penalize(p, Penalty::InvalidBlock, &format!("served a bad body: {e}"));
                                }
                                if let Some(s) = &mut self.sync {
                                    s.refetch(seq, imported);
                                }
                            }
                            ImportError::Invalid { .. } => {
                                let why = format!("its chain has an invalid block: {e}");
                                self.penalize(blame.headers, Penalty::InvalidBlock, &why);
                                self.end_sync(&why, true);
                            }
                            _ => {
                                let why = format!("import failed: {e}");
                                self.end_sync(&why, true);
                            }
                        }
                    }
                }
                self.drive_sync();
            }
        }
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::SetFilter(allow) => {
                let connected: Vec<PeerId> = self.peers.keys().copied().collect();
                tracing::info!(peers = ?allow.as_ref().map(HashSet::len), "peer filter set");
                self.swarm.behaviour_mut().gate.set_filter(allow, connected);
                if let Some(s) = &self.sync
                    && !self.swarm.behaviour().gate.admits(&s.peer)
                {
                    self.end_sync("the sync peer is outside the new filter", false);
                }
            }
            Command::Dial(a, reply) => {
                let r = self.swarm.dial(a).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::Listen(a, reply) => {
                let r = self.swarm.listen_on(a).map(|_| ()).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::Stop => {}
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        for p in self.book.expire(now) {
            self.swarm.behaviour_mut().gate.unban(&p);
        }
        let peers = &self.peers;
        self.book.forget_idle(|p| peers.contains_key(p), now);
        self.keep_connected(now);
        if self.relay_retry.iter().any(|(t, _)| *t <= now) {
            let (due, later): (Vec<_>, Vec<_>) = self.relay_retry.drain(..).partition(|(t, _)| *t <= now);
            self.relay_retry = later;
            for (_, r) in due {
                self.reserve(r);
            }
        }
        if now.duration_since(self.last_status_round) >= self.cfg.status_interval {
            self.last_status_round = now;
            let ids: Vec<PeerId> = self.peers.keys().copied().collect();
            for p in ids {
                self.request_status(p);
            }
        }
        if self.sync.as_ref().is_some_and(|s| s.stalled(now)) {
            self.end_sync("no progress for a minute", true);
        }
        if self.sync.is_none() {
            self.maybe_start_sync();
        } else {
            self.drive_sync();
        }
        self.sync_backoff.retain(|_, t| t.elapsed() < SYNC_BACKOFF);
        self.publish_peers();
    }

    fn publish_peers(&mut self) {
        let now = Instant::now();
        let mut list: Vec<PeerJson> = Vec::with_capacity(self.peers.len());
        for (id, p) in &self.peers {
            list.push(PeerJson {
                id: id.to_string(),
                address: p.address.to_string(),
                score: (self.book.score(id, now) * 100.0).round() / 100.0,
                direction: if p.outbound { "outbound" } else { "inbound" }.into(),
                height: p.status.map_or(0, |s| s.height),
                agent: p.agent.clone(),
                relayed: p.direct == 0,
            });
        }
        list.sort_by(|a, b| a.id.cmp(&b.id));
        *lock(&self.shared.peers) = list;
    }
}

/// Stateless checks of a gossiped block before it is forwarded: it
/// decodes, fits the chain's size limit, its PoW header commits to its
/// fields and meets its target, its time is not too far ahead, and its
/// transactions root matches. `Ok(None)`: already known (dropped quietly).
fn check_block(node: &Node, data: &[u8]) -> Result<Option<Box<Block>>, (Penalty, String)> {
    let chain = node.chain();
    let garbage = |why: String| (Penalty::InvalidGossip, why);
    if data.len() as u64 > chain.spec().max_block_bytes {
        return Err(garbage(format!(
            "a {}-byte block over the {}-byte limit",
            data.len(),
            chain.spec().max_block_bytes
        )));
    }
    let block: Block = decode(data).map_err(|e| garbage(format!("an undecodable block: {e}")))?;
    let id = block.id();
    match chain.db().block_meta(&id) {
        Ok(Some(_)) => return Ok(None),
        Ok(None) => {}
        Err(e) => {
            // Our database, not the peer: drop the message unjudged.
            tracing::error!("reading the database: {e:#}");
            return Ok(None);
        }
    }
    let invalid = |why: String| (Penalty::InvalidBlock, format!("block {id}: {why}"));
    if !block.header.commitment_matches() {
        return Err(invalid("its PoW header does not commit to its fields".into()));
    }
    chain.consensus().check_header(&block.header, cinder_chain::unix_now()).map_err(|e| invalid(e.to_string()))?;
    if block.transactions_root() != block.header.fields.transactions_root {
        return Err(invalid("the transactions root does not match".into()));
    }
    Ok(Some(Box::new(block)))
}

/// Admits a gossiped transaction batch to the pool (one signature batch):
/// a batch with any transaction that is invalid in itself (signature,
/// chain id, size) is rejected; one with nothing new is ignored.
fn admit_txs(node: &Node, data: &[u8]) -> Verdict {
    let batch: TxBatch = match decode(data) {
        Ok(b) => b,
        Err(e) => return Verdict::Reject(format!("an undecodable transaction batch: {e}")),
    };
    let results = node.submit_all(batch.0.into_inner());
    if let Some(Err(r)) = results.iter().find(|r| matches!(r, Err(Rejected::Invalid(_)))) {
        return Verdict::Reject(format!("an invalid transaction: {r}"));
    }
    if results.iter().any(Result::is_ok) { Verdict::Accept } else { Verdict::Ignore }
}
