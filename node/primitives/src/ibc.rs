//! Inter-blockchain transactions (docs/protocol.md, "Interoperability";
//! docs/design/interop.md): light clients of other chains, the channel
//! handshake, and packets of the fungible token transfer application
//! (ICS-20), each proven against a verified counterparty state root. The
//! rules live in `cinder-ibc`; these are the bytes.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::{Bounded, BoundedBytes, BoundedString, Limited, encode};
use crate::{Address, CommitCertificate, Hash, Header};

/// The system account that holds the native tokens escrowed by outgoing
/// transfers. A fixed ASCII string no key hashes to, like
/// [`crate::STAKING_ADDRESS`]: only the transfer rules move its balance.
pub const IBC_ADDRESS: Address = Address(*b"cinder/system/ibc/escrow/v1\0\0\0\0\0");

/// The denomination of a chain's own token in transfer packets.
pub const NATIVE_DENOM: &str = "cin";
/// The only port: the fungible token transfer application's.
pub const TRANSFER_PORT: &str = "transfer";
/// The longest denomination (a base denomination and its path).
pub const MAX_DENOM_BYTES: usize = 256;
/// The longest memo of a transfer.
pub const MAX_MEMO_BYTES: usize = 256;
/// The largest state proof.
pub const MAX_PROOF_BYTES: usize = 16 * 1024;
/// The largest encoded validator set (1,024 members of 72 bytes).
pub const MAX_SET_BYTES: usize = 1_024 * 72 + 8;
/// The most PoW headers one update or piece of evidence carries.
pub const MAX_POW_HEADERS: usize = 64;
/// The largest light client record.
pub const MAX_CLIENT_STATE_BYTES: usize = MAX_SET_BYTES + 64 * 1024;
/// The largest packet payload.
pub const MAX_PACKET_DATA: usize = 1_024;

/// Whether packets of a channel must arrive in sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub enum Ordering {
    /// Tag 0: in any order, each once (a receipt per sequence).
    Unordered,
    /// Tag 1: in sequence; a timeout closes the channel.
    Ordered,
}

impl Ordering {
    /// Its name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Ordering::Unordered => "unordered",
            Ordering::Ordered => "ordered",
        }
    }
}

/// A PoW hash algorithm, as a light client names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum PowAlgo {
    /// Tag 0: SHA-256 twice.
    Sha256d,
    /// Tag 1: BLAKE3.
    Blake3,
}

/// A validator set record of a counterparty and its proof under a
/// verified state root.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SetProof {
    /// The record's bytes (the staking ledger's encoding of the set).
    pub set: BoundedBytes<MAX_SET_BYTES>,
    /// The state proof of the record.
    pub proof: BoundedBytes<MAX_PROOF_BYTES>,
}

/// How a light client starts: the counterparty and a header trusted by
/// whoever opens a channel on the client.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ClientInit {
    /// Tag 0: a proof-of-stake chain.
    Pos {
        /// The counterparty's chain id.
        chain_id: u64,
        /// Its genesis block id (checked when `header` is the genesis).
        genesis: Hash,
        /// Its epoch length in blocks.
        epoch_length: u64,
        /// The trusted header.
        header: Header,
        /// The validator set of the header's epoch (the staking ledger's
        /// encoding).
        set: BoundedBytes<MAX_SET_BYTES>,
    },
    /// Tag 1: a proof-of-work chain.
    Pow {
        /// The counterparty's chain id.
        chain_id: u64,
        /// Its genesis block id (checked when `checkpoint` is the genesis).
        genesis: Hash,
        /// Its PoW hash.
        algo: PowAlgo,
        /// The trusted header.
        checkpoint: Header,
        /// The easiest target (compact bits) a header may have.
        max_bits: u32,
        /// Confirmations before a header's state root is used.
        depth: u64,
    },
}

/// New headers for a light client.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[expect(clippy::large_enum_variant, reason = "always boxed inside an IbcOp")]
pub enum ClientUpdate {
    /// Tag 0: a PoS header, the certificate that finalized it, and, for
    /// the last block of an epoch, the next epoch's set proven in its state.
    Pos {
        /// The header.
        header: Header,
        /// Its commit certificate.
        commit: CommitCertificate,
        /// The next epoch's set (last block of an epoch only).
        next_set: Option<SetProof>,
    },
    /// Tag 1: PoW headers, each the child of the one before, the first a
    /// child of a header the client holds.
    Pow {
        /// The headers.
        headers: Bounded<Header, MAX_POW_HEADERS>,
    },
}

/// Evidence that a counterparty broke the client's assumptions.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[expect(clippy::large_enum_variant, reason = "always boxed inside an IbcOp")]
pub enum Misbehaviour {
    /// Tag 0: two headers of one height, each with a valid certificate of
    /// the trusted set.
    Pos {
        /// One header.
        first: Header,
        /// Its certificate.
        first_commit: CommitCertificate,
        /// Another header of the same height.
        second: Header,
        /// Its certificate.
        second_commit: CommitCertificate,
    },
    /// Tag 1: a chain of PoW headers from a confirmed header that buries a
    /// header conflicting with another confirmed one at least `depth` deep.
    Pow {
        /// The headers.
        headers: Bounded<Header, MAX_POW_HEADERS>,
    },
}

