//! Light clients of other Cinder chains (ICS-02): what a header must carry
//! to be believed, and what freezes a client.
//!
//! - **Proof of stake.** The client holds the validator set of one epoch of
//!   the counterparty. A header of that epoch is verified by its commit
//!   certificate: precommits of more than 2/3 of the set's power for the
//!   header's id, one batch verification. The last block of an epoch may
//!   carry the next epoch's set, proven in that block's state (the staking
//!   ledger writes it there before the epoch ends); the client then moves
//!   to the next epoch. Two certified headers of one height are
//!   misbehaviour: the client freezes.
//! - **Proof of work.** The client holds a confirmed header and the
//!   unconfirmed headers on top of it. Headers must link, commit to their
//!   fields, meet their own target, and that target must be at most the
//!   client's `max_bits` (a floor of work per header). The heavier branch
//!   of unconfirmed headers wins; a header with `depth` headers on it is
//!   confirmed and its state root used. A branch that buries a header
//!   conflicting with a confirmed one `depth` deep is misbehaviour.

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_consensus::work_of_bits;
use cinder_engine::pow::{Algo, Target};
use cinder_engine::sig::VerifyingKey;
use cinder_primitives::{ClientInit, CommitCertificate, Hash, Header, PosHeaderData, PowAlgo, SetProof, decode};
use cinder_staking::store::{decode_set, set_key};
use cinder_state::{DataProof, data_key};

use crate::Refusal;

/// The counterparty's state as verified at one height.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusState {
    /// The block id.
    pub block: Hash,
    /// Its state root.
    pub root: Hash,
    /// Its time, Unix ms.
    pub time_ms: u64,
}

impl ConsensusState {
    /// The state a header vouches for.
    pub fn of(header: &Header) -> ConsensusState {
        ConsensusState { block: header.id(), root: header.fields.state_root, time_ms: time_ms(header) }
    }
}

/// A validator of the trusted set.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Member {
    /// Its consensus key.
    pub key: [u8; 32],
    /// Its voting power.
    pub power: u64,
}

/// A proof-of-stake client.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PosClient {
    /// The counterparty's chain id.
    pub chain_id: u64,
    /// Its genesis block id.
    pub genesis: Hash,
    /// Its epoch length.
    pub epoch_length: u64,
    /// The epoch whose set the client holds.
    pub epoch: u64,
    /// That set, by validator index.
    pub set: Vec<Member>,
    /// The highest verified height.
    pub latest: u64,
}

/// An unconfirmed PoW header.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Pending {
    /// Its height.
    pub height: u64,
    /// What it vouches for.
    pub state: ConsensusState,
    /// Its work.
    pub work: u128,
}

/// A proof-of-work client.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PowClient {
    /// The counterparty's chain id.
    pub chain_id: u64,
    /// Its genesis block id.
    pub genesis: Hash,
    /// Its PoW hash.
    pub algo: PowAlgo,
    /// The easiest target a header may have.
    pub max_bits: u32,
    /// Confirmations before a header is used.
    pub depth: u64,
    /// The newest confirmed header: height and id.
    pub confirmed: (u64, Hash),
    /// Unconfirmed headers on it, oldest first.
    pub pending: Vec<Pending>,
}

/// Which chain a client follows, and how.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ClientKind {
    /// Tag 0: proof of stake.
    Pos(PosClient),
    /// Tag 1: proof of work.
    Pow(PowClient),
}

/// A light client's record.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ClientState {
    /// The client.
    pub kind: ClientKind,
    /// Why it is frozen, if it is: nothing is proven against it any more.
    pub frozen: Option<String>,
}

impl ClientState {
    /// The counterparty's chain id.
    pub fn chain_id(&self) -> u64 {
        match &self.kind {
            ClientKind::Pos(c) => c.chain_id,
            ClientKind::Pow(c) => c.chain_id,
        }
    }
    /// The counterparty's genesis id.
    pub fn genesis(&self) -> Hash {
        match &self.kind {
            ClientKind::Pos(c) => c.genesis,
            ClientKind::Pow(c) => c.genesis,
        }
    }
    /// The highest height whose state root the client can prove against.
    pub fn latest(&self) -> u64 {
        match &self.kind {
            ClientKind::Pos(c) => c.latest,
            ClientKind::Pow(c) => c.confirmed.0,
        }
    }
    /// Its kind's name.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            ClientKind::Pos(_) => "pos",
            ClientKind::Pow(_) => "pow",
        }
    }
}

