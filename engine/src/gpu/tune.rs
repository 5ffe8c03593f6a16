//! Per-device auto-tuning of the search kernels, cached on disk.
//!
//! The tuner compiles each candidate (workgroup size x nonces per thread),
//! sizes its dispatches to a few milliseconds, measures the steady hashrate
//! with two dispatches in flight, and keeps the fastest. The result is cached
//! in a JSON file keyed by adapter, algorithm, driver and shader fingerprint:
//! a new driver or a changed shader invalidates the entry and the device is
//! tuned again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::device::{AdapterSummary, GpuDevice, JobParams, MAX_DISPATCH_NONCES};
use crate::gpu::shaders;
use crate::pow::cpu::Prepared;
use crate::pow::{Algo, Header, NonceRange, PowJob, SearchControl, Target};

/// Environment variable naming the tune cache file.
pub const TUNE_CACHE_ENV: &str = "CINDER_TUNE_CACHE";

/// How long one dispatch should take: short enough that a new job reaches
/// the GPU within two of them (the 50 ms job-switch budget), long enough that
/// per-dispatch overhead is lost in the noise.
pub const TARGET_DISPATCH: Duration = Duration::from_millis(8);

const CACHE_VERSION: u32 = 1;

/// Kernel launch shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tuning {
    /// Threads per workgroup (`WORKGROUP_SIZE`).
    pub workgroup_size: u32,
    /// Nonces each thread tries (`NONCES_PER_THREAD`).
    pub nonces_per_thread: u32,
    /// Nonces per dispatch.
    pub dispatch_nonces: u64,
}

impl Tuning {
    /// A reasonable shape without tuning (used by tests to skip the tuner).
    pub const UNTUNED: Tuning = Tuning { workgroup_size: 64, nonces_per_thread: 16, dispatch_nonces: 1 << 18 };

    /// Nonces one workgroup covers.
    pub fn nonces_per_group(&self) -> u64 {
        u64::from(self.workgroup_size) * u64::from(self.nonces_per_thread.max(1))
    }
}

/// How the backend picks a [`Tuning`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TuneMode {
    /// Tune on first use, cached in `cache` (none: tune every run).
    Auto {
        /// The cache file.
        cache: Option<PathBuf>,
        /// Ignore the cache and tune again (the result is stored).
        retune: bool,
    },
    /// Use this shape on every device.
    Fixed(Tuning),
}

impl Default for TuneMode {
    fn default() -> Self {
        TuneMode::Auto { cache: default_cache_path(), retune: false }
    }
}

/// `$CINDER_TUNE_CACHE`, else `$XDG_CACHE_HOME/cinder/gpu-tune.json`, else
/// `~/.cache/cinder/gpu-tune.json`.
pub fn default_cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(TUNE_CACHE_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|p| !p.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("cinder").join("gpu-tune.json"))
}

/// One tuned device and algorithm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Adapter name.
    pub adapter: String,
    /// PCI vendor id.
    pub vendor: u32,
    /// PCI device id.
    pub device_id: u32,
    /// Graphics API.
    pub backend: String,
    /// Driver name when tuned.
    pub driver: String,
    /// Driver version when tuned.
    pub driver_info: String,
    /// Algorithm.
    pub algo: Algo,
    /// Fingerprint of the shader source when tuned.
    pub shader: String,
    /// The winning shape.
    pub tuning: Tuning,
    /// Its measured rate, MH/s.
    pub mhs: f64,
    /// When, seconds since the Unix epoch.
    pub tuned_unix: u64,
}

impl CacheEntry {
    fn same_device(&self, s: &AdapterSummary, algo: Algo) -> bool {
        self.adapter == s.name
            && self.vendor == s.vendor
            && self.device_id == s.device_id
            && self.backend == s.backend
            && self.algo == algo
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<CacheEntry>,
}

/// What the cache says about a device.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// A valid entry.
    Hit(CacheEntry),
    /// No entry.
    Miss,
    /// An entry from another driver or shader: why it is stale.
    Stale(String),
}

fn read_cache(path: &Path) -> Result<CacheFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CacheFile::default()),
        Err(e) => return Err(Error::TuneCache { path: path.display().to_string(), message: e.to_string() }),
    };
    match serde_json::from_str::<CacheFile>(&text) {
        Ok(f) if f.version == CACHE_VERSION => Ok(f),
        Ok(f) => {
            tracing::warn!(path = %path.display(), version = f.version, "tune cache has another format version; it will be rewritten");
            Ok(CacheFile::default())
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), "tune cache is not valid ({e}); it will be rewritten");
            Ok(CacheFile::default())
        }
    }
}

