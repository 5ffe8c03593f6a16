//! Helpers shared by the test modules.

use std::sync::OnceLock;

use cinder_engine::gpu::{DeviceSelection, GpuBackend, GpuOptions, TuneMode, Tuning, skip_or_fail};
use cinder_engine::pow::{Header, NonceRange, PowJob, SearchControl, Target, reference};

/// One shared GPU backend for the whole binary: untuned (no tuner run, no
/// cache touched) and with a tiny hit buffer so easy targets overflow it.
pub(crate) fn gpu() -> Option<&'static GpuBackend> {
    static G: OnceLock<Result<GpuBackend, String>> = OnceLock::new();
    gpu_with(&G, DeviceSelection::Default)
}

/// The same adapter opened twice: exercises the multi-device scheduler.
pub(crate) fn gpu_pair() -> Option<&'static GpuBackend> {
    static G: OnceLock<Result<GpuBackend, String>> = OnceLock::new();
    gpu_with(&G, DeviceSelection::List(vec![0, 0]))
}

fn gpu_with(
    cell: &'static OnceLock<Result<GpuBackend, String>>,
    devices: DeviceSelection,
) -> Option<&'static GpuBackend> {
    let r = cell.get_or_init(|| {
        let opts = GpuOptions {
            devices,
            tune: TuneMode::Fixed(Tuning { dispatch_nonces: 1 << 14, ..Tuning::UNTUNED }),
            hit_capacity: 8,
        };
        GpuBackend::new(&opts, false).map_err(|e| e.to_string())
    });
    match r {
        Ok(g) => Some(g),
        Err(e) => {
            skip_or_fail(format!("no GPU adapter: {e}"));
            None
        }
    }
}

/// A header from a seed.
pub(crate) fn header(seed: u64) -> Header {
    let mut b = [0u8; 80];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for v in b.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *v = x as u8;
    }
    Header(b)
}

/// A target hit by about `2^-bits` of hashes.
pub(crate) fn easy(bits: u32) -> Target {
    let mut w = [u32::MAX; 8];
    w[7] = u32::MAX >> bits;
    Target::from_le_words(w)
}

/// The oracle's sorted winning nonces.
pub(crate) fn reference_nonces(job: &PowJob, range: NonceRange) -> Vec<u32> {
    reference::search(job, range, &SearchControl::new()).unwrap().hits.iter().map(|h| h.nonce).collect()
}
