//! Sharding's data (docs/design/sharding.md): which shard an address
//! belongs to, the header of one shard's chunk of a block, and the
//! cross-shard receipts a chunk emits, with the Merkle proofs that let
//! the destination shard check them against the source chunk's header.
//!
//! A chain with `shards = 1` has no chunks and no receipts: every address
//! is on shard 0 and blocks are what they were before sharding.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::codec::{Bounded, Limited, encode};
use crate::types::{Address, Hash, STAKING_ADDRESS};

/// A shard's number, `0..shards`.
pub type ShardId = u16;

/// The most shards a chain may have.
pub const MAX_SHARDS: u16 = 64;

/// The system account a chunk's cross-shard payments go to while it
/// executes: a cross-shard transfer pays it instead of the recipient, and
/// after the chunk its balance leaves the shard as outgoing receipts (it
/// is never stored). No key hashes to it (a fixed ASCII string).
pub const OUTBOX_ADDRESS: Address = Address(*b"cinder/system/shard/outbox/v1\0\0\0");

/// Whether `address` is a system account (staking, governance, the
/// inter-blockchain escrow, the outbox). They all live on shard 0.
pub fn is_system(address: &Address) -> bool {
    *address == STAKING_ADDRESS
        || *address == crate::GOV_ADDRESS
        || *address == crate::IBC_ADDRESS
        || *address == OUTBOX_ADDRESS
}

/// The shard `address` belongs to on a chain of `shards` shards: 0 for a
/// system account, otherwise its first eight bytes, big-endian, modulo
/// `shards`. Addresses are BLAKE3 outputs, so accounts spread evenly; a
/// contract is on the shard of its own address.
pub fn shard_of(address: &Address, shards: u16) -> ShardId {
    if shards <= 1 || is_system(address) {
        return 0;
    }
    let mut head = [0u8; 8];
    head.copy_from_slice(&address.0[..8]);
    // The remainder is below `shards`, a u16.
    ShardId::try_from(u64::from_be_bytes(head) % u64::from(shards)).unwrap_or(0)
}

/// What a cross-shard receipt does at its destination.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ShardReceiptKind {
    /// Tag 0: credits `to` with `amount` (a cross-shard transfer, a fee or
    /// a payout to an account on another shard).
    Transfer,
    /// Tag 1: gives back what receipt `of` carried, which could not be
    /// applied at its destination, to its sender (`to` is the original
    /// `from`).
    Refund {
        /// The id of the receipt that failed.
        of: Hash,
    },
}

/// A receipt one shard's chunk emits for another: the destination shard
/// applies it in the next block, exactly once (its `seq` must be the next
/// of the `(source, dest)` stream), proven by inclusion in the source
/// chunk's outgoing-receipts root.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ShardReceipt {
    /// The shard that emitted it.
    pub source: ShardId,
    /// The shard that applies it.
    pub dest: ShardId,
    /// Its number in the `(source, dest)` stream (0, 1, 2, ... with no
    /// gaps over the chain's life).
    pub seq: u64,
    /// The height of the block whose chunk emitted it.
    pub height: u64,
    /// What caused it: the transaction's id, or for a payout the zero hash.
    pub origin: Hash,
    /// Who pays (already debited on the source shard).
    pub from: Address,
    /// Who is credited.
    pub to: Address,
    /// How much.
    pub amount: u128,
    /// What it does.
    pub kind: ShardReceiptKind,
}

impl Limited for ShardReceipt {
    const NAME: &'static str = "shard receipt";
    const MAX_BYTES: usize = 2 + 2 + 8 + 8 + 32 + 32 + 32 + 16 + 1 + 32;
}

impl ShardReceipt {
    /// Its id and Merkle leaf: BLAKE3 of its encoding.
    pub fn id(&self) -> Hash {
        Hash::of(&encode(self))
    }
}

/// The Merkle root of a chunk's outgoing receipts, in the order emitted.
pub fn outgoing_root(receipts: &[ShardReceipt]) -> Hash {
    let leaves: Vec<[u8; 32]> = receipts.iter().map(|r| r.id().0).collect();
    Hash(cinder_engine::merkle::root(&leaves))
}

/// The deepest receipt proof: a chunk emits at most 2^32 receipts.
pub const MAX_PROOF_DEPTH: usize = 32;

/// A receipt's inclusion proof in its source chunk's outgoing root.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ReceiptProof {
    /// The receipt's position among the chunk's outgoing receipts.
    pub index: u64,
    /// How many receipts the chunk emitted.
    pub leaf_count: u64,
    /// The siblings from the leaf up (engine::merkle's proof layout).
    pub siblings: Bounded<Hash, MAX_PROOF_DEPTH>,
}

