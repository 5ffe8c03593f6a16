//! Where the records live: text keys under the `ibc` namespace of the
//! state tree (the tree key is [`tree_key`] of the text). A counterparty
//! proves a record by its text key, so these are protocol
//! (docs/protocol.md, "Interoperability").

use cinder_primitives::Address;
use cinder_state::{KeyHash, data_key};

/// The namespace of the records in the state tree.
pub const NAMESPACE: &str = "ibc";

/// The state tree key of record `key`.
pub fn tree_key(key: &[u8]) -> KeyHash {
    data_key(NAMESPACE, key)
}

/// Counters: the next client and channel numbers.
pub fn meta() -> Vec<u8> {
    b"meta".to_vec()
}

/// Client `id`'s state.
pub fn client(id: u64) -> Vec<u8> {
    format!("clients/{id}").into_bytes()
}

/// Client `id`'s verified counterparty state at `height`.
pub fn consensus(id: u64, height: u64) -> Vec<u8> {
    format!("consensus/{id}/{height}").into_bytes()
}

/// Channel `id`.
pub fn channel(id: u64) -> Vec<u8> {
    format!("channels/{id}").into_bytes()
}

/// The next sequence channel `id` sends (8 bytes, little endian; absent: 1).
pub fn next_send(id: u64) -> Vec<u8> {
    format!("seq/send/{id}").into_bytes()
}

/// The next sequence ordered channel `id` receives (absent: 1).
pub fn next_recv(id: u64) -> Vec<u8> {
    format!("seq/recv/{id}").into_bytes()
}

/// The next sequence ordered channel `id` is acknowledged (absent: 1).
pub fn next_ack(id: u64) -> Vec<u8> {
    format!("seq/ack/{id}").into_bytes()
}

/// The commitment of packet `sequence` sent on channel `id` (32 bytes;
/// deleted when acknowledged or timed out).
pub fn commitment(id: u64, sequence: u64) -> Vec<u8> {
    format!("commitments/{id}/{sequence}").into_bytes()
}

/// The packet itself, kept beside its commitment for relayers.
pub fn packet(id: u64, sequence: u64) -> Vec<u8> {
    format!("packets/{id}/{sequence}").into_bytes()
}

/// The receipt of packet `sequence` received on unordered channel `id`
/// (one byte, 1).
pub fn receipt(id: u64, sequence: u64) -> Vec<u8> {
    format!("receipts/{id}/{sequence}").into_bytes()
}

/// The acknowledgement of packet `sequence` received on channel `id` (its
/// encoding).
pub fn ack(id: u64, sequence: u64) -> Vec<u8> {
    format!("acks/{id}/{sequence}").into_bytes()
}

/// What channel `id` holds in escrow of `denom` (16 bytes, little endian).
pub fn escrow(id: u64, denom: &str) -> Vec<u8> {
    format!("escrow/{id}/{denom}").into_bytes()
}

/// `owner`'s balance of voucher `denom` (16 bytes, little endian).
pub fn voucher(denom: &str, owner: &Address) -> Vec<u8> {
    format!("vouchers/{denom}/{}", hex::encode(owner.0)).into_bytes()
}

/// The vouchers of `denom` in existence (16 bytes, little endian).
pub fn supply(denom: &str) -> Vec<u8> {
    format!("supply/{denom}").into_bytes()
}
