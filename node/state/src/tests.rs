use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn addr(i: u32) -> Address {
    Address(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

fn acct(balance: u128, nonce: u64) -> Account {
    Account { balance, nonce }
}

/// The root of a fresh tree holding exactly `model`, built in one version.
fn fresh_root(model: &BTreeMap<u32, Account>) -> Hash {
    let s = State::new(MemStore::default());
    let updates: Vec<_> = model.iter().map(|(a, v)| (addr(*a), Some(*v))).collect();
    s.commit(None, &updates).unwrap().1
}

#[test]
fn empty_state_and_genesis() {
    let s = State::new(MemStore::default());
    let (v, root) = s.commit(None, &[]).unwrap();
    assert_eq!((v, root), (0, empty_root()));
    assert!(s.store().node(&root_key(0).unwrap()).unwrap().is_some(), "root_key matches jmt's root key");
    assert!(s.commit(None, &[]).is_err(), "a second genesis");
    assert!(s.apply(Some(5), &[]).is_err(), "a parent that does not exist");
    let (v1, r1) = s.commit(Some(0), &[(addr(1), Some(acct(5, 0)))]).unwrap();
    assert_eq!(v1, 1);
    assert_ne!(r1, empty_root());
    assert_eq!(s.root(1).unwrap(), r1);
    assert_eq!(s.account(1, &addr(1)).unwrap(), Some(acct(5, 0)));
    assert_eq!(s.account(0, &addr(1)).unwrap(), None);
}

#[test]
fn data_records_share_the_tree_follow_versions_and_branches() {
    let s = State::new(MemStore::default());
    let ledger = data_key("staking", b"ledger");
    assert_ne!(ledger, data_key("staking", b"ledger2"));
    assert_ne!(data_key("a", b"bc"), data_key("ab", b"c"), "the namespace length separates them");
    assert_ne!(ledger, account_key(&Address(*ledger.0.first_chunk().unwrap())));
    let (v0, r0) = s.commit(None, &[(addr(1), Some(acct(10, 0)))]).unwrap();
    // A record changes the root; reading it back at its version only.
    let (r1, b1) = s.apply_all(Some(v0), &[], &[(ledger, Some(b"one".to_vec()))]).unwrap();
    assert_ne!(r1, r0);
    s.store().commit(&b1).unwrap();
    let v1 = b1.version;
    assert_eq!(s.data(v1, ledger).unwrap(), Some(b"one".to_vec()));
    assert_eq!(s.data(v0, ledger).unwrap(), None);
    assert_eq!(s.account(v1, &addr(1)).unwrap(), Some(acct(10, 0)), "accounts untouched");
    // Accounts and records in one commit; the same content gives the same
    // root whichever way it was built.
    let (r2, b2) = s.apply_all(Some(v1), &[(addr(2), Some(acct(5, 1)))], &[(ledger, Some(b"two".to_vec()))]).unwrap();
    s.store().commit(&b2).unwrap();
    let fresh = State::new(MemStore::default());
    let (_, fresh_r) = {
        let (r, b) = fresh
            .apply_all(
                None,
                &[(addr(1), Some(acct(10, 0))), (addr(2), Some(acct(5, 1)))],
                &[(ledger, Some(b"two".to_vec()))],
            )
            .unwrap();
        fresh.store().commit(&b).unwrap();
        (b.version, r)
    };
    assert_eq!(r2, fresh_r);
    // A competing branch on v1 sees its own record, not v2's.
    let (_, b3) = s.apply_all(Some(v1), &[], &[(ledger, Some(b"branch".to_vec()))]).unwrap();
    s.store().commit(&b3).unwrap();
    assert_eq!(s.data(b3.version, ledger).unwrap(), Some(b"branch".to_vec()));
    assert_eq!(s.data(b2.version, ledger).unwrap(), Some(b"two".to_vec()));
    // Deleting it.
    let (_, b4) = s.apply_all(Some(b2.version), &[], &[(ledger, None)]).unwrap();
    s.store().commit(&b4).unwrap();
    assert_eq!(s.data(b4.version, ledger).unwrap(), None);
    assert_eq!(s.data(b2.version, ledger).unwrap(), Some(b"two".to_vec()));
}

#[test]
fn proofs_of_presence_and_absence_verify_and_tampering_fails() {
    let s = State::new(MemStore::default());
    let updates: Vec<_> = (0..200).map(|i| (addr(i), Some(acct(u128::from(i) * 10, u64::from(i))))).collect();
    let (v, root) = s.commit(None, &updates).unwrap();
    for i in [0u32, 7, 199] {
        let (a, proof) = s.prove(v, &addr(i)).unwrap();
        assert_eq!(a, Some(acct(u128::from(i) * 10, u64::from(i))));
        proof.verify(&root, &addr(i), a.as_ref()).unwrap();
        // A different balance, no account, another root: all fail.
        assert!(proof.verify(&root, &addr(i), Some(&acct(1, 1))).is_err());
        assert!(proof.verify(&root, &addr(i), None).is_err());
        assert!(proof.verify(&empty_root(), &addr(i), a.as_ref()).is_err());
    }
    let (none, proof) = s.prove(v, &addr(5000)).unwrap();
    assert_eq!(none, None);
    proof.verify(&root, &addr(5000), None).unwrap();
    assert!(proof.verify(&root, &addr(5000), Some(&acct(1, 0))).is_err());
}

#[test]
fn competing_branches_keep_their_own_states() {
    let s = State::new(MemStore::default());
    let (g, _) = s.commit(None, &[(addr(1), Some(acct(100, 0))), (addr(2), Some(acct(50, 0)))]).unwrap();
    // Branch A: two blocks on genesis.
    let (a1, ra1) = s.commit(Some(g), &[(addr(1), Some(acct(90, 1))), (addr(3), Some(acct(10, 0)))]).unwrap();
    let (a2, ra2) = s.commit(Some(a1), &[(addr(2), None)]).unwrap();
    // Branch B: a competing block at the same height as a1, then one more.
    let (b1, rb1) = s.commit(Some(g), &[(addr(2), Some(acct(40, 1))), (addr(1), Some(acct(110, 0)))]).unwrap();
    let (b2, rb2) = s.commit(Some(b1), &[(addr(4), Some(acct(1, 0)))]).unwrap();
    assert!(b1 > a2 + 1, "B starts after a link version");
    // Every version still reads as its own branch.
    assert_eq!(s.root(a1).unwrap(), ra1);
    assert_eq!(s.root(a2).unwrap(), ra2);
    assert_eq!(s.root(b1).unwrap(), rb1);
    assert_eq!(s.account(a2, &addr(2)).unwrap(), None);
    assert_eq!(s.account(a2, &addr(3)).unwrap(), Some(acct(10, 0)));
    assert_eq!(s.account(b2, &addr(3)).unwrap(), None, "B never saw A's account 3");
    assert_eq!(s.account(b2, &addr(2)).unwrap(), Some(acct(40, 1)));
    assert_eq!(s.account(b2, &addr(1)).unwrap(), Some(acct(110, 0)));
    assert_eq!(s.account(b2, &addr(4)).unwrap(), Some(acct(1, 0)));
    // B's roots equal a fresh replay of B's contents; proofs verify on B.
    let model = BTreeMap::from([(1, acct(110, 0)), (2, acct(40, 1)), (4, acct(1, 0))]);
    assert_eq!(rb2, fresh_root(&model));
    let (a, proof) = s.prove(b2, &addr(3)).unwrap();
    assert_eq!(a, None);
    proof.verify(&rb2, &addr(3), None).unwrap();
    // Back to A after B: a second link.
    let (a3, ra3) = s.commit(Some(a2), &[(addr(5), Some(acct(5, 5)))]).unwrap();
    let model = BTreeMap::from([(1, acct(90, 1)), (3, acct(10, 0)), (5, acct(5, 5))]);
    assert_eq!(ra3, fresh_root(&model));
    assert_eq!(s.account(a3, &addr(4)).unwrap(), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random updates over many versions and branches: every root equals
    /// the root of a fresh tree with the same accounts (the tree's shape
    /// depends only on its contents), and every account reads back.
    #[test]
    fn roots_equal_a_fresh_replay(steps in prop::collection::vec((0usize..4, prop::collection::vec((0u32..60, any::<Option<(u64, u8)>>()), 0..25)), 1..12)) {
        let s = State::new(MemStore::default());
        let (g, _) = s.commit(None, &[]).unwrap();
        // (version, model) of every committed state.
        let mut states: Vec<(Version, BTreeMap<u32, Account>)> = vec![(g, BTreeMap::new())];
        for (back, ups) in steps {
            let (parent, mut model) = states[states.len().saturating_sub(1 + back)].clone();
            let updates: Vec<_> = ups
                .iter()
                .map(|(a, v)| (addr(*a), v.map(|(b, n)| acct(u128::from(b), u64::from(n)))))
                .collect();
            for (a, v) in &ups {
                match v {
                    Some((b, n)) => { model.insert(*a, acct(u128::from(*b), u64::from(*n))); }
                    None => { model.remove(a); }
                }
            }
            let (v, root) = s.commit(Some(parent), &updates).unwrap();
            prop_assert_eq!(root, fresh_root(&model));
            states.push((v, model));
        }
        for (v, model) in &states {
            for a in 0..60u32 {
                prop_assert_eq!(s.account(*v, &addr(a)).unwrap(), model.get(&a).copied());
            }
        }
    }
}

#[test]
fn an_overlay_builds_on_its_base_without_writing_to_it() {
    let base = State::new(MemStore::default());
    let (v0, _) = base.commit(None, &[(addr(1), Some(acct(10, 0)))]).unwrap();
    let overlay = State::new(Overlay::new(base.store()));
    let (v1, r1) = overlay.commit(Some(v0), &[(addr(2), Some(acct(20, 0)))]).unwrap();
    let (v2, r2) = overlay.commit(Some(v1), &[(addr(1), Some(acct(5, 1)))]).unwrap();
    assert_eq!(overlay.account(v2, &addr(1)).unwrap(), Some(acct(5, 1)));
    assert_eq!(overlay.account(v2, &addr(2)).unwrap(), Some(acct(20, 0)));
    assert_eq!(overlay.account(v0, &addr(1)).unwrap(), Some(acct(10, 0)));
    assert_eq!(base.store().latest().unwrap(), Some(v0), "the base is untouched");
    // The same commits on the base give the same roots and versions.
    assert_eq!(base.commit(Some(v0), &[(addr(2), Some(acct(20, 0)))]).unwrap(), (v1, r1));
    assert_eq!(base.commit(Some(v1), &[(addr(1), Some(acct(5, 1)))]).unwrap(), (v2, r2));
    assert!(overlay.store().commit(&StateBatch { version: v0, ..Default::default() }).is_err());
}

/// Keys with few distinct leading nibbles, so random sets share long
/// prefixes (single-child chains, leaves pushed down).
fn clustered_key(seed: u16) -> KeyHash {
    let mut k = *blake3::hash(&seed.to_le_bytes()).as_bytes();
    k[0] = [0x00, 0x01, 0x10, 0xff][usize::from(seed % 4)];
    k[1] = [0x00, 0x0f][usize::from(seed / 4 % 2)];
    KeyHash(k)
}

fn jmt_batch(
    store: &MemStore,
    version: Version,
    kvs: &BTreeMap<KeyHash, Vec<u8>>,
) -> (Hash, jmt::storage::TreeUpdateBatch) {
    let reader = Reader { store, pending: None };
    let (mut roots, update) =
        Tree::new(&reader).batch_put_value_sets(vec![kvs.clone().into_iter().collect()], None, version).unwrap();
    (Hash(roots.pop().unwrap().0), update)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn parallel_insertion_writes_exactly_what_jmt_writes(
        initial in prop::collection::btree_set(any::<u16>(), 1..80),
        inserts in prop::collection::btree_map(any::<u16>(), any::<u8>(), 1..80),
    ) {
        let store = MemStore::default();
        let init: BTreeMap<KeyHash, Vec<u8>> = initial.iter().map(|s| (clustered_key(*s), vec![1, 2])).collect();
        let (_, update) = jmt_batch(&store, 0, &init);
        let nodes = update.node_batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())).collect();
        let values = update.node_batch.values().iter().map(|((v, k), val)| (*v, *k, val.clone())).collect();
        store.commit(&StateBatch { version: 0, nodes, values, link: None, stale: Vec::new(), ordered: Vec::new() }).unwrap();

        let kvs: BTreeMap<KeyHash, Vec<u8>> = inserts.iter().map(|(s, v)| (clustered_key(*s), vec![*v])).collect();
        let (root, expected) = jmt_batch(&store, 1, &kvs);
        let hashed: Vec<(KeyHash, jmt::ValueHash)> =
            kvs.iter().map(|(k, v)| (*k, jmt::ValueHash::with::<Blake3Hasher>(v))).collect();
        let old_root = store.node(&root_key(0).unwrap()).unwrap().unwrap();
        let (got_root, w) = parallel::insert_batch(&store, 1, root_key(0).unwrap(), old_root, &hashed).unwrap().unwrap();
        prop_assert_eq!(Hash(got_root), root);
        let want_nodes: HashMap<_, _> = expected.node_batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())).collect();
        prop_assert_eq!(w.nodes.len(), want_nodes.len(), "no node written twice");
        prop_assert_eq!(w.stale.len(), expected.stale_node_index_batch.len(), "no node staled twice");
        let got_nodes: HashMap<_, _> = w.nodes.into_iter().collect();
        prop_assert_eq!(got_nodes, want_nodes);
        let want_stale: std::collections::HashSet<_> = expected.stale_node_index_batch.iter().map(|s| s.node_key.clone()).collect();
        let got_stale: std::collections::HashSet<_> = w.stale.into_iter().collect();
        prop_assert_eq!(got_stale, want_stale);
    }
}

