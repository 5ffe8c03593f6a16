//! # cinder-tests
//!
//! Cross-crate and multi-process tests of Cinder, and the known-answer
//! vectors in `vectors/`. This library loads vectors and holds what the
//! crash test and its child process (`src/bin/crash-child.rs`) share; the
//! tests live in `tests/it/`.
//!
//! Each vector file is JSON with a `_comment` that says where its values came
//! from. [`VECTOR_FILES`] lists every file and the test that consumes it; a
//! test asserts the directory holds exactly those files, so a vector cannot
//! sit unused.

use std::path::PathBuf;

/// Every vector file, with the test that uses it.
pub const VECTOR_FILES: &[(&str, &str)] = &[
    ("bitcoin_headers.json", "vectors::bitcoin_headers_on_every_backend"),
    ("blake3_official.json", "vectors::official_blake3_vectors_on_every_compression"),
    ("blake3_pow_headers.json", "vectors::blake3_pow_hashes_on_every_backend"),
    ("pow_search.json", "vectors::easy_target_searches_on_every_backend"),
    ("ed25519_rfc8032.json", "signatures::rfc8032_vectors_sign_and_verify"),
    ("ed25519_zip215_edge.json", "signatures::zip215_edge_cases_single_and_batch"),
    ("ed25519_speccheck.json", "signatures::speccheck_cases_agree_single_and_batch"),
    ("merkle_blake3.json", "merkle::merkle_vectors_on_every_path"),
    ("ecvrf_edwards25519_sha512_tai.json", "signatures::ecvrf_matches_rfc9381_vectors"),
];

/// The `vectors/` directory.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Loads and parses a vector file listed in [`VECTOR_FILES`].
///
/// # Panics
/// If the file is not listed, missing, or not JSON: a broken vector is a
/// failed test.
pub fn load(name: &str) -> serde_json::Value {
    assert!(VECTOR_FILES.iter().any(|(f, _)| *f == name), "{name} is not listed in VECTOR_FILES");
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    assert!(
        v.get("_comment").and_then(|c| c.as_str()).is_some_and(|c| c.len() > 40),
        "{name} has no provenance _comment"
    );
    v
}

/// Decodes hex or panics with the field's name.
pub fn unhex(field: &str, s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("{field}: not hex: {e}"))
}

/// The chain the crash test's child imports into.
pub mod crash {
    use cinder_chain::workload::{self, Accounts};
    use cinder_consensus::ChainSpec;

    /// Seed of the accounts.
    pub const SEED: &str = "crash-test";
    /// Funded accounts.
    pub const ACCOUNTS: u64 = 256;
    /// Each one's genesis balance.
    pub const BALANCE: u128 = 1_000_000_000_000;
    /// Transfers per block.
    pub const TXS_PER_BLOCK: usize = 200;

    /// The chain spec.
    pub fn spec(accounts: &Accounts) -> ChainSpec {
        workload::spec("crash-test", 4242, &accounts.addresses, BALANCE)
    }
}