/// A state proof of a counterparty record at a height its client verified.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proof {
    /// The counterparty height whose state root the proof is against.
    pub height: u64,
    /// The proof (cinder-state's `DataProof` bytes).
    pub proof: BoundedBytes<MAX_PROOF_BYTES>,
}

/// A packet (ICS-04): from a channel of one chain to its counterparty.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Packet {
    /// Its number on the sending channel, from 1.
    pub sequence: u64,
    /// The sending channel.
    pub source_channel: u64,
    /// The receiving channel on the counterparty.
    pub dest_channel: u64,
    /// The application data ([`TransferData`]'s encoding).
    pub data: BoundedBytes<MAX_PACKET_DATA>,
    /// The first counterparty height at which it may no longer be received
    /// (0: none).
    pub timeout_height: u64,
    /// The first counterparty block time (Unix ms) at which it may no
    /// longer be received (0: none).
    pub timeout_time_ms: u64,
}

impl Packet {
    /// What the sending chain stores for it (ICS-04's packet commitment):
    /// BLAKE3 (derive-key "cinder ibc packet v1") of the timeout height,
    /// the timeout time (little endian) and BLAKE3 of the data. The
    /// channels and sequence are in the record's key.
    pub fn commitment(&self) -> Hash {
        let mut h = blake3::Hasher::new_derive_key("cinder ibc packet v1");
        h.update(&self.timeout_height.to_le_bytes());
        h.update(&self.timeout_time_ms.to_le_bytes());
        h.update(blake3::hash(self.data.as_slice()).as_bytes());
        Hash(*h.finalize().as_bytes())
    }
}

impl Limited for Packet {
    const NAME: &'static str = "packet";
    const MAX_BYTES: usize = 8 * 5 + 4 + MAX_PACKET_DATA;
}

/// The data of a fungible token transfer packet (ICS-20's
/// `FungibleTokenPacketData`, in the canonical encoding).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TransferData {
    /// The denomination as the sending chain knows it: `cin`, or a
    /// voucher's `transfer/channel-N/…` path.
    pub denom: BoundedString<MAX_DENOM_BYTES>,
    /// How much.
    pub amount: u128,
    /// Who sent it.
    pub sender: Address,
    /// Who receives it on the counterparty.
    pub receiver: Address,
    /// Free text.
    pub memo: BoundedString<MAX_MEMO_BYTES>,
}

impl Limited for TransferData {
    const NAME: &'static str = "transfer data";
    const MAX_BYTES: usize = MAX_PACKET_DATA;
}

/// What the receiving application answers (ICS-04 acknowledgement).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Acknowledgement {
    /// Tag 0: done.
    Success,
    /// Tag 1: refused (the sender is refunded).
    Error(BoundedString<256>),
}

impl Acknowledgement {
    /// What the receiving chain stores for it: BLAKE3 of its encoding.
    pub fn commitment(&self) -> Hash {
        Hash::of(&encode(self))
    }
}

impl Limited for Acknowledgement {
    const NAME: &'static str = "acknowledgement";
    const MAX_BYTES: usize = 1 + 4 + 256;
}

