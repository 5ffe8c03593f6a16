//! # cinder-storage
//!
//! The node's database on RocksDB: block headers, bodies and receipts, the
//! state tree's nodes, values and links, and the indexes (height -> block
//! id and state version on the canonical chain, transaction id -> location),
//! each in its own column family.
//!
//! - Everything one block changes goes in **one `WriteBatch` with the WAL
//!   on** ([`Db::write_block`]): a crash at any instant leaves either the
//!   whole block or none of it.
//! - A **schema version** in the metadata column family; a database written
//!   by an incompatible version is refused with a clear message.
//! - **Checkpoints** ([`Db::checkpoint`]) for backups and fast bootstrap.
//! - The state tree reads and writes through [`cinder_state::StateStore`];
//!   ordered records (contract storage) have an index by key beside it.
//! - Contract events of canonical blocks are indexed by contract and by
//!   topic ([`Db::events`]), moved with the chain on a reorg.
//!
//! - A sharded chain's K state trees ([`Db::open_sharded`]) live in one
//!   database, each in its own column families ([`ShardStore`]); a block
//!   writes every shard's state in its one batch.
//!
//! Bad bytes on disk are errors that name the column family and key, never
//! panics.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::{Block, CommitCertificate, Hash, Header, Receipt, ShardReceipt, decode, encode};
use cinder_state::{Link, StateBatch, StateStore};
use jmt::storage::{Node, NodeKey};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

/// The on-disk format this build reads and writes.
pub const SCHEMA_VERSION: u32 = 5;

/// Column families.
pub mod cf {
    /// Block id -> header.
    pub const HEADERS: &str = "headers";
    /// Block id -> transactions and the parent's commit certificate.
    pub const BODIES: &str = "bodies";
    /// Block id -> receipts.
    pub const RECEIPTS: &str = "receipts";
    /// State tree node key -> node.
    pub const STATE_NODES: &str = "state_nodes";
    /// Key hash ‖ version (big-endian) -> value or deletion.
    pub const STATE_VALUES: &str = "state_values";
    /// Link start (big-endian) -> base version.
    pub const STATE_LINKS: &str = "state_links";
    /// Height (big-endian) -> canonical block id ‖ state version.
    pub const HEIGHTS: &str = "heights";
    /// Transaction id -> block id ‖ index.
    pub const TXS: &str = "txs";
    /// Block id -> height, state version and cumulative fork-choice weight.
    pub const BLOCK_META: &str = "block_meta";
    /// Stale-since version (big-endian) ‖ node key -> nothing: the state
    /// nodes each version replaced, for pruning.
    pub const STATE_STALE: &str = "state_stale";
    /// Height (big-endian) ‖ state version (big-endian) -> block id: every
    /// stored block's state by height, for pruning dead branches.
    pub const VERSIONS: &str = "versions";
    /// Metadata: schema version, head, newest state version.
    pub const META: &str = "meta";
    /// Block id -> the commit certificate that finalized it (proof of
    /// stake; a block's child carries it too, this also holds the head's).
    pub const COMMITS: &str = "commits";
    /// The index of ordered records (contract storage): the record's key,
    /// escaped so that byte order is kept and no key is a prefix of
    /// another (`0x00` -> `0x00 0xff`, then `0x00 0x00`), ‖ version
    /// (big-endian) -> 1 (present) or 0 (deleted).
    pub const ORDERED: &str = "ordered";
    /// Version (big-endian) ‖ ordered-record key -> nothing: the index
    /// entries each version wrote, for pruning.
    pub const ORDERED_LOG: &str = "ordered_log";
    /// The events of canonical blocks by what they are found by: a kind
    /// byte (0: the contract, 1-4: topic 0-3) ‖ the contract or topic (32)
    /// ‖ height (big-endian) ‖ transaction index (big-endian u32) ‖ event
    /// index within the transaction (big-endian u32) -> nothing.
    pub const EVENTS: &str = "events";
    /// Block id -> a sharded block's chunks (chunk headers and the
    /// receipts they apply); absent for a block of a one-shard chain.
    pub const CHUNKS: &str = "chunks";
    /// Block id -> the cross-shard receipts a sharded block's chunks
    /// emitted, one list per chunk in the order of its outgoing root (what
    /// the next block's chunks apply, with proofs rebuilt from them).
    pub const SHARD_OUT: &str = "shard_out";
    /// The column families of one shard's state tree. Shard 0 (and every
    /// chain with one shard) uses these names; shard `s` >= 1 of a sharded
    /// chain has its own set named `<name>@<s>` ([`for_shard`]).
    pub const STATE: [&str; 6] = [STATE_NODES, STATE_VALUES, STATE_LINKS, STATE_STALE, ORDERED, ORDERED_LOG];

    /// The name of state column family `base` of `shard`.
    pub fn for_shard(base: &str, shard: u16) -> std::borrow::Cow<'_, str> {
        if shard == 0 { base.into() } else { format!("{base}@{shard}").into() }
    }

    /// All of them.
    pub const ALL: [&str; 18] = [
        HEADERS,
        BODIES,
        RECEIPTS,
        STATE_NODES,
        STATE_VALUES,
        STATE_LINKS,
        HEIGHTS,
        TXS,
        BLOCK_META,
        STATE_STALE,
        VERSIONS,
        META,
        COMMITS,
        ORDERED,
        ORDERED_LOG,
        EVENTS,
        CHUNKS,
        SHARD_OUT,
    ];
}

/// What an event index lookup matches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKey {
    /// Events of this contract.
    Contract(cinder_primitives::Address),
    /// Events with this topic at this position (0-3).
    Topic(u8, Hash),
}