/// A header's time in ms: a PoS header's consensus data, else the PoW
/// header's seconds.
pub fn time_ms(header: &Header) -> u64 {
    match decode::<PosHeaderData>(header.fields.consensus_data.as_slice()) {
        Ok(d) => d.time_ms,
        Err(_) => u64::from(header.pow.time()).saturating_mul(1000),
    }
}

/// The epoch of a height under epoch length `len` (as the staking spec:
/// block 0 and the first `len` blocks are epoch 0).
pub fn epoch_of(height: u64, len: u64) -> u64 {
    height.saturating_sub(1).checked_div(len.max(1)).unwrap_or(0)
}

/// Whether block `height` is the last of its epoch.
pub fn ends_epoch(height: u64, len: u64) -> bool {
    height > 0 && height.is_multiple_of(len.max(1))
}

fn set_members(bytes: &[u8]) -> Result<Vec<Member>, Refusal> {
    let set = decode_set(bytes).map_err(|e| Refusal::Invalid(format!("the validator set does not decode: {e}")))?;
    if set.members.is_empty() || set.members.len() > 1_024 {
        return Err(Refusal::Invalid(format!("a validator set has 1 to 1,024 members (got {})", set.members.len())));
    }
    if set.members.iter().any(|m| m.power == 0) {
        return Err(Refusal::Invalid("a validator with no power".into()));
    }
    for (i, m) in set.members.iter().enumerate() {
        VerifyingKey::from_bytes(&m.key).map_err(|e| Refusal::Invalid(format!("validator {i}'s key: {e}")))?;
    }
    Ok(set.members.iter().map(|m| Member { key: m.key, power: m.power }).collect())
}

/// A client from its initial trusted state: the client and the consensus
/// state at the trusted height.
pub fn create(init: &ClientInit) -> Result<(ClientState, u64, ConsensusState), Refusal> {
    let (kind, header, genesis) = match init {
        ClientInit::Pos { chain_id, genesis, epoch_length, header, set } => {
            if *epoch_length == 0 {
                return Err(Refusal::Invalid("the epoch length must be at least 1".into()));
            }
            let c = PosClient {
                chain_id: *chain_id,
                genesis: *genesis,
                epoch_length: *epoch_length,
                epoch: epoch_of(header.height(), *epoch_length),
                set: set_members(set.as_slice())?,
                latest: header.height(),
            };
            (ClientKind::Pos(c), header, genesis)
        }
        ClientInit::Pow { chain_id, genesis, algo, checkpoint, max_bits, depth } => {
            work_of_bits(*max_bits).ok_or_else(|| Refusal::Invalid(format!("max_bits {max_bits:#x} is no target")))?;
            if !(1..=1_000).contains(depth) {
                return Err(Refusal::Invalid(format!("the depth must be 1 to 1,000 (got {depth})")));
            }
            let c = PowClient {
                chain_id: *chain_id,
                genesis: *genesis,
                algo: *algo,
                max_bits: *max_bits,
                depth: *depth,
                confirmed: (checkpoint.height(), checkpoint.id()),
                pending: Vec::new(),
            };
            (ClientKind::Pow(c), checkpoint, genesis)
        }
    };
    if header.height() == 0 && header.id() != *genesis {
        return Err(Refusal::Invalid(format!(
            "the trusted header is a genesis whose id {} is not the claimed genesis {}",
            header.id(),
            genesis
        )));
    }
    Ok((ClientState { kind, frozen: None }, header.height(), ConsensusState::of(header)))
}

