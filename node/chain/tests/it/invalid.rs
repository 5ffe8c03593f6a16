//! The invalid-block corpus: every case is rejected with its own reason and
//! leaves the database exactly as it was; the valid block still imports
//! afterwards.

use cinder_chain::{BlockInvalid, Chain, ChainConfig, ChunkInvalid, ImportError, ImportStatus, seal_cpu};
use cinder_consensus::{ChainSpec, ConsensusInvalid};
use cinder_primitives::{Block, Bounded, BoundedBytes, Chunk, Hash, Header, SignedTransaction, Transaction};
use cinder_state::StateStore;

use crate::common::Fixture;

/// The block with its header rebuilt (commitment recomputed) and resealed.
fn reseal(f: &Fixture, mut block: Block) -> Block {
    let h = &block.header;
    let mut header = Header::new(h.prev(), h.pow.time(), h.pow.bits(), h.fields.clone());
    header.pow.set_version(h.pow.version());
    seal_cpu(f.chain.consensus(), &mut header, 1 << 20).unwrap();
    block.header = header;
    block
}

/// The block with its transactions edited, the transactions root
/// recomputed, resealed.
fn with_txs(f: &Fixture, block: &Block, edit: impl FnOnce(&mut Vec<SignedTransaction>)) -> Block {
    let mut txs = block.transactions.as_slice().to_vec();
    edit(&mut txs);
    let mut b = Block { header: block.header.clone(), transactions: Bounded::new(txs).unwrap(), ..block.clone() };
    b.header.fields.transactions_root = b.transactions_root();
    reseal(f, b)
}

fn with_fields(f: &Fixture, block: &Block, edit: impl FnOnce(&mut cinder_primitives::HeaderFields)) -> Block {
    let mut b = block.clone();
    edit(&mut b.header.fields);
    reseal(f, b)
}

fn resign(f: &Fixture, tx: &SignedTransaction, edit: impl FnOnce(&mut Transaction)) -> SignedTransaction {
    let mut t = tx.tx.clone();
    edit(&mut t);
    let i = f.accounts.addresses.iter().position(|a| *a == tx.tx.sender_address()).unwrap();
    t.sign(&f.accounts.keys[i])
}

type Check = Box<dyn Fn(&BlockInvalid) -> bool>;

