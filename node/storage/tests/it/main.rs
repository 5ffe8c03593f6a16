//! RocksDB storage: reopening, schema checks, atomic block writes, the state
//! tree on disk, checkpoints, and damaged data.

use std::path::PathBuf;

use cinder_engine::sig::SecretKey;
use cinder_primitives::*;
use cinder_state::{MemStore, State, StateStore};
use cinder_storage::{BlockWrite, Db, SCHEMA_VERSION, cf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinder-storage-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn addr(i: u32) -> Address {
    Address(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

fn block(height: u64, prev: Hash, ntx: u8) -> Block {
    branch_block(height, prev, 0, ntx)
}

fn receipts(b: &Block) -> Vec<Receipt> {
    b.transactions.iter().map(|t| Receipt { tx_id: t.id(), status: ReceiptStatus::Success, gas_used: 21_000 }).collect()
}

#[test]
fn blocks_state_and_indexes_survive_a_reopen() {
    let path = dir("reopen");
    let b0 = block(0, Hash::default(), 0);
    let b1 = block(1, b0.id(), 3);
    {
        let db = Db::open(&path).unwrap();
        assert_eq!(db.head().unwrap(), None);
        let state = State::new(&db);
        let (_, s0) = state.apply(None, &[(addr(1), Some(Account { balance: 100, nonce: 0 }))]).unwrap();
        db.write_block(&BlockWrite { block: &b0, receipts: &[], state: &s0, weight: 1, canonical: true }).unwrap();
        let (root1, s1) = state.apply(Some(0), &[(addr(2), Some(Account { balance: 7, nonce: 1 }))]).unwrap();
        db.write_block(&BlockWrite { block: &b1, receipts: &receipts(&b1), state: &s1, weight: 1, canonical: true })
            .unwrap();
        assert_eq!(state.root(1).unwrap(), root1);
    }
    let db = Db::open(&path).unwrap();
    let head = db.head().unwrap().unwrap();
    assert_eq!((head.height, head.id, head.version), (1, b1.id(), 1));
    assert_eq!(db.block(&b1.id()).unwrap().unwrap(), b1);
    assert_eq!(db.receipts(&b1.id()).unwrap().unwrap(), receipts(&b1));
    assert_eq!(db.canonical(0).unwrap(), Some((b0.id(), 0)));
    assert_eq!(db.transaction_location(&b1.transactions[2].id()).unwrap(), Some((b1.id(), 2)));
    let state = State::new(&db);
    assert_eq!(state.account(1, &addr(1)).unwrap(), Some(Account { balance: 100, nonce: 0 }));
    assert_eq!(state.account(1, &addr(2)).unwrap(), Some(Account { balance: 7, nonce: 1 }));
    assert_eq!(state.account(0, &addr(2)).unwrap(), None);
    let (acct, proof) = state.prove(1, &addr(2)).unwrap();
    proof.verify(&state.root(1).unwrap(), &addr(2), acct.as_ref()).unwrap();
    // A state version that does not go up is refused, and nothing is written.
    let (_, stale) = State::new(MemStore::default()).apply(None, &[]).unwrap();
    let b2 = block(2, b1.id(), 1);
    assert!(
        db.write_block(&BlockWrite { block: &b2, receipts: &[], state: &stale, weight: 1, canonical: true }).is_err()
    );
    assert_eq!(db.head().unwrap().unwrap().height, 1);
    assert!(db.header(&b2.id()).unwrap().is_none());
}

#[test]
fn the_state_on_disk_matches_the_state_in_memory_across_branches() {
    let path = dir("branches");
    let db = Db::open(&path).unwrap();
    let on_disk = State::new(&db);
    let in_mem = State::new(MemStore::default());
    // (parent index into `versions`, updates)
    type Step = (Option<usize>, Vec<(u32, Option<u128>)>);
    let script: Vec<Step> = vec![
        (None, vec![(1, Some(10)), (2, Some(20))]),
        (Some(0), vec![(1, Some(11)), (3, Some(30))]),
        (Some(1), vec![(2, None)]),
        (Some(0), vec![(2, Some(21)), (4, Some(40))]), // a competing branch
        (Some(3), vec![(5, Some(50))]),
        (Some(2), vec![(6, Some(60))]), // back to the first branch
    ];
    let mut versions = Vec::new();
    for (parent, ups) in script {
        let updates: Vec<_> =
            ups.iter().map(|(a, b)| (addr(*a), b.map(|b| Account { balance: b, nonce: 0 }))).collect();
        let p = parent.map(|i| versions[i]);
        let (vd, rd) = on_disk.commit(p, &updates).unwrap();
        let (vm, rm) = in_mem.commit(p, &updates).unwrap();
        assert_eq!((vd, rd), (vm, rm));
        versions.push(vd);
    }
    for &v in &versions {
        for a in 0..8 {
            assert_eq!(on_disk.account(v, &addr(a)).unwrap(), in_mem.account(v, &addr(a)).unwrap(), "v{v} a{a}");
        }
    }
    assert_eq!(db.latest().unwrap(), Some(*versions.last().unwrap()));
}

#[test]
fn a_foreign_or_newer_database_is_refused_with_a_clear_message() {
    let path = dir("schema");
    drop(Db::open(&path).unwrap());
    {
        let mut o = rocksdb::Options::default();
        o.create_missing_column_families(true);
        let raw = rocksdb::DB::open_cf(&o, &path, cf::ALL).unwrap();
        raw.put_cf(raw.cf_handle(cf::META).unwrap(), b"schema_version", (SCHEMA_VERSION + 1).to_le_bytes()).unwrap();
    }
    let e = Db::open(&path).err().unwrap().to_string();
    assert!(e.contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "{e}");
    {
        let o = rocksdb::Options::default();
        let raw = rocksdb::DB::open_cf(&o, &path, cf::ALL).unwrap();
        raw.delete_cf(raw.cf_handle(cf::META).unwrap(), b"schema_version").unwrap();
        raw.put_cf(raw.cf_handle(cf::HEADERS).unwrap(), b"x", b"y").unwrap();
    }
    let e = Db::open(&path).err().unwrap().to_string();
    assert!(e.contains("no schema version"), "{e}");
}

#[test]
fn damaged_records_are_errors_not_panics() {
    let path = dir("damaged");
    let b0 = block(0, Hash::default(), 2);
    {
        let db = Db::open(&path).unwrap();
        let (_, s0) = State::new(&db).apply(None, &[(addr(1), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
        db.write_block(&BlockWrite { block: &b0, receipts: &receipts(&b0), state: &s0, weight: 1, canonical: true })
            .unwrap();
    }
    {
        let o = rocksdb::Options::default();
        let raw = rocksdb::DB::open_cf(&o, &path, cf::ALL).unwrap();
        raw.put_cf(raw.cf_handle(cf::HEADERS).unwrap(), b0.id().0, [1u8, 2, 3]).unwrap();
        raw.put_cf(raw.cf_handle(cf::RECEIPTS).unwrap(), b0.id().0, [0xffu8; 7]).unwrap();
        raw.put_cf(raw.cf_handle(cf::META).unwrap(), b"head", [0u8; 3]).unwrap();
        let mut it = raw.iterator_cf(raw.cf_handle(cf::STATE_VALUES).unwrap(), rocksdb::IteratorMode::Start);
        let (k, _) = it.next().unwrap().unwrap();
        raw.put_cf(raw.cf_handle(cf::STATE_VALUES).unwrap(), &k, [9u8; 5]).unwrap();
    }
    let db = Db::open(&path).unwrap();
    assert!(db.header(&b0.id()).is_err());
    assert!(db.block(&b0.id()).is_err());
    assert!(db.receipts(&b0.id()).is_err());
    assert!(db.head().is_err());
    assert!(State::new(&db).account(0, &addr(1)).is_err());
}

#[test]
fn a_checkpoint_opens_as_the_same_chain() {
    let path = dir("ckpt-src");
    let target = dir("ckpt-dst");
    let b0 = block(0, Hash::default(), 1);
    let db = Db::open(&path).unwrap();
    let (_, s0) = State::new(&db).apply(None, &[(addr(9), Some(Account { balance: 9, nonce: 9 }))]).unwrap();
    db.write_block(&BlockWrite { block: &b0, receipts: &receipts(&b0), state: &s0, weight: 1, canonical: true })
        .unwrap();
    db.checkpoint(&target).unwrap();
    assert!(db.checkpoint(&target).is_err(), "the target exists");
    let copy = Db::open(&target).unwrap();
    assert_eq!(copy.head().unwrap(), db.head().unwrap());
    assert_eq!(State::new(&copy).account(0, &addr(9)).unwrap(), Some(Account { balance: 9, nonce: 9 }));
}

/// A block of `ntx` transfers from keys seeded `seed..`, distinct per branch.
fn branch_block(height: u64, prev: Hash, seed: u8, ntx: u8) -> Block {
    let txs: Vec<SignedTransaction> = (0..ntx)
        .map(|i| {
            let k = SecretKey::from_seed(&[seed.wrapping_add(i); 32]);
            Transaction {
                chain_id: 1,
                sender: k.public_key(),
                nonce: height,
                gas_limit: 21_000,
                gas_price: 1,
                kind: TxKind::Transfer { to: addr(u32::from(seed)), amount: 1 },
            }
            .sign(&k)
        })
        .collect();
    let fields = HeaderFields { height, extra_nonce: u64::from(seed), ..HeaderFields::default() };
    Block {
        header: Header::new(prev, 1_700_000_000, 0x207f_ffff, fields),
        transactions: Bounded::new(txs).unwrap(),
        last_commit: None,
    }
}

#[test]
fn a_reorg_moves_the_indexes_and_the_head_in_one_batch() {
    let path = dir("reorg");
    let db = Db::open(&path).unwrap();
    let state = State::new(&db);
    let g = branch_block(0, Hash::default(), 0, 0);
    let (_, s) = state.apply(None, &[(addr(0), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
    db.write_block(&BlockWrite { block: &g, receipts: &[], state: &s, weight: 1, canonical: true }).unwrap();
    // Branch A (canonical): heights 1, 2.
    let a1 = branch_block(1, g.id(), 10, 2);
    let a2 = branch_block(2, a1.id(), 20, 2);
    let (_, s) = state.apply(Some(0), &[(addr(1), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
    let va1 = s.version;
    db.write_block(&BlockWrite { block: &a1, receipts: &receipts(&a1), state: &s, weight: 1, canonical: true })
        .unwrap();
    let (_, s) = state.apply(Some(va1), &[(addr(2), Some(Account { balance: 2, nonce: 0 }))]).unwrap();
    db.write_block(&BlockWrite { block: &a2, receipts: &receipts(&a2), state: &s, weight: 1, canonical: true })
        .unwrap();
    // Branch B (stored, not canonical): heights 1, 2, 3.
    let mut b = Vec::new();
    let (mut prev, mut pv) = (g.id(), 0);
    for (h, seed) in [(1u64, 100u8), (2, 110), (3, 120)] {
        let blk = branch_block(h, prev, seed, 3);
        let (_, s) = state.apply(Some(pv), &[(addr(u32::from(seed)), Some(Account { balance: 3, nonce: 0 }))]).unwrap();
        db.write_block(&BlockWrite { block: &blk, receipts: &receipts(&blk), state: &s, weight: 1, canonical: false })
            .unwrap();
        b.push((blk.id(), s.version));
        (prev, pv) = (blk.id(), s.version);
        assert_eq!(db.head().unwrap().unwrap().id, a2.id(), "a side block does not move the head");
    }
    // A branch that does not start on the canonical chain is refused, changing nothing.
    assert!(db.reorg(&b[1..]).is_err());
    assert!(db.reorg(&[b[0], b[2]]).is_err(), "a gap in the branch");
    assert_eq!(db.head().unwrap().unwrap().id, a2.id());
    let head = db.reorg(&b).unwrap();
    assert_eq!((head.height, head.id, head.version), (3, b[2].0, b[2].1));
    drop(db);
    let db = Db::open(&path).unwrap();
    assert_eq!(db.head().unwrap(), Some(head));
    for (i, (id, v)) in b.iter().enumerate() {
        assert_eq!(db.canonical(i as u64 + 1).unwrap(), Some((*id, *v)));
    }
    for tx in a1.transactions.iter().chain(a2.transactions.iter()) {
        assert_eq!(db.transaction_location(&tx.id()).unwrap(), None, "A's transactions left the index");
    }
    let b3 = db.block(&b[2].0).unwrap().unwrap();
    assert_eq!(db.transaction_location(&b3.transactions[1].id()).unwrap(), Some((b[2].0, 1)));
    // Both branches' states stay readable; A's blocks stay stored.
    let state = State::new(&db);
    assert_eq!(state.account(b[2].1, &addr(120)).unwrap(), Some(Account { balance: 3, nonce: 0 }));
    assert_eq!(state.account(b[2].1, &addr(2)).unwrap(), None);
    assert!(db.block(&a2.id()).unwrap().is_some());
    // A new block on A takes A back in the same batch that stores it.
    let a3 = branch_block(3, a2.id(), 30, 2);
    let va2 = db.block_meta(&a2.id()).unwrap().unwrap().version;
    let (_, s) = state.apply(Some(va2), &[(addr(3), Some(Account { balance: 4, nonce: 0 }))]).unwrap();
    let w = BlockWrite { block: &a3, receipts: &receipts(&a3), state: &s, weight: 9, canonical: true };
    assert!(db.write_block(&w).is_err(), "a block off the head cannot simply extend it");
    let head = db.write_block_reorg(&w, &[(a1.id(), va1), (a2.id(), va2)]).unwrap();
    assert_eq!((head.height, head.id), (3, a3.id()));
    assert_eq!(db.canonical(1).unwrap(), Some((a1.id(), va1)));
    assert_eq!(db.canonical(3).unwrap(), Some((a3.id(), s.version)));
    assert_eq!(db.block_meta(&a3.id()).unwrap().map(|m| (m.height, m.weight)), Some((3, 9)));
    assert_eq!(db.transaction_location(&b3.transactions[1].id()).unwrap(), None);
    assert_eq!(db.transaction_location(&a3.transactions[1].id()).unwrap(), Some((a3.id(), 1)));
}
