//! The state trees of a sharded chain in one database: each shard its own
//! column families, all of a block's shards in one atomic batch, pruning
//! over every shard, and the shard count checked on open.

use cinder_primitives::*;
use cinder_state::{State, StateBatch, StateStore};
use cinder_storage::{BlockWrite, Db, cf};

use super::{addr, block, dir};

/// A block write of a sharded chain: shard 0's state, the other shards'.
fn write<'a>(block: &'a Block, state: &'a StateBatch, shards: &'a [StateBatch], canonical: bool) -> BlockWrite<'a> {
    BlockWrite { block, receipts: &[], state, shards, outgoing: &[], weight: 1, canonical }
}

fn acct(balance: u128) -> Option<Account> {
    Some(Account { balance, nonce: 0 })
}

#[test]
fn each_shard_keeps_its_own_tree_and_a_block_writes_them_together() {
    let path = dir("shards");
    let b0 = block(0, Hash::default(), 0);
    // A sharded block's chunks are stored with it.
    let mut b1 = block(1, b0.id(), 2);
    let chunk = |s: u16| Chunk {
        header: ChunkHeader {
            shard: s,
            state_root: Hash([u8::try_from(s).unwrap(); 32]),
            transactions_root: Hash::default(),
            tx_count: 0,
            receipts_root: Hash::default(),
            gas_used: 0,
            outgoing_root: Hash::default(),
            outgoing_to: Bounded::new(vec![0; 3]).unwrap(),
            incoming_root: Hash::default(),
        },
        incoming: Bounded::default(),
    };
    b1.chunks = Bounded::new((0..3).map(chunk).collect()).unwrap();
    let roots: Vec<Hash>;
    {
        let db = Db::open_sharded(&path, 3).unwrap();
        assert_eq!(db.shards(), 3);
        assert!(db.shard(3).is_none());
        let st: Vec<_> = (0..3).map(|s| State::new(db.shard(s).unwrap())).collect();
        // Genesis: shard s holds account s with balance 100 + s.
        let g: Vec<_> = (0..3u16)
            .map(|s| st[usize::from(s)].apply(None, &[(addr(s.into()), acct(100 + u128::from(s)))]).unwrap().1)
            .collect();
        db.write_block(&write(&b0, &g[0], &g[1..], true)).unwrap();
        // Block 1 changes shard 1 only; shards 0 and 2 still get a version.
        let b: Vec<_> = (0..3u16)
            .map(|s| {
                let ups = if s == 1 { vec![(addr(1), acct(7)), (addr(11), acct(3))] } else { vec![] };
                st[usize::from(s)].apply(Some(0), &ups).unwrap()
            })
            .collect();
        roots = b.iter().map(|(r, _)| *r).collect();
        let batches: Vec<_> = b.into_iter().map(|(_, s)| s).collect();
        // The wrong number of shards' state, or a shard at another version:
        // refused, nothing written.
        let other_version = [batches[1].clone(), g[2].clone()];
        for shards in [&batches[1..2], &other_version[..]] {
            let w = write(&b1, &batches[0], shards, true);
            assert!(db.write_block(&w).is_err());
            assert_eq!(db.head().unwrap().unwrap().height, 0);
            assert!(db.header(&b1.id()).unwrap().is_none());
            for s in 0..3 {
                assert_eq!(db.shard(s).unwrap().latest().unwrap(), Some(0), "shard {s}");
            }
        }
        db.write_block(&write(&b1, &batches[0], &batches[1..], true)).unwrap();
        // A plain state commit needs one shard.
        assert!(StateStore::commit(&db, &batches[0]).is_err());
    }
    // Reopened without naming the count: the three trees are found.
    let db = Db::open(&path).unwrap();
    assert_eq!(db.shards(), 3);
    for s in 0..3u16 {
        let state = State::new(db.shard(s).unwrap());
        assert_eq!(state.root(1).unwrap(), roots[usize::from(s)], "shard {s}");
        for a in 0..3u32 {
            let want = match (s, a) {
                (1, 1) => acct(7),
                (s, a) if u32::from(s) == a => acct(100 + u128::from(s)),
                _ => None,
            };
            assert_eq!(state.account(1, &addr(a)).unwrap(), want, "shard {s} account {a}");
        }
        let (got, proof) = state.prove(1, &addr(1)).unwrap();
        proof.verify(&roots[usize::from(s)], &addr(1), got.as_ref()).unwrap();
    }
    assert_eq!(db.block(&b1.id()).unwrap().unwrap(), b1);
    assert!(db.block(&b0.id()).unwrap().unwrap().chunks.is_empty());
    assert_eq!(State::new(db.shard(1).unwrap()).account(1, &addr(11)).unwrap(), acct(3));
    assert_eq!(State::new(&db).account(1, &addr(11)).unwrap(), None, "shard 0 does not see shard 1");
    drop(db);
    // Fewer shards than the database holds: refused; zero or past the bound too.
    let e = Db::open_sharded(&path, 2).err().unwrap().to_string();
    assert!(e.contains("holds 3 shards"), "{e}");
    assert!(Db::open_sharded(&path, 0).is_err());
    assert!(Db::open_sharded(&path, 65).is_err());
}