impl EventKey {
    fn prefix(&self) -> [u8; 33] {
        let mut p = [0u8; 33];
        match self {
            EventKey::Contract(a) => p[1..].copy_from_slice(&a.0),
            EventKey::Topic(i, t) => {
                p[0] = 1 + i;
                p[1..].copy_from_slice(&t.0);
            }
        }
        p
    }
}

/// Where an event is: height, transaction index, event index within the
/// transaction.
pub type EventPlace = (u64, u32, u32);

fn event_index_key(prefix: &[u8; 33], (height, tx, ev): EventPlace) -> [u8; 49] {
    let mut k = [0u8; 49];
    k[..33].copy_from_slice(prefix);
    k[33..41].copy_from_slice(&height.to_be_bytes());
    k[41..45].copy_from_slice(&tx.to_be_bytes());
    k[45..49].copy_from_slice(&ev.to_be_bytes());
    k
}

/// The index keys of a canonical block's events.
fn event_keys(height: u64, receipts: &[Receipt]) -> Result<Vec<[u8; 49]>> {
    let mut keys = Vec::new();
    for (tx, r) in receipts.iter().enumerate() {
        let tx = u32::try_from(tx).context("too many receipts")?;
        for (ev, e) in r.events.iter().enumerate() {
            let ev = u32::try_from(ev).context("too many events")?;
            keys.push(event_index_key(&EventKey::Contract(e.contract).prefix(), (height, tx, ev)));
            for (i, t) in e.topics.iter().enumerate() {
                let i = u8::try_from(i).context("too many topics")?;
                keys.push(event_index_key(&EventKey::Topic(i, *t).prefix(), (height, tx, ev)));
            }
        }
    }
    Ok(keys)
}

const META_SCHEMA: &[u8] = b"schema_version";
const META_HEAD: &[u8] = b"head";
const META_STATE_LATEST: &[u8] = b"state_latest";
const META_PRUNED: &[u8] = b"pruned_height";

/// The head of the canonical chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Head {
    /// Height.
    pub height: u64,
    /// Block id.
    pub id: Hash,
    /// State version after the block.
    pub version: Version,
}

/// What the database keeps about every stored block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockMeta {
    /// Height.
    pub height: u64,
    /// State version after the block.
    pub version: Version,
    /// Cumulative fork-choice weight from genesis (PoW: chain work).
    pub weight: u128,
}

/// A block with everything its import writes.
pub struct BlockWrite<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its receipts.
    pub receipts: &'a [Receipt],
    /// The state it commits (shard 0's on a sharded chain).
    pub state: &'a StateBatch,
    /// On a sharded chain, the states of shards 1, 2, ... (each at the same
    /// version as `state`); empty otherwise.
    pub shards: &'a [StateBatch],
    /// On a sharded chain, the receipts each chunk emitted (one list per
    /// shard); empty otherwise.
    pub outgoing: &'a [Vec<ShardReceipt>],
    /// Its chain's cumulative weight, this block included.
    pub weight: u128,
    /// Whether it extends the canonical head (indexes and head move).
    pub canonical: bool,
}

/// The database.
pub struct Db {
    db: DB,
    /// The state trees it holds (1, or a sharded chain's K).
    shards: u16,
}

/// The most shards a database holds (the chain spec's bound).
pub const MAX_SHARDS: u16 = 64;

impl Db {
    /// Opens (or creates) the database at `path`, with the state trees it
    /// already holds (one for a new database).
    pub fn open(path: &Path) -> Result<Db> {
        Self::open_inner(path, None)
    }

    /// Opens (or creates) the database of a chain with `shards` state trees
    /// (1 to [`MAX_SHARDS`]): shard 0 in the plain state column families,
    /// shard `s` in `<name>@<s>`, created when missing. A database that
    /// holds more shards than `shards` is refused.
    pub fn open_sharded(path: &Path, shards: u16) -> Result<Db> {
        if !(1..=MAX_SHARDS).contains(&shards) {
            bail!("{shards} shards: a database holds 1 to {MAX_SHARDS}");
        }
        Self::open_inner(path, Some(shards))
    }

