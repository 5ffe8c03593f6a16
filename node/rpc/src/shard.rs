//! JSON of a sharded chain (docs/design/sharding.md): the shard of an
//! address, a chunk of a block, and the cross-shard receipts in flight.

use cinder_primitives::{Address, ChunkHeader, Hash, ShardReceipt, ShardReceiptKind};
use serde::{Deserialize, Serialize};

use crate::amount;

/// `cinder_shardOf`: where an account lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardOfJson {
    /// The address.
    pub address: Address,
    /// Its shard.
    pub shard: u16,
    /// The chain's shards (1: not sharded).
    pub shards: u16,
}

/// A cross-shard receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardReceiptJson {
    /// Its id (BLAKE3 of its encoding).
    pub id: Hash,
    /// The shard that emitted it.
    pub source: u16,
    /// The shard that applies it.
    pub dest: u16,
    /// Its number in the (source, dest) stream.
    pub seq: u64,
    /// The height of the block that emitted it.
    pub height: u64,
    /// The transaction (or zero for a fee or payout) it came from.
    pub origin: Hash,
    /// Who sent the value.
    pub from: Address,
    /// Who is credited.
    pub to: Address,
    /// The value.
    #[serde(with = "amount")]
    pub amount: u128,
    /// `transfer` or `refund`.
    pub kind: String,
    /// For a refund: the receipt that could not be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_of: Option<Hash>,
}

impl From<&ShardReceipt> for ShardReceiptJson {
    fn from(r: &ShardReceipt) -> Self {
        let (kind, refund_of) = match r.kind {
            ShardReceiptKind::Transfer => ("transfer", None),
            ShardReceiptKind::Refund { of } => ("refund", Some(of)),
        };
        ShardReceiptJson {
            id: r.id(),
            source: r.source,
            dest: r.dest,
            seq: r.seq,
            height: r.height,
            origin: r.origin,
            from: r.from,
            to: r.to,
            amount: r.amount,
            kind: kind.to_string(),
            refund_of,
        }
    }
}

/// `cinder_getChunk`: one shard's chunk of a canonical block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkJson {
    /// The block's number.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// The shard.
    pub shard: u16,
    /// The shard's state root after the chunk.
    pub state_root: Hash,
    /// The root of the chunk's transactions.
    pub transactions_root: Hash,
    /// The chunk's transactions' hashes, in order.
    pub transactions: Vec<Hash>,
    /// The root of their receipts.
    pub receipts_root: Hash,
    /// Gas they used.
    pub gas_used: u64,
    /// The root of the receipts it emitted.
    pub outgoing_root: Hash,
    /// How many it sent each shard.
    pub outgoing_to: Vec<u32>,
    /// The root of the ids of the receipts it applied.
    pub incoming_root: Hash,
    /// The receipts it applied, in order.
    pub incoming: Vec<ShardReceiptJson>,
    /// The chunk header, borsh-encoded (its BLAKE3 is the leaf of the
    /// block's chunks root, the header's state root).
    pub header: String,
}

impl ChunkJson {
    /// `header` of block `block_number`/`block_hash`, with its
    /// transactions and the receipts it applied.
    pub fn new(
        block_number: u64,
        block_hash: Hash,
        header: &ChunkHeader,
        transactions: Vec<Hash>,
        incoming: &[ShardReceipt],
    ) -> ChunkJson {
        ChunkJson {
            block_number,
            block_hash,
            shard: header.shard,
            state_root: header.state_root,
            transactions_root: header.transactions_root,
            transactions,
            receipts_root: header.receipts_root,
            gas_used: header.gas_used,
            outgoing_root: header.outgoing_root,
            outgoing_to: header.outgoing_to.to_vec(),
            incoming_root: header.incoming_root,
            incoming: incoming.iter().map(ShardReceiptJson::from).collect(),
            header: format!("0x{}", hex::encode(cinder_primitives::encode(header))),
        }
    }
}

/// How an account proof of a sharded chain reaches the block's state root:
/// the account's shard, its chunk header (whose state root the account
/// proof verifies against) and that header's Merkle proof in the chunks
/// root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkProofJson {
    /// The account's shard.
    pub shard: u16,
    /// The chunk header, borsh-encoded.
    pub header: String,
    /// Its Merkle proof in the block's chunks root, borsh-encoded
    /// (`ReceiptProof`'s layout: index, leaf count, siblings).
    pub proof: String,
}
