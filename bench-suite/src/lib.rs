//! # cinder-bench-suite
//!
//! Criterion benchmarks of the Cinder engine (`benches/`), and the baselines
//! they are compared with:
//!
//! - [`baseline_sha256d`]: the obvious `Sha256::digest(Sha256::digest(h))`
//!   loop with `sha2`'s default features (it uses SHA-NI when present), the
//!   yardstick for the CPU kernel's per-core speed;
//! - [`control_rayon_sha256d`]: the same loop spread with rayon, the control
//!   workload for scaling over cores;
//! - [`exec`]: the transfer workload of the Block-STM benches (a transfer
//!   VM, seeded blocks with none/zipf/hotspot contention, calibrated work);
//! - [`contracts`]: the example token with many holders and blocks of
//!   signed token transfers.
//!
//! Benchmark names follow `pow::<algo>/backend=<name>`,
//! `sig::ed25519/batch n=256 threads=all`, `merkle::root leaves=2^20 threads=1`,
//! `exec::transfers accounts=100000 txs=10000 threads=2 contention=none work_us=1`,
//! `state::apply/accounts=1000000 updates=2000`,
//! `contracts::token_transfers/holders=100000 txs=10000 contention=low threads=2`;
//! GPU benches print `SKIPPED: <reason>` when there is no adapter. The
//! `cinder-bench` binary prints the same comparisons as tables (`sig`,
//! `merkle`, `exec`) with ratios and the control's scaling.

pub mod contracts;
pub mod exec;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// Hashes `n` nonces of `header` with `Sha256::digest(Sha256::digest(..))`,
/// one at a time; returns a byte of the last hash so nothing is optimised away.
pub fn baseline_sha256d(header: &[u8; 80], start: u32, n: u32) -> u8 {
    let mut h = *header;
    let mut acc = 0u8;
    for nonce in start..start.saturating_add(n) {
        h[76..80].copy_from_slice(&nonce.to_le_bytes());
        acc ^= Sha256::digest(Sha256::digest(h))[31];
    }
    acc
}

/// [`baseline_sha256d`] over `n` nonces on `pool`, in chunks of 64 Ki: the
/// control workload for core scaling.
pub fn control_rayon_sha256d(pool: &rayon::ThreadPool, header: &[u8; 80], n: u32) -> u8 {
    const CHUNK: u32 = 1 << 16;
    pool.install(|| {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|i| baseline_sha256d(header, i * CHUNK, CHUNK.min(n - i * CHUNK)))
            .reduce(|| 0, |a, b| a ^ b)
    })
}

/// Deterministic test inputs from a seed: signed messages with distinct keys.
pub fn signed_messages(
    seed: u64,
    n: usize,
) -> Vec<(cinder_engine::sig::PublicKey, Vec<u8>, cinder_engine::sig::Signature)> {
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let mut h = blake3::Hasher::new();
            h.update(&seed.to_le_bytes()).update(&(i as u64).to_le_bytes());
            let key_seed = *h.finalize().as_bytes();
            let sk = cinder_engine::sig::SecretKey::from_seed(&key_seed);
            // A transfer-sized payload: ~100 bytes, domain-separated as the node will.
            let mut payload = vec![0u8; 100];
            h.finalize_xof().fill(&mut payload);
            let msg = cinder_engine::sig::signing_message(cinder_engine::sig::Domain::Tx, &payload);
            let sig = sk.sign(&msg);
            (sk.public_key(), msg, sig)
        })
        .collect()
}

/// Deterministic leaf hashes from a seed.
pub fn leaf_hashes(seed: u64, n: usize) -> Vec<cinder_engine::merkle::Hash> {
    let mut xof = blake3::Hasher::new().update(&seed.to_le_bytes()).finalize_xof();
    let mut out = vec![[0u8; 32]; n];
    for h in out.iter_mut() {
        xof.fill(h);
    }
    out
}

/// The median of `reps` timings of `f`, in seconds (at least one run, more
/// until about `budget` seconds were spent).
pub fn time_median(budget: f64, mut f: impl FnMut()) -> f64 {
    let mut t = Vec::new();
    let start = std::time::Instant::now();
    while t.is_empty() || (start.elapsed().as_secs_f64() < budget && t.len() < 50) {
        let s = std::time::Instant::now();
        f();
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_equals_baseline_on_one_thread() {
        let h = [9u8; 80];
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let n: u32 = 3 * (1 << 16) + 5;
        let serial = (0..n.div_ceil(1 << 16))
            .map(|i| baseline_sha256d(&h, i * (1 << 16), (1u32 << 16).min(n - i * (1 << 16))))
            .fold(0, |a, b| a ^ b);
        assert_eq!(control_rayon_sha256d(&pool, &h, n), serial);
    }
}