    fn open_inner(path: &Path, want: Option<u16>) -> Result<Db> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // A new database has none; an unreadable one fails in open below.
        let existing = DB::list_cf(&opts, path).unwrap_or_default();
        let held = shards_held(&existing)?;
        let shards = match want {
            Some(k) if k < held => {
                bail!("the database at {} holds {held} shards' state; the chain spec says {k}", path.display())
            }
            Some(k) => k,
            None => held,
        };
        let mut names: Vec<String> = cf::ALL.iter().map(|n| (*n).to_string()).collect();
        for s in 1..shards {
            names.extend(cf::STATE.iter().map(|n| cf::for_shard(n, s).into_owned()));
        }
        let cfs = names.iter().map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)
            .with_context(|| format!("opening the database at {}", path.display()))?;
        let db = Db { db, shards };
        db.check_schema()?;
        Ok(db)
    }

    /// The state trees this database holds (1 unless sharded).
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// The state tree of `shard` (0 is the chain's only one when it has one
    /// shard); `None` past [`Db::shards`].
    pub fn shard(&self, shard: u16) -> Option<ShardStore<'_>> {
        (shard < self.shards).then_some(ShardStore { db: self, shard })
    }

    fn shard0(&self) -> ShardStore<'_> {
        ShardStore { db: self, shard: 0 }
    }

    fn check_schema(&self) -> Result<()> {
        let meta = self.cf(cf::META)?;
        match self.db.get_cf(meta, META_SCHEMA)? {
            Some(b) => {
                let v = u32::from_le_bytes(
                    b.as_slice()
                        .try_into()
                        .map_err(|_| anyhow!("the schema version record is {} bytes, not 4", b.len()))?,
                );
                if v != SCHEMA_VERSION {
                    bail!(
                        "the database has schema version {v}; this build reads version {SCHEMA_VERSION}: \
                         use a matching release or sync a new data directory"
                    );
                }
                Ok(())
            }
            None => {
                let empty = cf::ALL
                    .iter()
                    .all(|n| self.cf(n).is_ok_and(|h| self.db.iterator_cf(h, IteratorMode::Start).next().is_none()));
                if !empty {
                    bail!("the database has data but no schema version: not a Cinder database, or damaged");
                }
                self.db.put_cf(meta, META_SCHEMA, SCHEMA_VERSION.to_le_bytes())?;
                Ok(())
            }
        }
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| anyhow!("column family {name} is missing"))
    }

    fn sync_opts() -> WriteOptions {
        let mut w = WriteOptions::default();
        // The WAL is on (never disabled); fsync is left to RocksDB's
        // defaults: a process crash loses nothing written, power loss may
        // lose the newest writes but never half a batch.
        w.disable_wal(false);
        w
    }

    /// The canonical head, if any block was written.
    pub fn head(&self) -> Result<Option<Head>> {
        self.get_borsh(cf::META, META_HEAD)
    }

    /// The header of `id`.
    pub fn header(&self, id: &Hash) -> Result<Option<Header>> {
        match self.db.get_cf(self.cf(cf::HEADERS)?, id.0)? {
            None => Ok(None),
            Some(b) => Ok(Some(decode::<Header>(&b).with_context(|| format!("header {id} on disk"))?)),
        }
    }

    /// The block `id`, header and transactions.
    pub fn block(&self, id: &Hash) -> Result<Option<Block>> {
        let Some(header) = self.header(id)? else { return Ok(None) };
        let body = self
            .db
            .get_cf(self.cf(cf::BODIES)?, id.0)?
            .with_context(|| format!("block {id} has a header but no body"))?;
        let (transactions, last_commit) = borsh::from_slice(&body).with_context(|| format!("body of {id} on disk"))?;
        let chunks = self.get_borsh(cf::CHUNKS, &id.0)?.unwrap_or_default();
        Ok(Some(Block { header, transactions, last_commit, chunks }))
    }

    /// The cross-shard receipts sharded block `id`'s chunks emitted, one
    /// list per shard (`None` if not stored).
    pub fn shard_outgoing(&self, id: &Hash) -> Result<Option<Vec<Vec<ShardReceipt>>>> {
        self.get_borsh(cf::SHARD_OUT, &id.0)
    }

    /// A sharded block's chunks without its transactions (empty for a
    /// block of a one-shard chain; `None` if the block is not stored).
    pub fn chunks(&self, id: &Hash) -> Result<Option<Vec<cinder_primitives::Chunk>>> {
        if self.db.get_pinned_cf(self.cf(cf::BLOCK_META)?, id.0)?.is_none() {
            return Ok(None);
        }
        let c: Option<
            cinder_primitives::Bounded<cinder_primitives::Chunk, { cinder_primitives::MAX_SHARDS as usize }>,
        > = self.get_borsh(cf::CHUNKS, &id.0)?;
        Ok(Some(c.map(cinder_primitives::Bounded::into_inner).unwrap_or_default()))
    }

    /// The receipts of block `id`.
    pub fn receipts(&self, id: &Hash) -> Result<Option<Vec<Receipt>>> {
        self.get_borsh(cf::RECEIPTS, &id.0)
    }

    /// The canonical block at `height`, with its state version.
    pub fn canonical(&self, height: u64) -> Result<Option<(Hash, Version)>> {
        self.get_borsh(cf::HEIGHTS, &height.to_be_bytes())
    }

    /// Height, state version and weight of stored block `id`.
    pub fn block_meta(&self, id: &Hash) -> Result<Option<BlockMeta>> {
        self.get_borsh(cf::BLOCK_META, &id.0)
    }

    /// A metadata record of the layers above (their names must not clash
    /// with this crate's: `schema_version`, `head`, `state_latest`,
    /// `pruned_height`).
    pub fn get_meta(&self, name: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(cf::META)?, name)?)
    }

    /// Writes a metadata record (WAL on).
    pub fn put_meta(&self, name: &[u8], value: &[u8]) -> Result<()> {
        if [META_SCHEMA, META_HEAD, META_PRUNED].contains(&name) || name.starts_with(META_STATE_LATEST) {
            bail!("metadata record {} belongs to the storage layer", String::from_utf8_lossy(name));
        }
        self.db.put_cf_opt(self.cf(cf::META)?, name, value, &Self::sync_opts()).context("writing metadata")
    }

    /// The commit certificate that finalized block `id`, if this node
    /// holds one.
    pub fn commit(&self, id: &Hash) -> Result<Option<CommitCertificate>> {
        match self.db.get_cf(self.cf(cf::COMMITS)?, id.0)? {
            None => Ok(None),
            Some(b) => Ok(Some(decode::<CommitCertificate>(&b).with_context(|| format!("commit of {id} on disk"))?)),
        }
    }

    /// Stores the commit certificate of block `id` (WAL on). The caller
    /// has verified it.
    pub fn put_commit(&self, id: &Hash, cert: &CommitCertificate) -> Result<()> {
        self.db.put_cf_opt(self.cf(cf::COMMITS)?, id.0, encode(cert), &Self::sync_opts()).context("writing a commit")
    }

    /// Where transaction `id` is on the canonical chain: block id, index.
    pub fn transaction_location(&self, id: &Hash) -> Result<Option<(Hash, u32)>> {
        self.get_borsh(cf::TXS, &id.0)
    }

    fn get_borsh<T: BorshDeserialize>(&self, cf_name: &str, key: &[u8]) -> Result<Option<T>> {
        match self.db.get_cf(self.cf(cf_name)?, key)? {
            None => Ok(None),
            Some(b) => Ok(Some(borsh::from_slice(&b).with_context(|| format!("{cf_name}/{} on disk", hex(key)))?)),
        }
    }

    /// Writes a block, its receipts, the state it commits and (if
    /// canonical) the indexes and the head, in one atomic batch.
    pub fn write_block(&self, w: &BlockWrite<'_>) -> Result<()> {
        let mut batch = WriteBatch::default();
        self.stage_block(&mut batch, w)?;
        if w.canonical {
            let head = self.head()?;
            if let Some(h) = head
                && h.id != w.block.header.prev()
            {
                bail!("block {} does not extend the head {}: use write_block_reorg", w.block.id(), h.id);
            }
            self.stage_canonical(&mut batch, w.block, w.state.version, w.receipts)?;
        }
        self.db.write_opt(batch, &Self::sync_opts()).context("writing a block")
    }

    /// Writes a block whose chain replaces the canonical chain, in one
    /// atomic batch: the block as [`Db::write_block`] does, then the reorg
    /// of [`Db::reorg`] onto `stored` (the block's stored ancestors above the
    /// fork point, in height order; empty when its parent is the fork point)
    /// followed by the block itself.
    pub fn write_block_reorg(&self, w: &BlockWrite<'_>, stored: &[(Hash, Version)]) -> Result<Head> {
        let mut batch = WriteBatch::default();
        self.stage_block(&mut batch, w)?;
        let head = self.stage_reorg(&mut batch, stored, Some((w.block, w.state.version, w.receipts)))?;
        self.db.write_opt(batch, &Self::sync_opts()).context("writing a block and a reorg")?;
        Ok(head)
    }

    fn stage_block(&self, batch: &mut WriteBatch, w: &BlockWrite<'_>) -> Result<()> {
        let id = w.block.id();
        batch.put_cf(self.cf(cf::HEADERS)?, id.0, encode(&w.block.header));
        batch.put_cf(self.cf(cf::BODIES)?, id.0, borsh::to_vec(&(&w.block.transactions, &w.block.last_commit))?);
        batch.put_cf(self.cf(cf::RECEIPTS)?, id.0, borsh::to_vec(&w.receipts.to_vec())?);
        if !w.block.chunks.is_empty() {
            batch.put_cf(self.cf(cf::CHUNKS)?, id.0, borsh::to_vec(&w.block.chunks)?);
        }
        if !w.outgoing.is_empty() {
            batch.put_cf(self.cf(cf::SHARD_OUT)?, id.0, borsh::to_vec(w.outgoing)?);
        }
        let meta = BlockMeta { height: w.block.header.height(), version: w.state.version, weight: w.weight };
        batch.put_cf(self.cf(cf::BLOCK_META)?, id.0, borsh::to_vec(&meta)?);
        batch.put_cf(self.cf(cf::VERSIONS)?, height_version_key(meta.height, meta.version), id.0);
        if w.shards.len() + 1 != usize::from(self.shards) {
            bail!("block {id} carries {} shards' state; the database holds {}", w.shards.len() + 1, self.shards);
        }
        if let Some(s) = w.shards.iter().find(|s| s.version != w.state.version) {
            bail!("block {id}: a shard's state is at version {}, shard 0's at {}", s.version, w.state.version);
        }
        self.stage_shards(batch, std::iter::once(w.state).chain(w.shards))
    }

    /// Stages the state batches of shards 0, 1, ... in order.
    fn stage_shards<'b>(&self, batch: &mut WriteBatch, states: impl IntoIterator<Item = &'b StateBatch>) -> Result<()> {
        for (s, state) in (0..self.shards).zip(states) {
            ShardStore { db: self, shard: s }.stage_state(batch, state)?;
        }
        Ok(())
    }

    /// Writes the state batches of every shard (`states[s]` is shard `s`'s,
    /// one per shard) in one atomic batch: a crash leaves all of them or
    /// none. Without blocks: the sharded executor's commit until sharded
    /// blocks are stored.
    pub fn commit_shards(&self, states: &[StateBatch]) -> Result<()> {
        if states.len() != usize::from(self.shards) {
            bail!("{} state batches for a database of {} shards", states.len(), self.shards);
        }
        let mut batch = WriteBatch::default();
        self.stage_shards(&mut batch, states)?;
        self.db.write_opt(batch, &Self::sync_opts()).context("writing the shards' state")
    }

    /// Height index, transaction index, event index and head for a block
    /// that becomes canonical.
    fn stage_canonical(
        &self,
        batch: &mut WriteBatch,
        block: &Block,
        version: Version,
        receipts: &[Receipt],
    ) -> Result<Head> {
        let id = block.id();
        let height = block.header.height();
        batch.put_cf(self.cf(cf::HEIGHTS)?, height.to_be_bytes(), borsh::to_vec(&(id, version))?);
        let txs = self.cf(cf::TXS)?;
        for (i, tx) in block.transactions.iter().enumerate() {
            let index = u32::try_from(i).context("too many transactions")?;
            batch.put_cf(txs, tx.id().0, borsh::to_vec(&(id, index))?);
        }
        let events = self.cf(cf::EVENTS)?;
        for k in event_keys(height, receipts)? {
            batch.put_cf(events, k, []);
        }
        let head = Head { height, id, version };
        batch.put_cf(self.cf(cf::META)?, META_HEAD, borsh::to_vec(&head)?);
        Ok(head)
    }

    /// Makes the stored blocks `branch` (in height order, each with the
    /// state version it committed) the canonical chain above their fork
    /// point, in one atomic batch: the height and transaction indexes of the
    /// old canonical blocks above the fork are removed, the branch's are
    /// written, and the head moves to the branch's last block. The blocks
    /// and their states must already be stored ([`Db::write_block`] with
    /// `canonical: false`); both branches' states stay readable.
    pub fn reorg(&self, branch: &[(Hash, Version)]) -> Result<Head> {
        let mut batch = WriteBatch::default();
        let head = self.stage_reorg(&mut batch, branch, None)?;
        self.db.write_opt(batch, &Self::sync_opts()).context("writing a reorg")?;
        Ok(head)
    }

    fn stage_reorg(
        &self,
        batch: &mut WriteBatch,
        branch: &[(Hash, Version)],
        pending: Option<(&Block, Version, &[Receipt])>,
    ) -> Result<Head> {
        let mut blocks = Vec::with_capacity(branch.len() + 1);
        for (id, version) in branch {
            let block = self.block(id)?.with_context(|| format!("branch block {id} is not stored"))?;
            let receipts = self.receipts(id)?.with_context(|| format!("branch block {id} has no receipts"))?;
            blocks.push((block, *version, receipts));
        }
        let first = match (blocks.first(), pending) {
            (Some((b, _, _)), _) | (None, Some((b, _, _))) => b.header.clone(),
            (None, None) => bail!("an empty branch"),
        };
        let fork_height = first.height().checked_sub(1).context("a branch cannot replace genesis")?;
        let (fork_id, _) = self
            .canonical(fork_height)?
            .with_context(|| format!("no canonical block at the fork height {fork_height}"))?;
        if first.prev() != fork_id {
            bail!("the branch does not start on the canonical block at height {fork_height}");
        }
        let heights = self.cf(cf::HEIGHTS)?;
        let txs = self.cf(cf::TXS)?;
        let events = self.cf(cf::EVENTS)?;
        // The old canonical blocks above the fork.
        let old_head = self.head()?.context("no head")?;
        for h in fork_height + 1..=old_head.height {
            if let Some((id, _)) = self.canonical(h)? {
                let block = self.block(&id)?.with_context(|| format!("canonical block {id} is not stored"))?;
                for tx in block.transactions.iter() {
                    batch.delete_cf(txs, tx.id().0);
                }
                let receipts = self.receipts(&id)?.with_context(|| format!("canonical block {id} has no receipts"))?;
                for k in event_keys(h, &receipts)? {
                    batch.delete_cf(events, k);
                }
            }
            batch.delete_cf(heights, h.to_be_bytes());
        }
        // The new branch, checking that it links up.
        let mut prev = fork_id;
        let mut head = None;
        let all = blocks.iter().map(|(b, v, r)| (b, *v, r.as_slice())).chain(pending);
        for (block, version, receipts) in all {
            if block.header.prev() != prev {
                bail!("branch block {} does not follow {prev}", block.id());
            }
            head = Some(self.stage_canonical(batch, block, version, receipts)?);
            prev = block.id();
        }
        head.context("an empty branch")
    }

    /// The canonical events matching `key` at heights `from..=to`, in chain
    /// order, at most `limit` (more: `Err` naming the limit).
    pub fn events(&self, key: EventKey, from: u64, to: u64, limit: usize) -> Result<Vec<EventPlace>> {
        let prefix = key.prefix();
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let start = event_index_key(&prefix, (from, 0, 0));
        for item in self.db.iterator_cf(self.cf(cf::EVENTS)?, IteratorMode::From(&start, Direction::Forward)) {
            let (k, _) = item?;
            if k.len() != 49 || k[..33] != prefix {
                break;
            }
            let height = be_u64(&k[33..41], "event index height")?;
            if height > to {
                break;
            }
            let tx = u32::from_be_bytes(k[41..45].try_into().map_err(|_| anyhow!("event index key"))?);
            let ev = u32::from_be_bytes(k[45..49].try_into().map_err(|_| anyhow!("event index key"))?);
            if out.len() == limit {
                bail!("more than {limit} events match");
            }
            out.push((height, tx, ev));
        }
        Ok(out)
    }

    /// The number of records in column family `name` (a full scan: tests
    /// and tools).
    pub fn count(&self, name: &str) -> Result<usize> {
        let mut n = 0;
        for item in self.db.iterator_cf(self.cf(name)?, IteratorMode::Start) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// The height up to which state has been pruned (0: none).
    pub fn pruned_height(&self) -> Result<u64> {
        match self.db.get_cf(self.cf(cf::META)?, META_PRUNED)? {
            None => Ok(0),
            Some(b) => be_u64(&b, "pruned height"),
        }
    }

    /// Prunes the state of every block at heights up to `height` (which
    /// must be at least `depth` below the head, the caller's reorg limit),
    /// one height per atomic batch. Of the canonical block at a height it
    /// deletes the nodes (and leaf values) its version made stale: the
    /// state of every later version stays whole, so the canonical state at
    /// `height` and above, and every branch forking there or above, stays
    /// readable and provable. Of any other block at a height it deletes the
    /// state it created (such a branch forks below `height` and can never
    /// become canonical). Blocks, receipts and indexes are kept. Resumes
    /// where the last call stopped; returns the state nodes deleted.
    pub fn prune_to(&self, height: u64) -> Result<u64> {
        let head = self.head()?.context("no head")?;
        if height >= head.height {
            bail!("pruning to height {height} would prune the head's parent state (head {})", head.height);
        }
        let mut deleted = 0;
        for h in self.pruned_height()? + 1..=height {
            deleted += self.prune_height(h)?;
        }
        Ok(deleted)
    }

    fn prune_height(&self, height: u64) -> Result<u64> {
        let (canonical_id, canonical_version) =
            self.canonical(height)?.with_context(|| format!("no canonical block at {height}"))?;
        let mut at_height = Vec::new();
        self.scan_prefix(cf::VERSIONS, &height.to_be_bytes(), |k, id| {
            at_height.push((be_u64(&k[8..], "versions key")?, id.to_vec()));
            Ok(())
        })?;
        let mut batch = WriteBatch::default();
        let mut deleted = 0;
        for shard in 0..self.shards {
            let st = ShardStore { db: self, shard };
            for (version, id) in &at_height {
                deleted += st.stage_prune_version(
                    &mut batch,
                    *version,
                    *version == canonical_version && *id == canonical_id.0,
                )?;
            }
        }
        batch.put_cf(self.cf(cf::META)?, META_PRUNED, height.to_be_bytes());
        self.db.write_opt(batch, &Self::sync_opts()).with_context(|| format!("pruning height {height}"))?;
        Ok(deleted)
    }

    /// Calls `f` on every record of `cf_name` whose key starts with
    /// `prefix`, in key order.
    fn scan_prefix(&self, cf_name: &str, prefix: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        for item in self.db.iterator_cf(self.cf(cf_name)?, IteratorMode::From(prefix, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            f(&k, &v)?;
        }
        Ok(())
    }

    /// A consistent copy of the database at `dir` (which must not exist),
    /// hard-linked where the file system allows: a backup, or a data
    /// directory to start another node from.
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        let c = rocksdb::checkpoint::Checkpoint::new(&self.db).context("preparing a checkpoint")?;
        c.create_checkpoint(dir).with_context(|| format!("writing a checkpoint to {}", dir.display()))
    }
}

