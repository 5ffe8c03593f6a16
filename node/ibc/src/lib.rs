//! # cinder-ibc
//!
//! Inter-blockchain communication between Cinder chains, on the IBC model
//! (docs/design/interop.md): light clients of a counterparty kept in this
//! chain's state (ICS-02: [`client`]), channels opened by a four-step
//! handshake (ICS-04), packets whose commitments, receipts and
//! acknowledgements are state records a counterparty proves against a
//! state root its client verified, and fungible token transfer (ICS-20:
//! [`transfer`]) with escrow on the source, vouchers on the destination
//! and refunds on timeout or error acknowledgement.
//!
//! Pure rules over records read through a closure: no I/O and no
//! balances. The chain moves a native transfer's amount to
//! [`cinder_primitives::IBC_ADDRESS`] with the transaction, runs [`run`] after the block's
//! other passes, writes the records it returns and pays its credits out of
//! [`cinder_primitives::IBC_ADDRESS`]. Each operation applies whole or not at all; a refused
//! one gets back what it escrowed and fails its receipt with the reason.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::{
    Acknowledgement, Address, BoundedBytes, BoundedString, CertError, ClientUpdate, Hash, IbcOp, Misbehaviour,
    Ordering, Packet, Proof, TransferData, decode, encode,
};

pub mod client;
pub mod keys;
pub mod transfer;

pub use client::{ClientKind, ClientState, ConsensusState};
pub use keys::NAMESPACE;

/// Why an operation is refused (its receipt fails with this).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Malformed or inconsistent input.
    #[error("{0}")]
    Invalid(String),
    /// No such client.
    #[error("client {0} does not exist")]
    NoClient(u64),
    /// The client is frozen.
    #[error("client {client} is frozen: {reason}")]
    Frozen {
        /// The client.
        client: u64,
        /// Why.
        reason: String,
    },
    /// The client has not verified that counterparty height.
    #[error("client {client} has no verified state at height {height}")]
    NoConsensus {
        /// The client.
        client: u64,
        /// The height.
        height: u64,
    },
    /// A header outside the epoch whose set the client holds.
    #[error(
        "height {height} is in epoch {epoch}; the client trusts the set of epoch {trusted} (update it with the last block of each epoch first)"
    )]
    UnknownEpoch {
        /// The header's height.
        height: u64,
        /// Its epoch.
        epoch: u64,
        /// The client's epoch.
        trusted: u64,
    },
    /// The commit certificate does not prove the header.
    #[error("the commit certificate does not prove the header: {0}")]
    Certificate(CertError),
    /// A state proof that does not verify.
    #[error("the proof does not verify against the counterparty's state root at height {height}: {reason}")]
    BadProof {
        /// The counterparty height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// No such channel.
    #[error("channel {0} does not exist")]
    NoChannel(u64),
    /// The channel is not in the state the operation needs.
    #[error("channel {channel} is {state}, not {wanted}")]
    ChannelState {
        /// The channel.
        channel: u64,
        /// Its state.
        state: &'static str,
        /// The state needed.
        wanted: &'static str,
    },
    /// A packet delivered before.
    #[error("packet {sequence} on channel {channel} was already received")]
    AlreadyReceived {
        /// The receiving channel.
        channel: u64,
        /// The sequence.
        sequence: u64,
    },
    /// A packet delivered at or after its timeout.
    #[error(
        "packet {sequence} timed out (timeout height {timeout_height}, time {timeout_time_ms} ms; now height {height}, time {time_ms} ms)"
    )]
    TimedOut {
        /// The sequence.
        sequence: u64,
        /// Its timeout height.
        timeout_height: u64,
        /// Its timeout time.
        timeout_time_ms: u64,
        /// This block's height.
        height: u64,
        /// This block's time.
        time_ms: u64,
    },
    /// A packet not in flight (never sent, acknowledged or timed out).
    #[error(
        "packet {sequence} of channel {channel} is not in flight (never sent, or already acknowledged or timed out)"
    )]
    NotInFlight {
        /// The sending channel.
        channel: u64,
        /// The sequence.
        sequence: u64,
    },
    /// Not enough tokens.
    #[error("{0}")]
    Funds(String),
}

