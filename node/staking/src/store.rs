//! How a [`Staking`] ledger lies in a key-value state (the chain keeps it
//! as data records in the state tree, so the state root covers it), and
//! loading only what a block needs.
//!
//! Records, by key (bytes; the chain hashes them under its `staking`
//! namespace):
//!
//! | key                              | value                         |
//! |----------------------------------|-------------------------------|
//! | `meta`                           | [`Meta`]                      |
//! | `v` + operator                   | [`Validator`]                 |
//! | `d` + delegator + operator       | [`Delegation`]                |
//! | `s` + epoch (u64 BE)             | [`ConsensusSet`] of the epoch |
//! | `e` + operator + height (u64 BE) | a slashed double vote (`[1]`) |
//!
//! A block loads the meta record, every validator and every operator's
//! self-delegation (the epoch's end and the rewards need them), plus the
//! delegations its own transactions touch; [`Loaded::changes`] then
//! writes back only the records that changed.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::Address;

use crate::{Delegation, Params, Staking, Unbonding, Validator};

/// The largest voting power one validator gets, so that 1,024 of them
/// stay below 2^64 in total.
pub const MAX_POWER: u64 = 1 << 53;

/// The ledger fields besides validators and delegations.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Meta {
    /// The current epoch.
    pub epoch: u64,
    /// Operators of every validator, sorted.
    pub operators: Vec<Address>,
    /// The active set: operators and bonded tokens at the epoch's start.
    pub active: Vec<(Address, u128)>,
    /// Pending undelegations, oldest first.
    pub unbonding: Vec<Unbonding>,
    /// Certificates each active validator missed this epoch.
    pub missed: Vec<(Address, u64)>,
}

/// One member of an epoch's consensus set.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SetMember {
    /// The validator's operator (rewards, slashing).
    pub operator: Address,
    /// Its consensus key.
    pub key: [u8; 32],
    /// Its voting power.
    pub power: u64,
}

/// The validators that propose and vote in one epoch, in index order.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusSet {
    /// Members by validator index.
    pub members: Vec<SetMember>,
}

/// The meta record's key.
pub fn meta_key() -> Vec<u8> {
    b"meta".to_vec()
}

/// A validator record's key.
pub fn validator_key(operator: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'v');
    k.extend_from_slice(&operator.0);
    k
}

/// A delegation record's key.
pub fn delegation_key(delegator: &Address, operator: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(65);
    k.push(b'd');
    k.extend_from_slice(&delegator.0);
    k.extend_from_slice(&operator.0);
    k
}

/// The key of epoch `epoch`'s consensus set.
pub fn set_key(epoch: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b's');
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

/// The key marking `operator`'s double vote at `height` as slashed.
pub fn evidence_key(operator: &Address, height: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(b'e');
    k.extend_from_slice(&operator.0);
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// Voting power of `tokens` bonded: one per `power_unit` tokens, at most
/// [`MAX_POWER`].
pub fn power_of(tokens: u128, power_unit: u128) -> u64 {
    let p = tokens.checked_div(power_unit.max(1)).unwrap_or(0);
    u64::try_from(p).unwrap_or(u64::MAX).min(MAX_POWER)
}

/// Why the stored ledger could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError<E> {
    /// The store failed.
    #[error("reading the staking ledger: {0}")]
    Store(E),
    /// A record that does not decode.
    #[error("staking record {0} does not decode: {1}")]
    Corrupt(String, std::io::Error),
    /// The meta record names a validator that is not stored.
    #[error("validator {0} is listed but not stored")]
    Missing(Address),
}

fn decode<T: BorshDeserialize, E>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError<E>> {
    borsh::from_slice(bytes).map_err(|e| StoreError::Corrupt(hex_key(key), e))
}

fn hex_key(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn enc<T: BorshSerialize>(v: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail.
    borsh::to_vec(v).unwrap_or_default()
}

/// A ledger read for one block, and what it was when read.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The ledger; operations run on it.
    pub staking: Staking,
    meta: Meta,
    validators: BTreeMap<Address, Validator>,
    delegations: BTreeMap<(Address, Address), Delegation>,
}

impl Loaded {
    /// An empty ledger (genesis), nothing stored yet.
    pub fn empty(params: Params) -> Loaded {
        Loaded {
            staking: Staking::new(params),
            meta: Meta::default(),
            validators: BTreeMap::new(),
            delegations: BTreeMap::new(),
        }
    }

    /// Reads the ledger through `get` (a record's bytes by key): the meta
    /// record, every validator with its operator's self-delegation, and
    /// the `delegations` (delegator, operator) given. A store without a
    /// meta record holds an empty ledger.
    pub fn load<E>(
        params: Params,
        get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, E>,
        delegations: &[(Address, Address)],
    ) -> Result<Loaded, StoreError<E>> {
        let mut loaded = Loaded::empty(params);
        let key = meta_key();
        let Some(bytes) = get(&key).map_err(StoreError::Store)? else { return Ok(loaded) };
        let meta: Meta = decode(&key, &bytes)?;
        for op in &meta.operators {
            let key = validator_key(op);
            let bytes = get(&key).map_err(StoreError::Store)?.ok_or(StoreError::Missing(*op))?;
            loaded.validators.insert(*op, decode(&key, &bytes)?);
        }
        let wanted = meta.operators.iter().map(|op| (*op, *op)).chain(delegations.iter().copied());
        for (d, v) in wanted {
            if loaded.delegations.contains_key(&(d, v)) {
                continue;
            }
            let key = delegation_key(&d, &v);
            if let Some(bytes) = get(&key).map_err(StoreError::Store)? {
                loaded.delegations.insert((d, v), decode(&key, &bytes)?);
            }
        }
        let s = &mut loaded.staking;
        s.epoch = meta.epoch;
        s.validators = loaded.validators.clone();
        s.delegations = loaded.delegations.clone();
        s.unbonding = meta.unbonding.clone();
        s.active = meta.active.clone();
        s.missed = meta.missed.iter().copied().collect();
        loaded.meta = meta;
        Ok(loaded)
    }

