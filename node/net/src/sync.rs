//! Header-first sync with one peer as the source of headers and bodies
//! fetched from every peer that has them, imported in order.
//!
//! 1. Headers: the sync peer answers our locator with up to
//!    [`MAX_HEADERS`] headers of its canonical chain after our last common
//!    block. Each must link to the one before, commit to its fields and
//!    meet its PoW target before any body is asked for.
//! 2. Bodies: headers are cut into chunks of [`CHUNK`] blocks; chunks in a
//!    window of [`WINDOW`] ahead of the import point are fetched in
//!    parallel, each from the least busy peer whose status reaches that
//!    height (a peer that failed a chunk is not asked for it again while
//!    others can serve it). A body must hash to its header's id.
//! 3. Import: complete chunks go to the importer thread in order, through
//!    the chain's pipelined import (every check of a block from anywhere).
//!    A body whose transactions do not match its header is the serving
//!    peer's fault and is fetched again elsewhere; any other invalid block
//!    is the header peer's fault and ends the sync.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use cinder_consensus::Consensus;
use cinder_primitives::{Block, Hash, Header};
use libp2p::PeerId;

use crate::peers::Penalty;
use crate::protocol::{MAX_HEADERS, Status};

/// Blocks per bodies request.
pub const CHUNK: usize = 32;
/// Chunks fetched ahead of the import point.
pub const WINDOW: u64 = 8;
/// Bodies requests in flight per peer.
pub const PER_PEER: usize = 2;
/// A sync with no progress for this long is abandoned.
pub const STALL: Duration = Duration::from_secs(60);

/// A request the job wants sent.
#[derive(Debug)]
pub enum Fetch {
    /// Headers from the sync peer after the given header (or our head).
    Headers(PeerId, Option<Hash>),
    /// Bodies of chunk `seq` from a peer.
    Bodies(PeerId, u64, Vec<Hash>),
}

/// Who to blame for a chunk.
#[derive(Debug)]
pub struct Blame {
    /// The sync (header) peer.
    pub headers: PeerId,
    /// The peer that served the bodies.
    pub bodies: Option<PeerId>,
}

#[derive(Debug)]
struct Chunk {
    headers: Vec<Header>,
    ids: Vec<Hash>,
    blocks: Vec<Block>,
    fetching: Option<PeerId>,
    served_by: Option<PeerId>,
    tried: HashSet<PeerId>,
}

impl Chunk {
    fn complete(&self) -> bool {
        self.blocks.len() == self.headers.len()
    }
}

/// One sync run.
#[derive(Debug)]
pub struct SyncJob {
    /// The peer headers come from.
    pub peer: PeerId,
    /// Its status when the sync began.
    pub target: Status,
    /// Our head height when the sync began.
    pub started_height: u64,
    chunks: BTreeMap<u64, Chunk>,
    next_seq: u64,
    importing: bool,
    headers_inflight: bool,
    headers_done: bool,
    last: Option<(Hash, u64)>,
    progress: Instant,
}

impl SyncJob {
    /// A sync from `peer`, which reported `target`; we are at `height`.
    pub fn new(peer: PeerId, target: Status, height: u64) -> SyncJob {
        SyncJob {
            peer,
            target,
            started_height: height,
            chunks: BTreeMap::new(),
            next_seq: 0,
            importing: false,
            headers_inflight: false,
            headers_done: false,
            last: None,
            progress: Instant::now(),
        }
    }

    /// Whether to ask for more headers now.
    pub fn wants_headers(&self) -> bool {
        !self.headers_inflight && !self.headers_done && (self.chunks.len() as u64) < WINDOW * 4
    }

    /// The last header received (the next locator starts there).
    pub fn last_header(&self) -> Option<Hash> {
        self.last.map(|(id, _)| id)
    }

    /// A headers request went out.
    pub fn headers_requested(&mut self) {
        self.headers_inflight = true;
    }

    /// Checks and queues a headers response.
    pub fn on_headers(
        &mut self,
        headers: Vec<Header>,
        consensus: &dyn Consensus,
        now: u64,
        known: impl Fn(&Hash) -> bool,
    ) -> Result<(), (Penalty, String)> {
        self.headers_inflight = false;
        let Some(first) = headers.first() else {
            self.headers_done = true;
            return Ok(());
        };
        let bad = |why: String| Err((Penalty::BadResponse, why));
        let parent = first.prev();
        if self.last.map(|(id, _)| id) != Some(parent) && !known(&parent) {
            return bad(format!("headers start after {parent}, a block we never saw"));
        }
        let mut prev: Option<(Hash, u64)> = None;
        let mut ids = Vec::with_capacity(headers.len());
        for h in &headers {
            if let Some((pid, pheight)) = prev
                && (h.prev() != pid || h.height() != pheight + 1)
            {
                return bad(format!("headers do not link at height {}", h.height()));
            }
            if !h.commitment_matches() {
                return bad(format!("header at height {} does not commit to its fields", h.height()));
            }
            if let Err(e) = consensus.check_header(h, now) {
                return bad(format!("header at height {}: {e}", h.height()));
            }
            let id = h.id();
            ids.push(id);
            prev = Some((id, h.height()));
        }
        if headers.len() < MAX_HEADERS {
            self.headers_done = true;
        }
        self.last = prev;
        self.progress = Instant::now();
        let mut ids = ids.into_iter();
        for c in headers.chunks(CHUNK) {
            let chunk_ids: Vec<Hash> = ids.by_ref().take(c.len()).collect();
            self.chunks.insert(
                self.next_seq,
                Chunk {
                    headers: c.to_vec(),
                    ids: chunk_ids,
                    blocks: Vec::new(),
                    fetching: None,
                    served_by: None,
                    tried: HashSet::new(),
                },
            );
            self.next_seq += 1;
        }
        Ok(())
    }

