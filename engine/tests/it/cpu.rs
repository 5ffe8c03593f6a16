//! The CPU backend, every kernel this machine has, against the reference.

use cinder_engine::pow::{Algo, CpuBackend, Isa, NonceRange, PowJob, SearchControl};
use proptest::prelude::*;

use crate::common::{easy, header, reference_nonces};

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn cpu_kernels_equal_reference(seed in any::<u64>(), blake in any::<bool>(), bits in 2u32..10, start in any::<u32>(), count in 1u64..20_000) {
        let algo = if blake { Algo::Blake3 } else { Algo::Sha256d };
        let count = count.min((1u64 << 32) - u64::from(start));
        let range = NonceRange::new(start, count).unwrap();
        let job = PowJob::new(algo, header(seed), easy(bits));
        let want = reference_nonces(&job, range);
        for isa in Isa::available(algo) {
            let cpu = CpuBackend::new(Some(2), Some(isa)).unwrap();
            let got = cpu.search(&job, range, &SearchControl::new()).unwrap();
            prop_assert!(got.completed);
            prop_assert_eq!(got.hashes, count);
            let nonces: Vec<u32> = got.hits.iter().map(|h| h.nonce).collect();
            prop_assert_eq!(&nonces, &want, "{} on {}", algo, isa);
            for h in &got.hits {
                prop_assert_eq!(h.hash, job.hash_at(h.nonce));
            }
        }
    }
}

#[test]
fn forced_unsupported_kernel_is_an_error() {
    for isa in Isa::ALL {
        if !isa.is_supported() {
            assert!(CpuBackend::new(None, Some(isa)).is_err(), "{isa} should be refused here");
        }
    }
}
