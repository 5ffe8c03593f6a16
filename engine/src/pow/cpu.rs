//! The CPU backend: SIMD kernels chosen at run time, spread over cores with rayon.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::lanes::{self, Blake3Job, Sha256dJob};
use crate::pow::{Algo, Hit, NonceRange, PowHash, PowJob, SearchControl, SearchReport};

/// Environment variable that forces the CPU kernel (`portable`, `avx2`,
/// `avx512`, `sha-ni`) for the algorithms that have it.
pub const CPU_ISA_ENV: &str = "CINDER_CPU_ISA";

/// Nonces per rayon task: small enough for prompt cancellation (about 3 ms on
/// one core), large enough that scheduling costs nothing.
const CHUNK: u32 = 1 << 16;

/// A CPU kernel, by the instruction set it is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, one nonce at a time (with midstate and early reject).
    Portable,
    /// 8 nonces per AVX2 vector.
    Avx2,
    /// 16 nonces per AVX-512 vector (needs AVX-512F and BW).
    Avx512,
    /// x86 SHA extensions, several nonces interleaved (sha256d only).
    ShaNi,
}

impl Isa {
    /// Every kernel, fastest-first preference order is per algorithm.
    pub const ALL: [Isa; 4] = [Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::ShaNi];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::ShaNi => "sha-ni",
        }
    }

    /// Whether this machine can run it.
    pub fn is_supported(self) -> bool {
        let f = CpuFeatures::detect();
        match self {
            Isa::Portable => true,
            Isa::Avx2 => f.avx2,
            Isa::Avx512 => f.avx512f && f.avx512bw,
            Isa::ShaNi => f.sha_ni,
        }
    }

    /// Whether there is a kernel for `algo` on this instruction set.
    pub fn has_kernel(self, algo: Algo) -> bool {
        !(self == Isa::ShaNi && algo == Algo::Blake3)
    }

    /// The kernels this machine can run for `algo`, in preference order
    /// (best first). The order was measured: see docs/benchmarks.md.
    pub fn available(algo: Algo) -> Vec<Isa> {
        let order: &[Isa] = match algo {
            Algo::Sha256d => &[Isa::ShaNi, Isa::Avx512, Isa::Avx2, Isa::Portable],
            Algo::Blake3 => &[Isa::Avx512, Isa::Avx2, Isa::Portable],
        };
        order.iter().copied().filter(|i| i.is_supported()).collect()
    }

    /// The best kernel for `algo` on this machine.
    pub fn best(algo: Algo) -> Isa {
        Isa::available(algo).first().copied().unwrap_or(Isa::Portable)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Isa::ALL.into_iter().find(|i| i.name() == s.to_ascii_lowercase()).ok_or_else(|| Error::UnknownName {
            what: "CPU kernel",
            got: s.to_string(),
            expected: "portable, avx2, avx512, sha-ni",
        })
    }
}

/// What the CPU offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CpuFeatures {
    /// x86 SHA extensions.
    pub sha_ni: bool,
    /// AVX2.
    pub avx2: bool,
    /// AVX-512 Foundation.
    pub avx512f: bool,
    /// AVX-512 Byte/Word.
    pub avx512bw: bool,
    /// Logical cores available to this process.
    pub cores: usize,
}

impl CpuFeatures {
    /// Detects the features at run time.
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        #[cfg(target_arch = "x86_64")]
        {
            CpuFeatures {
                sha_ni: std::is_x86_feature_detected!("sha")
                    && std::is_x86_feature_detected!("sse4.1")
                    && std::is_x86_feature_detected!("ssse3"),
                avx2: std::is_x86_feature_detected!("avx2"),
                avx512f: std::is_x86_feature_detected!("avx512f"),
                avx512bw: std::is_x86_feature_detected!("avx512bw"),
                cores,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CpuFeatures { sha_ni: false, avx2: false, avx512f: false, avx512bw: false, cores }
        }
    }
}

/// A job prepared for one algorithm's kernels.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prepared {
    Sha256d(Sha256dJob),
    Blake3(Blake3Job),
}

impl Prepared {
    pub(crate) fn new(job: &PowJob) -> Self {
        let t = job.target.le_words();
        match job.algo {
            Algo::Sha256d => Prepared::Sha256d(Sha256dJob::new(&job.header.0, t)),
            Algo::Blake3 => Prepared::Blake3(Blake3Job::new(&job.header.0, t)),
        }
    }

