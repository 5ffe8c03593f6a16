//! The work API for external miners: `cinder_getWork` hands out a block
//! template's 80-byte PoW header; `cinder_submitWork` takes it back with a
//! rolled nonce (and version bits under the mask), imports a block when the
//! hash meets the block target and counts a share when it meets only the
//! share target.
//!
//! Templates are built from the pool on the head and reused for a second
//! (longer if the pool did not change); every `getWork` gets its own job
//! with its own extra nonce, so two miners never search the same headers.
//! A new head clears every job: submissions for them are stale.

use std::collections::{HashSet, VecDeque};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result};
use cinder_consensus::{SealJob, VERSION_ROLL_MASK};
use cinder_engine::pow::{Header as PowHeader, Target};
use cinder_primitives::{Block, Hash, Header};
use cinder_rpc::{SubmitWorkResult, Work};

use crate::node::Node;
use crate::producer::REFRESH_AFTER;

/// Jobs kept for submission (the oldest are dropped).
const MAX_JOBS: usize = 256;
/// Submissions remembered for duplicate detection until the next head.
const MAX_SEEN: usize = 65_536;
/// The share target is the block target times 2^SHARE_SHIFT (capped at the
/// easiest target): about 256 shares per block.
pub const SHARE_SHIFT: u32 = 8;

struct Template {
    block: Block,
    head_gen: u64,
    pool_gen: u64,
    built: Instant,
}

struct Job {
    id: String,
    block: Block,
    target: Target,
    share: Target,
}

/// The work API's jobs.
#[derive(Default)]
pub struct Jobs {
    template: Option<Template>,
    jobs: VecDeque<Job>,
    next: u64,
    seen: HashSet<(String, [u8; 80])>,
}

impl Jobs {
    /// Forgets every job and the template (the head moved).
    pub fn clear(&mut self) {
        self.template = None;
        self.jobs.clear();
        self.seen.clear();
    }
}

/// Why a submission was refused outright.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The node has no coinbase to build templates for.
    #[error("this node has no coinbase: start it with --coinbase ADDRESS to serve work")]
    NoCoinbase,
    /// The job is gone (a new head, or too old).
    #[error("unknown or stale job {0}")]
    UnknownJob(String),
    /// Not the job's header with a rolled nonce and version.
    #[error("{0}")]
    Invalid(String),
    /// The node failed.
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

/// Multiplies a target by 2^shift, saturating at the easiest target.
fn shifted(t: &Target, shift: u32) -> Target {
    let mut words = t.le_words();
    for _ in 0..shift {
        if words[7] & 0x8000_0000 != 0 {
            return Target::MAX;
        }
        for i in (0..8).rev() {
            words[i] = (words[i] << 1) | if i > 0 { words[i - 1] >> 31 } else { 0 };
        }
    }
    Target::from_le_words(words)
}

impl Node {
    /// A fresh job on the current template.
    pub fn get_work(&self) -> Result<Work, WorkError> {
        let coinbase = self.coinbase().ok_or(WorkError::NoCoinbase)?;
        let head_gen = self.head_generation();
        let pool_gen = self.pool_generation();
        let mut jobs = self.work.lock().unwrap_or_else(PoisonError::into_inner);
        let stale = jobs
            .template
            .as_ref()
            .is_none_or(|t| t.head_gen != head_gen || (t.pool_gen != pool_gen && t.built.elapsed() >= REFRESH_AFTER));
        if stale {
            let block = crate::producer::template(self, coinbase).map_err(WorkError::Internal)?;
            jobs.template = Some(Template { block, head_gen, pool_gen, built: Instant::now() });
        }
        let Some(t) = jobs.template.as_ref() else { return Err(WorkError::Internal(anyhow::anyhow!("no template"))) };
        let mut block = t.block.clone();
        jobs.next += 1;
        let n = jobs.next;
        let h = &block.header;
        let mut fields = h.fields.clone();
        fields.extra_nonce = n;
        block.header = Header::new(h.prev(), h.pow.time(), h.pow.bits(), fields);
        let SealJob::Pow(pow) =
            self.chain().consensus().seal_job(&block.header).map_err(|e| WorkError::Internal(e.into()))?;
        let share = shifted(&pow.target, SHARE_SHIFT);
        let id = format!("{n:x}");
        let work = Work {
            job_id: id.clone(),
            header: hex::encode(block.header.pow.0),
            target: pow.target.to_be_hex(),
            share_target: share.to_be_hex(),
            height: block.header.height(),
            algorithm: pow.algo.name().to_string(),
            version_mask: format!("{VERSION_ROLL_MASK:#010x}"),
        };
        jobs.jobs.push_back(Job { id, block, target: pow.target, share });
        while jobs.jobs.len() > MAX_JOBS {
            jobs.jobs.pop_front();
        }
        Ok(work)
    }