/// An operation's failure: refused (the block goes on) or an internal
/// error (the block cannot be executed by this node).
#[derive(Debug)]
pub enum Error {
    /// Refused: the receipt fails.
    Refused(Refusal),
    /// Reading or decoding a stored record failed.
    Internal(String),
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Refused(r)
    }
}

/// The block the operations run in.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    /// This chain's id.
    pub chain_id: u64,
    /// This chain's genesis block id.
    pub genesis: Hash,
    /// The block's height.
    pub height: u64,
    /// The block's time, Unix ms.
    pub time_ms: u64,
}

/// The counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Meta {
    /// The next client's id.
    pub next_client: u64,
    /// The next channel's id.
    pub next_channel: u64,
}

/// Where a channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ChanState {
    /// Opened here, waiting for the counterparty's try.
    Init,
    /// Answered a counterparty's init, waiting for its ack.
    TryOpen,
    /// Open both ways.
    Open,
    /// Closed (an ordered channel whose packet timed out).
    Closed,
}

impl ChanState {
    /// Its name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ChanState::Init => "init",
            ChanState::TryOpen => "try_open",
            ChanState::Open => "open",
            ChanState::Closed => "closed",
        }
    }
}

/// A channel's record (what a counterparty proves in the handshake).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChannelEnd {
    /// Its state.
    pub state: ChanState,
    /// Ordered or not.
    pub ordering: Ordering,
    /// This chain's client of the counterparty.
    pub client: u64,
    /// The counterparty's client of this chain and its channel, once known.
    pub counterparty: Option<(u64, u64)>,
}

/// What [`run`] changes besides its records.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Records (text keys of [`keys`]) to write or delete.
    pub data: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Native tokens paid out of [`cinder_primitives::IBC_ADDRESS`]: released escrow, refunds.
    pub credits: Vec<(Address, u128)>,
    /// The sum of the credits.
    pub debit: u128,
    /// Operations refused (receipt index) and why.
    pub refused: Vec<(usize, String)>,
    /// What succeeded operations return (receipt index, output): a new
    /// client's or channel's id, a sent packet's sequence (8 bytes, little
    /// endian).
    pub outputs: Vec<(usize, Vec<u8>)>,
}

/// A record reader: the parent state's record of a text key.
pub type Read<'a> = &'a dyn Fn(&[u8]) -> Result<Option<Vec<u8>>, String>;

/// The records as the block's operations leave them: each operation
/// stages its writes and keeps them only if it succeeds.
pub struct Ledger<'a> {
    read: Read<'a>,
    done: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    credits: Vec<(Address, u128)>,
    staged_credits: Vec<(Address, u128)>,
}

fn internal(what: &[u8], e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("record {}: {e}", String::from_utf8_lossy(what)))
}