    /// The hash of one nonce, scalar (used to report and to verify hits).
    pub(crate) fn hash(&self, nonce: u32) -> PowHash {
        match self {
            Prepared::Sha256d(j) => PowHash(j.hash(nonce)),
            Prepared::Blake3(j) => PowHash(j.hash(nonce)),
        }
    }
}

/// Runs one kernel over `start..start+count`, appending the winning nonces.
///
/// The caller guarantees `isa.is_supported()` and `isa.has_kernel(algo)`.
pub(crate) fn scan(isa: Isa, job: &Prepared, start: u32, count: u32, hits: &mut Vec<u32>) {
    match (isa, job) {
        // SAFETY (all arms): u32 lanes need no instruction set.
        (Isa::Portable, Prepared::Sha256d(j)) => unsafe { lanes::sha256d_scan::<u32>(j, start, count, hits) },
        (Isa::Portable, Prepared::Blake3(j)) => unsafe { lanes::blake3_scan::<u32>(j, start, count, hits) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked Isa::Avx2.is_supported().
        (Isa::Avx2, Prepared::Sha256d(j)) => unsafe { x86::sha256d_avx2(j, start, count, hits) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked Isa::Avx2.is_supported().
        (Isa::Avx2, Prepared::Blake3(j)) => unsafe { x86::blake3_avx2(j, start, count, hits) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked Isa::Avx512.is_supported() (F and BW).
        (Isa::Avx512, Prepared::Sha256d(j)) => unsafe { x86::sha256d_avx512(j, start, count, hits) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked Isa::Avx512.is_supported() (F and BW).
        (Isa::Avx512, Prepared::Blake3(j)) => unsafe { x86::blake3_avx512(j, start, count, hits) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked Isa::ShaNi.is_supported() (SHA, SSSE3, SSE4.1).
        (Isa::ShaNi, Prepared::Sha256d(j)) => unsafe { crate::hash::sha_ni::sha256d_scan::<4>(j, start, count, hits) },
        // SAFETY: u32 lanes need no instruction set. SHA-NI has no BLAKE3 kernel.
        (Isa::ShaNi, Prepared::Blake3(j)) => unsafe { lanes::blake3_scan::<u32>(j, start, count, hits) },
        // Not this architecture: the portable kernel is exact too.
        #[cfg(not(target_arch = "x86_64"))]
        (_, Prepared::Sha256d(j)) => unsafe { lanes::sha256d_scan::<u32>(j, start, count, hits) },
        #[cfg(not(target_arch = "x86_64"))]
        (_, Prepared::Blake3(j)) => unsafe { lanes::blake3_scan::<u32>(j, start, count, hits) },
    }
}

/// BLAKE3 compressions of arbitrary inputs on the given kernel, `Isa::N` at a
/// time. The test vectors drive every compression through this.
pub fn blake3_compress_many(isa: Isa, inputs: &[crate::hash::blake3::CompressInput]) -> Result<Vec<[u32; 16]>> {
    if !isa.is_supported() {
        return Err(Error::IsaUnavailable(isa));
    }
    if !isa.has_kernel(Algo::Blake3) {
        return Err(Error::UnknownName {
            what: "BLAKE3 kernel",
            got: isa.to_string(),
            expected: "portable, avx2, avx512",
        });
    }
    let mut out = vec![[0u32; 16]; inputs.len()];
    let n = match isa {
        Isa::Avx512 => 16,
        Isa::Avx2 => 8,
        _ => 1,
    };
    for (i, o) in inputs.chunks(n).zip(out.chunks_mut(n)) {
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: is_supported() checked above.
            Isa::Avx2 => unsafe { x86::b3_many_avx2(i, o) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: is_supported() checked above.
            Isa::Avx512 => unsafe { x86::b3_many_avx512(i, o) },
            // SAFETY: u32 lanes need no instruction set.
            _ => unsafe { lanes::b3_compress_many::<u32>(i, o) },
        }
    }
    Ok(out)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! `#[target_feature]` entry points: each instantiates a generic kernel
    //! for one instruction set.
    use crate::hash::blake3::CompressInput;
    use crate::hash::lanes::x86::{Avx2, Avx512};
    use crate::hash::lanes::{self, Blake3Job, Sha256dJob};

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sha256d_avx2(j: &Sha256dJob, s: u32, c: u32, h: &mut Vec<u32>) {
        unsafe { lanes::sha256d_scan::<Avx2>(j, s, c, h) }
    }
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn blake3_avx2(j: &Blake3Job, s: u32, c: u32, h: &mut Vec<u32>) {
        unsafe { lanes::blake3_scan::<Avx2>(j, s, c, h) }
    }
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn sha256d_avx512(j: &Sha256dJob, s: u32, c: u32, h: &mut Vec<u32>) {
        unsafe { lanes::sha256d_scan::<Avx512>(j, s, c, h) }
    }
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn blake3_avx512(j: &Blake3Job, s: u32, c: u32, h: &mut Vec<u32>) {
        unsafe { lanes::blake3_scan::<Avx512>(j, s, c, h) }
    }
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn b3_many_avx2(i: &[CompressInput], o: &mut [[u32; 16]]) {
        unsafe { lanes::b3_compress_many::<Avx2>(i, o) }
    }
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn b3_many_avx512(i: &[CompressInput], o: &mut [[u32; 16]]) {
        unsafe { lanes::b3_compress_many::<Avx512>(i, o) }
    }
}

/// Multi-core CPU search with a run-time chosen kernel.
pub struct CpuBackend {
    pool: rayon::ThreadPool,
    threads: usize,
    isa_override: Option<Isa>,
}

impl fmt::Debug for CpuBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuBackend").field("threads", &self.threads).field("isa", &self.isa_override).finish()
    }
}

impl CpuBackend {
    /// A backend on `threads` threads (default: all cores), with the kernel
    /// forced to `isa` or, if `None`, taken from [`CPU_ISA_ENV`] or detected.
    pub fn new(threads: Option<usize>, isa: Option<Isa>) -> Result<Self> {
        let isa = match isa {
            Some(i) => Some(i),
            None => match std::env::var(CPU_ISA_ENV) {
                Ok(v) if !v.is_empty() => Some(v.parse()?),
                _ => None,
            },
        };
        if let Some(i) = isa.filter(|i| !i.is_supported()) {
            return Err(Error::IsaUnavailable(i));
        }
        let threads = threads.unwrap_or_else(|| CpuFeatures::detect().cores).max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("cinder-cpu-{i}"))
            .build()
            .map_err(|e| Error::Gpu { device: "cpu".into(), message: format!("thread pool: {e}") })?;
        Ok(CpuBackend { pool, threads, isa_override: isa })
    }

    /// Threads used.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The kernel used for `algo`.
    pub fn isa(&self, algo: Algo) -> Isa {
        match self.isa_override {
            Some(i) if i.has_kernel(algo) => i,
            _ => Isa::best(algo),
        }
    }

    /// Searches `range`, all cores, sorted hits.
    pub fn search(&self, job: &PowJob, range: NonceRange, ctl: &SearchControl) -> Result<SearchReport> {
        let isa = self.isa(job.algo);
        let prepared = Prepared::new(job);
        let count = range.count();
        let chunks = count.div_ceil(u64::from(CHUNK));
        let hashes = AtomicU64::new(0);
        let mut hits: Vec<u32> = self.pool.install(|| {
            (0..chunks)
                .into_par_iter()
                .flat_map_iter(|i| {
                    let mut out = Vec::new();
                    if ctl.is_cancelled() {
                        return out;
                    }
                    let (s, n) = range.piece(i, CHUNK);
                    scan(isa, &prepared, s, n, &mut out);
                    hashes.fetch_add(u64::from(n), Ordering::Relaxed);
                    ctl.add_hashes(u64::from(n));
                    out
                })
                .collect()
        });
        hits.sort_unstable();
        let hashes = hashes.into_inner();
        Ok(SearchReport {
            hits: hits.into_iter().map(|nonce| Hit { nonce, hash: prepared.hash(nonce) }).collect(),
            hashes,
            completed: hashes == count,
        })
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "test inputs")]
mod tests {
    use super::*;
    use crate::hash::blake3 as b3;
    use crate::pow::{Header, Target};

    fn header(seed: u8) -> Header {
        let mut b = [0u8; 80];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i as u8).wrapping_mul(31).wrapping_add(seed);
        }
        Header(b)
    }

    /// Top word `top`, rest all ones: about `top / 2^32` of hashes hit.
    fn easy(top: u32) -> Target {
        let mut w = [u32::MAX; 8];
        w[7] = top;
        Target::from_le_words(w)
    }

    fn reference_hits(job: &PowJob, range: NonceRange) -> Vec<u32> {
        crate::pow::reference::search(job, range, &SearchControl::new()).unwrap().hits.iter().map(|h| h.nonce).collect()
    }

    #[test]
    fn every_kernel_matches_the_reference() {
        let ranges = [(0u32, 3000u64), (12_345, 1), (7, 17), (u32::MAX - 40, 41)];
        for algo in Algo::ALL {
            for isa in Isa::available(algo) {
                for seed in 0..3u8 {
                    let job = PowJob::new(algo, header(seed), easy(0x2000_0000));
                    let prepared = Prepared::new(&job);
                    for (s, c) in ranges {
                        let range = NonceRange::new(s, c).unwrap();
                        let mut got = Vec::new();
                        scan(isa, &prepared, s, c as u32, &mut got);
                        got.sort_unstable();
                        assert_eq!(got, reference_hits(&job, range), "{algo} {isa} seed {seed} range {s}+{c}");
                    }
                    // Scalar hash agrees with the reference for a few nonces.
                    for n in [0u32, 1, 99, u32::MAX] {
                        assert_eq!(prepared.hash(n), job.hash_at(n), "{algo} hash of {n}");
                    }
                }
            }
        }
    }

    #[test]
    fn early_reject_is_exact_when_top_words_tie() {
        // Targets whose top word equals the hash's top word exercise the full
        // comparison after the early check.
        for algo in Algo::ALL {
            let job0 = PowJob::new(algo, header(9), Target::MAX);
            for n in 0..50u32 {
                let h = job0.hash_at(n);
                let words = crate::pow::target::le_words_of(&h.0);
                for (delta, expect) in [(0i64, true), (-1, false)] {
                    let mut t = words;
                    // Same top word; lower words at the hash (meets) or just below it (misses).
                    if delta < 0 {
                        let Some(i) = (0..7).find(|&i| t[i] != 0) else { continue };
                        t[i] -= 1;
                        for w in t.iter_mut().take(i) {
                            *w = u32::MAX;
                        }
                    }
                    let job = PowJob::new(algo, job0.header, Target::from_le_words(t));
                    let prepared = Prepared::new(&job);
                    for isa in Isa::available(algo) {
                        let mut got = Vec::new();
                        scan(isa, &prepared, n, 1, &mut got);
                        assert_eq!(got.contains(&n), expect, "{algo} {isa} nonce {n} delta {delta}");
                    }
                }
            }
        }
    }

    #[test]
    fn multi_lane_compression_matches_portable() {
        let inputs: Vec<b3::CompressInput> = (0..37u32)
            .map(|i| b3::CompressInput {
                cv: std::array::from_fn(|k| i.wrapping_mul(0x9e37_79b9).wrapping_add(k as u32)),
                block: std::array::from_fn(|k| (k as u32).wrapping_mul(i + 7)),
                counter: u64::from(i) << 31,
                block_len: i % 65,
                flags: i % 128,
            })
            .collect();
        let want: Vec<[u32; 16]> = inputs.iter().map(b3::compress).collect();
        for isa in Isa::available(Algo::Blake3) {
            assert_eq!(blake3_compress_many(isa, &inputs).unwrap(), want, "{isa}");
        }
    }

    #[test]
    fn backend_search_sorts_counts_and_cancels() {
        let backend = CpuBackend::new(Some(2), None).unwrap();
        let job = PowJob::new(Algo::Sha256d, header(1), easy(0x0100_0000));
        let range = NonceRange::new(1000, 300_000).unwrap();
        let ctl = SearchControl::new();
        let r = backend.search(&job, range, &ctl).unwrap();
        assert!(r.completed);
        assert_eq!(r.hashes, 300_000);
        assert_eq!(ctl.hashes(), 300_000);
        assert!(r.hits.windows(2).all(|w| w[0].nonce < w[1].nonce));
        assert_eq!(r.hits.iter().map(|h| h.nonce).collect::<Vec<_>>(), reference_hits(&job, range));
        let cancelled = SearchControl::new();
        cancelled.cancel();
        let r = backend.search(&job, NonceRange::FULL, &cancelled).unwrap();
        assert!(!r.completed);
        assert_eq!(r.hashes, 0);
    }
}
