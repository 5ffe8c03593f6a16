//! Proof-of-work nonce search.
//!
//! A [`PowJob`] is an 80-byte header in Bitcoin's layout, an algorithm and a
//! target. A backend searches a [`NonceRange`] of it (writing each nonce into
//! bytes 76..80) and returns every nonce whose hash meets the target, sorted.
//!
//! | backend | what | when |
//! |---|---|---|
//! | [`Backend::Reference`] | plain `sha2` / `blake3`, one nonce at a time | the oracle |
//! | [`Backend::Cpu`] | SHA-NI, AVX-512 or AVX2 kernels picked at run time, rayon | always |
//! | `Backend::Gpu` | WGSL kernels through wgpu (feature `gpu`) | with an adapter |
//!
//! All backends return identical hits for the same job and range; the tests
//! hold them to that.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

pub mod cpu;
mod header;
pub mod reference;
pub(crate) mod target;

pub use cpu::{CpuBackend, CpuFeatures, Isa};
pub use header::{HEADER_LEN, Header, NONCE_OFFSET, PowHash};
pub use target::Target;

/// A PoW hash function, chosen per chain at genesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// SHA-256 applied twice, exactly as Bitcoin.
    Sha256d,
    /// BLAKE3 of the 80 bytes (one compression per nonce after the first block).
    Blake3,
}

impl Algo {
    /// Both algorithms.
    pub const ALL: [Algo; 2] = [Algo::Sha256d, Algo::Blake3];

    /// Its name: `sha256d` or `blake3`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256d => "sha256d",
            Algo::Blake3 => "blake3",
        }
    }

    /// Hashes a header (reference implementation).
    pub fn hash(self, header: &Header) -> PowHash {
        reference::pow_hash(self, &header.0)
    }
}

impl fmt::Display for Algo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algo {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha256d" => Ok(Algo::Sha256d),
            "blake3" => Ok(Algo::Blake3),
            _ => Err(Error::UnknownName { what: "algorithm", got: s.to_string(), expected: "sha256d, blake3" }),
        }
    }
}

/// What to search: a header, an algorithm and a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowJob {
    /// The hash function.
    pub algo: Algo,
    /// The header; its nonce field is overwritten by the search.
    pub header: Header,
    /// A hash meets the job when, read little-endian, it is at most this.
    pub target: Target,
}

impl PowJob {
    /// A job with an explicit target.
    pub fn new(algo: Algo, header: Header, target: Target) -> Self {
        PowJob { algo, header, target }
    }

    /// A job whose target comes from the header's `bits`.
    pub fn from_header_bits(algo: Algo, header: Header) -> Result<Self> {
        Ok(PowJob { algo, header, target: header.target()? })
    }

    /// The hash of the header with `nonce`.
    pub fn hash_at(&self, nonce: u32) -> PowHash {
        self.algo.hash(&self.header.with_nonce(nonce))
    }
}

/// A range of nonces `start .. start + count`, never past `2^32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceRange {
    start: u32,
    count: u64,
}

impl NonceRange {
    /// Every nonce.
    pub const FULL: NonceRange = NonceRange { start: 0, count: 1 << 32 };

    /// `start .. start + count`; an error if that runs past `2^32`.
    pub fn new(start: u32, count: u64) -> Result<Self> {
        if u64::from(start) + count > 1 << 32 {
            return Err(Error::NonceRange { start, count });
        }
        Ok(NonceRange { start, count })
    }

    /// First nonce.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Number of nonces.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// One past the last nonce, as a u64.
    pub fn end(&self) -> u64 {
        u64::from(self.start) + self.count
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The nonces in order.
    #[allow(clippy::cast_possible_truncation, reason = "every value is < 2^32 by the invariant")]
    pub fn iter(&self) -> impl Iterator<Item = u32> + use<> {
        // Every value is < 2^32 by the invariant.
        (u64::from(self.start)..self.end()).map(|n| n as u32)
    }

    /// The sub-range `offset .. offset + len` of this range (clamped).
    #[allow(clippy::cast_possible_truncation, reason = "start + offset < 2^32 when offset < count, by the invariant")]
    pub fn sub(&self, offset: u64, len: u64) -> NonceRange {
        let offset = offset.min(self.count);
        let len = len.min(self.count - offset);
        let start = if len == 0 { self.start } else { (u64::from(self.start) + offset) as u32 };
        NonceRange { start, count: len }
    }

    /// Piece `i` of the range cut into pieces of `size` nonces, as
    /// `(start, count)` with `count <= size` (zero past the end).
    pub fn piece(&self, i: u64, size: u32) -> (u32, u32) {
        let r = self.sub(i.saturating_mul(u64::from(size)), u64::from(size));
        (r.start, u32::try_from(r.count).unwrap_or(size))
    }
}

/// A winning nonce and its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// The nonce.
    pub nonce: u32,
    /// Its hash, in the hash function's byte order.
    pub hash: PowHash,
}

/// Shared between a search and whoever watches or stops it.
#[derive(Debug, Default)]
pub struct SearchControl {
    cancelled: AtomicBool,
    hashes: AtomicU64,
}

impl SearchControl {
    /// A fresh control.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the search to stop as soon as it can. The GPU backend stops
    /// submitting at once and returns after the in-flight dispatches.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`SearchControl::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Hashes done so far (updated as work completes, for live hashrates).
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// Adds to the hash counter.
    pub fn add_hashes(&self, n: u64) {
        self.hashes.fetch_add(n, Ordering::Relaxed);
    }
}

