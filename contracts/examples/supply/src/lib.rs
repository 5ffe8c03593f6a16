//! Supply-chain tracking: items with a custody history, and off-chain
//! records anchored in batches.
//!
//! - **Items.** A registered participant creates an item (with the hash of
//!   its description) and holds it. Custody moves in two signed steps: the
//!   holder hands it over (a transaction signed by the holder's key), and
//!   the recipient confirms receipt (signed by the recipient). A registered
//!   inspector records inspections (passed or failed, with the report's
//!   hash). Every step is kept: `history` lists an item's whole custody
//!   chain, in order.
//! - **Batches.** A participant anchors many off-chain records (sensor
//!   readings, scans, certificates) at once as the root of a BLAKE3 Merkle
//!   tree built by the engine's rules (`cinder_engine::merkle`,
//!   docs/protocol.md). Anyone then proves one record is in a batch with
//!   its inclusion proof: the contract checks it with the chain's
//!   `merkle_verify` host function (the engine's own code, not a copy in
//!   the contract).
//!
//! Steps: 0 created, 1 handed over, 2 received, 3 inspected (passed),
//! 4 inspected (failed). Events: `Step` [BLAKE3("Step"), item, actor] with
//! (kind, counterparty); `Anchored` [BLAKE3("Anchored"), anchorer] with
//! (batch, root, count).

use cinder_sdk::{Address, Item, Map, Result, contract, encode, ensure, env, topic};

const ADMIN: Item<Address> = Item::new(b"admin");
/// account -> role: 1 participant, 2 inspector, 3 both.
const ROLES: Map<Address, u8> = Map::new(b"role/");
/// item -> (holder, pending recipient, description hash, steps).
const ITEMS: Map<[u8; 32], (Address, Option<Address>, [u8; 32], u32)> = Map::new(b"i/");
/// (item, step index) -> (kind, actor, counterparty, height, note hash).
const STEPS: Map<([u8; 32], u32), (u8, Address, Address, u64, [u8; 32])> = Map::new(b"s/");
const NEXT_BATCH: Item<u64> = Item::new(b"nb");
/// batch -> (anchorer, root, record count, height).
const BATCHES: Map<u64, (Address, [u8; 32], u64, u64)> = Map::new(b"b/");

const PARTICIPANT: u8 = 1;
const INSPECTOR: u8 = 2;
/// Most steps one `history` call lists.
const MAX_PAGE: u32 = 100;

fn has_role(who: &Address, role: u8) -> bool {
    ROLES.get(who).unwrap_or(0) & role != 0
}

fn record(item: [u8; 32], kind: u8, actor: Address, counterparty: Address, note: [u8; 32]) -> Result<()> {
    let (holder, pending, desc, steps) = ITEMS.get(&item).ok_or("no such item")?;
    STEPS.set(&(item, steps), &(kind, actor, counterparty, env::block_height(), note));
    ITEMS.set(&item, &(holder, pending, desc, steps.checked_add(1).ok_or("too many steps")?));
    env::emit(&[topic("Step"), item, actor.0], &encode(&(kind, counterparty)));
    Ok(())
}