#[test]
fn every_invalid_block_is_rejected_with_its_reason_and_changes_nothing() {
    let mut f = Fixture::new("invalid");
    let good = f.blocks(1, 12).remove(0);
    let genesis_time = f.spec.genesis_time;
    let mut cases: Vec<(&str, Block, Check)> = Vec::new();
    let c = |p: fn(&BlockInvalid) -> bool| -> Check { Box::new(p) };

    let mut bad_pow = good.clone();
    let job = f.chain.consensus().seal_job(&bad_pow.header).unwrap();
    let cinder_consensus::SealJob::Pow(job) = job;
    let miss = (0..u32::MAX).find(|n| !job.target.is_met_by(&job.hash_at(*n).0)).unwrap();
    bad_pow.header.pow.set_nonce(miss);
    cases.push((
        "PoW hash above the target",
        bad_pow,
        c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::PowHash { .. }))),
    ));

    let mut commitment = good.clone();
    commitment.header.fields.extra_nonce += 1;
    cases.push(("commitment", commitment, c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::Commitment)))));

    let mut version = good.clone();
    version.header.pow.set_version(2);
    cases.push((
        "PoW header version",
        reseal(&f, version),
        c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::Version(2)))),
    ));

    let h = &good.header;
    let bits = Block { header: Header::new(h.prev(), h.pow.time(), 0x2000_ffff, h.fields.clone()), ..good.clone() };
    cases.push((
        "retarget bits",
        reseal(&f, bits),
        c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::WrongBits { .. }))),
    ));

    let old = Block { header: Header::new(h.prev(), genesis_time, h.pow.bits(), h.fields.clone()), ..good.clone() };
    cases.push((
        "time at the median time past",
        reseal(&f, old),
        c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::TimeTooOld { .. }))),
    ));

    let future = u32::try_from(cinder_chain::unix_now() + 3_600).unwrap();
    let new = Block { header: Header::new(h.prev(), future, h.pow.bits(), h.fields.clone()), ..good.clone() };
    cases.push((
        "time an hour ahead",
        reseal(&f, new),
        c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::TimeTooNew { .. }))),
    ));

    cases.push((
        "height",
        with_fields(&f, &good, |x| x.height = 2),
        c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::Height { got: 2, .. }))),
    ));

    cases.push((
        "consensus data under PoW",
        with_fields(&f, &good, |x| x.consensus_data = BoundedBytes::new(vec![1]).unwrap()),
        c(|e| matches!(e, BlockInvalid::Consensus(ConsensusInvalid::ConsensusData(1)))),
    ));

    let foreign = resign(&f, &good.transactions[0], |t| t.chain_id = 78);
    cases.push((
        "a transaction for another chain",
        with_txs(&f, &good, |t| t[0] = foreign),
        c(|e| matches!(e, BlockInvalid::Transaction { index: 0, reason } if reason.contains("chain id"))),
    ));

    cases.push((
        "a bad signature",
        with_txs(&f, &good, |t| t[1].signature.0[5] ^= 1),
        c(|e| matches!(e, BlockInvalid::Signature { index: 1 })),
    ));

    cases.push((
        "transactions root",
        with_fields(&f, &good, |x| x.transactions_root = Hash([1; 32])),
        c(|e| matches!(e, BlockInvalid::TransactionsRoot { .. })),
    ));

    let skipped = resign(&f, &good.transactions[2], |t| t.nonce += 5);
    cases.push((
        "a nonce ahead of the sender's",
        with_txs(&f, &good, |t| t[2] = skipped),
        c(|e| matches!(e, BlockInvalid::Transaction { index: 2, reason } if reason.contains("nonce"))),
    ));

    let rich = resign(&f, &good.transactions[3], |t| t.gas_price = u64::MAX);
    cases.push((
        "gas the sender cannot pay",
        with_txs(&f, &good, |t| t[3] = rich),
        c(|e| matches!(e, BlockInvalid::Transaction { index: 3, reason } if reason.contains("cannot pay"))),
    ));

    let dup = good.transactions[4].clone();
    cases.push((
        "a transaction twice (its nonce is spent)",
        with_txs(&f, &good, |t| t.push(dup)),
        c(|e| matches!(e, BlockInvalid::Transaction { index: 12, reason } if reason.contains("nonce"))),
    ));

    cases.push((
        "receipts root",
        with_fields(&f, &good, |x| x.receipts_root = Hash([2; 32])),
        c(|e| matches!(e, BlockInvalid::ReceiptsRoot { .. })),
    ));

    cases.push((
        "state root",
        with_fields(&f, &good, |x| x.state_root = Hash([3; 32])),
        c(|e| matches!(e, BlockInvalid::StateRoot { .. })),
    ));

    // The good block with a chunk attached: same id, another body. A chain
    // of one shard carries no chunks.
    let mut chunked = good.clone();
    let chunk = Chunk {
        header: cinder_chain::shard::genesis_chunks(&[Hash([4; 32])])[0].clone(),
        incoming: Default::default(),
    };
    chunked.chunks = Bounded::new(vec![chunk]).unwrap();
    assert_eq!(chunked.id(), good.id());
    cases.push((
        "a chunk on a chain of one shard",
        chunked,
        c(|e| matches!(e, BlockInvalid::Chunk { shard: 0, reason: ChunkInvalid::Count { got: 1, expected: 0 } })),
    ));

    let db = f.chain.db();
    let head = f.chain.head().unwrap();
    let latest = db.latest().unwrap();
    for (name, block, check) in &cases {
        match f.chain.import(block) {
            Err(ImportError::Invalid { id, reason }) => {
                assert_eq!(id, block.id());
                assert!(check(&reason), "{name}: wrong reason {reason}");
            }
            other => panic!("{name}: expected an invalid block, got {other:?}"),
        }
        assert_eq!(f.chain.head().unwrap(), head, "{name}: the head moved");
        assert_eq!(db.latest().unwrap(), latest, "{name}: state was written");
        assert!(db.block_meta(&block.id()).unwrap().is_none(), "{name}: the block was stored");
        assert!(db.header(&block.id()).unwrap().is_none(), "{name}: the header was stored");
    }

    // Not invalid, not importable: an unknown parent.
    let orphan =
        Block { header: Header::new(Hash([9; 32]), h.pow.time(), h.pow.bits(), h.fields.clone()), ..good.clone() };
    assert!(matches!(f.chain.import(&orphan), Err(ImportError::UnknownParent { .. })));

    // A block over the size limit, on a chain with the same genesis and a smaller limit.
    let small = ChainSpec { max_block_bytes: 2048, ..f.spec.clone() };
    let chain = Chain::open(&crate::common::dir("invalid-small"), small, ChainConfig::default()).unwrap();
    assert_eq!(chain.genesis_id(), f.chain.genesis_id());
    let e = chain.import(&good).unwrap_err();
    assert!(matches!(e.invalid(), Some(BlockInvalid::TooLarge { max: 2048, .. })), "{e}");

    // And the valid block still imports.
    assert_eq!(f.chain.import(&good).unwrap().status, ImportStatus::Head);
}

#[test]
fn presigned_imports_skip_only_the_marked_signatures() {
    let mut f = Fixture::new("presigned");
    let good = f.blocks(1, 6).remove(0);
    // A bad signature at index 4 is still caught when the others are
    // marked as verified.
    let bad = with_txs(&f, &good, |t| t[4].signature.0[9] ^= 1);
    let mut mask = vec![true; 6];
    mask[4] = false;
    match f.chain.import_presigned(&bad, &mask) {
        Err(ImportError::Invalid { reason: BlockInvalid::Signature { index: 4 }, .. }) => {}
        other => panic!("expected a bad signature at 4, got {other:?}"),
    }
    // A mask shorter than the block verifies the rest.
    match f.chain.import_presigned(&bad, &mask[..2]) {
        Err(ImportError::Invalid { reason: BlockInvalid::Signature { index: 4 }, .. }) => {}
        other => panic!("expected a bad signature at 4, got {other:?}"),
    }
    let r = f.chain.import_presigned(&good, &[true; 6]).unwrap();
    assert_eq!(r.status, ImportStatus::Head);
}