impl<'a> Ledger<'a> {
    /// A ledger over the parent state's records.
    pub fn new(read: Read<'a>) -> Ledger<'a> {
        Ledger { read, done: BTreeMap::new(), staged: BTreeMap::new(), credits: Vec::new(), staged_credits: Vec::new() }
    }

    /// The record of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if let Some(v) = self.staged.get(key).or_else(|| self.done.get(key)) {
            return Ok(v.clone());
        }
        (self.read)(key).map_err(|e| internal(key, e))
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.staged.insert(key, Some(value));
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.staged.insert(key, None);
    }

    fn get_t<T: BorshDeserialize>(&self, key: &[u8]) -> Result<Option<T>, Error> {
        match self.get(key)? {
            None => Ok(None),
            Some(b) => borsh::from_slice(&b).map(Some).map_err(|e| internal(key, e)),
        }
    }

    fn put_t<T: BorshSerialize>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, encode(value));
    }

    fn u64_at(&self, key: &[u8], absent: u64) -> Result<u64, Error> {
        match self.get(key)? {
            None => Ok(absent),
            Some(b) => {
                <[u8; 8]>::try_from(b.as_slice()).map(u64::from_le_bytes).map_err(|_| internal(key, "not 8 bytes"))
            }
        }
    }

    fn u128_at(&self, key: &[u8]) -> Result<u128, Error> {
        match self.get(key)? {
            None => Ok(0),
            Some(b) => {
                <[u8; 16]>::try_from(b.as_slice()).map(u128::from_le_bytes).map_err(|_| internal(key, "not 16 bytes"))
            }
        }
    }

    fn put_u128(&mut self, key: Vec<u8>, v: u128) {
        if v == 0 { self.delete(key) } else { self.put(key, v.to_le_bytes().to_vec()) }
    }

    fn add(&mut self, key: Vec<u8>, amount: u128, what: &str) -> Result<(), Error> {
        let v = self.u128_at(&key)?;
        let n = v.checked_add(amount).ok_or_else(|| Refusal::Funds(format!("{what} would overflow")))?;
        self.put_u128(key, n);
        Ok(())
    }

    fn sub(&mut self, key: Vec<u8>, amount: u128, what: &str) -> Result<(), Error> {
        let v = self.u128_at(&key)?;
        let n = v.checked_sub(amount).ok_or_else(|| Refusal::Funds(format!("{what}: {v} is less than {amount}")))?;
        self.put_u128(key, n);
        Ok(())
    }

    fn commit(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        self.done.extend(staged);
        self.credits.append(&mut self.staged_credits);
    }

    fn abort(&mut self) {
        self.staged.clear();
        self.staged_credits.clear();
    }

    fn meta(&self) -> Result<Meta, Error> {
        Ok(self.get_t(&keys::meta())?.unwrap_or_default())
    }

    /// Client `id`, or a refusal.
    pub fn client(&self, id: u64) -> Result<ClientState, Error> {
        self.get_t(&keys::client(id))?.ok_or(Error::Refused(Refusal::NoClient(id)))
    }

    fn live_client(&self, id: u64) -> Result<ClientState, Error> {
        let c = self.client(id)?;
        match &c.frozen {
            Some(reason) => Err(Refusal::Frozen { client: id, reason: reason.clone() }.into()),
            None => Ok(c),
        }
    }

    /// Client `id`'s verified state at `height`.
    pub fn consensus(&self, id: u64, height: u64) -> Result<Option<ConsensusState>, Error> {
        self.get_t(&keys::consensus(id, height))
    }

    /// Channel `id`, or a refusal.
    pub fn channel(&self, id: u64) -> Result<ChannelEnd, Error> {
        self.get_t(&keys::channel(id))?.ok_or(Error::Refused(Refusal::NoChannel(id)))
    }

    fn open_channel(&self, id: u64) -> Result<(ChannelEnd, u64, u64), Error> {
        let ch = self.channel(id)?;
        match (ch.state, ch.counterparty) {
            (ChanState::Open, Some((cc, cch))) => Ok((ch, cc, cch)),
            (s, _) => Err(Refusal::ChannelState { channel: id, state: s.name(), wanted: "open" }.into()),
        }
    }

    /// Checks `proof` of the counterparty record `key` (text) holding
    /// `value` against client `client`'s state at the proof's height.
    fn prove(&self, client: u64, proof: &Proof, key: &[u8], value: Option<&[u8]>) -> Result<ConsensusState, Error> {
        self.live_client(client)?;
        let cs = self.consensus(client, proof.height)?.ok_or(Refusal::NoConsensus { client, height: proof.height })?;
        client::verify(&cs.root, proof.height, proof.proof.as_slice(), keys::tree_key(key), value)?;
        Ok(cs)
    }

    fn credit(&mut self, to: Address, amount: u128) {
        if amount > 0 {
            self.staged_credits.push((to, amount));
        }
    }

    /// `owner`'s balance of voucher `denom`.
    pub fn voucher(&self, denom: &str, owner: &Address) -> Result<u128, Error> {
        self.u128_at(&keys::voucher(denom, owner))
    }
}