impl ReceiptProof {
    /// The proof of leaf `index` in the outgoing receipts `tree`.
    pub fn of(tree: &cinder_engine::merkle::Tree, index: u64) -> Option<ReceiptProof> {
        let p = tree.proof(index)?;
        let siblings = Bounded::new(p.siblings.into_iter().map(Hash).collect()).ok()?;
        Some(ReceiptProof { index: p.index, leaf_count: p.leaf_count, siblings })
    }

    /// The engine's form of it.
    pub fn to_engine(&self) -> cinder_engine::merkle::Proof {
        cinder_engine::merkle::Proof {
            index: self.index,
            leaf_count: self.leaf_count,
            siblings: self.siblings.iter().map(|h| h.0).collect(),
        }
    }

    /// Whether `receipt` is in the outgoing receipts whose root is `root`.
    pub fn verifies(&self, root: &Hash, receipt: &ShardReceipt) -> bool {
        self.to_engine().verify(&root.0, &receipt.id().0)
    }
}

/// A receipt as the destination's chunk carries it: the receipt and its
/// proof against the source chunk's header in the previous block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct IncomingReceipt {
    /// The receipt.
    pub receipt: ShardReceipt,
    /// Its inclusion in the source chunk's outgoing root.
    pub proof: ReceiptProof,
}

impl Limited for IncomingReceipt {
    const NAME: &'static str = "incoming receipt";
    const MAX_BYTES: usize = ShardReceipt::MAX_BYTES + 8 + 8 + 4 + 32 * MAX_PROOF_DEPTH;
}

/// One shard's chunk as a sharded block carries it: the chunk header (which
/// the block header commits to through `chunks_root`) and the receipts of
/// the previous block it applies, with their proofs, in the canonical order.
/// Its transactions are the block's, in chunk order: chunk 0's
/// `tx_count` first, then chunk 1's, ...
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Chunk {
    /// The header.
    pub header: ChunkHeader,
    /// The receipts it applies.
    pub incoming: Bounded<IncomingReceipt, { crate::MAX_BLOCK_TXS }>,
}

/// The header of one shard's chunk of a block. The block header's state
/// root commits to all of them ([`chunks_root`]), so a node that does not
/// track a shard still knows its state root and outgoing receipts root.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChunkHeader {
    /// The shard.
    pub shard: ShardId,
    /// The shard's state root after the chunk.
    pub state_root: Hash,
    /// The Merkle root of the chunk's transactions' leaves.
    pub transactions_root: Hash,
    /// How many transactions the chunk has.
    pub tx_count: u32,
    /// The Merkle root of the chunk's transactions' receipts.
    pub receipts_root: Hash,
    /// Gas its transactions used.
    pub gas_used: u64,
    /// The Merkle root of the receipts the chunk emits ([`outgoing_root`]),
    /// grouped by destination shard in shard order, each group in the
    /// order of its stream.
    pub outgoing_root: Hash,
    /// How many receipts the chunk emits to each shard (one entry per
    /// shard): the destination knows how many it must apply, and where
    /// they sit under the root.
    pub outgoing_to: Bounded<u32, { MAX_SHARDS as usize }>,
    /// The Merkle root of the ids of the receipts the chunk applied, in
    /// the order applied.
    pub incoming_root: Hash,
}

impl Limited for ChunkHeader {
    const NAME: &'static str = "chunk header";
    const MAX_BYTES: usize = 2 + 32 + 32 + 4 + 32 + 8 + 32 + 4 + 4 * MAX_SHARDS as usize + 32;
}

impl ChunkHeader {
    /// Its hash (the leaf in [`chunks_root`]).
    pub fn hash(&self) -> Hash {
        Hash::of(&encode(self))
    }

    /// How many receipts the chunk sends to `dest`.
    pub fn sent_to(&self, dest: ShardId) -> u64 {
        self.outgoing_to.get(usize::from(dest)).map_or(0, |&n| u64::from(n))
    }

    /// How many receipts the chunk emits.
    pub fn outgoing_count(&self) -> u64 {
        self.outgoing_to.iter().map(|&n| u64::from(n)).sum()
    }

    /// The position under the outgoing root of the first receipt for
    /// `dest`.
    pub fn first_for(&self, dest: ShardId) -> u64 {
        self.outgoing_to.iter().take(usize::from(dest)).map(|&n| u64::from(n)).sum()
    }
}

