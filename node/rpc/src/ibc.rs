//! The JSON of inter-blockchain state (docs/rpc.md, "Interoperability").

use cinder_primitives::{Address, Hash};
use serde::{Deserialize, Serialize};

use crate::types::amount;

/// What a counterparty needs to know to follow this chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcInfoJson {
    /// The chain id.
    pub chain_id: u64,
    /// The genesis block id.
    pub genesis: Hash,
    /// `pos` or `pow`.
    pub consensus: String,
    /// PoS: the epoch length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch_length: Option<u64>,
    /// PoW: the hash (`sha256d` or `blake3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pow_algo: Option<String>,
    /// PoW: the easiest target the chain allows (compact bits, hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pow_limit_bits: Option<String>,
    /// The native token's denomination in transfer packets.
    pub native_denom: String,
    /// The account holding escrowed native tokens.
    pub escrow_account: Address,
    /// The head's height.
    pub head: u64,
    /// PoS: the newest finalized height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalized: Option<u64>,
}

/// A light client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcClientJson {
    /// Its id.
    pub id: u64,
    /// `pos` or `pow`.
    pub kind: String,
    /// The counterparty's chain id.
    pub chain_id: u64,
    /// Its genesis id.
    pub genesis: Hash,
    /// The newest counterparty height it can prove against.
    pub latest: u64,
    /// PoS: the epoch whose set it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// PoS: that set's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validators: Option<u64>,
    /// PoW: confirmations required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u64>,
    /// PoW: unconfirmed headers held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
    /// Why it is frozen (null: live).
    pub frozen: Option<String>,
    /// The block the state is read at.
    pub block_number: u64,
    /// The record, as stored (hex): what a counterparty's channel handshake
    /// proves.
    pub raw: String,
}

/// A client's verified counterparty state at one height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcConsensusJson {
    /// The client.
    pub client: u64,
    /// The counterparty height.
    pub height: u64,
    /// Its block id.
    pub block_hash: Hash,
    /// Its state root.
    pub state_root: Hash,
    /// Its time, Unix ms.
    pub time_ms: u64,
}

/// A channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcChannelJson {
    /// Its id.
    pub id: u64,
    /// `init`, `try_open`, `open` or `closed`.
    pub state: String,
    /// `unordered` or `ordered`.
    pub ordering: String,
    /// This chain's client of the counterparty.
    pub client: u64,
    /// The counterparty's client of this chain.
    pub counterparty_client: Option<u64>,
    /// The counterparty's channel.
    pub counterparty_channel: Option<u64>,
    /// The next sequence it sends.
    pub next_send: u64,
    /// Ordered: the next sequence it receives.
    pub next_recv: u64,
    /// Ordered: the next sequence acknowledged.
    pub next_ack: u64,
    /// Native tokens escrowed on it.
    #[serde(with = "amount")]
    pub escrowed: u128,
}

/// A packet in flight (sent, not acknowledged or timed out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcPacketJson {
    /// Its sequence.
    pub sequence: u64,
    /// The sending channel.
    pub source_channel: u64,
    /// The counterparty's receiving channel.
    pub dest_channel: u64,
    /// Counterparty height from which it cannot arrive (0: none).
    pub timeout_height: u64,
    /// Counterparty time (Unix ms) from which it cannot arrive (0: none).
    pub timeout_time_ms: u64,
    /// The denomination sent.
    pub denom: String,
    /// The amount.
    #[serde(with = "amount")]
    pub amount: u128,
    /// The sender.
    pub sender: Address,
    /// The receiver on the counterparty.
    pub receiver: Address,
    /// The memo.
    pub memo: String,
    /// The packet's encoding (hex).
    pub raw: String,
}

/// Whether a packet was received on a channel, and its acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcReceiptJson {
    /// The receiving channel.
    pub channel: u64,
    /// The sequence.
    pub sequence: u64,
    /// Whether it was received.
    pub received: bool,
    /// The acknowledgement's encoding (hex), once received.
    pub ack: Option<String>,
    /// The acknowledgement's error (null: success or not received).
    pub error: Option<String>,
}

/// A voucher balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcVoucherJson {
    /// The denomination.
    pub denom: String,
    /// The owner.
    pub owner: Address,
    /// Its balance.
    #[serde(with = "amount")]
    pub balance: u128,
    /// All vouchers of the denomination.
    #[serde(with = "amount")]
    pub supply: u128,
}
