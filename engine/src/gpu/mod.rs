//! The GPU backend: WGSL compute shaders through wgpu.
//!
//! - [`GpuBackend`] searches on one or more [`GpuDevice`]s. Several devices
//!   take dispatch-sized pieces of the range from a shared cursor, so a fast
//!   and a slow GPU both stay busy to the end.
//! - Each device is tuned once per algorithm ([`tune`]), with the result
//!   cached on disk and invalidated when the driver or the shader changes.
//! - Every hit a GPU reports is re-hashed on the CPU before it is returned:
//!   a wrong answer from a faulty device is an error, never a bad share.
//!
//! Environment: [`HIDE_GPU_ENV`] hides every adapter (so "no GPU" paths can be
//! tested anywhere); [`REQUIRE_GPU_ENV`] tells test suites that a missing
//! adapter is a failure rather than a skip; [`tune::TUNE_CACHE_ENV`] moves the
//! tune cache.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::pow::cpu::Prepared;
use crate::pow::{Algo, Hit, NonceRange, PowJob, SearchControl, SearchReport};

mod device;
mod merkle;
pub mod shaders;
pub mod tune;

pub use device::{AdapterSummary, GpuDevice, MAX_DISPATCH_NONCES};
pub use tune::{TuneMode, Tuning};

/// Set to `1` to hide every GPU adapter from the engine.
pub const HIDE_GPU_ENV: &str = "CINDER_HIDE_GPU";
/// Set to `1` (CI does) to make GPU tests fail, not skip, without an adapter.
pub const REQUIRE_GPU_ENV: &str = "CINDER_REQUIRE_GPU";

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Whether [`HIDE_GPU_ENV`] is set.
pub fn gpus_hidden() -> bool {
    env_flag(HIDE_GPU_ENV)
}

/// Whether [`REQUIRE_GPU_ENV`] is set.
pub fn gpu_required() -> bool {
    env_flag(REQUIRE_GPU_ENV)
}

/// What a test suite does when it has no GPU: with [`REQUIRE_GPU_ENV`] set
/// (CI) it panics, failing the test; otherwise it prints `SKIPPED: <reason>`
/// and the caller returns. Never a silent pass.
pub fn skip_or_fail(reason: impl std::fmt::Display) {
    if gpu_required() {
        panic!("{REQUIRE_GPU_ENV} is set but the GPU is unavailable: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Which adapters to use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DeviceSelection {
    /// Every hardware GPU; with none, the first adapter (software ones
    /// included) unless only hardware is acceptable.
    #[default]
    Default,
    /// Every adapter, software ones included (for `auto`: every hardware GPU).
    All,
    /// These indices (as `cinder-miner devices` lists them); an index listed
    /// twice is opened twice.
    List(Vec<usize>),
}

impl FromStr for DeviceSelection {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(DeviceSelection::All);
        }
        let list = s
            .split(',')
            .map(|p| {
                p.trim().parse::<usize>().map_err(|_| Error::UnknownName {
                    what: "device list",
                    got: s.to_string(),
                    expected: "'all' or comma-separated indices such as 0,1",
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DeviceSelection::List(list))
    }
}

/// GPU backend options.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Which adapters.
    pub devices: DeviceSelection,
    /// How launch shapes are chosen.
    pub tune: TuneMode,
    /// Hits one dispatch can hold before it is split and searched again.
    pub hit_capacity: u32,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions { devices: DeviceSelection::Default, tune: TuneMode::default(), hit_capacity: 1024 }
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY.with_env();
    // No validation layers unless asked for through WGPU_* variables.
    desc.flags = wgpu::InstanceFlags::empty().with_env();
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu can open (none when [`HIDE_GPU_ENV`] is set), in the
/// order `--devices` indexes them.
pub fn adapters() -> Vec<wgpu::Adapter> {
    if gpus_hidden() {
        return Vec::new();
    }
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()))
}

/// Summaries of [`adapters`].
pub fn list_adapters() -> Vec<AdapterSummary> {
    adapters().iter().enumerate().map(|(i, a)| AdapterSummary::from_info(i, &a.get_info())).collect()
}

/// Hands out dispatch sizes for one device: a quarter, then half, then the
/// full tuned size. A search's first results (and a new job's first
/// completed work after a switch) arrive sooner, at no cost in steady state.
fn ramp<'a>(t: &Tuning, take: &'a impl Fn(u64) -> Option<NonceRange>) -> impl FnMut() -> Option<NonceRange> + 'a {
    let full = t.dispatch_nonces;
    let group = t.nonces_per_group();
    let mut k = 0u32;
    move || {
        let shift = 2u32.saturating_sub(k);
        k = k.saturating_add(1);
        take((full >> shift).div_ceil(group).max(1).saturating_mul(group).min(full))
    }
}

