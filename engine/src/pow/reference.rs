//! The reference backend: plain `sha2` and `blake3`, one nonce at a time.
//! Short on purpose: it is the oracle every fast path is tested against.

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::pow::{Algo, Hit, NonceRange, PowHash, PowJob, SearchControl, SearchReport};

/// Hashes an 80-byte header with `algo`, the obvious way.
pub fn pow_hash(algo: Algo, header: &[u8; 80]) -> PowHash {
    match algo {
        Algo::Sha256d => PowHash(Sha256::digest(Sha256::digest(header)).into()),
        Algo::Blake3 => PowHash(*blake3::hash(header).as_bytes()),
    }
}

/// Searches `range` nonce by nonce.
pub fn search(job: &PowJob, range: NonceRange, ctl: &SearchControl) -> Result<SearchReport> {
    let mut header = job.header;
    let mut hits = Vec::new();
    let mut hashes = 0u64;
    for nonce in range.iter() {
        if hashes.is_multiple_of(4096) && ctl.is_cancelled() {
            ctl.add_hashes(hashes % 4096);
            return Ok(SearchReport { hits, hashes, completed: false });
        }
        header.set_nonce(nonce);
        let hash = pow_hash(job.algo, &header.0);
        if job.target.is_met_by(&hash.0) {
            hits.push(Hit { nonce, hash });
        }
        hashes += 1;
        if hashes.is_multiple_of(4096) {
            ctl.add_hashes(4096);
        }
    }
    ctl.add_hashes(hashes % 4096);
    Ok(SearchReport { hits, hashes, completed: true })
}
