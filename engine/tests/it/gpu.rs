//! The GPU backend against the reference, on the adapter wgpu finds.

use std::time::{Duration, Instant};

use cinder_engine::gpu::{GpuBackend, GpuOptions, TuneMode, Tuning};
use cinder_engine::hash::blake3 as b3;
use cinder_engine::pow::{Algo, Header, NonceRange, PowJob, SearchControl, Target};
use proptest::prelude::*;

use crate::common::{easy, gpu, gpu_pair, header, reference_nonces};

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

#[test]
fn gpu_finds_the_genesis_nonce() {
    let Some(g) = gpu() else { return };
    let job = PowJob::from_header_bits(Algo::Sha256d, Header::from_hex(GENESIS).unwrap()).unwrap();
    let r = g.search(&job, NonceRange::new(2_083_236_893 - 100_000, 200_000).unwrap(), &SearchControl::new()).unwrap();
    assert!(r.completed);
    assert_eq!(r.hashes, 200_000);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].nonce, 2_083_236_893);
    assert_eq!(r.hits[0].hash.to_display_hex(), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Easy targets give dozens to thousands of hits: far more than the
    /// 8-entry hit buffer, so overflow splitting is exercised on most cases.
    #[test]
    fn gpu_equals_reference(seed in any::<u64>(), blake in any::<bool>(), bits in 1u32..9, start in any::<u32>(), count in 1u64..40_000) {
        let Some(g) = gpu() else { return Ok(()) };
        let algo = if blake { Algo::Blake3 } else { Algo::Sha256d };
        let count = count.min((1u64 << 32) - u64::from(start));
        let range = NonceRange::new(start, count).unwrap();
        let job = PowJob::new(algo, header(seed), easy(bits));
        let got = g.search(&job, range, &SearchControl::new()).unwrap();
        prop_assert!(got.completed);
        prop_assert_eq!(got.hashes, count);
        let nonces: Vec<u32> = got.hits.iter().map(|h| h.nonce).collect();
        prop_assert_eq!(nonces, reference_nonces(&job, range));
    }
}

#[test]
fn every_nonce_hits_and_none_is_lost_to_overflow() {
    let Some(g) = gpu() else { return };
    for algo in Algo::ALL {
        let job = PowJob::new(algo, header(5), Target::MAX);
        let range = NonceRange::new(u32::MAX - 2999, 3000).unwrap();
        let r = g.search(&job, range, &SearchControl::new()).unwrap();
        let nonces: Vec<u32> = r.hits.iter().map(|h| h.nonce).collect();
        assert_eq!(nonces, range.iter().collect::<Vec<_>>(), "{algo}");
    }
}

#[test]
fn two_devices_share_a_range_without_gaps_or_duplicates() {
    let Some(g) = gpu_pair() else { return };
    assert_eq!(g.devices().len(), 2);
    for algo in Algo::ALL {
        let job = PowJob::new(algo, header(77), easy(5));
        let range = NonceRange::new(1_000_000, 150_000).unwrap();
        let r = g.search(&job, range, &SearchControl::new()).unwrap();
        assert!(r.completed);
        assert_eq!(r.hashes, 150_000);
        assert_eq!(r.hits.iter().map(|h| h.nonce).collect::<Vec<_>>(), reference_nonces(&job, range), "{algo}");
    }
}

#[test]
fn cancel_stops_a_full_range_search_promptly() {
    let Some(g) = gpu() else { return };
    let job = PowJob::new(Algo::Sha256d, header(3), Target::from_compact(0x1d00_ffff).unwrap());
    let ctl = SearchControl::new();
    std::thread::scope(|s| {
        let h = s.spawn(|| g.search(&job, NonceRange::FULL, &ctl));
        while ctl.hashes() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let t = Instant::now();
        ctl.cancel();
        let r = h.join().unwrap().unwrap();
        // Two small in-flight dispatches at most; generous bound for a loaded CI machine.
        assert!(t.elapsed() < Duration::from_secs(5), "cancel took {:?}", t.elapsed());
        assert!(!r.completed);
        assert!(r.hashes < 1 << 32);
        // Dispatches ramp up 2^12, 2^13, then 2^14 nonces: only whole ones are counted.
        assert_eq!(r.hashes % (1 << 12), 0, "only whole dispatches are counted");
    });
}

#[test]
fn impossible_tuning_is_an_error_not_a_panic() {
    let Some(_) = gpu() else { return };
    let bad = GpuOptions {
        tune: TuneMode::Fixed(Tuning { workgroup_size: 1 << 20, nonces_per_thread: 1, dispatch_nonces: 1024 }),
        ..GpuOptions::default()
    };
    let g = GpuBackend::new(&bad, false).unwrap();
    let job = PowJob::new(Algo::Blake3, header(1), Target::MAX);
    let err = g.search(&job, NonceRange::new(0, 10).unwrap(), &SearchControl::new()).unwrap_err();
    assert!(err.to_string().contains("workgroup size"), "{err}");
}

#[test]
fn gpu_compression_matches_portable() {
    let Some(g) = gpu() else { return };
    let inputs: Vec<b3::CompressInput> = (0..300u32)
        .map(|i| b3::CompressInput {
            cv: std::array::from_fn(|k| i.wrapping_mul(2_654_435_761).wrapping_add(k as u32)),
            block: std::array::from_fn(|k| (k as u32 + 1).wrapping_mul(i ^ 0xdead_beef)),
            counter: u64::from(i) << 29,
            block_len: i % 65,
            flags: i % 128,
        })
        .collect();
    let want: Vec<[u32; 16]> = inputs.iter().map(b3::compress).collect();
    assert_eq!(g.devices()[0].blake3_compress_many(&inputs).unwrap(), want);
    assert!(g.devices()[0].blake3_compress_many(&[]).unwrap().is_empty());
}

#[test]
fn gpu_merkle_root_equals_the_naive_root() {
    use cinder_engine::merkle;
    let Some(g) = gpu() else { return };
    let dev = &g.devices()[0];
    let leaves: Vec<merkle::Hash> = (0..70_000u64).map(|i| merkle::leaf_hash(&i.to_le_bytes())).collect();
    for n in 0..=1100 {
        assert_eq!(dev.merkle_root(&leaves[..n]).unwrap(), merkle::naive_root(&leaves[..n]), "{n} leaves");
    }
    for n in [4096, 65_536, 65_537, 69_999] {
        let want = merkle::naive_root(&leaves[..n]);
        assert_eq!(dev.merkle_root(&leaves[..n]).unwrap(), want, "{n} leaves");
        // The same through chunks of 2^10 and 3000 (rounded down to 2^11) leaves.
        assert_eq!(dev.merkle_root_in_chunks(&leaves[..n], 1024).unwrap(), want, "{n} leaves in 2^10 chunks");
        assert_eq!(dev.merkle_root_in_chunks(&leaves[..n], 3000).unwrap(), want, "{n} leaves in 2^11 chunks");
    }
}