/// PoW search on one or more GPUs.
pub struct GpuBackend {
    devices: Vec<Arc<GpuDevice>>,
    tune: TuneMode,
    tunings: Mutex<HashMap<(usize, Algo), Tuning>>,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend").field("devices", &self.devices).finish()
    }
}

impl GpuBackend {
    /// Opens the selected adapters. With `hardware_only` (the `auto` backend)
    /// software adapters are skipped unless listed explicitly.
    pub fn new(opts: &GpuOptions, hardware_only: bool) -> Result<Self> {
        let adapters = adapters();
        if adapters.is_empty() {
            let why = if gpus_hidden() {
                format!("adapters are hidden by {HIDE_GPU_ENV}")
            } else {
                "wgpu found no Vulkan, Metal or DX12 adapter (on Linux without a GPU, install mesa-vulkan-drivers for lavapipe)".to_string()
            };
            return Err(Error::NoGpu(why));
        }
        let infos: Vec<AdapterSummary> =
            adapters.iter().enumerate().map(|(i, a)| AdapterSummary::from_info(i, &a.get_info())).collect();
        let chosen: Vec<usize> = match &opts.devices {
            DeviceSelection::List(list) => {
                for &i in list {
                    if i >= adapters.len() {
                        return Err(Error::NoSuchDevice { index: i, available: adapters.len() });
                    }
                }
                list.clone()
            }
            DeviceSelection::All if !hardware_only => (0..adapters.len()).collect(),
            DeviceSelection::All | DeviceSelection::Default => {
                let hw: Vec<usize> = infos.iter().filter(|s| s.hardware).map(|s| s.index).collect();
                if !hw.is_empty() {
                    hw
                } else if hardware_only {
                    let names: Vec<&str> = infos.iter().map(|s| s.name.as_str()).collect();
                    return Err(Error::NoGpu(format!(
                        "only software adapters ({}); use --backend gpu to run on them",
                        names.join(", ")
                    )));
                } else {
                    vec![0]
                }
            }
        };
        // An adapter listed twice is opened twice (two queues on one GPU; the
        // tests use it to drive the multi-device path on a single adapter).
        // wgpu opens a device once per `Adapter`, so repeats re-enumerate.
        let mut used = std::collections::HashSet::new();
        let mut devices = Vec::with_capacity(chosen.len());
        for i in chosen {
            let dev = if used.insert(i) {
                GpuDevice::open(i, &adapters[i], opts.hit_capacity)?
            } else {
                let fresh = self::adapters();
                let a = fresh.get(i).ok_or(Error::NoSuchDevice { index: i, available: fresh.len() })?;
                GpuDevice::open(i, a, opts.hit_capacity)?
            };
            devices.push(Arc::new(dev));
        }
        Ok(GpuBackend { devices, tune: opts.tune.clone(), tunings: Mutex::new(HashMap::new()) })
    }

    /// The open devices.
    pub fn devices(&self) -> &[Arc<GpuDevice>] {
        &self.devices
    }

