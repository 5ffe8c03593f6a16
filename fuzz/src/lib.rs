//! # cinder-fuzz
//!
//! One function per decoder that takes bytes from strangers, shaped for a
//! fuzzer: it takes any bytes and panics only when a property breaks. The
//! same functions run two ways (docs/testing.md):
//!
//! - under libFuzzer (`fuzz/libfuzzer`, a cargo-fuzz crate built with the
//!   nightly toolchain and a sanitizer) for long runs by hand;
//! - under the stable mutation runner of this crate's test
//!   (`tests/corpus.rs`), which CI runs: the committed seed corpus
//!   (`fuzz/corpus/<target>/`), then mutations of it for a fixed time per
//!   target, with a counting allocator that fails an input which makes
//!   the process allocate more than a bound.
//!
//! Properties: a decoder never panics; whatever decodes re-encodes to the
//! same bytes (one canonical encoding); what is computed from a decoded
//! value (ids, roots, signature checks, the inter-blockchain rules, spec
//! validation, contract validation) does not panic either.

use cinder_primitives::{
    Block, CommitCertificate, DoubleVote, Hash, Header, IbcOp, Limited, PosHeaderData, SignedProposal,
    SignedTransaction, SignedVote, decode, encode,
};

/// A fuzz target: any bytes in, a panic only for a broken property.
pub type Target = fn(&[u8]);

/// Every target, by name (the corpus directory and the libFuzzer target
/// have the same name).
pub const TARGETS: &[(&str, Target)] = &[
    ("transaction", transaction),
    ("block", block),
    ("header", header),
    ("consensus", consensus),
    ("ibc", ibc),
    ("state_proof", state_proof),
    ("chain_spec", chain_spec),
    #[cfg(feature = "net")]
    ("sync", sync),
    #[cfg(feature = "vm")]
    ("wasm", wasm),
];

/// Decodes `data` as `T`; if it decodes, checks that it re-encodes to the
/// same bytes.
fn canonical<T: borsh::BorshSerialize + borsh::BorshDeserialize + Limited>(data: &[u8]) -> Option<T> {
    let v = decode::<T>(data).ok()?;
    assert_eq!(encode(&v), data, "{} decoded from bytes it does not encode to", T::NAME);
    Some(v)
}

/// A signed transaction from the pool or a peer: canonical, and its id,
/// sender and stateless checks (the signature among them) run.
pub fn transaction(data: &[u8]) {
    if let Some(t) = canonical::<SignedTransaction>(data) {
        let _ = t.id();
        let _ = t.tx.sender_address();
        let _ = t.tx.payment();
        let _ = t.check_stateless(t.tx.chain_id);
    }
}

/// A block from a peer: canonical, its id and transactions root.
pub fn block(data: &[u8]) {
    if let Some(b) = canonical::<Block>(data) {
        let _ = b.id();
        let _ = b.transactions_root();
        let _ = b.header.commitment_matches();
    }
}

/// A header (sync responses, light-client updates): canonical, and its
/// PoS consensus data canonical if it decodes.
pub fn header(data: &[u8]) {
    if let Some(h) = canonical::<Header>(data) {
        let _ = h.id();
        let _ = h.commitment_matches();
        let cd = h.fields.consensus_data.as_slice();
        if let Ok(d) = decode::<PosHeaderData>(cd) {
            assert_eq!(encode(&d), cd, "PoS header data decoded from bytes it does not encode to");
        }
    }
}

/// The four validators consensus messages are checked against.
fn validators() -> &'static [cinder_engine::sig::VerifyingKey] {
    static KEYS: std::sync::OnceLock<Vec<cinder_engine::sig::VerifyingKey>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        (0..4u8)
            .filter_map(|i| {
                let k = cinder_engine::sig::SecretKey::from_seed(&[i; 32]);
                cinder_engine::sig::VerifyingKey::from_bytes(&k.public_key().0).ok()
            })
            .collect()
    })
}