fn height_version_key(height: u64, version: Version) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&height.to_be_bytes());
    b[8..].copy_from_slice(&version.to_be_bytes());
    b
}

fn value_key(k: KeyHash, v: Version) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[..32].copy_from_slice(&k.0);
    b[32..].copy_from_slice(&v.to_be_bytes());
    b
}

/// `key` escaped so that the escaped keys sort as the keys do and none is a
/// prefix of another: each `0x00` becomes `0x00 0xff`, and `0x00 0x00`
/// ends it.
fn escape_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend([0, 0]);
    out
}

/// The key an escaped key starts with, and the rest of the bytes; `None`
/// if it is not terminated or malformed.
fn unescape_key(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    loop {
        let b = *bytes.get(i)?;
        if b != 0 {
            out.push(b);
            i += 1;
            continue;
        }
        match *bytes.get(i + 1)? {
            0xff => {
                out.push(0);
                i += 2;
            }
            0 => return Some((out, &bytes[i + 2..])),
            _ => return None,
        }
    }
}

fn ordered_index_key(key: &[u8], version: Version) -> Vec<u8> {
    let mut k = escape_key(key);
    k.extend(version.to_be_bytes());
    k
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn be_u64(b: &[u8], what: &str) -> Result<u64> {
    Ok(u64::from_be_bytes(b.try_into().map_err(|_| anyhow!("{what}: {} bytes, not 8", b.len()))?))
}

/// One shard's state tree in the database (the only one of a chain with one
/// shard): its own column families, its own newest-version record.
#[derive(Clone, Copy)]
pub struct ShardStore<'a> {
    db: &'a Db,
    shard: u16,
}

