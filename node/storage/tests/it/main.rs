//! RocksDB storage: reopening, schema checks, atomic block writes, the state
//! tree on disk, checkpoints, and damaged data.

use std::path::PathBuf;

use cinder_engine::sig::SecretKey;
use cinder_primitives::*;
use cinder_state::{MemStore, State, StateBatch, StateStore};
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

/// The write of a block of a chain of one shard, weight 1.
fn one_shard<'a>(block: &'a Block, receipts: &'a [Receipt], state: &'a StateBatch, canonical: bool) -> BlockWrite<'a> {
    BlockWrite { block, receipts, state, shards: &[], outgoing: &[], weight: 1, canonical }
}

fn receipts(b: &Block) -> Vec<Receipt> {
    b.transactions.iter().map(|t| Receipt::plain(t.id(), ReceiptStatus::Success, 21_000)).collect()
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
        db.write_block(&one_shard(&b0, &[], &s0, true)).unwrap();
        let (root1, s1) = state.apply(Some(0), &[(addr(2), Some(Account { balance: 7, nonce: 1 }))]).unwrap();
        db.write_block(&one_shard(&b1, &receipts(&b1), &s1, true)).unwrap();
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
    assert!(db.write_block(&one_shard(&b2, &[], &stale, true)).is_err());
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
        db.write_block(&one_shard(&b0, &receipts(&b0), &s0, true)).unwrap();
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
    db.write_block(&one_shard(&b0, &receipts(&b0), &s0, true)).unwrap();
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
        chunks: Default::default(),
    }
}