/// Consensus gossip: the first byte picks a signed vote, a signed
/// proposal, double-vote evidence, a commit certificate or a whole
/// consensus message; canonical, and checked against a set of four.
pub fn consensus(data: &[u8]) {
    let Some((kind, rest)) = data.split_first() else { return };
    let keys = validators();
    match kind % 5 {
        0 => {
            if let Some(v) = canonical::<SignedVote>(rest) {
                let _ = cinder_primitives::verify_votes(&[v], keys);
            }
        }
        1 => {
            let _ = canonical::<SignedProposal>(rest);
        }
        2 => {
            if let (Some(e), Some(k)) = (canonical::<DoubleVote>(rest), keys.first()) {
                let _ = e.check(k);
            }
        }
        3 => {
            if let Some(c) = canonical::<CommitCertificate>(rest) {
                let _ = c.verify(keys, &[1, 1, 1, 1]);
                let _ = cinder_primitives::commit_hash(Some(&c));
            }
        }
        _ => {
            if let Some(m) = canonical::<cinder_pos::message::ConsensusMessage>(rest) {
                let _ = m.height();
            }
        }
    }
}

/// An inter-blockchain operation: canonical, then run through the rules
/// on an empty ledger and on one with a client (refused or applied, never
/// a panic).
pub fn ibc(data: &[u8]) {
    let Some(op) = canonical::<IbcOp>(data) else { return };
    let env = cinder_ibc::Env { chain_id: 1, genesis: Hash([1; 32]), height: 10, time_ms: 1_000_000 };
    let empty = |_: &[u8]| Ok(None);
    let _ = cinder_ibc::run(&empty, &env, &[(0, cinder_primitives::Address([2; 32]), &op)]);
    let _ = op.escrowed();
    let _ = cinder_vm_gas(&op);
}

#[cfg(feature = "vm")]
fn cinder_vm_gas(op: &IbcOp) -> u64 {
    cinder_vm::ibc_gas(op)
}

#[cfg(not(feature = "vm"))]
fn cinder_vm_gas(_: &IbcOp) -> u64 {
    0
}

/// A state proof from a counterparty: decoding and verification against a
/// root and a key never panic.
pub fn state_proof(data: &[u8]) {
    if let Ok(p) = cinder_state::DataProof::from_bytes(data) {
        let root = Hash([7; 32]);
        let key = cinder_state::data_key("ibc", b"commitments/0/1");
        let _ = p.verify(&root, key, Some(&[1; 32]));
        let _ = p.verify(&root, key, None);
        let _ = p.verify(&cinder_state::empty_root(), key, None);
    }
}

/// A chain spec file: parsing and validation never panic, and a valid one
/// gives its parameters and its consensus rules.
pub fn chain_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = cinder_consensus::ChainSpec::from_toml(text) {
        let _ = spec.params();
        match spec.pos {
            Some(_) => {
                let _ = cinder_consensus::Pos::new(&spec);
            }
            None => {
                let _ = cinder_consensus::Pow::new(&spec);
            }
        }
    }
}

/// The sync protocol (a request, a response, a gossiped transaction batch),
/// picked by the first byte: canonical.
#[cfg(feature = "net")]
pub fn sync(data: &[u8]) {
    use cinder_net::protocol::{Request, Response, TxBatch};
    let Some((kind, rest)) = data.split_first() else { return };
    match kind % 3 {
        0 => {
            let _ = canonical::<Request>(rest);
        }
        1 => {
            let _ = canonical::<Response>(rest);
        }
        _ => {
            let _ = canonical::<TxBatch>(rest);
        }
    }
}

/// Contract code as uploaded: validation (wasmtime's parser and our
/// determinism checks) never panics.
#[cfg(feature = "vm")]
pub fn wasm(data: &[u8]) {
    if let Ok(vm) = cinder_vm::Vm::shared() {
        let _ = vm.validate(data);
    }
}

/// The seed inputs each target's corpus starts from, made from real
/// values (what `cargo test -p cinder-fuzz` writes to `fuzz/corpus` when
/// `CINDER_FUZZ_WRITE_SEEDS=1`).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    seeds::of(target)
}

mod seeds;