impl ShardStore<'_> {
    /// The shard.
    pub fn shard(&self) -> u16 {
        self.shard
    }

    fn name<'n>(&self, base: &'n str) -> std::borrow::Cow<'n, str> {
        cf::for_shard(base, self.shard)
    }

    fn cf(&self, base: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db.cf(&self.name(base))
    }

    fn latest_key(&self) -> Vec<u8> {
        if self.shard == 0 {
            META_STATE_LATEST.to_vec()
        } else {
            format!("{}@{}", String::from_utf8_lossy(META_STATE_LATEST), self.shard).into_bytes()
        }
    }

    fn stage_state(&self, batch: &mut WriteBatch, s: &StateBatch) -> Result<()> {
        if let Some(l) = self.latest()?
            && s.version <= l
        {
            bail!("state version {} is not above the newest ({l})", s.version);
        }
        let nodes = self.cf(cf::STATE_NODES)?;
        for (k, n) in &s.nodes {
            batch.put_cf(nodes, borsh::to_vec(k)?, borsh::to_vec(n)?);
        }
        let values = self.cf(cf::STATE_VALUES)?;
        for (v, k, val) in &s.values {
            batch.put_cf(values, value_key(*k, *v), borsh::to_vec(val)?);
        }
        if let Some(l) = s.link {
            batch.put_cf(self.cf(cf::STATE_LINKS)?, l.start.to_be_bytes(), l.base.to_be_bytes());
        }
        let stale = self.cf(cf::STATE_STALE)?;
        for (since, k) in &s.stale {
            let mut key = since.to_be_bytes().to_vec();
            key.extend(borsh::to_vec(k)?);
            batch.put_cf(stale, key, []);
        }
        let (ordered, log) = (self.cf(cf::ORDERED)?, self.cf(cf::ORDERED_LOG)?);
        for (k, present) in &s.ordered {
            batch.put_cf(ordered, ordered_index_key(k, s.version), [u8::from(*present)]);
            let mut l = s.version.to_be_bytes().to_vec();
            l.extend_from_slice(k);
            batch.put_cf(log, l, []);
        }
        batch.put_cf(self.db.cf(cf::META)?, self.latest_key(), s.version.to_be_bytes());
        Ok(())
    }

    /// Stages the pruning of this shard's `version`: of the canonical
    /// block, the nodes it made stale; of a block on a dead branch, what it
    /// created.
    fn stage_prune_version(&self, batch: &mut WriteBatch, version: Version, canonical: bool) -> Result<u64> {
        let mut deleted = 0;
        if canonical {
            deleted += self.stage_prune_stale(batch, version)?;
            self.stage_prune_ordered_superseded(batch, version)?;
        } else {
            deleted += self.stage_prune_created(batch, version)?;
            self.stage_prune_ordered_created(batch, version)?;
            // Its link version (the root copy below it), if any.
            if let Some(l) = self.link_at_or_below(version)?
                && l.start + 1 == version
            {
                deleted += self.stage_prune_created(batch, l.start)?;
                batch.delete_cf(self.cf(cf::STATE_LINKS)?, l.start.to_be_bytes());
            }
            // Its own stale list names nodes of its parent's tree, which
            // stays: drop the list only.
            self.stage_drop_stale_list(batch, version)?;
        }
        Ok(deleted)
    }

    /// Deletes a state node (given as stored) and, for a leaf, its value.
    fn stage_delete_node(&self, batch: &mut WriteBatch, key: &[u8], bytes: &[u8]) -> Result<()> {
        let node: Node = borsh::from_slice(bytes).with_context(|| format!("state node {} on disk", hex(key)))?;
        if let Node::Leaf(leaf) = node {
            let k: NodeKey = borsh::from_slice(key).with_context(|| format!("state node key {}", hex(key)))?;
            batch.delete_cf(self.cf(cf::STATE_VALUES)?, value_key(leaf.key_hash(), k.version()));
        }
        batch.delete_cf(self.cf(cf::STATE_NODES)?, key);
        Ok(())
    }

    /// Deletes the nodes `version` made stale (and the values of stale
    /// leaves), with the list.
    fn stage_prune_stale(&self, batch: &mut WriteBatch, version: Version) -> Result<u64> {
        let (stale, nodes) = (self.cf(cf::STATE_STALE)?, self.cf(cf::STATE_NODES)?);
        let mut n = 0;
        self.db.scan_prefix(&self.name(cf::STATE_STALE), &version.to_be_bytes(), |k, _| {
            let node_key = &k[8..];
            if let Some(bytes) = self.db.db.get_cf(nodes, node_key)? {
                self.stage_delete_node(batch, node_key, &bytes)?;
                n += 1;
            }
            batch.delete_cf(stale, k);
            Ok(())
        })?;
        Ok(n)
    }

    /// Deletes every node `version` created (node keys start with the
    /// version, little-endian) and the values of its leaves.
    fn stage_prune_created(&self, batch: &mut WriteBatch, version: Version) -> Result<u64> {
        let mut n = 0;
        self.db.scan_prefix(&self.name(cf::STATE_NODES), &version.to_le_bytes(), |k, bytes| {
            n += 1;
            self.stage_delete_node(batch, k, bytes)
        })?;
        Ok(n)
    }

    /// The ordered-record keys `version` wrote (from the log).
    fn ordered_written(&self, version: Version) -> Result<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        self.db.scan_prefix(&self.name(cf::ORDERED_LOG), &version.to_be_bytes(), |k, _| {
            keys.push(k[8..].to_vec());
            Ok(())
        })?;
        Ok(keys)
    }

    /// For each ordered key canonical `version` wrote: its older index
    /// entries in `version`'s lineage are superseded (every state from here
    /// on reads `version`'s entry first); a deletion with nothing older
    /// left reads as no entry at all, so it goes too. Then the log.
    fn stage_prune_ordered_superseded(&self, batch: &mut WriteBatch, version: Version) -> Result<()> {
        let keys = self.ordered_written(version)?;
        if keys.is_empty() {
            return Ok(());
        }
        let segments = cinder_state::Lineage::segments(self, version)?;
        let ordered = self.cf(cf::ORDERED)?;
        for k in &keys {
            for (from, to) in &segments {
                // Half-open: [from, min(to + 1, version)).
                let end = (*to).saturating_add(1).min(version);
                if *from < end {
                    batch.delete_range_cf(ordered, ordered_index_key(k, *from), ordered_index_key(k, end));
                }
            }
            let own = ordered_index_key(k, version);
            if self.db.db.get_cf(ordered, &own)?.as_deref() == Some(&[0u8][..]) {
                batch.delete_cf(ordered, own);
            }
        }
        self.stage_drop_ordered_log(batch, version)
    }

    /// The index entries of a dead branch's `version`, and its log.
    fn stage_prune_ordered_created(&self, batch: &mut WriteBatch, version: Version) -> Result<()> {
        let ordered = self.cf(cf::ORDERED)?;
        for k in self.ordered_written(version)? {
            batch.delete_cf(ordered, ordered_index_key(&k, version));
        }
        self.stage_drop_ordered_log(batch, version)
    }

    fn stage_drop_ordered_log(&self, batch: &mut WriteBatch, version: Version) -> Result<()> {
        batch.delete_range_cf(self.cf(cf::ORDERED_LOG)?, version.to_be_bytes(), (version + 1).to_be_bytes());
        Ok(())
    }

    fn stage_drop_stale_list(&self, batch: &mut WriteBatch, version: Version) -> Result<()> {
        // Keys with the prefix `version` sort in [version, version + 1).
        batch.delete_range_cf(self.cf(cf::STATE_STALE)?, version.to_be_bytes(), (version + 1).to_be_bytes());
        Ok(())
    }
}