#[test]
fn a_reorg_moves_the_indexes_and_the_head_in_one_batch() {
    let path = dir("reorg");
    let db = Db::open(&path).unwrap();
    let state = State::new(&db);
    let g = branch_block(0, Hash::default(), 0, 0);
    let (_, s) = state.apply(None, &[(addr(0), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
    db.write_block(&one_shard(&g, &[], &s, true)).unwrap();
    // Branch A (canonical): heights 1, 2.
    let a1 = branch_block(1, g.id(), 10, 2);
    let a2 = branch_block(2, a1.id(), 20, 2);
    let (_, s) = state.apply(Some(0), &[(addr(1), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
    let va1 = s.version;
    db.write_block(&one_shard(&a1, &receipts(&a1), &s, true)).unwrap();
    let (_, s) = state.apply(Some(va1), &[(addr(2), Some(Account { balance: 2, nonce: 0 }))]).unwrap();
    db.write_block(&one_shard(&a2, &receipts(&a2), &s, true)).unwrap();
    // Branch B (stored, not canonical): heights 1, 2, 3.
    let mut b = Vec::new();
    let (mut prev, mut pv) = (g.id(), 0);
    for (h, seed) in [(1u64, 100u8), (2, 110), (3, 120)] {
        let blk = branch_block(h, prev, seed, 3);
        let (_, s) = state.apply(Some(pv), &[(addr(u32::from(seed)), Some(Account { balance: 3, nonce: 0 }))]).unwrap();
        db.write_block(&one_shard(&blk, &receipts(&blk), &s, false)).unwrap();
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
    let w = BlockWrite {
        block: &a3,
        receipts: &receipts(&a3),
        state: &s,
        shards: &[],
        weight: 9,
        canonical: true,
        outgoing: &[],
    };
    assert!(db.write_block(&w).is_err(), "a block off the head cannot simply extend it");
    let head = db.write_block_reorg(&w, &[(a1.id(), va1), (a2.id(), va2)]).unwrap();
    assert_eq!((head.height, head.id), (3, a3.id()));
    assert_eq!(db.canonical(1).unwrap(), Some((a1.id(), va1)));
    assert_eq!(db.canonical(3).unwrap(), Some((a3.id(), s.version)));
    assert_eq!(db.block_meta(&a3.id()).unwrap().map(|m| (m.height, m.weight)), Some((3, 9)));
    assert_eq!(db.transaction_location(&b3.transactions[1].id()).unwrap(), None);
    assert_eq!(db.transaction_location(&a3.transactions[1].id()).unwrap(), Some((a3.id(), 1)));
}

#[test]
fn ordered_records_on_disk_match_a_model_across_random_branches() {
    let path = dir("ordered");
    let db = Db::open(&path).unwrap();
    cinder_state::conformance::ordered_records(&State::new(&db), 0xd15c, 80).unwrap();
    // Reopened, the same.
    drop(db);
    let db = Db::open(&path).unwrap();
    let state = State::new(&db);
    let latest = db.latest().unwrap().unwrap();
    assert!(state.ordered_range(latest, &[], &[0xff; 8], 1_000).is_ok());
}

#[test]
fn pruning_drops_superseded_ordered_entries_and_keeps_what_later_states_read() {
    let path = dir("ordered-prune");
    let db = Db::open(&path).unwrap();
    let state = State::new(&db);
    // Canonical blocks 0..=12, each rewriting k0 and k1, adding k<h> and
    // deleting k<h-2>; a dead branch at height 3 off height 2.
    let rec = |k: String, v: Option<u64>| (k.into_bytes(), v.map(|v| v.to_le_bytes().to_vec()));
    let mut prev = Hash::default();
    let mut pv = None;
    let mut models: Vec<std::collections::BTreeMap<Vec<u8>, Vec<u8>>> = Vec::new();
    let mut model = std::collections::BTreeMap::new();
    let mut versions = Vec::new();
    let mut side_version = 0;
    for h in 0..=12u64 {
        let mut ups =
            vec![rec("k0".into(), Some(h)), rec("k1".into(), Some(h * 10)), rec(format!("k{}", h + 2), Some(h))];
        if h >= 2 {
            ups.push(rec(format!("k{h}"), None));
        }
        for (k, v) in &ups {
            match v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
        let (_, s) = state.apply_records(pv, &[], &[], &ups).unwrap();
        let b = branch_block(h, prev, u8::try_from(h).unwrap(), 0);
        db.write_block(&one_shard(&b, &[], &s, true)).unwrap();
        if h == 2 {
            let side = branch_block(3, b.id(), 99, 0);
            let (_, ss) = state.apply_records(Some(s.version), &[], &[], &[rec("side".into(), Some(1))]).unwrap();
            db.write_block(&one_shard(&side, &[], &ss, false)).unwrap();
            side_version = ss.version;
            assert_eq!(state.ordered_range(side_version, b"side", b"side", 1).unwrap().len(), 1);
        }
        (prev, pv) = (b.id(), Some(s.version));
        versions.push(s.version);
        models.push(model.clone());
    }
    let before = db.count(cf::ORDERED).unwrap();
    db.prune_to(8).unwrap();
    let after = db.count(cf::ORDERED).unwrap();
    assert!(after < before / 2, "{before} index entries before pruning, {after} after");
    assert!(db.count(cf::ORDERED_LOG).unwrap() < 13 * 4 - 8 * 4, "the logs of pruned versions went");
    for h in 8..=12usize {
        let got = state.ordered_range(versions[h], &[], &[0xff; 8], 1_000).unwrap();
        let want: Vec<_> = models[h].iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(got, want, "height {h}");
    }
    // The dead branch's index entry went with its state.
    assert!(state.ordered_range(side_version, b"side", b"side", 1).unwrap().is_empty());
}

#[test]
fn events_are_indexed_by_contract_and_topic_on_the_canonical_chain() {
    use cinder_storage::EventKey;
    let path = dir("events");
    let db = Db::open(&path).unwrap();
    let state = State::new(&db);
    let (c, other) = (Address([0xc0; 32]), Address([0xc1; 32]));
    let (t, u) = (Hash::of(b"T"), Hash::of(b"U"));
    let receipts_with = |b: &Block, events: Vec<(Address, Vec<Hash>)>| -> Vec<Receipt> {
        let mut rs = receipts(b);
        let evs: Vec<Event> = events
            .into_iter()
            .map(|(contract, topics)| Event {
                contract,
                topics: Bounded::new(topics).unwrap(),
                data: BoundedBytes::default(),
            })
            .collect();
        rs[1].events = Bounded::new(evs).unwrap();
        rs
    };
    let g = branch_block(0, Hash::default(), 0, 0);
    let (_, s) = state.apply(None, &[]).unwrap();
    db.write_block(&one_shard(&g, &[], &s, true)).unwrap();
    let a1 = branch_block(1, g.id(), 10, 2);
    let ra = receipts_with(&a1, vec![(c, vec![t]), (other, vec![u, t])]);
    let (_, s) = state.apply(Some(0), &[(addr(1), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
    db.write_block(&one_shard(&a1, &ra, &s, true)).unwrap();
    assert_eq!(db.events(EventKey::Contract(c), 0, 10, 100).unwrap(), vec![(1, 1, 0)]);
    assert_eq!(db.events(EventKey::Topic(0, t), 0, 10, 100).unwrap(), vec![(1, 1, 0)]);
    assert_eq!(db.events(EventKey::Topic(1, t), 0, 10, 100).unwrap(), vec![(1, 1, 1)]);
    assert_eq!(db.events(EventKey::Topic(0, u), 0, 10, 100).unwrap(), vec![(1, 1, 1)]);
    assert!(db.events(EventKey::Contract(c), 2, 10, 100).unwrap().is_empty(), "the height range");
    assert!(db.events(EventKey::Topic(0, t), 0, 10, 0).is_err(), "past the limit");
    // A side branch of two blocks with other events, then a reorg to it.
    let b1 = branch_block(1, g.id(), 20, 2);
    let rb1 = receipts_with(&b1, vec![(c, vec![u])]);
    let (_, s) = state.apply(Some(0), &[(addr(2), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
    db.write_block(&one_shard(&b1, &rb1, &s, false)).unwrap();
    assert_eq!(db.events(EventKey::Contract(c), 0, 10, 100).unwrap(), vec![(1, 1, 0)], "side blocks are not indexed");
    let b2 = branch_block(2, b1.id(), 21, 2);
    let rb2 = receipts_with(&b2, vec![(c, vec![t])]);
    let (_, s2) = state.apply(Some(s.version), &[(addr(3), Some(Account { balance: 1, nonce: 0 }))]).unwrap();
    let w =
        BlockWrite { block: &b2, receipts: &rb2, state: &s2, shards: &[], weight: 5, canonical: true, outgoing: &[] };
    db.write_block_reorg(&w, &[(b1.id(), s.version)]).unwrap();
    assert_eq!(db.events(EventKey::Contract(c), 0, 10, 100).unwrap(), vec![(1, 1, 0), (2, 1, 0)]);
    assert_eq!(db.events(EventKey::Topic(0, t), 0, 10, 100).unwrap(), vec![(2, 1, 0)], "a1's went with it");
    assert!(db.events(EventKey::Contract(other), 0, 10, 100).unwrap().is_empty());
}

mod shards;