#[test]
fn ordered_records_list_in_key_order_per_version_and_branch() {
    let s = State::new(MemStore::default());
    let rec = |k: &[u8], v: &[u8]| (k.to_vec(), Some(v.to_vec()));
    let (_, b0) = s.apply_records(None, &[], &[], &[rec(b"a1", b"x"), rec(b"a2", b"y"), rec(b"b1", b"z")]).unwrap();
    s.store().commit(&b0).unwrap();
    let range = |v, from: &[u8], to: &[u8], limit| s.ordered_range(v, from, to, limit).unwrap();
    let keys = |r: Vec<(Vec<u8>, Vec<u8>)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(range(0, b"a", b"a\xff", 10), vec![(b"a1".to_vec(), b"x".to_vec()), (b"a2".to_vec(), b"y".to_vec())]);
    assert_eq!(keys(range(0, b"a", b"z", 2)), vec![b"a1".to_vec(), b"a2".to_vec()], "the limit");
    assert_eq!(keys(range(0, b"a2", b"a2", 10)), vec![b"a2".to_vec()], "both ends inclusive");
    assert!(range(0, b"b", b"a", 10).is_empty(), "an empty range");
    // v1 deletes a1 and adds a3; v0 still lists a1.
    let (r1, b1) = s.apply_records(Some(0), &[], &[], &[(b"a1".to_vec(), None), rec(b"a3", b"w")]).unwrap();
    s.store().commit(&b1).unwrap();
    assert_eq!(keys(range(1, b"a", b"a\xff", 10)), vec![b"a2".to_vec(), b"a3".to_vec()]);
    assert_eq!(keys(range(0, b"a", b"a\xff", 10)), vec![b"a1".to_vec(), b"a2".to_vec()]);
    assert_eq!(s.ordered(1, b"a1").unwrap(), None);
    // A competing branch on v0 never sees v1's changes.
    let (_, b2) = s.apply_records(Some(0), &[], &[], &[rec(b"a0", b"q")]).unwrap();
    s.store().commit(&b2).unwrap();
    assert!(b2.link.is_some());
    assert_eq!(keys(range(b2.version, b"a", b"a\xff", 10)), vec![b"a0".to_vec(), b"a1".to_vec(), b"a2".to_vec()]);
    // An ordered record is proven like any record, under its tree key.
    let (value, proof) = s.prove_data(1, ordered_key(b"a3")).unwrap();
    assert_eq!(value.as_deref(), Some(&b"w"[..]));
    proof.verify(&r1, ordered_key(b"a3"), Some(b"w")).unwrap();
    assert!(proof.verify(&r1, ordered_key(b"a3"), Some(b"v")).is_err());
    let (none, proof) = s.prove_data(1, ordered_key(b"a1")).unwrap();
    assert!(none.is_none());
    proof.verify(&r1, ordered_key(b"a1"), None).unwrap();
    // The same content gives the same root whichever way it was written.
    let fresh = State::new(MemStore::default());
    let (fresh_root, _) =
        fresh.apply_records(None, &[], &[], &[rec(b"a2", b"y"), rec(b"a3", b"w"), rec(b"b1", b"z")]).unwrap();
    assert_eq!(r1, fresh_root);
}