/// The number of shards whose state column families `names` (a database's
/// column families) hold: 1 plus every complete `<name>@<s>` set, which
/// must be numbered 1, 2, ... without a gap.
fn shards_held(names: &[String]) -> Result<u16> {
    let mut held = 1u16;
    loop {
        let present = cf::STATE.iter().filter(|n| names.iter().any(|x| *x == cf::for_shard(n, held))).count();
        if present == 0 {
            break;
        }
        if present != cf::STATE.len() {
            bail!("the database has {present} of shard {held}'s {} state column families: damaged", cf::STATE.len());
        }
        held = held.checked_add(1).filter(|h| *h <= MAX_SHARDS).context("more shards than the bound")?;
    }
    Ok(held)
}

impl StateStore for Db {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>> {
        self.shard0().node(key)
    }
    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>> {
        self.shard0().value_between(key, from, to)
    }
    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>> {
        self.shard0().link_at_or_below(version)
    }
    fn latest(&self) -> Result<Option<Version>> {
        self.shard0().latest()
    }
    fn commit(&self, batch: &StateBatch) -> Result<()> {
        if self.shards != 1 {
            bail!("a database of {} shards commits their state together (commit_shards)", self.shards);
        }
        self.shard0().commit(batch)
    }
    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>> {
        self.shard0().ordered_next(from, to)
    }
    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>> {
        self.shard0().ordered_between(key, from, to)
    }
}

