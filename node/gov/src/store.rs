//! How the governance ledger lies in a key-value state (the chain keeps it
//! as data records in the state tree under its `gov` namespace, so the
//! state root covers it and `cinder_getProof` proves any record), and
//! loading only what a block needs.
//!
//! | key                                   | value                          |
//! |---------------------------------------|--------------------------------|
//! | `params`                              | [`ChainParams`]                |
//! | `meta`                                | [`Meta`]                       |
//! | `p` + id (u64 BE)                     | [`Proposal`]                   |
//! | `v` + id (u64 BE) + voter             | [`VoteOption`]                 |
//! | `l` + id (u64 BE) + chunk (u32 BE)    | voters, [`VOTER_CHUNK`] a chunk |
//! | `upgrade-test`                        | written by the test upgrade    |
//!
//! The voter lists let a tally find every vote of a proposal without
//! scanning; a vote appends to the last chunk only. When a proposal ends,
//! its votes and voter lists are deleted (its tally stays).

use std::collections::{BTreeMap, BTreeSet};

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::{Address, VoteOption};

use crate::{ChainParams, Gov, Meta, Proposal};

/// Voters per voter-list record.
pub const VOTER_CHUNK: u64 = 256;

/// The parameters record's key.
pub fn params_key() -> Vec<u8> {
    b"params".to_vec()
}

/// The meta record's key.
pub fn meta_key() -> Vec<u8> {
    b"meta".to_vec()
}

/// A proposal record's key.
pub fn proposal_key(id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b'p');
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// A vote record's key.
pub fn vote_key(id: u64, voter: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(b'v');
    k.extend_from_slice(&id.to_be_bytes());
    k.extend_from_slice(&voter.0);
    k
}

/// A voter-list record's key.
pub fn voters_key(id: u64, chunk: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(13);
    k.push(b'l');
    k.extend_from_slice(&id.to_be_bytes());
    k.extend_from_slice(&u32::try_from(chunk).unwrap_or(u32::MAX).to_be_bytes());
    k
}

/// Why the stored ledger could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError<E> {
    /// The store failed.
    #[error("reading the governance ledger: {0}")]
    Store(E),
    /// A record that does not decode.
    #[error("governance record {0} does not decode: {1}")]
    Corrupt(String, std::io::Error),
    /// A record that must be there is not.
    #[error("governance record {0} is missing")]
    Missing(String),
}

fn decode<T: BorshDeserialize, E>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError<E>> {
    borsh::from_slice(bytes).map_err(|e| StoreError::Corrupt(hex_key(key), e))
}

fn hex_key(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes a record value.
pub fn encode_record<T: BorshSerialize>(v: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail.
    borsh::to_vec(v).unwrap_or_default()
}

fn read<T: BorshDeserialize, E>(
    get: &impl Fn(&[u8]) -> Result<Option<Vec<u8>>, E>,
    key: &[u8],
) -> Result<Option<T>, StoreError<E>> {
    match get(key).map_err(StoreError::Store)? {
        None => Ok(None),
        Some(b) => decode(key, &b).map(Some),
    }
}

/// Reads the chain parameters (every state of a PoS chain has them).
pub fn load_params<E>(get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, E>) -> Result<ChainParams, StoreError<E>> {
    read(&get, &params_key())?.ok_or_else(|| StoreError::Missing("params".into()))
}

/// Reads every voter of proposal `id` (which has `count` of them).
pub fn load_voters<E>(
    get: &impl Fn(&[u8]) -> Result<Option<Vec<u8>>, E>,
    id: u64,
    count: u64,
) -> Result<Vec<Address>, StoreError<E>> {
    let mut out = Vec::new();
    for chunk in 0..count.div_ceil(VOTER_CHUNK) {
        let key = voters_key(id, chunk);
        let list: Vec<Address> = read(get, &key)?.ok_or_else(|| StoreError::Missing(hex_key(&key)))?;
        out.extend(list);
    }
    Ok(out)
}

/// A ledger read for one block, and what it was when read.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The ledger; operations run on it.
    pub gov: Gov,
    params: ChainParams,
    meta: Meta,
    proposals: BTreeMap<u64, Proposal>,
    votes: BTreeMap<(u64, Address), VoteOption>,
    /// The last voter-list chunk of each proposal voted on, as stored.
    tails: BTreeMap<u64, Vec<Address>>,
}

impl Loaded {
    /// The ledger of a new chain (genesis), nothing stored yet.
    pub fn genesis(params: ChainParams) -> Loaded {
        Loaded {
            gov: Gov::new(params.clone()),
            params,
            meta: Meta::default(),
            proposals: BTreeMap::new(),
            votes: BTreeMap::new(),
            tails: BTreeMap::new(),
        }
    }