/// Checks a PoS header's certificate against the client's set.
fn certify(c: &PosClient, header: &Header, commit: &CommitCertificate) -> Result<(), Refusal> {
    let h = header.height();
    if epoch_of(h, c.epoch_length) != c.epoch {
        return Err(Refusal::UnknownEpoch { height: h, epoch: epoch_of(h, c.epoch_length), trusted: c.epoch });
    }
    if commit.chain_id != c.chain_id || commit.height != h || commit.block != header.id() {
        return Err(Refusal::Invalid(format!(
            "the certificate is for chain {} height {} block {}, not this header (chain {}, height {h}, block {})",
            commit.chain_id,
            commit.height,
            commit.block,
            c.chain_id,
            header.id()
        )));
    }
    if !header.commitment_matches() {
        return Err(Refusal::Invalid("the header does not commit to its fields".into()));
    }
    let keys = c
        .set
        .iter()
        .map(|m| VerifyingKey::from_bytes(&m.key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Refusal::Invalid(format!("a trusted key: {e}")))?;
    let powers: Vec<u64> = c.set.iter().map(|m| m.power).collect();
    // The power first: a certificate of too few signers (none at all
    // included) is refused for that, before any signature is checked.
    let total = powers.iter().fold(0u128, |a, p| a.saturating_add(u128::from(*p)));
    let signed = commit
        .signatures
        .iter()
        .filter_map(|(i, _)| powers.get(usize::from(*i)))
        .fold(0u128, |a, p| a.saturating_add(u128::from(*p)));
    if signed.saturating_mul(3) <= total.saturating_mul(2) {
        return Err(Refusal::Certificate(cinder_primitives::CertError::NoQuorum { power: signed, total }));
    }
    commit.verify(&keys, &powers).map(|_| ()).map_err(Refusal::Certificate)
}

/// What a PoS update did.
#[derive(Debug)]
pub enum PosUpdate {
    /// The header is verified: store its state.
    Verified(ConsensusState),
    /// A certified header conflicts with the stored state of its height:
    /// freeze with this reason.
    Conflict(String),
}

/// Verifies a PoS update; `stored` is the client's state at the header's
/// height, if it has one. On success the client may have moved to the
/// next epoch.
pub fn update_pos(
    c: &mut PosClient,
    stored: Option<&ConsensusState>,
    header: &Header,
    commit: &CommitCertificate,
    next_set: Option<&SetProof>,
) -> Result<PosUpdate, Refusal> {
    certify(c, header, commit)?;
    let state = ConsensusState::of(header);
    if let Some(s) = stored
        && s.block != state.block
    {
        return Ok(PosUpdate::Conflict(format!(
            "two certified blocks at height {}: {} and {}",
            header.height(),
            s.block,
            state.block
        )));
    }
    if let Some(next) = next_set {
        if !ends_epoch(header.height(), c.epoch_length) {
            return Err(Refusal::Invalid(format!(
                "height {} does not end an epoch: it carries no next set",
                header.height()
            )));
        }
        let members = set_members(next.set.as_slice())?;
        let key = data_key("staking", &set_key(c.epoch.saturating_add(1)));
        verify(&state.root, header.height(), next.proof.as_slice(), key, Some(next.set.as_slice()))?;
        c.set = members;
        c.epoch = c.epoch.saturating_add(1);
    }
    c.latest = c.latest.max(header.height());
    Ok(PosUpdate::Verified(state))
}

/// Checks PoS misbehaviour: two different headers of one height, both
/// certified by the trusted set. Returns the reason to freeze with.
pub fn misbehaviour_pos(
    c: &PosClient,
    first: (&Header, &CommitCertificate),
    second: (&Header, &CommitCertificate),
) -> Result<String, Refusal> {
    if first.0.height() != second.0.height() {
        return Err(Refusal::Invalid("the two headers are of different heights".into()));
    }
    if first.0.id() == second.0.id() {
        return Err(Refusal::Invalid("the two headers are the same block".into()));
    }
    certify(c, first.0, first.1)?;
    certify(c, second.0, second.1)?;
    Ok(format!(
        "misbehaviour: two certified blocks at height {}: {} and {}",
        first.0.height(),
        first.0.id(),
        second.0.id()
    ))
}

/// Checks that PoW `headers` form a chain on a header of id `parent` at
/// `parent_height`, each meeting its target and the client's floor.
/// Returns their work.
fn pow_chain(c: &PowClient, parent: (u64, Hash), headers: &[Header]) -> Result<Vec<u128>, Refusal> {
    let algo = match c.algo {
        PowAlgo::Sha256d => Algo::Sha256d,
        PowAlgo::Blake3 => Algo::Blake3,
    };
    let floor = work_of_bits(c.max_bits).unwrap_or(u128::MAX);
    let mut prev = parent;
    let mut works = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        if h.prev() != prev.1 || h.height() != prev.0.saturating_add(1) {
            return Err(Refusal::Invalid(format!("header {i} is not the child of the one before")));
        }
        if !h.commitment_matches() {
            return Err(Refusal::Invalid(format!("header {i} does not commit to its fields")));
        }
        let target =
            Target::from_compact(h.pow.bits()).map_err(|e| Refusal::Invalid(format!("header {i}'s bits: {e}")))?;
        let work = work_of_bits(h.pow.bits()).unwrap_or(0);
        if work < floor {
            return Err(Refusal::Invalid(format!(
                "header {i}'s target {:#x} is easier than the client's floor {:#x}",
                h.pow.bits(),
                c.max_bits
            )));
        }
        if !target.is_met_by(&algo.hash(&h.pow).0) {
            return Err(Refusal::Invalid(format!("header {i}'s proof of work does not meet its target")));
        }
        works.push(work);
        prev = (h.height(), h.id());
    }
    Ok(works)
}

