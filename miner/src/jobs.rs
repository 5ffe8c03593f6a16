//! Where mining work comes from, and the loop that mines it.
//!
//! A [`JobSource`] hands out work (a job and a nonce range) and takes the
//! solutions. The mining loop, [`mine`], is the same whatever the source:
//! `bench` drives it with [`SyntheticJobs`]; mining for a node plugs a
//! JSON-RPC source into the same trait. A source that learns of a new job
//! (a new chain head) calls [`MinerStats::interrupt`], which cancels the
//! search in progress so the loop asks for fresh work at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;
use cinder_engine::pow::{Algo, Backend, Header, Hit, NonceRange, PowJob, SearchControl, Target};

/// A piece of work: a job and the nonces to try.
#[derive(Clone, Debug)]
pub(crate) struct Work {
    /// Source-specific id, echoed back with solutions.
    pub id: u64,
    /// The job.
    pub job: PowJob,
    /// The nonces.
    pub range: NonceRange,
}

/// Supplies work and receives solutions.
pub(crate) trait JobSource {
    /// The next piece of work, or `None` when the source is finished.
    fn next_work(&mut self) -> Result<Option<Work>>;
    /// A nonce of `work` whose hash meets its target.
    fn submit(&mut self, work: &Work, hit: Hit) -> Result<()>;
}

/// Live counters of a mining loop, shared with displays and sources.
#[derive(Debug, Default)]
pub(crate) struct MinerStats {
    completed: AtomicU64,
    found: AtomicU64,
    stopped: AtomicBool,
    current: Mutex<Option<Arc<SearchControl>>>,
}

impl MinerStats {
    /// Hashes so far, including the search in progress.
    pub(crate) fn hashes(&self) -> u64 {
        let cur = self.current.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map_or(0, |c| c.hashes());
        self.completed.load(Ordering::Relaxed) + cur
    }

    /// Cancels the search in progress; the loop then asks for new work.
    pub(crate) fn interrupt(&self) {
        if let Some(c) = self.current.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            c.cancel();
        }
    }

    /// Stops the loop.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.interrupt();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// Mines until the source runs dry or `stats.stop()` is called.
pub(crate) fn mine(backend: &Backend, source: &mut dyn JobSource, stats: &MinerStats) -> Result<()> {
    while !stats.is_stopped() {
        let Some(work) = source.next_work()? else { break };
        let ctl = Arc::new(SearchControl::new());
        *stats.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(ctl.clone());
        // A stop that raced with the swap above must still cancel this search.
        if stats.is_stopped() {
            ctl.cancel();
        }
        let report = backend.search(&work.job, work.range, &ctl);
        stats.completed.fetch_add(ctl.hashes(), Ordering::Relaxed);
        *stats.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        for hit in report?.hits {
            stats.found.fetch_add(1, Ordering::Relaxed);
            source.submit(&work, hit)?;
        }
    }
    Ok(())
}

/// Endless synthetic work for benchmarks: a fixed header whose time field
/// rolls forward each time the nonce space is used up, at difficulty 1.
pub(crate) struct SyntheticJobs {
    algo: Algo,
    header: Header,
    target: Target,
    next_id: u64,
    /// Solutions seen (a benchmark counts, it does not submit anywhere).
    pub solutions: Vec<(u64, Hit)>,
}

impl SyntheticJobs {
    pub(crate) fn new(algo: Algo, seed: u8) -> Self {
        let mut prev = [0u8; 32];
        prev[0] = seed;
        let header = Header::new(0x2000_0000, prev, [seed ^ 0x5a; 32], 1_700_000_000, 0x1d00_ffff, 0);
        // Difficulty 1 (Bitcoin's genesis target): 0x00000000ffff0000...
        let mut t = [0u32; 8];
        t[6] = 0xffff_0000;
        SyntheticJobs { algo, header, target: Target::from_le_words(t), next_id: 0, solutions: Vec::new() }
    }

    /// The job with id `id`.
    #[allow(clippy::cast_possible_truncation, reason = "the time field rolls over on purpose")]
    pub(crate) fn job(&self, id: u64) -> PowJob {
        let mut h = self.header;
        h.set_time(h.time().wrapping_add(id as u32));
        PowJob::new(self.algo, h, self.target)
    }
}

impl JobSource for SyntheticJobs {
    fn next_work(&mut self) -> Result<Option<Work>> {
        let id = self.next_id;
        self.next_id += 1;
        Ok(Some(Work { id, job: self.job(id), range: NonceRange::FULL }))
    }

    fn submit(&mut self, work: &Work, hit: Hit) -> Result<()> {
        self.solutions.push((work.id, hit));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "test inputs")]
mod tests {
    use super::*;
    use cinder_engine::pow::BackendKind;

    /// A source with a handful of small ranges at an easy target.
    struct Fixed {
        works: Vec<Work>,
        got: Vec<(u64, u32)>,
    }

    impl JobSource for Fixed {
        fn next_work(&mut self) -> Result<Option<Work>> {
            Ok(self.works.pop())
        }
        fn submit(&mut self, work: &Work, hit: Hit) -> Result<()> {
            assert!(work.job.target.is_met_by(&hit.hash.0));
            self.got.push((work.id, hit.nonce));
            Ok(())
        }
    }

    #[test]
    fn mine_submits_every_solution_of_every_work() {
        let mut easy = [u32::MAX; 8];
        easy[7] = 0x0800_0000;
        let target = Target::from_le_words(easy);
        let works: Vec<Work> = (0..3u64)
            .map(|id| Work {
                id,
                job: PowJob::new(Algo::Sha256d, SyntheticJobs::new(Algo::Sha256d, id as u8).job(0).header, target),
                range: NonceRange::new(0, 5000).unwrap(),
            })
            .collect();
        let expected: usize =
            works.iter().map(|w| w.range.iter().filter(|&n| w.job.target.is_met_by(&w.job.hash_at(n).0)).count()).sum();
        let backend = Backend::from_options(&cinder_engine::pow::BackendOptions::new(BackendKind::Cpu)).unwrap();
        let stats = MinerStats::default();
        let mut src = Fixed { works, got: Vec::new() };
        mine(&backend, &mut src, &stats).unwrap();
        assert_eq!(src.got.len(), expected);
        assert!(expected > 0);
        assert_eq!(stats.hashes(), 15_000);
        assert_eq!(stats.found.load(Ordering::Relaxed), expected as u64);
    }

    #[test]
    fn stop_ends_an_endless_source() {
        let backend = Backend::from_options(&cinder_engine::pow::BackendOptions::new(BackendKind::Cpu)).unwrap();
        let stats = MinerStats::default();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(200));
                stats.stop();
            });
            let mut src = SyntheticJobs::new(Algo::Blake3, 1);
            mine(&backend, &mut src, &stats).unwrap();
        });
        assert!(stats.hashes() > 0);
    }
}