impl StateStore for ShardStore<'_> {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>> {
        let k = borsh::to_vec(key)?;
        match self.db.db.get_cf(self.cf(cf::STATE_NODES)?, &k)? {
            None => Ok(None),
            Some(b) => Ok(Some(borsh::from_slice(&b).with_context(|| format!("state node {} on disk", hex(&k)))?)),
        }
    }

    fn value_between(&self, key: KeyHash, from: Version, to: Version) -> Result<Option<Option<OwnedValue>>> {
        let start = value_key(key, to);
        let mut it = self.db.db.iterator_cf(self.cf(cf::STATE_VALUES)?, IteratorMode::From(&start, Direction::Reverse));
        match it.next().transpose()? {
            Some((k, v)) if k.len() == 40 && k[..32] == key.0 && be_u64(&k[32..], "state value key")? >= from => {
                Ok(Some(borsh::from_slice(&v).with_context(|| format!("state value {} on disk", hex(&k)))?))
            }
            _ => Ok(None),
        }
    }

    fn link_at_or_below(&self, version: Version) -> Result<Option<Link>> {
        let start = version.to_be_bytes();
        let mut it = self.db.db.iterator_cf(self.cf(cf::STATE_LINKS)?, IteratorMode::From(&start, Direction::Reverse));
        match it.next().transpose()? {
            None => Ok(None),
            Some((k, v)) => {
                Ok(Some(Link { start: be_u64(&k, "state link key")?, base: be_u64(&v, "state link base")? }))
            }
        }
    }

    fn latest(&self) -> Result<Option<Version>> {
        match self.db.db.get_cf(self.db.cf(cf::META)?, self.latest_key())? {
            None => Ok(None),
            Some(b) => Ok(Some(be_u64(&b, "newest state version")?)),
        }
    }

    fn commit(&self, batch: &StateBatch) -> Result<()> {
        let mut wb = WriteBatch::default();
        self.stage_state(&mut wb, batch)?;
        self.db.db.write_opt(wb, &Db::sync_opts()).context("writing a state batch")
    }

    fn ordered_next(&self, from: &[u8], to: &[u8]) -> Result<Option<Vec<u8>>> {
        if from > to {
            return Ok(None);
        }
        let start = escape_key(from);
        let mut it = self.db.db.iterator_cf(self.cf(cf::ORDERED)?, IteratorMode::From(&start, Direction::Forward));
        match it.next().transpose()? {
            None => Ok(None),
            Some((k, _)) => {
                let (key, _) = unescape_key(&k).filter(|(_, rest)| rest.len() == 8).with_context(|| {
                    format!("{}/{} on disk is not an escaped key and a version", cf::ORDERED, hex(&k))
                })?;
                Ok((key.as_slice() <= to).then_some(key))
            }
        }
    }

    fn ordered_between(&self, key: &[u8], from: Version, to: Version) -> Result<Option<bool>> {
        let start = ordered_index_key(key, to);
        let mut it = self.db.db.iterator_cf(self.cf(cf::ORDERED)?, IteratorMode::From(&start, Direction::Reverse));
        let prefix = escape_key(key);
        match it.next().transpose()? {
            Some((k, v)) if k.len() == prefix.len() + 8 && k.starts_with(&prefix) => {
                if be_u64(&k[prefix.len()..], "ordered index key")? < from {
                    return Ok(None);
                }
                match v.as_ref() {
                    [0] => Ok(Some(false)),
                    [1] => Ok(Some(true)),
                    _ => bail!("{}/{} on disk: {} is not a presence flag", cf::ORDERED, hex(&k), hex(&v)),
                }
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(shards: u16) -> Vec<String> {
        let mut n: Vec<String> = cf::ALL.iter().map(|s| (*s).to_string()).collect();
        for s in 1..shards {
            n.extend(cf::STATE.iter().map(|b| cf::for_shard(b, s).into_owned()));
        }
        n
    }

    #[test]
    fn the_shard_count_comes_from_complete_column_family_sets() {
        assert_eq!(shards_held(&names(1)).unwrap(), 1);
        assert_eq!(shards_held(&names(4)).unwrap(), 4);
        assert_eq!(cf::for_shard(cf::STATE_NODES, 0), "state_nodes");
        assert_eq!(cf::for_shard(cf::ORDERED, 12), "ordered@12");
        // One of shard 2's families missing: damaged, not two shards.
        let mut n = names(3);
        n.retain(|x| x != "state_links@2");
        assert!(shards_held(&n).unwrap_err().to_string().contains("damaged"));
        // A set past a gap is not counted (shard 2 without shard 1 never
        // happens; such a database opens as one shard and its chain spec
        // check refuses it).
        let mut n = names(1);
        n.extend(cf::STATE.iter().map(|b| cf::for_shard(b, 2).into_owned()));
        assert_eq!(shards_held(&n).unwrap(), 1);
    }
}
