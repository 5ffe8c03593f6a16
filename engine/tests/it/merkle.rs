//! Merkle roots, proofs and batch proof verification against the oracle.

use cinder_engine::merkle::{self, Hash, Proof, Tree};
use proptest::prelude::*;

fn leaves(n: usize, salt: u64) -> Vec<Hash> {
    (0..n as u64).map(|i| merkle::leaf_hash(&(i ^ salt.rotate_left(17)).to_le_bytes())).collect()
}

#[test]
fn fast_root_equals_naive_root_for_every_size_to_1100() {
    let all = leaves(1100, 1);
    for n in 0..=1100 {
        let want = merkle::naive_root(&all[..n]);
        assert_eq!(merkle::root(&all[..n]), want, "{n}");
        assert_eq!(merkle::root_single_thread(&all[..n]), want, "{n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn large_random_trees(n in 1100usize..70_000, salt in any::<u64>()) {
        let l = leaves(n, salt);
        prop_assert_eq!(merkle::root(&l), merkle::naive_root(&l));
    }

    #[test]
    fn proofs_verify_and_every_tampering_fails(n in 1usize..3000, salt in any::<u64>(), picks in proptest::collection::vec(any::<u64>(), 1..40)) {
        let l = leaves(n, salt);
        let tree = Tree::new(l.clone());
        let root = tree.root();
        let proofs: Vec<Proof> = picks.iter().map(|p| tree.proof(p % n as u64).unwrap()).collect();
        let mut items: Vec<(Hash, &Proof)> = proofs.iter().map(|p| (l[p.index as usize], p)).collect();
        prop_assert!(merkle::verify_proofs(&root, &items).is_empty());
        for p in &proofs {
            let leaf = l[p.index as usize];
            prop_assert!(p.verify(&root, &leaf));
            // Wrong leaf, wrong root.
            prop_assert!(!p.verify(&root, &merkle::leaf_hash(b"not in the tree")));
            let mut other_root = root;
            other_root[0] ^= 1;
            prop_assert!(!p.verify(&other_root, &leaf));
            // Wrong index (another position with the same path length, if any).
            if n > 1 {
                let mut q = p.clone();
                q.index = (p.index + 1) % n as u64;
                prop_assert!(!q.verify(&root, &leaf));
            }
            // A changed sibling, a missing one, an extra one, a wrong size.
            for (j, _) in p.siblings.iter().enumerate() {
                let mut q = p.clone();
                q.siblings[j][31] ^= 0x80;
                prop_assert!(!q.verify(&root, &leaf));
            }
            if !p.siblings.is_empty() {
                let mut q = p.clone();
                q.siblings.pop();
                prop_assert!(q.compute_root(&leaf).is_err());
            }
            let mut q = p.clone();
            q.siblings.push(leaf);
            prop_assert!(q.compute_root(&leaf).is_err());
            let mut q = p.clone();
            q.leaf_count = p.index;
            prop_assert!(q.compute_root(&leaf).is_err());
        }
        // Batch verification names exactly the tampered proofs.
        let mut bad = Vec::new();
        for (k, it) in items.iter_mut().enumerate() {
            if k % 3 == 1 {
                it.0[0] ^= 1;
                bad.push(k);
            }
        }
        prop_assert_eq!(merkle::verify_proofs(&root, &items), bad);
    }
}