/// Runs `ops` (receipt index, sender, operation), in order, in the block
/// `env`. `Err`: a record could not be read or decoded.
pub fn run(read: Read<'_>, env: &Env, ops: &[(usize, Address, &IbcOp)]) -> Result<Outcome, String> {
    let mut l = Ledger::new(read);
    let mut out = Outcome::default();
    for (r, sender, op) in ops {
        match apply(&mut l, env, *sender, op) {
            Ok(output) => {
                l.commit();
                if let Some(o) = output {
                    out.outputs.push((*r, o));
                }
            }
            Err(Error::Refused(why)) => {
                l.abort();
                // What it escrowed goes back.
                l.credit(*sender, op.escrowed());
                l.commit();
                out.refused.push((*r, why.to_string()));
            }
            Err(Error::Internal(e)) => return Err(e),
        }
    }
    out.debit = l.credits.iter().try_fold(0u128, |a, (_, x)| a.checked_add(*x)).ok_or("the credits overflow")?;
    out.credits = l.credits;
    out.data = l.done.into_iter().collect();
    Ok(out)
}

fn id_output(id: u64) -> Option<Vec<u8>> {
    Some(id.to_le_bytes().to_vec())
}

/// One operation on the ledger: its output, or why not.
pub fn apply(l: &mut Ledger<'_>, env: &Env, sender: Address, op: &IbcOp) -> Result<Option<Vec<u8>>, Error> {
    match op {
        IbcOp::CreateClient(init) => {
            let (state, height, cs) = client::create(init)?;
            let mut meta = l.meta()?;
            let id = meta.next_client;
            meta.next_client = id.checked_add(1).ok_or_else(|| Refusal::Invalid("no client ids left".into()))?;
            l.put_t(keys::meta(), &meta);
            l.put_t(keys::client(id), &state);
            l.put_t(keys::consensus(id, height), &cs);
            Ok(id_output(id))
        }
        IbcOp::UpdateClient { client, update } => {
            update_client(l, *client, update)?;
            Ok(None)
        }
        IbcOp::Misbehaviour { client, evidence } => {
            let mut c = l.live_client(*client)?;
            let reason = match (&c.kind, evidence.as_ref()) {
                (ClientKind::Pos(p), Misbehaviour::Pos { first, first_commit, second, second_commit }) => {
                    client::misbehaviour_pos(p, (first, first_commit), (second, second_commit))?
                }
                (ClientKind::Pow(p), Misbehaviour::Pow { headers }) => {
                    let first = headers.as_slice().first().map_or(0, |h| h.height());
                    let base = l.consensus(*client, first.saturating_sub(1))?;
                    let mut stored = BTreeMap::new();
                    for h in headers.as_slice() {
                        if let Some(s) = l.consensus(*client, h.height())? {
                            stored.insert(h.height(), s);
                        }
                    }
                    client::misbehaviour_pow(p, base.as_ref(), &|h| stored.get(&h).cloned(), headers.as_slice())?
                }
                _ => return Err(Refusal::Invalid("evidence of another kind of chain than the client's".into()).into()),
            };
            c.frozen = Some(reason);
            l.put_t(keys::client(*client), &c);
            Ok(None)
        }
        IbcOp::ChanOpenInit { client, ordering } => {
            l.live_client(*client)?;
            let id = new_channel(l)?;
            let ch = ChannelEnd { state: ChanState::Init, ordering: *ordering, client: *client, counterparty: None };
            l.put_t(keys::channel(id), &ch);
            Ok(id_output(id))
        }
        IbcOp::ChanOpenTry {
            client,
            ordering,
            counterparty_client,
            counterparty_channel,
            counterparty_client_state,
            channel_proof,
            client_proof,
        } => {
            let theirs = ChannelEnd {
                state: ChanState::Init,
                ordering: *ordering,
                client: *counterparty_client,
                counterparty: None,
            };
            prove_counterparty(
                l,
                env,
                *client,
                (*counterparty_channel, &theirs, channel_proof),
                (*counterparty_client, counterparty_client_state, client_proof),
            )?;
            let id = new_channel(l)?;
            let ch = ChannelEnd {
                state: ChanState::TryOpen,
                ordering: *ordering,
                client: *client,
                counterparty: Some((*counterparty_client, *counterparty_channel)),
            };
            l.put_t(keys::channel(id), &ch);
            Ok(id_output(id))
        }
        IbcOp::ChanOpenAck {
            channel,
            counterparty_client,
            counterparty_channel,
            counterparty_client_state,
            channel_proof,
            client_proof,
        } => {
            let mut ch = l.channel(*channel)?;
            if ch.state != ChanState::Init {
                return Err(Refusal::ChannelState { channel: *channel, state: ch.state.name(), wanted: "init" }.into());
            }
            let theirs = ChannelEnd {
                state: ChanState::TryOpen,
                ordering: ch.ordering,
                client: *counterparty_client,
                counterparty: Some((ch.client, *channel)),
            };
            prove_counterparty(
                l,
                env,
                ch.client,
                (*counterparty_channel, &theirs, channel_proof),
                (*counterparty_client, counterparty_client_state, client_proof),
            )?;
            ch.state = ChanState::Open;
            ch.counterparty = Some((*counterparty_client, *counterparty_channel));
            l.put_t(keys::channel(*channel), &ch);
            Ok(None)
        }
        IbcOp::ChanOpenConfirm { channel, channel_proof } => {
            let mut ch = l.channel(*channel)?;
            let (ChanState::TryOpen, Some((cc, cch))) = (ch.state, ch.counterparty) else {
                return Err(
                    Refusal::ChannelState { channel: *channel, state: ch.state.name(), wanted: "try_open" }.into()
                );
            };
            let theirs = ChannelEnd {
                state: ChanState::Open,
                ordering: ch.ordering,
                client: cc,
                counterparty: Some((ch.client, *channel)),
            };
            l.prove(ch.client, channel_proof, &keys::channel(cch), Some(&encode(&theirs)))?;
            ch.state = ChanState::Open;
            l.put_t(keys::channel(*channel), &ch);
            Ok(None)
        }
        IbcOp::Transfer { channel, denom, amount, receiver, timeout_height, timeout_time_ms, memo } => {
            if *timeout_height == 0 && *timeout_time_ms == 0 {
                return Err(Refusal::Invalid("a transfer needs a timeout height or time".into()).into());
            }
            if *amount == 0 {
                return Err(Refusal::Invalid("a transfer of nothing".into()).into());
            }
            let (_, _, dest) = l.open_channel(*channel)?;
            transfer::validate(denom.as_str()).map_err(Refusal::Invalid)?;
            escrow_or_burn(l, *channel, denom.as_str(), *amount, &sender)?;
            let data =
                TransferData { denom: denom.clone(), amount: *amount, sender, receiver: *receiver, memo: memo.clone() };
            let seq_key = keys::next_send(*channel);
            let sequence = l.u64_at(&seq_key, 1)?;
            let next = sequence.checked_add(1).ok_or_else(|| Refusal::Invalid("no sequences left".into()))?;
            l.put(seq_key, next.to_le_bytes().to_vec());
            let packet = Packet {
                sequence,
                source_channel: *channel,
                dest_channel: dest,
                data: BoundedBytes::new(encode(&data))
                    .map_err(|_| Refusal::Invalid("the packet data is too long".into()))?,
                timeout_height: *timeout_height,
                timeout_time_ms: *timeout_time_ms,
            };
            l.put(keys::commitment(*channel, sequence), packet.commitment().0.to_vec());
            l.put_t(keys::packet(*channel, sequence), &packet);
            Ok(id_output(sequence))
        }
        IbcOp::RecvPacket { packet, proof } => {
            let p = packet.as_ref();
            let (ch, _, source) = l.open_channel(p.dest_channel)?;
            if source != p.source_channel {
                return Err(Refusal::Invalid(format!(
                    "channel {} is paired with {source}, not {}",
                    p.dest_channel, p.source_channel
                ))
                .into());
            }
            let timed_out = (p.timeout_height != 0 && env.height >= p.timeout_height)
                || (p.timeout_time_ms != 0 && env.time_ms >= p.timeout_time_ms);
            if timed_out {
                return Err(Refusal::TimedOut {
                    sequence: p.sequence,
                    timeout_height: p.timeout_height,
                    timeout_time_ms: p.timeout_time_ms,
                    height: env.height,
                    time_ms: env.time_ms,
                }
                .into());
            }
            let already = Refusal::AlreadyReceived { channel: p.dest_channel, sequence: p.sequence };
            match ch.ordering {
                Ordering::Unordered => {
                    if l.get(&keys::receipt(p.dest_channel, p.sequence))?.is_some() {
                        return Err(already.into());
                    }
                }
                Ordering::Ordered => {
                    let next = l.u64_at(&keys::next_recv(p.dest_channel), 1)?;
                    if p.sequence < next {
                        return Err(already.into());
                    }
                    if p.sequence > next {
                        return Err(Refusal::Invalid(format!(
                            "ordered channel {} receives {next} next, not {}",
                            p.dest_channel, p.sequence
                        ))
                        .into());
                    }
                }
            }
            let commitment = p.commitment();
            l.prove(ch.client, proof, &keys::commitment(p.source_channel, p.sequence), Some(&commitment.0))?;
            match ch.ordering {
                Ordering::Unordered => l.put(keys::receipt(p.dest_channel, p.sequence), vec![1]),
                Ordering::Ordered => {
                    let next = p.sequence.checked_add(1).ok_or_else(|| Refusal::Invalid("sequence overflow".into()))?;
                    l.put(keys::next_recv(p.dest_channel), next.to_le_bytes().to_vec());
                }
            }
            let ack = receive(l, p)?;
            l.put_t(keys::ack(p.dest_channel, p.sequence), &ack);
            Ok(Some(encode(&ack)))
        }
        IbcOp::Acknowledge { packet, ack, proof } => {
            let p = packet.as_ref();
            let ch = in_flight(l, p)?;
            l.prove(ch.client, proof, &keys::ack(p.dest_channel, p.sequence), Some(&encode(ack)))?;
            if ch.ordering == Ordering::Ordered {
                let next = l.u64_at(&keys::next_ack(p.source_channel), 1)?;
                if p.sequence != next {
                    return Err(Refusal::Invalid(format!(
                        "ordered channel {} is acknowledged {next} next, not {}",
                        p.source_channel, p.sequence
                    ))
                    .into());
                }
                l.put(keys::next_ack(p.source_channel), next.saturating_add(1).to_le_bytes().to_vec());
            }
            if let Acknowledgement::Error(_) = ack {
                refund(l, p)?;
            }
            settle(l, p);
            Ok(None)
        }
        IbcOp::Timeout { packet, proof, next_recv } => {
            let p = packet.as_ref();
            let mut ch = in_flight(l, p)?;
            let cs = l
                .consensus(ch.client, proof.height)?
                .ok_or(Refusal::NoConsensus { client: ch.client, height: proof.height })?;
            let passed = (p.timeout_height != 0 && proof.height >= p.timeout_height)
                || (p.timeout_time_ms != 0 && cs.time_ms >= p.timeout_time_ms);
            if !passed {
                return Err(Refusal::Invalid(format!(
                    "packet {} has not timed out at counterparty height {} (time {} ms; timeout height {}, time {} ms)",
                    p.sequence, proof.height, cs.time_ms, p.timeout_height, p.timeout_time_ms
                ))
                .into());
            }
            match ch.ordering {
                Ordering::Unordered => {
                    l.prove(ch.client, proof, &keys::receipt(p.dest_channel, p.sequence), None)?;
                }
                Ordering::Ordered => {
                    if *next_recv > p.sequence {
                        return Err(Refusal::Invalid(format!(
                            "the counterparty's next receive {next_recv} is past packet {}: it was received",
                            p.sequence
                        ))
                        .into());
                    }
                    // A counterparty that never received on the channel has
                    // no record (next receive 1).
                    let value = next_recv.to_le_bytes();
                    let v = if *next_recv == 1 { None } else { Some(&value[..]) };
                    l.prove(ch.client, proof, &keys::next_recv(p.dest_channel), v)?;
                    ch.state = ChanState::Closed;
                    l.put_t(keys::channel(p.source_channel), &ch);
                }
            }
            refund(l, p)?;
            settle(l, p);
            Ok(None)
        }
        IbcOp::SendVoucher { denom, to, amount } => {
            transfer::validate(denom.as_str()).map_err(Refusal::Invalid)?;
            if transfer::is_native(denom.as_str()) {
                return Err(Refusal::Invalid("the native token moves by plain transfers".into()).into());
            }
            l.sub(keys::voucher(denom.as_str(), &sender), *amount, "the sender's vouchers")?;
            l.add(keys::voucher(denom.as_str(), to), *amount, "the recipient's vouchers")?;
            Ok(None)
        }
    }
}