/// Applies PoW headers: the branch they make replaces the unconfirmed
/// headers if it is heavier. Returns the headers it confirms.
pub fn update_pow(c: &mut PowClient, headers: &[Header]) -> Result<Vec<(u64, ConsensusState)>, Refusal> {
    let Some(first) = headers.first() else { return Err(Refusal::Invalid("no headers".into())) };
    // The fork point: the confirmed header or an unconfirmed one.
    let keep = if first.prev() == c.confirmed.1 {
        0
    } else {
        match c.pending.iter().position(|p| p.state.block == first.prev()) {
            Some(i) => i.saturating_add(1),
            None => {
                return Err(Refusal::Invalid(format!(
                    "header {} builds on {}, which the client does not hold",
                    first.id(),
                    first.prev()
                )));
            }
        }
    };
    let parent = match keep.checked_sub(1).and_then(|i| c.pending.get(i)) {
        Some(p) => (p.height, p.state.block),
        None => c.confirmed,
    };
    let works = pow_chain(c, parent, headers)?;
    let old: u128 = c.pending.iter().skip(keep).fold(0u128, |a, p| a.saturating_add(p.work));
    let new: u128 = works.iter().fold(0u128, |a, w| a.saturating_add(*w));
    if new <= old {
        return Err(Refusal::Invalid(format!("the branch has work {new}, not more than the client's {old}")));
    }
    c.pending.truncate(keep);
    for (h, work) in headers.iter().zip(works) {
        c.pending.push(Pending { height: h.height(), state: ConsensusState::of(h), work });
    }
    let mut confirmed = Vec::new();
    let depth = usize::try_from(c.depth).unwrap_or(usize::MAX);
    while c.pending.len() > depth {
        let p = c.pending.remove(0);
        c.confirmed = (p.height, p.state.block);
        confirmed.push((p.height, p.state));
    }
    Ok(confirmed)
}

/// Checks PoW misbehaviour: `headers` build on the confirmed header
/// `base` (its stored state at `headers[0].height() - 1`) and bury, at
/// least `depth` deep, a header whose height has another confirmed header
/// (`confirmed(height)`). Returns the reason to freeze with.
pub fn misbehaviour_pow(
    c: &PowClient,
    base: Option<&ConsensusState>,
    confirmed: &dyn Fn(u64) -> Option<ConsensusState>,
    headers: &[Header],
) -> Result<String, Refusal> {
    let Some(first) = headers.first() else { return Err(Refusal::Invalid("no headers".into())) };
    let base_height = first.height().checked_sub(1).ok_or_else(|| Refusal::Invalid("a header at height 0".into()))?;
    match base {
        Some(b) if b.block == first.prev() => {}
        _ => {
            return Err(Refusal::Invalid(format!(
                "the headers do not build on the client's confirmed header at height {base_height}"
            )));
        }
    }
    pow_chain(c, (base_height, first.prev()), headers)?;
    let depth = usize::try_from(c.depth).unwrap_or(usize::MAX);
    for (i, h) in headers.iter().enumerate() {
        let buried = headers.len().saturating_sub(i).saturating_sub(1);
        if buried < depth {
            break;
        }
        if let Some(s) = confirmed(h.height())
            && s.block != h.id()
        {
            return Ok(format!(
                "misbehaviour: block {} at height {} is buried {buried} deep but the client confirmed {}",
                h.id(),
                h.height(),
                s.block
            ));
        }
    }
    Err(Refusal::Invalid("the headers bury no header conflicting with a confirmed one".into()))
}

/// Checks a state proof of record `key` (a tree key) holding `value`
/// (`None`: absent) under `root`, the counterparty's root at `height`.
pub fn verify(
    root: &Hash,
    height: u64,
    proof: &[u8],
    key: cinder_state::KeyHash,
    value: Option<&[u8]>,
) -> Result<(), Refusal> {
    let p = DataProof::from_bytes(proof).map_err(|e| Refusal::BadProof { height, reason: format!("{e:#}") })?;
    p.verify(root, key, value).map_err(|e| Refusal::BadProof { height, reason: format!("{e:#}") })
}