contract! {
    /// A tracking registry administered by the deployer.
    pub fn init() -> Result<()> {
        ADMIN.save(&env::caller());
        Ok(())
    }

    /// Sets `account`'s roles (1 participant, 2 inspector, 3 both, 0
    /// none); the admin only.
    pub fn set_role(account: Address, role: u8) -> Result<()> {
        ensure!(ADMIN.load() == Some(env::caller()), "only the admin may set roles");
        ensure!(role <= 3, "roles are 0 to 3");
        if role == 0 {
            ROLES.remove(&account);
        } else {
            ROLES.set(&account, &role);
        }
        Ok(())
    }

    /// Creates item `item` (an id of the caller's choosing: a serial
    /// number's hash) described by `description_hash`; the caller holds it.
    pub fn create(item: [u8; 32], description_hash: [u8; 32]) -> Result<()> {
        let who = env::caller();
        ensure!(has_role(&who, PARTICIPANT), "only a participant may create items");
        ensure!(ITEMS.get(&item).is_none(), "the item exists");
        ITEMS.set(&item, &(who, None, description_hash, 0));
        record(item, 0, who, who, description_hash)
    }

    /// Hands `item` to `to` (a participant), who must confirm receipt; the
    /// holder only. `note` is the hash of the shipping papers.
    pub fn hand_over(item: [u8; 32], to: Address, note: [u8; 32]) -> Result<()> {
        let (holder, pending, desc, steps) = ITEMS.get(&item).ok_or("no such item")?;
        let who = env::caller();
        ensure!(holder == who, "only the holder may hand the item over");
        ensure!(pending.is_none(), "a handover is already pending");
        ensure!(to != who, "the item is already held by the recipient");
        ensure!(has_role(&to, PARTICIPANT), "the recipient is not a participant");
        ITEMS.set(&item, &(holder, Some(to), desc, steps));
        record(item, 1, who, to, note)
    }

    /// Confirms receipt of `item`: the pending recipient becomes its holder.
    pub fn receive(item: [u8; 32], note: [u8; 32]) -> Result<()> {
        let (holder, pending, desc, steps) = ITEMS.get(&item).ok_or("no such item")?;
        let who = env::caller();
        ensure!(pending == Some(who), "the item was not handed to the caller");
        ITEMS.set(&item, &(who, None, desc, steps));
        record(item, 2, who, holder, note)
    }

    /// Records an inspection of `item` with the report's hash; an
    /// inspector only.
    pub fn inspect(item: [u8; 32], passed: bool, report_hash: [u8; 32]) -> Result<()> {
        let who = env::caller();
        ensure!(has_role(&who, INSPECTOR), "only an inspector may inspect");
        let (holder, _, _, _) = ITEMS.get(&item).ok_or("no such item")?;
        record(item, if passed { 3 } else { 4 }, who, holder, report_hash)
    }

    /// (holder, pending recipient, description hash, steps).
    pub fn item(item: [u8; 32]) -> Result<(Address, Option<Address>, [u8; 32], u32)> {
        Ok(ITEMS.get(&item).ok_or("no such item")?)
    }

    /// `item`'s steps from index `from`, at most `limit` (at most 100):
    /// (kind, actor, counterparty, height, note hash).
    pub fn history(item: [u8; 32], from: u32, limit: u32) -> Result<Vec<(u8, Address, Address, u64, [u8; 32])>> {
        ensure!(limit <= MAX_PAGE, "at most 100 steps a page");
        let (_, _, _, steps) = ITEMS.get(&item).ok_or("no such item")?;
        let end = steps.min(from.saturating_add(limit));
        let mut out = Vec::new();
        for i in from..end {
            out.push(STEPS.get(&(item, i)).ok_or("a step is missing")?);
        }
        Ok(out)
    }

    /// Anchors a batch of `count` off-chain records by their Merkle root;
    /// a participant only. Returns the batch number.
    pub fn anchor(root: [u8; 32], count: u64) -> Result<u64> {
        let who = env::caller();
        ensure!(has_role(&who, PARTICIPANT), "only a participant may anchor records");
        ensure!(count > 0, "a batch has at least one record");
        let batch = NEXT_BATCH.load_or(0);
        NEXT_BATCH.save(&(batch + 1));
        BATCHES.set(&batch, &(who, root, count, env::block_height()));
        env::emit(&[topic("Anchored"), who.0], &encode(&(batch, root, count)));
        Ok(batch)
    }

    /// Whether `record` (its bytes) is record `index` of `batch`, by its
    /// inclusion proof (`siblings`, from the leaf up).
    pub fn verify_record(batch: u64, record: Vec<u8>, index: u64, siblings: Vec<[u8; 32]>) -> Result<bool> {
        let (_, root, count, _) = BATCHES.get(&batch).ok_or("no such batch")?;
        ensure!(siblings.len() <= 64, "at most 64 siblings");
        Ok(env::merkle_verify(&root, &record, index, count, &siblings))
    }

    /// (anchorer, root, record count, height).
    pub fn batch(batch: u64) -> Result<(Address, [u8; 32], u64, u64)> {
        Ok(BATCHES.get(&batch).ok_or("no such batch")?)
    }
}
