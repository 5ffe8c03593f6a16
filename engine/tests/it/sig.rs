//! Batch verification agrees with single verification on every input.

use std::sync::OnceLock;

use cinder_engine::sig::{self, BatchVerifier, SecretKey, VerifyingKey};
use proptest::prelude::*;

/// A (key, message, signature) triple, raw bytes.
type Triple = (Vec<u8>, Vec<u8>, Vec<u8>);

/// Triples of every kind.
fn pool() -> &'static Vec<Triple> {
    static P: OnceLock<Vec<Triple>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = Vec::new();
        for i in 0..64u8 {
            let sk = SecretKey::from_seed(&[i; 32]);
            let msg = vec![i; usize::from(i)];
            v.push((sk.public_key().0.to_vec(), msg.clone(), sk.sign(&msg).0.to_vec()));
        }
        // The edge cases of tests/vectors (ZIP-215 accepts most, rejects some).
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/ed25519_zip215_edge.json");
        let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for c in file["cases"].as_array().unwrap() {
            let h = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
            v.push((h("key"), h("msg"), h("sig")));
        }
        v
    })
}

/// Item `i` of the pool, possibly damaged by `damage`.
fn item(i: usize, damage: u8) -> Triple {
    let p = pool();
    let (mut k, mut m, mut s) = p[i % p.len()].clone();
    match damage % 8 {
        1 => s[usize::from(damage) % 32] ^= 1 << (damage % 8),      // R
        2 => s[32 + usize::from(damage) % 32] ^= 1 << (damage % 8), // S
        3 => m.push(damage),                                        // message
        4 => k[usize::from(damage) % 32] ^= 1 << (damage % 8),      // key
        5 => s.truncate(63),                                        // wrong length
        _ => {}
    }
    (k, m, s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batch_equals_single(
        picks in proptest::collection::vec((0usize..200, 0u8..16), 0..400),
        chunk in prop_oneof![Just(None), (1usize..80).prop_map(Some)],
        threads in 1usize..4,
        decoded in any::<bool>(),
    ) {
        let mut batch = BatchVerifier::new();
        if let Some(c) = chunk {
            batch = batch.with_chunk_size(c);
        }
        let mut want = Vec::new();
        for (n, &(i, damage)) in picks.iter().enumerate() {
            let (k, m, s) = item(i, damage);
            let single = sig::verify(&k, &m, &s).is_ok();
            if !single {
                want.push(n);
            }
            match VerifyingKey::from_bytes(&k) {
                Ok(vk) if decoded => {
                    prop_assert_eq!(vk.verify(&m, &s).is_ok(), single);
                    batch.add_with_key(&vk, &m, &s)
                }
                _ => batch.add(&k, &m, &s),
            };
        }
        let expect = if want.is_empty() { Ok(()) } else { Err(want) };
        let seq = batch.verify(sig::Strategy::Sequential).map_err(|e| e.indices);
        prop_assert_eq!(&seq, &expect);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let par = pool.install(|| batch.verify(sig::Strategy::Parallel)).map_err(|e| e.indices);
        prop_assert_eq!(&par, &expect);
        // Through a key cache, cold then warm (damaged keys included): the
        // same verdicts.
        let cache = sig::KeyCache::new(64);
        for _ in 0..2 {
            let cached = pool.install(|| batch.verify_cached(sig::Strategy::Parallel, &cache)).map_err(|e| e.indices);
            prop_assert_eq!(&cached, &expect);
        }
    }
}

#[test]
fn a_large_batch_with_few_bad_signatures_names_exactly_them() {
    let mut batch = BatchVerifier::with_capacity(5000, 5000 * 8);
    let keys: Vec<SecretKey> = (0..50u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    let bad = [3usize, 1999, 2000, 4999];
    for n in 0..5000usize {
        let sk = &keys[n % keys.len()];
        let msg = (n as u64).to_le_bytes();
        let mut s = sk.sign(&msg).0;
        if bad.contains(&n) {
            s[10] ^= 0x80;
        }
        batch.add(&sk.public_key().0, &msg, &s);
    }
    assert_eq!(batch.verify(sig::Strategy::Parallel).unwrap_err().indices, bad);
}