/// A sent packet's end (acknowledged or timed out): its commitment and
/// record go.
fn settle(l: &mut Ledger<'_>, p: &Packet) {
    l.delete(keys::commitment(p.source_channel, p.sequence));
    l.delete(keys::packet(p.source_channel, p.sequence));
}

fn new_channel(l: &mut Ledger<'_>) -> Result<u64, Error> {
    let mut meta = l.meta()?;
    let id = meta.next_channel;
    meta.next_channel = id.checked_add(1).ok_or_else(|| Refusal::Invalid("no channel ids left".into()))?;
    l.put_t(keys::meta(), &meta);
    Ok(id)
}

/// The handshake's proofs: the counterparty's channel record is `theirs`,
/// and its client `cp_client` (whose record is `state`) follows this chain.
fn prove_counterparty(
    l: &Ledger<'_>,
    env: &Env,
    client: u64,
    channel: (u64, &ChannelEnd, &Proof),
    cp: (u64, &BoundedBytes<{ cinder_primitives::MAX_CLIENT_STATE_BYTES }>, &Proof),
) -> Result<(), Error> {
    let (cp_channel, theirs, channel_proof) = channel;
    let (cp_client, state, client_proof) = cp;
    if client_proof.height != channel_proof.height {
        return Err(Refusal::Invalid("the channel and client proofs must be of one height".into()).into());
    }
    let cs: ClientState = borsh::from_slice(state.as_slice())
        .map_err(|e| Refusal::Invalid(format!("the counterparty's client record does not decode: {e}")))?;
    if cs.chain_id() != env.chain_id || cs.genesis() != env.genesis {
        return Err(Refusal::Invalid(format!(
            "the counterparty's client {cp_client} follows chain {} (genesis {}), not this one ({}, genesis {})",
            cs.chain_id(),
            cs.genesis(),
            env.chain_id,
            env.genesis
        ))
        .into());
    }
    if let Some(reason) = &cs.frozen {
        return Err(Refusal::Invalid(format!("the counterparty's client {cp_client} is frozen: {reason}")).into());
    }
    l.prove(client, channel_proof, &keys::channel(cp_channel), Some(&encode(theirs)))?;
    l.prove(client, client_proof, &keys::client(cp_client), Some(state.as_slice()))?;
    Ok(())
}