    /// "NVIDIA H100 (vulkan)" or a list.
    pub fn describe(&self) -> String {
        self.devices
            .iter()
            .map(|d| {
                format!(
                    "#{} {} ({}, {})",
                    d.summary().index,
                    d.summary().name,
                    d.summary().backend,
                    d.summary().device_type
                )
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// The launch shape of device `i` (position in [`GpuBackend::devices`])
    /// for `algo`: fixed, cached, or tuned now and cached.
    pub fn tuning(&self, i: usize, algo: Algo) -> Result<Tuning> {
        let key = (i, algo);
        if let Some(t) = self.tunings.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(*t);
        }
        let dev = &self.devices[i];
        let t = match &self.tune {
            TuneMode::Fixed(t) => *t,
            TuneMode::Auto { cache, retune } => {
                let cached = match (cache, retune) {
                    (Some(path), false) => match tune::lookup(path, dev.summary(), algo) {
                        Ok(tune::Lookup::Hit(e)) => {
                            tracing::info!(device = %dev.summary().name, %algo, path = %path.display(), ?e.tuning, "using cached GPU tuning");
                            Some(e.tuning)
                        }
                        Ok(tune::Lookup::Miss) => None,
                        Ok(tune::Lookup::Stale(why)) => {
                            tracing::info!(device = %dev.summary().name, %algo, "re-tuning: {why}");
                            None
                        }
                        Err(e) => {
                            tracing::warn!("{e}; tuning without the cache");
                            None
                        }
                    },
                    _ => None,
                };
                match cached {
                    Some(t) => t,
                    None => {
                        let (t, mhs) = tune::tune(dev, algo)?;
                        if let Some(path) = cache {
                            match tune::store(path, tune::entry(dev.summary(), algo, t, mhs)) {
                                Ok(()) => tracing::info!(path = %path.display(), "GPU tuning cached"),
                                Err(e) => tracing::warn!("{e}; the tuning is not cached"),
                            }
                        }
                        t
                    }
                }
            }
        };
        self.tunings.lock().unwrap_or_else(PoisonError::into_inner).insert(key, t);
        Ok(t)
    }

    /// Tunes (or loads the tuning of) every device for `algo` now, so a
    /// following search or benchmark starts at full speed.
    pub fn prepare(&self, algo: Algo) -> Result<()> {
        for i in 0..self.devices.len() {
            let t = self.tuning(i, algo)?;
            self.devices[i].search_pipeline(algo, &t)?;
        }
        Ok(())
    }

    /// Searches `range` on every device; hits sorted and verified on the CPU.
    pub fn search(&self, job: &PowJob, range: NonceRange, ctl: &SearchControl) -> Result<SearchReport> {
        let prepared = Prepared::new(job);
        let job_params = device::JobParams::new(&prepared);
        let tunings = (0..self.devices.len()).map(|i| self.tuning(i, job.algo)).collect::<Result<Vec<_>>>()?;
        let cursor = AtomicU64::new(0);
        // A failed device stops the others from taking more work.
        let failed = std::sync::atomic::AtomicBool::new(false);
        let take = |n: u64| -> Option<NonceRange> {
            if failed.load(Ordering::Relaxed) {
                return None;
            }
            let off = cursor.fetch_add(n, Ordering::Relaxed);
            (off < range.count()).then(|| range.sub(off, n))
        };
        let mut nonces = Vec::new();
        let mut searched = 0u64;
        if self.devices.len() == 1 {
            let mut next = ramp(&tunings[0], &take);
            searched = self.devices[0].run(job.algo, &job_params, &tunings[0], &mut next, ctl, &mut nonces)?;
        } else {
            let results: Vec<Result<(Vec<u32>, u64)>> = std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .devices
                    .iter()
                    .zip(&tunings)
                    .map(|(dev, t)| {
                        let (take, failed, job_params) = (&take, &failed, &job_params);
                        s.spawn(move || {
                            let mut out = Vec::new();
                            let mut next = ramp(t, take);
                            match dev.run(job.algo, job_params, t, &mut next, ctl, &mut out) {
                                Ok(done) => Ok((out, done)),
                                Err(e) => {
                                    failed.store(true, Ordering::Relaxed);
                                    Err(e)
                                }
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::gpu("gpu worker", "a device thread panicked"))))
                    .collect()
            });
            for r in results {
                let (out, done) = r?;
                nonces.extend(out);
                searched += done;
            }
        }
        nonces.sort_unstable();
        let mut hits = Vec::with_capacity(nonces.len());
        for (i, &nonce) in nonces.iter().enumerate() {
            if i > 0 && nonces[i - 1] == nonce {
                return Err(Error::gpu(self.describe(), format!("nonce {nonce} was reported twice")));
            }
            let hash = prepared.hash(nonce);
            if !job.target.is_met_by(&hash.0) {
                return Err(Error::gpu(
                    self.describe(),
                    format!(
                        "reported nonce {nonce} whose hash {hash} does not meet the target (faulty device or driver)"
                    ),
                ));
            }
            hits.push(Hit { nonce, hash });
        }
        Ok(SearchReport { hits, hashes: searched, completed: searched == range.count() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_parse() {
        assert_eq!("all".parse::<DeviceSelection>().unwrap(), DeviceSelection::All);
        assert_eq!("ALL".parse::<DeviceSelection>().unwrap(), DeviceSelection::All);
        assert_eq!("0, 2,1".parse::<DeviceSelection>().unwrap(), DeviceSelection::List(vec![0, 2, 1]));
        for bad in ["", "x", "0,,1", "-1", "1.5"] {
            assert!(bad.parse::<DeviceSelection>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ramp_grows_to_the_tuned_size_in_whole_groups() {
        let t = Tuning { workgroup_size: 64, nonces_per_thread: 16, dispatch_nonces: 1 << 20 };
        let range = NonceRange::FULL;
        let cursor = AtomicU64::new(0);
        let take = |n: u64| {
            let off = cursor.fetch_add(n, Ordering::Relaxed);
            (off < range.count()).then(|| range.sub(off, n))
        };
        let mut next = ramp(&t, &take);
        let sizes: Vec<u64> = (0..4).map(|_| next().unwrap().count()).collect();
        assert_eq!(sizes, [1 << 18, 1 << 19, 1 << 20, 1 << 20]);
        // A tuned size smaller than four groups still hands out whole groups.
        let small = Tuning { dispatch_nonces: 1024, ..t };
        let mut next = ramp(&small, &take);
        assert_eq!(next().unwrap().count(), 1024);
    }
}