    /// Takes a solved (or partly solved) header back.
    pub fn submit_work(&self, job_id: &str, header_hex: &str) -> Result<SubmitWorkResult, WorkError> {
        let pow = PowHeader::from_hex(header_hex.strip_prefix("0x").unwrap_or(header_hex))
            .map_err(|e| WorkError::Invalid(format!("header: {e}")))?;
        let reject = |reason: String| {
            self.mining.shares_rejected.fetch_add(1, Ordering::Relaxed);
            Ok(SubmitWorkResult { accepted: false, reason, block_hash: None })
        };
        let (block, target, share) = {
            let mut jobs = self.work.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(job) = jobs.jobs.iter().find(|j| j.id == job_id) else {
                self.mining.shares_rejected.fetch_add(1, Ordering::Relaxed);
                return Err(WorkError::UnknownJob(job_id.to_string()));
            };
            let mine = &job.block.header.pow;
            if pow.0[4..76] != mine.0[4..76] {
                return Err(WorkError::Invalid(
                    "the header differs from the job's outside the nonce and the version's rollable bits".into(),
                ));
            }
            if pow.version() & !VERSION_ROLL_MASK != mine.version() & !VERSION_ROLL_MASK {
                return Err(WorkError::Invalid(format!(
                    "version {:#010x} changes bits outside the mask {VERSION_ROLL_MASK:#010x}",
                    pow.version()
                )));
            }
            let out = (job.block.clone(), job.target, job.share);
            // Bounded: a client flooding distinct headers between two heads
            // cannot grow it without limit (a block is idempotent anyway:
            // its second import is `Known`).
            if jobs.seen.len() >= MAX_SEEN {
                jobs.seen.clear();
            }
            if !jobs.seen.insert((job_id.to_string(), pow.0)) {
                drop(jobs);
                return reject("duplicate submission".into());
            }
            out
        };
        let algo =
            self.chain().spec().pow().map(|p| p.algorithm).context("not a PoW chain").map_err(WorkError::Internal)?;
        let hash = algo.hash(&pow);
        if target.is_met_by(&hash.0) {
            let mut block = block;
            block.header.pow = pow;
            let id: Hash = block.id();
            // The body is our template (pool-verified signatures); only
            // the PoW header's nonce and version bits are the miner's.
            return match self.chain().import_own(&block) {
                Ok(r) => {
                    self.after_import(&r, Some(&block));
                    self.announce(&block);
                    self.mining.external_blocks.fetch_add(1, Ordering::Relaxed);
                    self.mining.shares_accepted.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(height = r.height, %id, "block from an external miner");
                    Ok(SubmitWorkResult { accepted: true, reason: "block".into(), block_hash: Some(id) })
                }
                Err(e) => reject(format!("the block was not imported: {e}")),
            };
        }
        if share.is_met_by(&hash.0) {
            self.mining.shares_accepted.fetch_add(1, Ordering::Relaxed);
            return Ok(SubmitWorkResult { accepted: true, reason: "share".into(), block_hash: None });
        }
        reject(format!("hash {} meets neither the block nor the share target", hash.to_display_hex()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_target_is_the_block_target_shifted_and_saturates() {
        let t = Target::from_compact(0x1f00_ffff).unwrap();
        let s = shifted(&t, 8);
        assert_eq!(s.to_compact(), 0x2000_ffff);
        assert_eq!(shifted(&Target::from_compact(0x207f_ffff).unwrap(), 8), Target::MAX);
    }
}