fn update_client(l: &mut Ledger<'_>, id: u64, update: &ClientUpdate) -> Result<(), Error> {
    let mut c = l.live_client(id)?;
    match (&mut c.kind, update) {
        (ClientKind::Pos(p), ClientUpdate::Pos { header, commit, next_set }) => {
            let stored = l.consensus(id, header.height())?;
            match client::update_pos(p, stored.as_ref(), header, commit, next_set.as_ref())? {
                client::PosUpdate::Verified(cs) => l.put_t(keys::consensus(id, header.height()), &cs),
                client::PosUpdate::Conflict(reason) => c.frozen = Some(reason),
            }
        }
        (ClientKind::Pow(p), ClientUpdate::Pow { headers }) => {
            for (h, cs) in client::update_pow(p, headers.as_slice())? {
                l.put_t(keys::consensus(id, h), &cs);
            }
        }
        _ => return Err(Refusal::Invalid("headers of another kind of chain than the client's".into()).into()),
    }
    l.put_t(keys::client(id), &c);
    Ok(())
}

/// The channel of a packet this chain sent that is still in flight.
fn in_flight(l: &Ledger<'_>, p: &Packet) -> Result<ChannelEnd, Error> {
    let ch = l.channel(p.source_channel)?;
    if ch.counterparty.map(|(_, c)| c) != Some(p.dest_channel) {
        return Err(
            Refusal::Invalid(format!("channel {} is not paired with {}", p.source_channel, p.dest_channel)).into()
        );
    }
    match l.get(&keys::commitment(p.source_channel, p.sequence))? {
        Some(c) if c == p.commitment().0 => Ok(ch),
        Some(_) => Err(Refusal::Invalid(format!("packet {} is not the one sent", p.sequence)).into()),
        None => Err(Refusal::NotInFlight { channel: p.source_channel, sequence: p.sequence }.into()),
    }
}