#[test]
fn ordered_records_match_a_model_across_random_branches() {
    conformance::ordered_records(&State::new(MemStore::default()), 0x5eed, 60).unwrap();
}

#[test]
fn an_overlay_lists_ordered_records_of_both_layers() {
    let base = State::new(MemStore::default());
    let (_, b0) = base.apply_records(None, &[], &[], &[(b"k1".to_vec(), Some(b"1".to_vec()))]).unwrap();
    base.store().commit(&b0).unwrap();
    let overlay = State::new(Overlay::new(base.store()));
    let (_, b1) = overlay
        .apply_records(Some(0), &[], &[], &[(b"k0".to_vec(), Some(b"0".to_vec())), (b"k1".to_vec(), None)])
        .unwrap();
    overlay.store().commit(&b1).unwrap();
    let got = overlay.ordered_range(1, b"k", b"k\xff", 10).unwrap();
    assert_eq!(got, vec![(b"k0".to_vec(), b"0".to_vec())]);
    assert_eq!(overlay.ordered_range(0, b"k", b"k\xff", 10).unwrap(), vec![(b"k1".to_vec(), b"1".to_vec())]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Pipelined import's view: each batch computed on `Pending` over a
    /// store one batch behind gives the batch computed on a store holding
    /// everything (same version, root, nodes, values and index), across
    /// branches, deletions, data and ordered records; and reads through the
    /// pending view equal reads of the full store.
    #[test]
    fn a_pending_batch_reads_as_if_committed(
        steps in prop::collection::vec(
            (0usize..3, prop::collection::vec((0u32..40, any::<Option<(u64, u8)>>()), 0..16), prop::collection::vec((0u8..12, any::<Option<u8>>()), 0..6)),
            1..10,
        )
    ) {
        let full = State::new(MemStore::default());
        let lag = MemStore::default();
        let (_, g) = full.apply(None, &[]).unwrap();
        full.store().commit(&g).unwrap();
        lag.commit(&g).unwrap();
        let mut versions = vec![g.version];
        let mut pending: Option<StateBatch> = None;
        for (back, ups, recs) in steps {
            let parent = versions[versions.len().saturating_sub(1 + back)];
            let updates: Vec<_> =
                ups.iter().map(|(a, v)| (addr(*a), v.map(|(b, n)| acct(u128::from(b), u64::from(n))))).collect();
            let ordered: Vec<_> = recs.iter().map(|(k, v)| (vec![b'k', *k], v.map(|x| vec![x]))).collect();
            let data: Vec<_> = recs.iter().map(|(k, v)| (data_key("t", &[*k]), v.map(|x| vec![x, 1]))).collect();
            let view = State::new(Pending::new(&lag, pending.as_ref()));
            let (root, batch) = view.apply_records(Some(parent), &updates, &data, &ordered).unwrap();
            let (want_root, want) = full.apply_records(Some(parent), &updates, &data, &ordered).unwrap();
            prop_assert_eq!(root, want_root);
            prop_assert_eq!(batch.version, want.version);
            prop_assert_eq!(&batch.values, &want.values);
            prop_assert_eq!(&batch.ordered, &want.ordered);
            prop_assert_eq!(batch.link, want.link);
            let sorted = |b: &StateBatch| { let mut n: Vec<_> = b.nodes.iter().map(|(k, n)| (k.clone(), n.clone())).collect(); n.sort_by(|a, b| a.0.cmp(&b.0)); n };
            prop_assert_eq!(sorted(&batch), sorted(&want));
            full.store().commit(&want).unwrap();
            // The lagging store catches up with the batch before last.
            if let Some(p) = pending.take() {
                lag.commit(&p).unwrap();
            }
            pending = Some(batch);
            versions.push(want.version);
            let view = State::new(Pending::new(&lag, pending.as_ref()));
            for v in &versions {
                prop_assert_eq!(view.root(*v).unwrap(), full.root(*v).unwrap());
                for a in 0..40u32 {
                    prop_assert_eq!(view.account(*v, &addr(a)).unwrap(), full.account(*v, &addr(a)).unwrap());
                }
                prop_assert_eq!(view.ordered_range(*v, b"k", b"k\xff", 20).unwrap(), full.ordered_range(*v, b"k", b"k\xff", 20).unwrap());
                for k in 0..12u8 {
                    prop_assert_eq!(view.data(*v, data_key("t", &[k])).unwrap(), full.data(*v, data_key("t", &[k])).unwrap());
                }
            }
            prop_assert!(view.store().commit(&StateBatch::default()).is_err(), "read-only");
        }
    }
}
