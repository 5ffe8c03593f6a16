//! # cinder-bench-suite
//!
//! Criterion benchmarks of the Cinder engine (`benches/`), and the baselines
//! they are compared with:
//!
//! - [`baseline_sha256d`]: the obvious `Sha256::digest(Sha256::digest(h))`
//!   loop with `sha2`'s default features (it uses SHA-NI when present), the
//!   yardstick for the CPU kernel's per-core speed;
//! - [`control_rayon_sha256d`]: the same loop spread with rayon, the control
//!   workload for scaling over cores.
//!
//! Benchmark names follow `pow::<algo>/backend=<name>`; GPU benches print
//! `SKIPPED: <reason>` when there is no adapter.

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