    /// Bodies requests for chunks in the window that are not complete or in
    /// flight, each to the least busy peer that reaches its height.
    /// `peers`: (id, reported height, requests in flight).
    pub fn assign_bodies(&mut self, peers: &[(PeerId, u64, usize)]) -> Vec<Fetch> {
        let mut load: Vec<(PeerId, u64, usize)> = peers.to_vec();
        let mut out = Vec::new();
        let Some(&first) = self.chunks.keys().next() else { return out };
        for (seq, c) in self.chunks.range_mut(first..first + WINDOW) {
            if c.complete() || c.fetching.is_some() {
                continue;
            }
            let top = c.headers.last().map_or(0, Header::height);
            let able = |p: &(PeerId, u64, usize)| (p.1 >= top || p.0 == self.peer) && p.2 < PER_PEER;
            if load.iter().filter(|p| able(p)).all(|p| c.tried.contains(&p.0)) {
                // Everyone able failed it once: try them all again.
                c.tried.clear();
            }
            let Some(pick) = load.iter_mut().filter(|p| able(p) && !c.tried.contains(&p.0)).min_by_key(|p| p.2) else {
                continue;
            };
            pick.2 += 1;
            c.fetching = Some(pick.0);
            out.push(Fetch::Bodies(pick.0, *seq, c.ids[c.blocks.len()..].to_vec()));
        }
        out
    }

    /// Takes a bodies response for chunk `seq` from `peer`.
    pub fn on_bodies(&mut self, seq: u64, peer: PeerId, blocks: Vec<Block>) -> Result<(), (Penalty, String)> {
        let Some(c) = self.chunks.get_mut(&seq) else { return Ok(()) };
        c.fetching = None;
        let missing = &c.ids[c.blocks.len()..];
        if blocks.is_empty() {
            c.tried.insert(peer);
            return Err((Penalty::Useless, "an empty answer for blocks it claims to have".into()));
        }
        if blocks.len() > missing.len() {
            c.tried.insert(peer);
            return Err((Penalty::BadResponse, "more blocks than asked for".into()));
        }
        if let Some(i) = blocks.iter().zip(missing).position(|(b, id)| b.id() != *id) {
            c.tried.insert(peer);
            return Err((Penalty::BadResponse, format!("block {i} of the answer is not the one asked for")));
        }
        c.blocks.extend(blocks);
        c.served_by = Some(peer);
        self.progress = Instant::now();
        Ok(())
    }

    /// A bodies request for chunk `seq` failed.
    pub fn fetch_failed(&mut self, seq: u64, peer: PeerId) {
        if let Some(c) = self.chunks.get_mut(&seq) {
            c.fetching = None;
            c.tried.insert(peer);
        }
    }

    /// `peer` disconnected.
    pub fn peer_gone(&mut self, peer: &PeerId) {
        for c in self.chunks.values_mut() {
            if c.fetching == Some(*peer) {
                c.fetching = None;
            }
        }
        if *peer == self.peer {
            // No more headers from it: import what we have, then another
            // peer takes over.
            self.headers_done = true;
            self.headers_inflight = false;
        }
    }

    /// The next complete chunk to import, in order, if none is importing.
    pub fn next_import(&mut self) -> Option<(u64, Vec<Block>)> {
        if self.importing {
            return None;
        }
        let (&seq, c) = self.chunks.iter_mut().next()?;
        if !c.complete() {
            return None;
        }
        self.importing = true;
        Some((seq, std::mem::take(&mut c.blocks)))
    }

    /// The importer could not take chunk `seq`: keep its blocks for later.
    pub fn put_back(&mut self, seq: u64, blocks: Vec<Block>) {
        self.importing = false;
        if let Some(c) = self.chunks.get_mut(&seq) {
            c.blocks = blocks;
        }
    }

    /// Chunk `seq` was imported.
    pub fn imported(&mut self, seq: u64) {
        self.importing = false;
        self.chunks.remove(&seq);
        self.progress = Instant::now();
    }

    /// Who served chunk `seq`.
    pub fn blame(&self, seq: u64) -> Blame {
        Blame { headers: self.peer, bodies: self.chunks.get(&seq).and_then(|c| c.served_by) }
    }

    /// Chunk `seq` failed after `imported` of its blocks: fetch the rest
    /// again from someone else.
    pub fn refetch(&mut self, seq: u64, imported: usize) {
        self.importing = false;
        if let Some(c) = self.chunks.get_mut(&seq) {
            c.headers.drain(..imported.min(c.headers.len()));
            c.ids.drain(..imported.min(c.ids.len()));
            c.blocks.clear();
            if let Some(p) = c.served_by.take() {
                c.tried.insert(p);
            }
        }
    }

    /// Whether everything asked for is imported.
    pub fn finished(&self) -> bool {
        self.headers_done && !self.headers_inflight && self.chunks.is_empty() && !self.importing
    }

    /// Whether it has made no progress for [`STALL`].
    pub fn stalled(&self, now: Instant) -> bool {
        now.duration_since(self.progress) > STALL
    }
}
