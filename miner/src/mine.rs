//! `cinder-miner mine --rpc URL`: mining for a node through its work API.
//!
//! One loop: fetch a job (`cinder_getWork`), search its nonces in chunks
//! of about a quarter second on the chosen backend against the share
//! target, submit every hit (`cinder_submitWork`; a hit under the block
//! target is a block), and between chunks ask for new work: a new head
//! switches jobs at once, new transactions every `--refresh` seconds. When
//! a header's 2^32 nonces are spent it rolls the version bits under the
//! job's mask. When the node goes away it keeps retrying, so a restarted
//! node gets its miner back.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use cinder_engine::pow::{Algo, Backend, BackendOptions, Header, NonceRange, PowJob, SearchControl, Target};
use cinder_rpc::{Client, ClientError, Work};

use crate::cli::MineArgs;
use crate::{CmdResult, cpu_options, gpu_options};

/// A job being searched.
struct Job {
    work: Work,
    header: Header,
    prev: [u8; 32],
    algo: Algo,
    target: Target,
    share: Target,
    mask: u32,
    roll: u32,
    next_nonce: u64,
    fetched: Instant,
}

impl Job {
    fn new(work: Work) -> anyhow::Result<Job> {
        let header = Header::from_hex(&work.header).context("the job's header")?;
        let algo = work.algorithm.parse::<Algo>().map_err(|e| anyhow!("the job's algorithm: {e}"))?;
        let target = Target::from_be_hex(&work.target).context("the job's target")?;
        let share = Target::from_be_hex(&work.share_target).context("the job's share target")?;
        let mask = u32::from_str_radix(work.version_mask.trim_start_matches("0x"), 16).context("the version mask")?;
        Ok(Job {
            prev: header.prev(),
            header,
            work,
            algo,
            target,
            share,
            mask,
            roll: 0,
            next_nonce: 0,
            fetched: Instant::now(),
        })
    }

    /// The next version under the mask (`None` when every value is spent).
    fn roll_version(&mut self) -> Option<()> {
        let shift = self.mask.trailing_zeros();
        let max = self.mask >> shift;
        if self.mask == 0 || self.roll >= max {
            return None;
        }
        self.roll += 1;
        let v = (self.header.version() & !self.mask) | ((self.roll << shift) & self.mask);
        self.header.set_version(v);
        self.next_nonce = 0;
        Some(())
    }
}

#[derive(Default)]
struct Stats {
    accepted: u64,
    rejected: u64,
    stale: u64,
    blocks: u64,
}

/// `cinder-miner mine`.
pub(crate) fn run(a: MineArgs) -> CmdResult {
    let mut opts = BackendOptions::new(a.backend.into());
    cpu_options(&a.cpu, &mut opts)?;
    opts.gpu = gpu_options(&a.gpu)?;
    let backend = Backend::from_options(&opts)?;
    let client = Client::new(&a.rpc).map_err(|e| anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("the async runtime")?;
    let refresh = Duration::from_secs_f64(a.refresh.max(0.2));
    println!("Mining for {} on {}", a.rpc, backend.describe(Algo::Sha256d));
    let mut stats = Stats::default();
    let mut job: Option<Job> = None;
    let mut chunk = 1u64 << 18;
    let (mut hashes, mut since, mut last_report) = (0u64, Instant::now(), Instant::now());
    let mut down_since: Option<Instant> = None;
    let started = Instant::now();
    loop {
        if a.duration.is_some_and(|d| started.elapsed().as_secs_f64() >= d) {
            report(&stats, hashes, since, job.as_ref());
            return Ok(());
        }
        // New work: at start, after a block, on a new head, for new transactions.
        let due = job.as_ref().is_none_or(|j| j.fetched.elapsed() >= Duration::from_millis(a.poll_ms));
        if due {
            match rt.block_on(client.get_work()) {
                Ok(w) => {
                    if let Some(t) = down_since.take() {
                        println!("node reachable again after {:.0} s", t.elapsed().as_secs_f64());
                    }
                    let new_head =
                        job.as_ref().is_none_or(|j| Header::from_hex(&w.header).map(|h| h.prev()).ok() != Some(j.prev));
                    let old = job.as_ref().is_none_or(|j| j.fetched.elapsed() >= refresh);
                    if new_head || old {
                        job = Some(Job::new(w)?);
                    } else if let Some(j) = job.as_mut() {
                        j.fetched = Instant::now();
                    }
                }
                Err(e) => {
                    if down_since.is_none() {
                        println!("node unreachable ({e}); retrying every second");
                        down_since = Some(Instant::now());
                    }
                    job = None;
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let Some(j) = job.as_mut() else { continue };
        if j.next_nonce >= 1 << 32 && j.roll_version().is_none() {
            job = None;
            continue;
        }
        let count = chunk.min((1 << 32) - j.next_nonce);
        let range = NonceRange::new(u32::try_from(j.next_nonce).unwrap_or(u32::MAX), count)?;
        let ctl = SearchControl::new();
        let t = Instant::now();
        let report_ = backend.search(&PowJob::new(j.algo, j.header, j.share), range, &ctl)?;
        let took = t.elapsed().as_secs_f64().max(1e-6);
        j.next_nonce += report_.hashes;
        hashes += report_.hashes;
        // Aim at chunks of about 0.25 s.
        let ideal = (report_.hashes as f64 / took * 0.25).clamp(65_536.0, 1_073_741_824.0);
        #[expect(clippy::cast_possible_truncation, reason = "clamped to [2^16, 2^30] first")]
        {
            chunk = ideal as u64;
        }
        let mut new_job = false;
        for hit in report_.hits {
            let mut h = j.header;
            h.set_nonce(hit.nonce);
            let is_block = j.target.is_met_by(&hit.hash.0);
            match rt.block_on(client.submit_work(&j.work.job_id, &h.to_hex())) {
                Ok(r) if r.accepted => {
                    stats.accepted += 1;
                    if r.reason == "block" {
                        stats.blocks += 1;
                        println!(
                            "block {} at height {} accepted",
                            r.block_hash.map(|b| b.to_hex()).unwrap_or_default(),
                            j.work.height
                        );
                        new_job = true;
                    }
                }
                Ok(r) => {
                    stats.rejected += 1;
                    tracing::warn!("share rejected: {}", r.reason);
                }
                Err(ClientError::Rpc { code, message }) if code == cinder_rpc::codes::UNKNOWN_JOB => {
                    stats.stale += 1;
                    tracing::debug!("stale: {message}");
                    new_job = true;
                }
                Err(e) => {
                    stats.rejected += 1;
                    tracing::warn!("submitting work: {e}");
                    if is_block {
                        new_job = true;
                    }
                }
            }
            if new_job {
                break;
            }
        }
        if new_job {
            job = None;
        }
        if last_report.elapsed() >= Duration::from_secs(a.report_secs.max(1)) {
            report(&stats, hashes, since, job.as_ref());
            (hashes, since, last_report) = (0, Instant::now(), Instant::now());
        }
    }
}

fn report(s: &Stats, hashes: u64, since: Instant, job: Option<&Job>) {
    let rate = hashes as f64 / since.elapsed().as_secs_f64().max(1e-6);
    println!(
        "hashrate {:.3} MH/s | accepted {} | rejected {} | stale {} | blocks {} | height {}",
        rate / 1e6,
        s.accepted,
        s.rejected,
        s.stale,
        s.blocks,
        job.map_or("-".to_string(), |j| j.work.height.to_string())
    );
}