/// Looks up `summary`'s entry for `algo`.
pub fn lookup(path: &Path, summary: &AdapterSummary, algo: Algo) -> Result<Lookup> {
    let file = read_cache(path)?;
    let Some(e) = file.entries.into_iter().find(|e| e.same_device(summary, algo)) else { return Ok(Lookup::Miss) };
    let shader = shaders::fingerprint(&shaders::for_algo(algo));
    if e.driver != summary.driver || e.driver_info != summary.driver_info {
        return Ok(Lookup::Stale(format!(
            "driver changed ({} {} -> {} {})",
            e.driver, e.driver_info, summary.driver, summary.driver_info
        )));
    }
    if e.shader != shader {
        return Ok(Lookup::Stale(format!("shader changed ({} -> {shader})", e.shader)));
    }
    Ok(Lookup::Hit(e))
}

/// Stores `entry`, replacing the device's previous one. Written to a temporary
/// file and renamed, so a crash never leaves a half-written cache.
pub fn store(path: &Path, entry: CacheEntry) -> Result<()> {
    let io = |e: std::io::Error| Error::TuneCache { path: path.display().to_string(), message: e.to_string() };
    let mut file = read_cache(path)?;
    file.version = CACHE_VERSION;
    file.entries.retain(|e| {
        !(e.adapter == entry.adapter
            && e.vendor == entry.vendor
            && e.device_id == entry.device_id
            && e.backend == entry.backend
            && e.algo == entry.algo)
    });
    file.entries.push(entry);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| Error::TuneCache { path: path.display().to_string(), message: e.to_string() })?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text + "\n").map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A job that (almost) never hits, for timing.
fn timing_job(algo: Algo) -> PowJob {
    let mut w = [0u32; 8];
    w[6] = 1; // about one hit per 2^64 hashes
    PowJob::new(algo, Header([0x5a; 80]), Target::from_le_words(w))
}

/// Steady rate of `tuning` (with its dispatch size) over `budget`, in hashes/s.
pub(crate) fn measure(dev: &GpuDevice, algo: Algo, tuning: &Tuning, budget: Duration) -> Result<f64> {
    let job = timing_job(algo);
    let job_params = JobParams::new(&Prepared::new(&job));
    let ctl = SearchControl::new();
    let mut hits = Vec::new();
    // Warm up: pipeline build and first dispatch.
    let mut once = Some(NonceRange::new(0, tuning.dispatch_nonces)?);
    dev.run(algo, &job_params, tuning, &mut || once.take(), &ctl, &mut hits)?;
    let start = Instant::now();
    let mut offset = 0u64;
    let mut next = || {
        if start.elapsed() >= budget {
            return None;
        }
        let r = NonceRange::FULL.sub(offset % (1 << 32), tuning.dispatch_nonces);
        offset += r.count();
        Some(r)
    };
    let searched = dev.run(algo, &job_params, tuning, &mut next, &ctl, &mut hits)?;
    Ok(searched as f64 / start.elapsed().as_secs_f64())
}

/// Sizes `tuning.dispatch_nonces` so one dispatch takes about [`TARGET_DISPATCH`].
fn size_dispatch(dev: &GpuDevice, algo: Algo, mut tuning: Tuning) -> Result<Tuning> {
    let job = timing_job(algo);
    let job_params = JobParams::new(&Prepared::new(&job));
    let ctl = SearchControl::new();
    let group = tuning.nonces_per_group();
    let max = MAX_DISPATCH_NONCES / group * group;
    let time_one = |n: u64| -> Result<Duration> {
        let mut hits = Vec::new();
        let mut once = Some(NonceRange::new(0, n)?);
        let t = Instant::now();
        dev.run(algo, &job_params, &tuning, &mut || once.take(), &ctl, &mut hits)?;
        Ok(t.elapsed().max(Duration::from_micros(20)))
    };
    // Warm up: some drivers compile the pipeline at its first dispatch.
    time_one(group)?;
    let mut n = (group * 16).min(max);
    for _ in 0..10 {
        let took = time_one(n)?;
        let rate = n as f64 / took.as_secs_f64();
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a float-to-int `as` saturates; the rate is finite and positive"
        )]
        let want =
            ((rate * TARGET_DISPATCH.as_secs_f64()) as u64).div_ceil(group).max(1).saturating_mul(group).min(max);
        let settled = took >= TARGET_DISPATCH / 2 && took <= TARGET_DISPATCH * 2;
        // Grow at most 16x per step: small dispatches under-report the rate.
        let next = want.min(n.saturating_mul(16)).max(group);
        if settled || next == n {
            break;
        }
        n = next;
    }
    tuning.dispatch_nonces = n;
    Ok(tuning)
}

