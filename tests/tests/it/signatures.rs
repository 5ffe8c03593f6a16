//! Signature vectors: RFC 8032, the ZIP-215 edge cases, ed25519-speccheck.

use cinder_engine::sig::{self, BatchVerifier, SecretKey, Strategy};
use cinder_tests::{load, unhex};

#[test]
fn rfc8032_vectors_sign_and_verify() {
    let v = load("ed25519_rfc8032.json");
    let mut batch = BatchVerifier::new();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let seed: [u8; 32] = unhex("secret", case["secret"].as_str().unwrap()).try_into().unwrap();
        let public = unhex("public", case["public"].as_str().unwrap());
        let message = unhex("message", case["message"].as_str().unwrap());
        let signature = unhex("signature", case["signature"].as_str().unwrap());
        let sk = SecretKey::from_seed(&seed);
        assert_eq!(sk.public_key().0.as_slice(), public.as_slice(), "{name}: public key");
        assert_eq!(sk.sign(&message).0.as_slice(), signature.as_slice(), "{name}: signature");
        assert_eq!(sig::verify(&public, &message, &signature), Ok(()), "{name}");
        batch.add(&public, &message, &signature);
    }
    assert_eq!(batch.verify(Strategy::Sequential), Ok(()));
    assert_eq!(batch.verify(Strategy::Parallel), Ok(()));
}

#[test]
fn zip215_edge_cases_single_and_batch() {
    let v = load("ed25519_zip215_edge.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 48);
    let mut batch = BatchVerifier::new().with_chunk_size(16);
    let mut want_bad = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let key = unhex("key", case["key"].as_str().unwrap());
        let signature = unhex("sig", case["sig"].as_str().unwrap());
        let msg = unhex("msg", case["msg"].as_str().unwrap());
        let expect = case["zip215"].as_bool().unwrap();
        let source = case["source"].as_str().unwrap();
        assert_eq!(sig::verify(&key, &msg, &signature).is_ok(), expect, "single verification of {source}");
        // Alone in a batch.
        let mut one = BatchVerifier::new();
        one.add(&key, &msg, &signature);
        assert_eq!(one.verify(Strategy::Sequential).is_ok(), expect, "batch of one: {source}");
        batch.add(&key, &msg, &signature);
        if !expect {
            want_bad.push(i);
        }
    }
    // All together, mixed with each other: the same verdicts.
    for strategy in [Strategy::Sequential, Strategy::Parallel] {
        assert_eq!(batch.verify(strategy).unwrap_err().indices, want_bad, "{strategy:?}");
    }
}

#[test]
fn speccheck_cases_agree_single_and_batch() {
    let v = load("ed25519_speccheck.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    let mut batch = BatchVerifier::new();
    let mut single_bad = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let key = unhex("pub_key", case["pub_key"].as_str().unwrap());
        let msg = unhex("message", case["message"].as_str().unwrap());
        let signature = unhex("signature", case["signature"].as_str().unwrap());
        if sig::verify(&key, &msg, &signature).is_err() {
            single_bad.push(i);
        }
        batch.add(&key, &msg, &signature);
    }
    // The file mixes accepted and rejected cases under ZIP-215.
    assert!(!single_bad.is_empty() && single_bad.len() < cases.len(), "{single_bad:?}");
    assert_eq!(batch.verify(Strategy::Parallel).unwrap_err().indices, single_bad);
    assert_eq!(batch.verify(Strategy::Sequential).unwrap_err().indices, single_bad);
}

/// RFC 9381 Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI): the VRF the PoS
/// seed uses reproduces each proof and output byte for byte from the
/// secret key, and verification returns the output.
#[test]
fn ecvrf_matches_rfc9381_vectors() {
    let v = load("ecvrf_edwards25519_sha512_tai.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let h = |k: &str| unhex(k, c[k].as_str().unwrap());
        let sk = SecretKey::from_seed(&h("sk").try_into().unwrap());
        assert_eq!(sk.public_key().0.to_vec(), h("pk"));
        let (pi, beta) = sk.vrf_prove(&h("alpha")).unwrap();
        assert_eq!(pi.to_vec(), h("pi"), "pi for alpha {}", c["alpha"]);
        assert_eq!(beta.to_vec(), h("beta"));
        let pk: [u8; 32] = h("pk").try_into().unwrap();
        assert_eq!(sig::vrf_verify(&pk, &h("alpha"), &pi).unwrap().to_vec(), h("beta"));
        let mut bad = pi;
        bad[40] ^= 1;
        assert!(sig::vrf_verify(&pk, &h("alpha"), &bad).is_err());
    }
}
