//! Producing a block: build on the head from candidate transactions, seal
//! with the engine's PoW search (cancellable: a new head makes the work
//! moot), import.

use anyhow::{Context, Result, bail};
use cinder_consensus::{Consensus, SealJob};
use cinder_engine::pow::{Backend, NonceRange, SearchControl};
use cinder_primitives::{Address, Block, Header, SignedTransaction};
use cinder_state::{Overlay, State};

use crate::build::build_block;
use crate::chain::{Chain, Imported};

/// Nonces per search call: an eighth of the hashes a solution takes on
/// average, within [2^16, 2^28]. A search scans its whole range before it
/// returns, so the range bounds the time wasted past a solution: with four
/// solutions' worth (as before 2026-11-23) every block took at least four
/// expected block times' hashing — devnet blocks came every 5-8 s, not 2.
#[expect(clippy::cast_possible_truncation, reason = "clamped to [2^16, 2^28] first")]
fn chunk(expected_hashes: f64) -> u64 {
    (expected_hashes / 8.0).clamp(65_536.0, 268_435_456.0) as u64
}

/// Seals `header` on `backend`: searches the nonces in chunks, rolling the
/// extra nonce (a new commitment) when all 2^32 are spent. `Ok(false)` if
/// `ctl` was cancelled first.
pub fn seal(consensus: &dyn Consensus, header: &mut Header, backend: &Backend, ctl: &SearchControl) -> Result<bool> {
    loop {
        let SealJob::Pow(job) = consensus.seal_job(header).context("sealing")?;
        let step = chunk(job.target.expected_hashes());
        let mut start = 0u64;
        while start < 1 << 32 {
            if ctl.is_cancelled() {
                return Ok(false);
            }
            let count = step.min((1 << 32) - start);
            let range = NonceRange::new(u32::try_from(start).context("nonce range")?, count)?;
            let report = backend.search(&job, range, ctl)?;
            if let Some(hit) = report.hits.first() {
                header.pow.set_nonce(hit.nonce);
                return Ok(true);
            }
            if !report.completed {
                return Ok(false);
            }
            start += count;
        }
        header.fields.extra_nonce = header.fields.extra_nonce.wrapping_add(1);
        let (prev, time, bits) = (header.prev(), header.pow.time(), header.pow.bits());
        *header = Header::new(prev, time, bits, header.fields.clone());
    }
}

/// Builds a block on the head of `chain` from `candidates` (in priority
/// order; what is invalid at its position is left out), seals it on
/// `backend` and imports it; returns the import and the block. `Ok(None)`
/// if `ctl` was cancelled before a seal was found; nothing is written then.
pub fn produce(
    chain: &Chain,
    candidates: Vec<SignedTransaction>,
    coinbase: Address,
    backend: &Backend,
    ctl: &SearchControl,
    now: u64,
) -> Result<Option<(Imported, Block)>> {
    let head = chain.head()?;
    let ctx = chain.context(&head.id)?.context("the head has no context")?;
    let state = State::new(Overlay::new(chain.db()));
    let mut built = if chain.shards() > 1 {
        chain.build_sharded(&ctx, candidates, coinbase, now, false)?
    } else {
        build_block(
            chain.consensus(),
            chain.spec(),
            &state,
            &ctx,
            candidates,
            coinbase,
            now,
            chain.config().exec_threads,
        )?
    };
    if !seal(chain.consensus(), &mut built.block.header, backend, ctl)? {
        return Ok(None);
    }
    match chain.import_at(&built.block, now) {
        Ok(r) => Ok(Some((r, built.block))),
        Err(e) => bail!("our own block was not imported: {e}"),
    }
}
