//! The genesis block of a chain spec.
//!
//! Height 0, previous id zero, the spec's time and initial bits, the state
//! root of the allocations, empty transactions and receipts, a zero
//! coinbase, and the chain id as the extra nonce (chains that differ only in
//! their id get different genesis ids). Genesis carries no valid PoW; it is
//! derived from the spec, never received.

use anyhow::Result;
use cinder_consensus::ChainSpec;
use cinder_primitives::{
    Account, Address, Block, Bounded, BoundedBytes, Hash, Header, HeaderFields, STAKING_ADDRESS, receipts_root,
};
use cinder_state::{MemStore, State};

/// The genesis accounts.
pub fn allocations(spec: &ChainSpec) -> Vec<(Address, Option<Account>)> {
    spec.alloc.iter().map(|a| (a.address, Some(Account { balance: a.balance, nonce: 0 }))).collect()
}

/// The genesis state: the accounts and data records (PoS: the staking
/// ledger with the genesis validators bonded, the staking account holding
/// their stake, and the chain parameters governance starts from).
pub fn state(spec: &ChainSpec) -> Result<GenesisState> {
    let mut accounts = allocations(spec);
    let (mut data, staked) = crate::staking::genesis(spec)?;
    data.extend(crate::gov::genesis(spec));
    if spec.pos.is_some() {
        accounts.push((STAKING_ADDRESS, Some(Account { balance: staked, nonce: 0 })));
    }
    Ok((accounts, data))
}

/// Accounts and data records of a genesis state.
pub type GenesisState = (Vec<(Address, Option<Account>)>, Vec<crate::staking::DataWrite>);

/// The genesis header over `state_root` (the root of [`state`]).
pub fn header(spec: &ChainSpec, state_root: Hash) -> Header {
    let fields = HeaderFields {
        height: 0,
        state_root,
        transactions_root: Hash(cinder_engine::merkle::root(&[])),
        receipts_root: receipts_root(&[]),
        coinbase: Address::default(),
        extra_nonce: spec.chain_id,
        consensus_data: BoundedBytes::default(),
    };
    let bits = spec.pow().map_or(0, |p| p.initial_bits);
    Header::new(Hash::default(), spec.genesis_time, bits, fields)
}

/// The genesis block (its state root computed in memory).
pub fn block(spec: &ChainSpec) -> Result<Block> {
    if spec.shards > 1 {
        let states: Vec<_> = (0..spec.shards).map(|_| State::new(MemStore::default())).collect();
        return Ok(crate::sharded::genesis_shards(spec, &states)?.0);
    }
    let (accounts, data) = state(spec)?;
    let (root, _) = State::new(MemStore::default()).apply_all(None, &accounts, &data)?;
    Ok(Block {
        header: header(spec, root),
        transactions: Bounded::default(),
        last_commit: None,
        chunks: Default::default(),
    })
}

/// The development chain's spec (`specs/devnet.toml`): what `cinder devnet`
/// runs. Account i's key seed is BLAKE3("cinder-devnet/<i>").
pub const DEVNET_SPEC: &str = include_str!("../specs/devnet.toml");