/// What a sharded block's header carries as its state root: the Merkle
/// root of its chunk headers' hashes, in shard order.
pub fn chunks_root(chunks: &[ChunkHeader]) -> Hash {
    let leaves: Vec<[u8; 32]> = chunks.iter().map(|c| c.hash().0).collect();
    Hash(cinder_engine::merkle::root(&leaves))
}

/// The Merkle root of applied receipts' ids (a chunk's incoming root).
pub fn incoming_root(receipts: &[ShardReceipt]) -> Hash {
    outgoing_root(receipts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode;

    fn receipt(seq: u64) -> ShardReceipt {
        ShardReceipt {
            source: 1,
            dest: 2,
            seq,
            height: 7,
            origin: Hash([seq.to_le_bytes()[0]; 32]),
            from: Address([1; 32]),
            to: Address([2; 32]),
            amount: 1000 + u128::from(seq),
            kind: ShardReceiptKind::Transfer,
        }
    }

    #[test]
    fn one_shard_holds_everything_and_system_accounts_are_on_shard_zero() {
        let a = Address([0xff; 32]);
        assert_eq!(shard_of(&a, 1), 0);
        assert_eq!(shard_of(&a, 0), 0);
        assert_eq!(shard_of(&a, 4), (u64::MAX % 4) as u16);
        for s in [STAKING_ADDRESS, crate::GOV_ADDRESS, crate::IBC_ADDRESS, OUTBOX_ADDRESS] {
            assert_eq!(shard_of(&s, 7), 0, "{s}");
        }
        let mut b = [0u8; 32];
        b[7] = 5;
        assert_eq!(shard_of(&Address(b), 4), 1);
        assert_eq!(shard_of(&Address(b), 3), 2);
    }

    #[test]
    fn addresses_spread_over_shards() {
        let mut counts = [0u32; 4];
        for i in 0..4000u32 {
            let a = Address(*blake3::hash(&i.to_le_bytes()).as_bytes());
            counts[shard_of(&a, 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (850..1150).contains(&c)), "{counts:?}");
    }

    #[test]
    fn every_receipt_proves_against_its_chunk_and_no_other() {
        let receipts: Vec<ShardReceipt> = (0..11).map(receipt).collect();
        let root = outgoing_root(&receipts);
        let tree = cinder_engine::merkle::Tree::new(receipts.iter().map(|r| r.id().0).collect());
        assert_eq!(Hash(tree.root()), root);
        for (i, r) in receipts.iter().enumerate() {
            let p = ReceiptProof::of(&tree, i as u64).expect("in range");
            assert!(p.verifies(&root, r));
            let mut forged = r.clone();
            forged.amount += 1;
            assert!(!p.verifies(&root, &forged), "a changed amount proves");
            let other = &receipts[(i + 1) % receipts.len()];
            assert!(!p.verifies(&root, other), "another receipt proves at index {i}");
            // The proof survives its encoding.
            let bytes = encode(&IncomingReceipt { receipt: r.clone(), proof: p });
            let back: IncomingReceipt = decode(&bytes).expect("decodes");
            assert!(back.proof.verifies(&root, &back.receipt));
        }
        assert!(ReceiptProof::of(&tree, 11).is_none());
    }

    #[test]
    fn encodings_fit_their_limits() {
        let r = ShardReceipt { kind: ShardReceiptKind::Refund { of: Hash([9; 32]) }, ..receipt(3) };
        assert!(encode(&r).len() <= ShardReceipt::MAX_BYTES);
        assert_eq!(decode::<ShardReceipt>(&encode(&r)).expect("decodes"), r);
        let outgoing_to = Bounded::new(vec![u32::MAX; MAX_SHARDS as usize]).expect("fits");
        let c = ChunkHeader { shard: 3, tx_count: 9, gas_used: 5, outgoing_to, ..ChunkHeader::default() };
        assert_eq!(encode(&c).len(), ChunkHeader::MAX_BYTES);
        let c = ChunkHeader { outgoing_to: Bounded::new(vec![2, 0, 5]).expect("fits"), ..c };
        assert_eq!((c.sent_to(2), c.sent_to(1), c.sent_to(9), c.first_for(2), c.outgoing_count()), (5, 0, 0, 2, 7));
        assert_eq!(decode::<ChunkHeader>(&encode(&c)).expect("decodes"), c);
        assert!(decode::<ShardReceipt>(&encode(&r)[..20]).is_err());
    }
}