    /// Reads the delegations `pairs` (delegator, operator) too, those not
    /// loaded yet (a tally needs every voter's).
    pub fn load_more<E>(
        &mut self,
        get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, E>,
        pairs: &[(Address, Address)],
    ) -> Result<(), StoreError<E>> {
        for (d, v) in pairs {
            if self.delegations.contains_key(&(*d, *v)) || self.staking.delegations.contains_key(&(*d, *v)) {
                continue;
            }
            let key = delegation_key(d, v);
            if let Some(bytes) = get(&key).map_err(StoreError::Store)? {
                let del: Delegation = decode(&key, &bytes)?;
                self.delegations.insert((*d, *v), del.clone());
                self.staking.delegations.insert((*d, *v), del);
            }
        }
        Ok(())
    }

    /// The records to write (`Some`) or delete (`None`) so the store holds
    /// the ledger as it is now.
    pub fn changes(&self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let s = &self.staking;
        let mut out = Vec::new();
        let meta = Meta {
            epoch: s.epoch,
            operators: s.validators.keys().copied().collect(),
            active: s.active.clone(),
            unbonding: s.unbonding.clone(),
            missed: s.missed.iter().map(|(a, n)| (*a, *n)).collect(),
        };
        if meta != self.meta {
            out.push((meta_key(), Some(enc(&meta))));
        }
        for (op, v) in &s.validators {
            if self.validators.get(op) != Some(v) {
                out.push((validator_key(op), Some(enc(v))));
            }
        }
        for op in self.validators.keys().filter(|op| !s.validators.contains_key(op)) {
            out.push((validator_key(op), None));
        }
        for ((d, v), del) in &s.delegations {
            if self.delegations.get(&(*d, *v)) != Some(del) {
                out.push((delegation_key(d, v), Some(enc(del))));
            }
        }
        for (d, v) in self.delegations.keys().filter(|k| !s.delegations.contains_key(k)) {
            out.push((delegation_key(d, v), None));
        }
        out
    }

    /// The consensus set of the active validators (powers from their
    /// tokens at the epoch's start; those with no power left out).
    pub fn consensus_set(&self, power_unit: u128) -> ConsensusSet {
        let s = &self.staking;
        let members = s
            .active
            .iter()
            .filter_map(|(op, tokens)| {
                let v = s.validators.get(op)?;
                let power = power_of(*tokens, power_unit);
                (power > 0).then_some(SetMember { operator: *op, key: v.key, power })
            })
            .collect();
        ConsensusSet { members }
    }
}

/// Encodes a record value.
pub fn encode_record<T: BorshSerialize>(v: &T) -> Vec<u8> {
    enc(v)
}

/// Decodes a consensus set record.
pub fn decode_set(bytes: &[u8]) -> Result<ConsensusSet, std::io::Error> {
    borsh::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::tests_params;

    fn a(i: u8) -> Address {
        Address([i; 32])
    }

    #[test]
    fn a_ledger_round_trips_and_writes_only_what_changed() {
        let mut store: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut l = Loaded::empty(tests_params());
        l.staking.create_validator(a(1), [1; 32], 100, 1_000).unwrap();
        l.staking.create_validator(a(2), [2; 32], 0, 500).unwrap();
        l.staking.delegate(a(9), a(1), 300).unwrap();
        l.staking.end_epoch().unwrap();
        let write = |store: &mut HashMap<Vec<u8>, Vec<u8>>, ch: Vec<(Vec<u8>, Option<Vec<u8>>)>| {
            for (k, v) in ch {
                match v {
                    Some(v) => store.insert(k, v),
                    None => store.remove(&k),
                };
            }
        };
        write(&mut store, l.changes());
        assert_eq!(store.len(), 1 + 2 + 3);
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        let back = Loaded::load(tests_params(), get, &[(a(9), a(1))]).unwrap();
        assert_eq!(back.staking, l.staking);
        assert!(back.changes().is_empty());
        // Without asking for it, a delegation is not loaded; still nothing
        // is written for it.
        let mut partial = Loaded::load(tests_params(), get, &[]).unwrap();
        assert!(!partial.staking.delegations.contains_key(&(a(9), a(1))));
        partial.staking.undelegate(a(2), a(2), 500).unwrap();
        let ch = partial.changes();
        let keys: Vec<Vec<u8>> = ch.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![meta_key(), validator_key(&a(2)), delegation_key(&a(2), &a(2))]);
        assert_eq!(ch[2].1, None);
        assert_eq!(
            l.consensus_set(1).members,
            vec![
                SetMember { operator: a(1), key: [1; 32], power: 1_300 },
                SetMember { operator: a(2), key: [2; 32], power: 500 }
            ]
        );
        assert_eq!(power_of(u128::MAX, 1), MAX_POWER);
        assert_eq!(power_of(999, 1_000), 0);
    }

    #[test]
    fn a_corrupt_or_missing_record_is_an_error() {
        let mut store: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let meta = Meta { operators: vec![a(1)], ..Meta::default() };
        store.insert(meta_key(), enc(&meta));
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        assert!(matches!(Loaded::load(tests_params(), get, &[]), Err(StoreError::Missing(_))));
        store.insert(validator_key(&a(1)), vec![1, 2, 3]);
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        assert!(matches!(Loaded::load(tests_params(), get, &[]), Err(StoreError::Corrupt(..))));
    }
}