#[test]
fn commit_shards_is_all_or_nothing_and_pruning_covers_every_shard() {
    let path = dir("shards-prune");
    let db = Db::open_sharded(&path, 2).unwrap();
    let st: Vec<_> = (0..2).map(|s| State::new(db.shard(s).unwrap())).collect();
    // commit_shards: the wrong count, or one stale batch, writes nothing.
    let (_, a) = st[0].apply(None, &[(addr(1), acct(1))]).unwrap();
    let (_, b) = st[1].apply(None, &[(addr(2), acct(2))]).unwrap();
    assert!(db.commit_shards(std::slice::from_ref(&a)).is_err());
    db.commit_shards(&[a.clone(), b.clone()]).unwrap();
    let (_, a1) = st[0].apply(Some(0), &[(addr(1), acct(5))]).unwrap();
    assert!(db.commit_shards(&[a1, b]).is_err(), "shard 1's batch is not above its newest");
    assert_eq!(db.shard(0).unwrap().latest().unwrap(), Some(0), "shard 0's batch was not written either");
    assert_eq!(st[0].account(0, &addr(1)).unwrap(), acct(1));
    drop(st);
    drop(db);
    let _ = std::fs::remove_dir_all(&path);

    // Blocks 0..=9 rewriting one account per shard; a dead branch at 3.
    let db = Db::open_sharded(&path, 2).unwrap();
    let st: Vec<_> = (0..2).map(|s| State::new(db.shard(s).unwrap())).collect();
    let mut prev = Hash::default();
    let mut pv = None;
    for h in 0..10u64 {
        let batches: Vec<_> = (0..2u16)
            .map(|s| st[usize::from(s)].apply(pv, &[(addr(s.into()), acct(u128::from(h) + 1))]).unwrap().1)
            .collect();
        let b = super::branch_block(h, prev, u8::try_from(h).unwrap(), 0);
        let w = write(&b, &batches[0], &batches[1..], true);
        db.write_block(&w).unwrap();
        if h == 2 {
            let side = super::branch_block(3, b.id(), 99, 0);
            let sb: Vec<_> =
                st.iter().map(|t| t.apply(Some(batches[0].version), &[(addr(9), acct(9))]).unwrap().1).collect();
            let w = write(&side, &sb[0], &sb[1..], false);
            db.write_block(&w).unwrap();
        }
        (prev, pv) = (b.id(), Some(batches[0].version));
    }
    let before: Vec<_> = (0..2).map(|s| db.count(&cf::for_shard(cf::STATE_NODES, s)).unwrap()).collect();
    let deleted = db.prune_to(7).unwrap();
    assert!(deleted > 0);
    let head = db.head().unwrap().unwrap();
    for s in 0..2u16 {
        let after = db.count(&cf::for_shard(cf::STATE_NODES, s)).unwrap();
        assert!(
            after < before[usize::from(s)],
            "shard {s}: {} nodes before pruning, {after} after",
            before[usize::from(s)]
        );
        // What the head and the states down to the prune height read stays.
        for h in 7..=9u64 {
            let (_, version) = db.canonical(h).unwrap().unwrap();
            assert_eq!(st[usize::from(s)].account(version, &addr(s.into())).unwrap(), acct(u128::from(h) + 1));
        }
        assert_eq!(st[usize::from(s)].account(head.version, &addr(9)).unwrap(), None);
    }
}
