//! Merkle vectors through every root implementation: CPU (SIMD, one thread
//! and parallel), tree, accumulator, and the GPU.

use std::sync::OnceLock;

use cinder_engine::gpu::{GpuBackend, GpuOptions, TuneMode, Tuning, skip_or_fail};
use cinder_engine::merkle::{self, Accumulator, Tree};
use cinder_tests::load;

fn gpu() -> Option<&'static GpuBackend> {
    static G: OnceLock<Result<GpuBackend, String>> = OnceLock::new();
    let r = G.get_or_init(|| {
        let opts = GpuOptions { tune: TuneMode::Fixed(Tuning::UNTUNED), ..GpuOptions::default() };
        GpuBackend::new(&opts, false).map_err(|e| e.to_string())
    });
    match r {
        Ok(g) => Some(g),
        Err(e) => {
            skip_or_fail(format!("no GPU adapter: {e}"));
            None
        }
    }
}

#[test]
fn merkle_vectors_on_every_path() {
    let v = load("merkle_blake3.json");
    assert_eq!(v["leaf_context"], merkle::LEAF_CONTEXT);
    assert_eq!(v["node_context"], merkle::NODE_CONTEXT);
    assert_eq!(v["leaf_key"], hex::encode(merkle::leaf_key()));
    assert_eq!(v["node_key"], hex::encode(merkle::node_key()));
    let l0 = merkle::leaf_hash(&[0]);
    let l1 = merkle::leaf_hash(&[1]);
    assert_eq!(v["leaf_of_byte_0"], hex::encode(l0));
    assert_eq!(v["node_of_leaves_0_1"], hex::encode(merkle::node_hash(&l0, &l1)));
    let three: Vec<merkle::Hash> = (0..3u8).map(|i| merkle::leaf_hash(&[i])).collect();
    assert_ne!(hex::encode(merkle::root(&three)), v["three_leaves_duplicating_root"].as_str().unwrap());
    for case in v["cases"].as_array().unwrap() {
        let n = case["leaves"].as_u64().unwrap();
        let want = case["root"].as_str().unwrap();
        let data: Vec<[u8; 1]> = (0..n).map(|i| [u8::try_from(i).unwrap()]).collect();
        let leaves = merkle::hash_leaves(&data);
        assert_eq!(hex::encode(merkle::naive_root(&leaves)), want, "naive, {n} leaves");
        assert_eq!(hex::encode(merkle::root(&leaves)), want, "root, {n} leaves");
        assert_eq!(hex::encode(merkle::root_single_thread(&leaves)), want, "one thread, {n} leaves");
        let tree = Tree::new(leaves.clone());
        assert_eq!(hex::encode(tree.root()), want, "tree, {n} leaves");
        let mut acc = Accumulator::new();
        leaves.iter().for_each(|l| acc.push(*l));
        assert_eq!(hex::encode(acc.root()), want, "accumulator, {n} leaves");
        for i in 0..n {
            assert!(tree.proof(i).unwrap().verify(&tree.root(), &leaves[usize::try_from(i).unwrap()]));
        }
        if let Some(g) = gpu() {
            assert_eq!(hex::encode(g.devices()[0].merkle_root(&leaves).unwrap()), want, "gpu, {n} leaves");
        }
    }
}