    /// Reads what a block at `height` needs through `get`: the parameters
    /// and meta, the proposals `ids` (those its operations name; missing
    /// ones are left out), every proposal whose period ends at `height`
    /// with all its votes, and the earlier votes of `voters` (proposal,
    /// voter) with the tail of each such proposal's voter list.
    pub fn load<E>(
        height: u64,
        get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, E>,
        ids: &[u64],
        voters: &[(u64, Address)],
    ) -> Result<Loaded, StoreError<E>> {
        let params = load_params(&get)?;
        let meta: Meta = read(&get, &meta_key())?.unwrap_or_default();
        let due: BTreeSet<u64> = meta.queue.iter().filter(|(h, _)| *h <= height).map(|(_, id)| *id).collect();
        let mut proposals = BTreeMap::new();
        let mut votes = BTreeMap::new();
        let mut tails = BTreeMap::new();
        let wanted: BTreeSet<u64> =
            ids.iter().copied().chain(voters.iter().map(|(id, _)| *id)).chain(due.iter().copied()).collect();
        for id in wanted {
            let key = proposal_key(id);
            if let Some(p) = read::<Proposal, E>(&get, &key)? {
                proposals.insert(id, p);
            } else if due.contains(&id) {
                return Err(StoreError::Missing(hex_key(&key)));
            }
        }
        for id in &due {
            let Some(p) = proposals.get(id) else { continue };
            for voter in load_voters(&get, *id, p.voters)? {
                let key = vote_key(*id, &voter);
                let o: VoteOption = read(&get, &key)?.ok_or_else(|| StoreError::Missing(hex_key(&key)))?;
                votes.insert((*id, voter), o);
            }
        }
        for (id, voter) in voters {
            // An ended proposal's votes and lists are gone; the vote on it
            // is refused without them.
            let Some(p) = proposals.get(id).filter(|p| p.status.is_live()) else { continue };
            if !votes.contains_key(&(*id, *voter))
                && let Some(o) = read::<VoteOption, E>(&get, &vote_key(*id, voter))?
            {
                votes.insert((*id, *voter), o);
            }
            if p.voters % VOTER_CHUNK != 0 && !tails.contains_key(id) {
                let key = voters_key(*id, p.voters / VOTER_CHUNK);
                let tail: Vec<Address> = read(&get, &key)?.ok_or_else(|| StoreError::Missing(hex_key(&key)))?;
                tails.insert(*id, tail);
            }
        }
        let gov = Gov {
            params: params.clone(),
            meta: meta.clone(),
            proposals: proposals.clone(),
            votes: votes.clone(),
            new_voters: Vec::new(),
        };
        Ok(Loaded { gov, params, meta, proposals, votes, tails })
    }

    /// Every voter whose stake a tally or a vote in this block needs: the
    /// voters of the proposals due and those voting now.
    pub fn voters(&self, voting: &[(u64, Address)]) -> Vec<Address> {
        let mut out: BTreeSet<Address> = self.votes.keys().map(|(_, a)| *a).collect();
        out.extend(voting.iter().map(|(_, a)| *a));
        out.into_iter().collect()
    }