/// Tunes `dev` for `algo`; returns the best shape and its rate in MH/s.
pub fn tune(dev: &GpuDevice, algo: Algo) -> Result<(Tuning, f64)> {
    let hardware = dev.summary().hardware;
    // Software adapters (lavapipe) compile slowly and have few "cores": a
    // small grid is enough there.
    let (sizes, npts, budget): (&[u32], &[u32], Duration) = if hardware {
        (&[64, 128, 256, 512], &[4, 16, 64], Duration::from_millis(300))
    } else {
        (&[64, 256], &[16, 64], Duration::from_millis(200))
    };
    let started = Instant::now();
    let mut best: Option<(Tuning, f64)> = None;
    for &wg in sizes.iter().filter(|&&w| w <= dev.max_workgroup_size()) {
        for &npt in npts {
            let cand =
                size_dispatch(dev, algo, Tuning { workgroup_size: wg, nonces_per_thread: npt, dispatch_nonces: 0 })?;
            let rate = measure(dev, algo, &cand, budget)?;
            tracing::debug!(device = %dev.summary().name, %algo, ?cand, mhs = rate / 1e6, "tune candidate");
            if best.as_ref().is_none_or(|(_, r)| rate > *r) {
                best = Some((cand, rate));
            }
        }
    }
    let (tuning, rate) = best.ok_or_else(|| Error::gpu(&dev.summary().name, "no workgroup size fits this device"))?;
    tracing::info!(
        device = %dev.summary().name, %algo,
        workgroup_size = tuning.workgroup_size, nonces_per_thread = tuning.nonces_per_thread,
        dispatch_nonces = tuning.dispatch_nonces, mhs = format!("{:.1}", rate / 1e6),
        secs = format!("{:.1}", started.elapsed().as_secs_f64()),
        "GPU tuned"
    );
    Ok((tuning, rate / 1e6))
}

/// A cache entry for `summary` and `algo`.
pub(crate) fn entry(summary: &AdapterSummary, algo: Algo, tuning: Tuning, mhs: f64) -> CacheEntry {
    CacheEntry {
        adapter: summary.name.clone(),
        vendor: summary.vendor,
        device_id: summary.device_id,
        backend: summary.backend.clone(),
        driver: summary.driver.clone(),
        driver_info: summary.driver_info.clone(),
        algo,
        shader: shaders::fingerprint(&shaders::for_algo(algo)),
        tuning,
        mhs,
        tuned_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(driver_info: &str) -> AdapterSummary {
        AdapterSummary {
            index: 0,
            name: "Test GPU".into(),
            backend: "vulkan".into(),
            driver: "testdrv".into(),
            driver_info: driver_info.into(),
            device_type: "discrete".into(),
            hardware: true,
            vendor: 0x10de,
            device_id: 0x2330,
        }
    }

    #[test]
    fn cache_round_trip_and_invalidation() {
        let dir = std::env::temp_dir().join(format!("cinder-tune-test-{}", std::process::id()));
        let path = dir.join("sub").join("tune.json");
        let _ = std::fs::remove_dir_all(&dir);
        let s = summary("1.0");
        assert_eq!(lookup(&path, &s, Algo::Sha256d).unwrap(), Lookup::Miss);
        let t = Tuning { workgroup_size: 256, nonces_per_thread: 64, dispatch_nonces: 1 << 26 };
        store(&path, entry(&s, Algo::Sha256d, t, 7000.0)).unwrap();
        store(&path, entry(&s, Algo::Blake3, t, 20000.0)).unwrap();
        match lookup(&path, &s, Algo::Sha256d).unwrap() {
            Lookup::Hit(e) => assert_eq!(e.tuning, t),
            other => panic!("expected a hit, got {other:?}"),
        }
        // A new driver version makes the entry stale.
        assert!(
            matches!(lookup(&path, &summary("2.0"), Algo::Sha256d).unwrap(), Lookup::Stale(r) if r.contains("driver"))
        );
        // Re-storing replaces, not duplicates.
        store(&path, entry(&s, Algo::Sha256d, t, 7100.0)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("\"sha256d\"").count(), 1);
        // A corrupt file is treated as empty and rewritten.
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(lookup(&path, &s, Algo::Sha256d).unwrap(), Lookup::Miss);
        store(&path, entry(&s, Algo::Sha256d, t, 1.0)).unwrap();
        assert!(matches!(lookup(&path, &s, Algo::Sha256d).unwrap(), Lookup::Hit(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
