//! A node of a sharded chain through JSON-RPC: the shard of an address,
//! cross-shard transfers pooled, mined and credited a block later, the
//! receipts in flight, chunks by height and shard, and account proofs that
//! reach the header's state root through the account's chunk.

use cinder_node::RpcConfig;
use cinder_primitives::{Account, ChunkHeader, Hash, ReceiptProof, decode, shard_of};
use cinder_rpc::{Client, codes, methods as m};
use cinder_state::AccountProof;
use serde_json::json;

use crate::common::{BALANCE, TestNode};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_shard_transfers_arrive_a_block_later_and_every_shard_is_served() {
    let n = TestNode::start_sharded("shards", RpcConfig::default(), 3).await;
    let c = Client::new(&n.url()).unwrap();
    let addrs = n.accounts.addresses.clone();
    for a in &addrs {
        let s = c.shard_of(*a).await.unwrap();
        assert_eq!((s.shard, s.shards), (shard_of(a, 3), 3));
    }
    // Each account pays the next; some cross shards, some do not.
    let amount = |i: usize| 1_000 + i as u128;
    for i in 0..addrs.len() {
        c.send(&n.tx(i, 0, addrs[(i + 1) % addrs.len()], amount(i))).await.unwrap();
    }
    let b1 = tokio::task::block_in_place(|| n.mine());
    assert_eq!(b1.transactions.len(), addrs.len());
    assert_eq!(b1.chunks.len(), 3);
    let cross: Vec<usize> =
        (0..addrs.len()).filter(|&i| shard_of(&addrs[i], 3) != shard_of(&addrs[(i + 1) % addrs.len()], 3)).collect();
    assert!(!cross.is_empty(), "the accounts span shards");
    let flying = c.receipts_in_flight(None).await.unwrap();
    // One receipt per cross-shard transfer (its origin the transaction);
    // the others carry fees and the reward to the coinbase's shard.
    let transfers: Vec<_> = flying.iter().filter(|r| r.origin != Hash::default()).collect();
    assert_eq!(transfers.len(), cross.len(), "{flying:?}");
    assert!(flying.iter().filter(|r| r.origin == Hash::default()).all(|r| r.to == addrs[7]));
    let payer = |i: usize| (i + addrs.len() - 1) % addrs.len();
    for r in &transfers {
        assert_eq!(
            (r.source, r.dest, r.height, r.kind.as_str()),
            (shard_of(&r.from, 3), shard_of(&r.to, 3), 1, "transfer")
        );
    }
    // Not credited yet: a payment from another shard is still in flight.
    for (i, a) in addrs.iter().enumerate().filter(|(i, _)| *i != 7) {
        let local = if cross.contains(&payer(i)) { 0 } else { amount(payer(i)) };
        assert_eq!(c.balance(*a).await.unwrap(), BALANCE - amount(i) - 21_000 + local, "account {i} after block 1");
    }
    let to_shard_1 = c.receipts_in_flight(Some(1)).await.unwrap();
    assert!(to_shard_1.iter().all(|r| r.dest == 1));
    // Chunks of block 1: their transactions make up the block.
    let mut seen = Vec::new();
    for s in 0..3u16 {
        let ch = c.chunk(1, s).await.unwrap().unwrap();
        assert_eq!((ch.shard, ch.block_hash), (s, b1.id()));
        assert_eq!(ch.state_root, b1.chunks[usize::from(s)].header.state_root);
        seen.extend(ch.transactions);
    }
    assert_eq!(seen, b1.transactions.iter().map(|t| t.id()).collect::<Vec<_>>());

    let b2 = tokio::task::block_in_place(|| n.mine());
    assert!(b2.transactions.is_empty());
    // Every transfer has arrived: each account paid one and received one.
    for (i, a) in addrs.iter().enumerate().filter(|(i, _)| *i != 7) {
        let want = BALANCE - amount(i) - 21_000 + amount(payer(i));
        assert_eq!(c.balance(*a).await.unwrap(), want, "account {i} after block 2");
        assert_eq!(c.nonce(*a).await.unwrap(), 1);
    }
    // Only the reward (and no fees: no transactions) can be in flight now,
    // when the coinbase is not on shard 0.
    let left = c.receipts_in_flight(None).await.unwrap();
    assert!(left.iter().all(|r| r.origin == Hash::default() && r.to == addrs[7]), "{left:?}");
    assert_eq!(left.len(), usize::from(shard_of(&addrs[7], 3) != 0));
    let applied = applied_by(&c, 2).await;
    assert_eq!(applied, flying.iter().map(|r| r.id).collect::<Vec<_>>(), "block 2 applied what was in flight");

    // A proof of an account on each shard: account -> chunk state root ->
    // chunk header -> the header's state root (the chunks root).
    for a in [addrs[0], addrs[1], addrs[2], addrs[3]] {
        let p = c.proof(a, Some(2), &[]).await.unwrap();
        let link = p.chunk.clone().expect("a sharded chain links the chunk");
        assert_eq!(link.shard, shard_of(&a, 3));
        let proof = AccountProof::from_bytes(&unhex(&p.proof)).unwrap();
        let account = Account { balance: p.balance, nonce: p.nonce };
        proof.verify(&p.state_root, &a, Some(&account)).unwrap();
        let header: ChunkHeader = decode(&unhex(&link.header)).unwrap();
        assert_eq!(header.state_root, p.state_root);
        let chunk_proof: ReceiptProof = borsh::from_slice(&unhex(&link.proof)).unwrap();
        assert!(chunk_proof.to_engine().verify(&b2.header.fields.state_root.0, &header.hash().0));
        assert!(!chunk_proof.to_engine().verify(&[1; 32], &header.hash().0));
    }

    // Bad requests: a shard past the chain's, a missing block.
    let e = c.chunk(1, 3).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_PARAMS));
    assert!(c.chunk(99, 0).await.unwrap().is_none());
    let e = c.receipts_in_flight(Some(7)).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_PARAMS));
    let e = c.call::<serde_json::Value>(m::GET_CHUNK, vec![json!("x"), json!(0)]).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_PARAMS));
    n.stop().await;
}

/// The ids of the receipts block `number`'s chunks applied, in shard order.
async fn applied_by(c: &Client, number: u64) -> Vec<cinder_primitives::Hash> {
    let mut out = Vec::new();
    for s in 0..3 {
        out.extend(c.chunk(number, s).await.unwrap().unwrap().incoming.iter().map(|r| r.id));
    }
    out
}