    /// The records to write (`Some`) or delete (`None`) so the store holds
    /// the ledger as it is now.
    pub fn changes(&self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let g = &self.gov;
        let mut out = Vec::new();
        if g.params != self.params {
            out.push((params_key(), Some(encode_record(&g.params))));
        }
        if g.meta != self.meta {
            out.push((meta_key(), Some(encode_record(&g.meta))));
        }
        for (id, p) in &g.proposals {
            if self.proposals.get(id) != Some(p) {
                out.push((proposal_key(*id), Some(encode_record(p))));
            }
        }
        let ended = |id: &u64| g.proposals.get(id).is_some_and(|p| !p.status.is_live());
        // Votes: new or changed ones written, those of ended proposals
        // deleted.
        for ((id, voter), o) in &g.votes {
            if self.votes.get(&(*id, *voter)) != Some(o) {
                out.push((vote_key(*id, voter), Some(encode_record(o))));
            }
        }
        for (id, voter) in self.votes.keys().filter(|k| !g.votes.contains_key(k)) {
            out.push((vote_key(*id, voter), None));
        }
        // Voter lists: appended to, or deleted once the proposal ends.
        let mut grown: BTreeMap<u64, Vec<Address>> = BTreeMap::new();
        for (id, voter) in &g.new_voters {
            if !ended(id) {
                grown.entry(*id).or_default().push(*voter);
            }
        }
        for (id, added) in grown {
            let before = self.proposals.get(&id).map_or(0, |p| p.voters);
            let mut chunk = before / VOTER_CHUNK;
            let mut list = self.tails.get(&id).cloned().unwrap_or_default();
            for voter in added {
                list.push(voter);
                if list.len() as u64 == VOTER_CHUNK {
                    out.push((voters_key(id, chunk), Some(encode_record(&list))));
                    list.clear();
                    chunk = chunk.saturating_add(1);
                }
            }
            if !list.is_empty() {
                out.push((voters_key(id, chunk), Some(encode_record(&list))));
            }
        }
        for (id, p) in &self.proposals {
            if p.status.is_live() && ended(id) {
                for chunk in 0..p.voters.div_ceil(VOTER_CHUNK) {
                    out.push((voters_key(*id, chunk), None));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use cinder_primitives::{BoundedString, ProposalAction, ProposalContent};
    use cinder_staking::{Params, Staking};

    use super::*;
    use crate::Status;
    use crate::params::test_params;

    fn a(i: u8) -> Address {
        Address([i; 32])
    }

    fn write(store: &mut HashMap<Vec<u8>, Vec<u8>>, ch: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        for (k, v) in ch {
            match v {
                Some(v) => store.insert(k, v),
                None => store.remove(&k),
            };
        }
    }

    fn text() -> ProposalContent {
        ProposalContent {
            title: BoundedString::truncated("t"),
            description: BoundedString::truncated(""),
            action: ProposalAction::Text,
        }
    }

    #[test]
    fn votes_round_trip_through_voter_lists_and_go_when_the_proposal_ends() {
        let mut store: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut g = Loaded::genesis(test_params());
        g.gov.submit(1, a(1), &text(), 100).unwrap();
        let mut ch = g.changes();
        ch.push((params_key(), Some(encode_record(&test_params()))));
        write(&mut store, ch);
        // 600 voters over three blocks: chunks fill and spill.
        let voters: Vec<Address> = (0..600u32).map(|i| Address(blake3::hash(&i.to_le_bytes()).into())).collect();
        for (h, batch) in voters.chunks(200).enumerate() {
            let ops: Vec<(u64, Address)> = batch.iter().map(|v| (0, *v)).collect();
            let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
            let mut l = Loaded::load(2 + h as u64, get, &[], &ops).unwrap();
            for v in batch {
                l.gov.vote(*v, 0, VoteOption::Yes, true).unwrap();
            }
            // A repeated vote replaces, it does not add a voter.
            l.gov.vote(batch[0], 0, VoteOption::No, true).unwrap();
            let ch = l.changes();
            write(&mut store, ch);
        }
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        let listed = load_voters(&get, 0, 600).unwrap();
        assert_eq!(listed, voters);
        assert!(store.contains_key(&voters_key(0, 2)) && !store.contains_key(&voters_key(0, 3)));
        // At the end of voting (block 1 + 10), everything is loaded and
        // tallied; votes and lists are deleted.
        let l = Loaded::load(11, get, &[], &[]).unwrap();
        assert_eq!(l.gov.votes.len(), 600);
        assert_eq!(l.gov.votes_of(0).get(&voters[0]), Some(&VoteOption::No));
        let mut l = l;
        let out = l
            .gov
            .end_block(
                11,
                &Staking::new(Params {
                    min_self_stake: 1,
                    max_validators: 10,
                    unbonding_epochs: 1,
                    max_commission_bps: 0,
                    double_sign_slash_bps: 0,
                    jail_epochs: 0,
                    max_missed_bps: 0,
                }),
            )
            .unwrap();
        assert_eq!(out.ended, vec![(0, Status::Rejected)]);
        assert_eq!(out.payouts, vec![(a(1), 100)]);
        write(&mut store, l.changes());
        assert_eq!(store.len(), 3, "params, meta and the proposal are left");
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        let back = Loaded::load(12, get, &[0], &[]).unwrap();
        assert_eq!(back.gov.proposals[&0].status, Status::Rejected);
        assert!(back.gov.meta.queue.is_empty());
        // A late vote on it loads (without the deleted lists) and is refused.
        let mut late = Loaded::load(12, get, &[], &[(0, voters[0])]).unwrap();
        assert!(late.gov.vote(voters[0], 0, VoteOption::Yes, true).is_err());
        assert!(late.changes().is_empty());
    }

    #[test]
    fn a_missing_or_corrupt_record_is_an_error() {
        let mut store: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        assert!(matches!(Loaded::load(1, get, &[], &[]), Err(StoreError::Missing(_))));
        store.insert(params_key(), encode_record(&test_params()));
        store.insert(meta_key(), vec![1, 2, 3]);
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        assert!(matches!(Loaded::load(1, get, &[], &[]), Err(StoreError::Corrupt(..))));
        // A due proposal that is not stored.
        let meta = Meta { queue: vec![(5, 0)], next_id: 1, ..Meta::default() };
        store.insert(meta_key(), encode_record(&meta));
        let get = |k: &[u8]| Ok::<_, ()>(store.get(k).cloned());
        assert!(matches!(Loaded::load(5, get, &[], &[]), Err(StoreError::Missing(_))));
        assert!(Loaded::load(4, get, &[], &[]).is_ok());
    }
}