/// An inter-blockchain operation. New operations are appended with new
/// tags.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum IbcOp {
    /// Tag 0: creates a light client (anyone may; its id is the next
    /// client number).
    CreateClient(Box<ClientInit>),
    /// Tag 1: gives client `client` new headers.
    UpdateClient {
        /// The client.
        client: u64,
        /// The headers and their proofs.
        update: Box<ClientUpdate>,
    },
    /// Tag 2: freezes client `client` with evidence (anyone may).
    Misbehaviour {
        /// The client.
        client: u64,
        /// The evidence.
        evidence: Box<Misbehaviour>,
    },
    /// Tag 3: opens a channel on client `client` (state `init`).
    ChanOpenInit {
        /// The client of the counterparty.
        client: u64,
        /// Ordered or not.
        ordering: Ordering,
    },
    /// Tag 4: answers the counterparty's `init` channel (state `try_open`),
    /// proving its channel record and that its client tracks this chain.
    ChanOpenTry {
        /// The client of the counterparty.
        client: u64,
        /// Ordered or not (must match).
        ordering: Ordering,
        /// The counterparty's client of this chain.
        counterparty_client: u64,
        /// The counterparty's channel.
        counterparty_channel: u64,
        /// The counterparty's client record, as stored there.
        counterparty_client_state: BoundedBytes<MAX_CLIENT_STATE_BYTES>,
        /// The proof of the counterparty's channel record.
        channel_proof: Proof,
        /// The proof of its client record (same height).
        client_proof: Proof,
    },
    /// Tag 5: opens an `init` channel for good once the counterparty's is
    /// `try_open` (the same proofs as the try).
    ChanOpenAck {
        /// This chain's channel.
        channel: u64,
        /// The counterparty's client of this chain.
        counterparty_client: u64,
        /// The counterparty's channel.
        counterparty_channel: u64,
        /// The counterparty's client record, as stored there.
        counterparty_client_state: BoundedBytes<MAX_CLIENT_STATE_BYTES>,
        /// The proof of the counterparty's channel record.
        channel_proof: Proof,
        /// The proof of its client record (same height).
        client_proof: Proof,
    },
    /// Tag 6: opens a `try_open` channel once the counterparty's is open.
    ChanOpenConfirm {
        /// This chain's channel.
        channel: u64,
        /// The proof of the counterparty's channel record.
        channel_proof: Proof,
    },
    /// Tag 7: sends tokens over a channel (ICS-20): the native token moves
    /// to [`IBC_ADDRESS`] with the transaction; a voucher is escrowed or
    /// burned by the rules.
    Transfer {
        /// The channel.
        channel: u64,
        /// What is sent: [`NATIVE_DENOM`] or a voucher's denomination.
        denom: BoundedString<MAX_DENOM_BYTES>,
        /// How much.
        amount: u128,
        /// Who receives it on the counterparty.
        receiver: Address,
        /// Counterparty height from which it can no longer arrive (0: none).
        timeout_height: u64,
        /// Counterparty time (Unix ms) from which it can no longer arrive
        /// (0: none).
        timeout_time_ms: u64,
        /// Free text carried to the counterparty.
        memo: BoundedString<MAX_MEMO_BYTES>,
    },
    /// Tag 8: delivers a packet, proven committed by the counterparty.
    RecvPacket {
        /// The packet.
        packet: Box<Packet>,
        /// The proof of its commitment.
        proof: Proof,
    },
    /// Tag 9: delivers a packet's acknowledgement, proven written by the
    /// counterparty.
    Acknowledge {
        /// The packet this chain sent.
        packet: Box<Packet>,
        /// The acknowledgement.
        ack: Acknowledgement,
        /// The proof of its commitment.
        proof: Proof,
    },
    /// Tag 10: ends a packet that can no longer arrive: proven not
    /// received at a counterparty height past its timeout.
    Timeout {
        /// The packet this chain sent.
        packet: Box<Packet>,
        /// The proof of absence of its receipt (unordered) or of the
        /// channel's next receive sequence (ordered).
        proof: Proof,
        /// Ordered channels: the counterparty's next receive sequence that
        /// `proof` proves (at most the packet's); ignored otherwise.
        next_recv: u64,
    },
    /// Tag 11: moves vouchers between accounts of this chain.
    SendVoucher {
        /// The voucher's denomination.
        denom: BoundedString<MAX_DENOM_BYTES>,
        /// The recipient.
        to: Address,
        /// How much.
        amount: u128,
    },
}

impl Limited for IbcOp {
    const NAME: &'static str = "inter-blockchain operation";
    const MAX_BYTES: usize = crate::MAX_TX_BYTES;
}

impl IbcOp {
    /// What the operation moves to [`IBC_ADDRESS`] with the transaction:
    /// the amount of a native transfer.
    pub fn escrowed(&self) -> u128 {
        match self {
            IbcOp::Transfer { denom, amount, .. } if denom.as_str() == NATIVE_DENOM => *amount,
            _ => 0,
        }
    }

    /// Its name in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            IbcOp::CreateClient(_) => "create_client",
            IbcOp::UpdateClient { .. } => "update_client",
            IbcOp::Misbehaviour { .. } => "misbehaviour",
            IbcOp::ChanOpenInit { .. } => "chan_open_init",
            IbcOp::ChanOpenTry { .. } => "chan_open_try",
            IbcOp::ChanOpenAck { .. } => "chan_open_ack",
            IbcOp::ChanOpenConfirm { .. } => "chan_open_confirm",
            IbcOp::Transfer { .. } => "transfer",
            IbcOp::RecvPacket { .. } => "recv_packet",
            IbcOp::Acknowledge { .. } => "acknowledge",
            IbcOp::Timeout { .. } => "timeout",
            IbcOp::SendVoucher { .. } => "send_voucher",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode;

    #[test]
    fn the_escrow_account_is_32_ascii_bytes_and_packets_commit_to_their_timeouts() {
        assert!(IBC_ADDRESS.0.starts_with(b"cinder/system/ibc/escrow/v1"));
        let p = Packet {
            sequence: 1,
            source_channel: 0,
            dest_channel: 3,
            data: BoundedBytes::new(vec![1, 2, 3]).unwrap(),
            timeout_height: 10,
            timeout_time_ms: 0,
        };
        let mut later = p.clone();
        later.timeout_height = 11;
        assert_ne!(p.commitment(), later.commitment());
        assert_eq!(decode::<Packet>(&encode(&p)).unwrap(), p);
        let ack = Acknowledgement::Error(BoundedString::truncated("no"));
        assert_eq!(decode::<Acknowledgement>(&encode(&ack)).unwrap(), ack);
        assert_ne!(ack.commitment(), Acknowledgement::Success.commitment());
    }
}