fn escrow_or_burn(l: &mut Ledger<'_>, channel: u64, denom: &str, amount: u128, owner: &Address) -> Result<(), Error> {
    match transfer::on_send(channel, denom) {
        transfer::Send::Burn => {
            l.sub(keys::voucher(denom, owner), amount, &format!("the sender's {denom}"))?;
            l.sub(keys::supply(denom), amount, &format!("the supply of {denom}"))?;
        }
        transfer::Send::Escrow => {
            if !transfer::is_native(denom) {
                // A voucher of another channel travels on: escrowed here.
                l.sub(keys::voucher(denom, owner), amount, &format!("the sender's {denom}"))?;
            }
            // The native amount reached IBC_ADDRESS with the transaction.
            l.add(keys::escrow(channel, denom), amount, "the escrow")?;
        }
    }
    Ok(())
}

/// The transfer application's answer to a packet (its effects staged).
fn receive(l: &mut Ledger<'_>, p: &Packet) -> Result<Acknowledgement, Error> {
    let err = |s: String| Acknowledgement::Error(BoundedString::truncated(&s));
    let data = match decode::<TransferData>(p.data.as_slice()) {
        Ok(d) => d,
        Err(e) => return Ok(err(format!("the packet data does not decode: {e}"))),
    };
    if let Err(e) = transfer::validate(data.denom.as_str()) {
        return Ok(err(e));
    }
    // The application's writes are undone on an error acknowledgement;
    // the receipt stays.
    let before = l.staged.clone();
    let result = match transfer::on_receive(p.source_channel, p.dest_channel, data.denom.as_str()) {
        transfer::Receive::Unescrow(home) => {
            l.sub(keys::escrow(p.dest_channel, &home), data.amount, "the escrow").and_then(|()| {
                if transfer::is_native(&home) {
                    l.credit(data.receiver, data.amount);
                    Ok(())
                } else {
                    l.add(keys::voucher(&home, &data.receiver), data.amount, "the receiver's vouchers")
                }
            })
        }
        transfer::Receive::Mint(denom) => match transfer::validate(&denom) {
            Err(e) => Err(Refusal::Invalid(e).into()),
            Ok(()) => l
                .add(keys::voucher(&denom, &data.receiver), data.amount, "the receiver's vouchers")
                .and_then(|()| l.add(keys::supply(&denom), data.amount, "the voucher supply")),
        },
    };
    match result {
        Ok(()) => Ok(Acknowledgement::Success),
        Err(Error::Refused(r)) => {
            l.staged = before;
            l.staged_credits.clear();
            Ok(err(r.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// Gives a sent packet's tokens back to its sender (timeout, error ack).
fn refund(l: &mut Ledger<'_>, p: &Packet) -> Result<(), Error> {
    let data = decode::<TransferData>(p.data.as_slice())
        .map_err(|e| Error::Internal(format!("a packet this chain sent does not decode: {e}")))?;
    let denom = data.denom.as_str();
    match transfer::on_send(p.source_channel, denom) {
        transfer::Send::Burn => {
            l.add(keys::voucher(denom, &data.sender), data.amount, "the sender's vouchers")?;
            l.add(keys::supply(denom), data.amount, "the voucher supply")?;
        }
        transfer::Send::Escrow => {
            l.sub(keys::escrow(p.source_channel, denom), data.amount, "the escrow")?;
            if transfer::is_native(denom) {
                l.credit(data.sender, data.amount);
            } else {
                l.add(keys::voucher(denom, &data.sender), data.amount, "the sender's vouchers")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