/// The result of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchReport {
    /// Every nonce in the searched part of the range whose hash meets the
    /// target, sorted by nonce.
    pub hits: Vec<Hit>,
    /// Nonces tried.
    pub hashes: u64,
    /// False when cancelled before the whole range was searched.
    pub completed: bool,
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The oracle.
    Reference,
    /// SIMD kernels on all cores.
    Cpu,
    /// wgpu; any adapter, software ones included.
    Gpu,
    /// A hardware GPU if there is one, else the CPU.
    Auto,
}

impl BackendKind {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Reference => "reference",
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu => "gpu",
            BackendKind::Auto => "auto",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "reference" => Ok(BackendKind::Reference),
            "cpu" => Ok(BackendKind::Cpu),
            "gpu" => Ok(BackendKind::Gpu),
            "auto" => Ok(BackendKind::Auto),
            _ => Err(Error::UnknownName { what: "backend", got: s.to_string(), expected: "reference, cpu, gpu, auto" }),
        }
    }
}

/// How to build a [`Backend`].
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// Which backend.
    pub kind: BackendKind,
    /// CPU threads (default: all cores).
    pub cpu_threads: Option<usize>,
    /// Force a CPU kernel.
    pub cpu_isa: Option<Isa>,
    /// GPU options.
    #[cfg(feature = "gpu")]
    pub gpu: crate::gpu::GpuOptions,
}

impl BackendOptions {
    /// Defaults for `kind`.
    pub fn new(kind: BackendKind) -> Self {
        BackendOptions {
            kind,
            cpu_threads: None,
            cpu_isa: None,
            #[cfg(feature = "gpu")]
            gpu: crate::gpu::GpuOptions::default(),
        }
    }
}

/// A PoW search backend.
#[derive(Debug)]
pub enum Backend {
    /// Plain `sha2`/`blake3`, single-threaded.
    Reference,
    /// SIMD kernels over rayon.
    Cpu(CpuBackend),
    /// WGSL kernels on one or more GPUs.
    #[cfg(feature = "gpu")]
    Gpu(crate::gpu::GpuBackend),
}

impl Backend {
    /// `auto` with default options: a hardware GPU if present, else the CPU.
    pub fn detect() -> Result<Self> {
        Self::from_options(&BackendOptions::new(BackendKind::Auto))
    }

    /// Builds the backend `opts` asks for.
    pub fn from_options(opts: &BackendOptions) -> Result<Self> {
        match opts.kind {
            BackendKind::Reference => Ok(Backend::Reference),
            BackendKind::Cpu => Ok(Backend::Cpu(CpuBackend::new(opts.cpu_threads, opts.cpu_isa)?)),
            #[cfg(feature = "gpu")]
            BackendKind::Gpu => Ok(Backend::Gpu(crate::gpu::GpuBackend::new(&opts.gpu, false)?)),
            #[cfg(feature = "gpu")]
            BackendKind::Auto => match crate::gpu::GpuBackend::new(&opts.gpu, true) {
                Ok(g) => Ok(Backend::Gpu(g)),
                Err(Error::NoGpu(reason)) => {
                    tracing::info!("no hardware GPU ({reason}); using the CPU");
                    Ok(Backend::Cpu(CpuBackend::new(opts.cpu_threads, opts.cpu_isa)?))
                }
                Err(e) => Err(e),
            },
            #[cfg(not(feature = "gpu"))]
            BackendKind::Gpu => Err(Error::NoGpu("this build has no GPU support (feature `gpu`)".into())),
            #[cfg(not(feature = "gpu"))]
            BackendKind::Auto => Ok(Backend::Cpu(CpuBackend::new(opts.cpu_threads, opts.cpu_isa)?)),
        }
    }

    /// Which kind this is.
    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Reference => BackendKind::Reference,
            Backend::Cpu(_) => BackendKind::Cpu,
            #[cfg(feature = "gpu")]
            Backend::Gpu(_) => BackendKind::Gpu,
        }
    }

    /// A one-line description for reports ("cpu: sha-ni, 2 threads").
    pub fn describe(&self, algo: Algo) -> String {
        match self {
            Backend::Reference => "reference: sha2/blake3 crates, 1 thread".to_string(),
            Backend::Cpu(c) => format!("cpu: {} kernel, {} threads", c.isa(algo), c.threads()),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => format!("gpu: {}", g.describe()),
        }
    }

    /// Searches `range` of `job`; hits sorted by nonce.
    pub fn search(&self, job: &PowJob, range: NonceRange, ctl: &SearchControl) -> Result<SearchReport> {
        match self {
            Backend::Reference => reference::search(job, range, ctl),
            Backend::Cpu(c) => c.search(job, range, ctl),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => g.search(job, range, ctl),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_range_rejects_overflow() {
        assert!(NonceRange::new(0, 1 << 32).is_ok());
        assert!(NonceRange::new(1, 1 << 32).is_err());
        assert!(NonceRange::new(u32::MAX, 1).is_ok());
        assert!(NonceRange::new(u32::MAX, 2).is_err());
        let r = NonceRange::new(10, 5).unwrap();
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![10, 11, 12, 13, 14]);
        assert_eq!(r.sub(3, 10), NonceRange::new(13, 2).unwrap());
    }

    #[test]
    fn names_parse() {
        assert_eq!("SHA256D".parse::<Algo>().unwrap(), Algo::Sha256d);
        assert!("sha256".parse::<Algo>().is_err());
        assert_eq!("auto".parse::<BackendKind>().unwrap(), BackendKind::Auto);
        assert!("fpga".parse::<BackendKind>().is_err());
        assert_eq!("sha-ni".parse::<Isa>().unwrap(), Isa::ShaNi);
    }
}
