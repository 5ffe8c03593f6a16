//! sha256d with the x86 SHA extensions (SHA-NI), several nonces in flight.
//!
//! `sha256rnds2` has a latency of 3-4 cycles but a throughput of one every
//! 1-2 cycles, so a single hash stream leaves the unit idle most of the time.
//! This kernel interleaves `N` independent nonces: every step below is done
//! for all `N` streams before the next, so their dependency chains overlap.
//!
//! Register layout follows Intel's reference code: the state lives in two
//! vectors, `abef` and `cdgh`, and message vectors hold `W[4i..4i+4]` with
//! `W[4i]` in lane 0.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use crate::hash::lanes::Sha256dJob;
use crate::hash::sha256::{IV, K};

/// `[a..h]` words to the `(abef, cdgh)` pair.
#[inline(always)]
unsafe fn to_abef_cdgh(s: &[u32; 8]) -> (__m128i, __m128i) {
    unsafe {
        let dcba = _mm_loadu_si128(s.as_ptr().cast());
        let hgfe = _mm_loadu_si128(s.as_ptr().add(4).cast());
        let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
        let efgh = _mm_shuffle_epi32::<0x1B>(hgfe);
        (_mm_alignr_epi8::<8>(cdab, efgh), _mm_blend_epi16::<0xF0>(efgh, cdab))
    }
}

/// `(abef, cdgh)` back to the message-order vectors `[a,b,c,d]`, `[e,f,g,h]`.
#[inline(always)]
unsafe fn to_words(abef: __m128i, cdgh: __m128i) -> (__m128i, __m128i) {
    unsafe {
        let feba = _mm_shuffle_epi32::<0x1B>(abef);
        let dchg = _mm_shuffle_epi32::<0xB1>(cdgh);
        (_mm_blend_epi16::<0xF0>(feba, dchg), _mm_alignr_epi8::<8>(dchg, feba))
    }
}

#[inline(always)]
unsafe fn schedule(v0: __m128i, v1: __m128i, v2: __m128i, v3: __m128i) -> __m128i {
    unsafe {
        let t1 = _mm_sha256msg1_epu32(v0, v1);
        let t2 = _mm_alignr_epi8::<4>(v3, v2);
        _mm_sha256msg2_epu32(_mm_add_epi32(t1, t2), v3)
    }
}

/// 64 rounds over `N` streams. `w[j]` is stream `j`'s message (4 vectors),
/// consumed as the rolling schedule window.
#[inline(always)]
unsafe fn rounds<const N: usize>(abef: &mut [__m128i; N], cdgh: &mut [__m128i; N], w: &mut [[__m128i; 4]; N]) {
    unsafe {
        macro_rules! group {
            ($i:literal) => {{
                let k = _mm_loadu_si128(K.as_ptr().add(4 * $i).cast());
                for j in 0..N {
                    if $i >= 4 {
                        w[j][$i % 4] =
                            schedule(w[j][$i % 4], w[j][($i + 1) % 4], w[j][($i + 2) % 4], w[j][($i + 3) % 4]);
                    }
                    let t = _mm_add_epi32(w[j][$i % 4], k);
                    cdgh[j] = _mm_sha256rnds2_epu32(cdgh[j], abef[j], t);
                    abef[j] = _mm_sha256rnds2_epu32(abef[j], cdgh[j], _mm_shuffle_epi32::<0x0E>(t));
                }
            }};
        }
        group!(0);
        group!(1);
        group!(2);
        group!(3);
        group!(4);
        group!(5);
        group!(6);
        group!(7);
        group!(8);
        group!(9);
        group!(10);
        group!(11);
        group!(12);
        group!(13);
        group!(14);
        group!(15);
    }
}

/// Scans nonces `start..start+count` and pushes each nonce whose sha256d hash
/// meets the target.
///
/// # Safety
/// The CPU must support SHA, SSE4.1 and SSSE3 (`Isa::ShaNi` detection).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[allow(clippy::cast_possible_truncation, reason = "N is the interleave factor, 1 to 4")]
pub(crate) unsafe fn sha256d_scan<const N: usize>(job: &Sha256dJob, start: u32, count: u32, hits: &mut Vec<u32>) {
    unsafe {
        let (mid_abef, mid_cdgh) = to_abef_cdgh(&job.mid);
        let (iv_abef, iv_cdgh) = to_abef_cdgh(&IV);
        let pad1 = _mm_set_epi32(0, 0, 0, 0x8000_0000u32 as i32);
        let zero = _mm_setzero_si128();
        let len1 = _mm_set_epi32(640, 0, 0, 0);
        let len2 = _mm_set_epi32(256, 0, 0, 0);
        let target = crate::pow::Target::from_le_words(job.target);
        let step = N as u32;
        let mut done: u32 = 0;
        while done < count {
            let base = start.wrapping_add(done);
            let mut abef = [mid_abef; N];
            let mut cdgh = [mid_cdgh; N];
            let mut w = [[zero; 4]; N];
            for (j, wj) in w.iter_mut().enumerate() {
                let nonce = base.wrapping_add(j as u32).swap_bytes();
                *wj = [
                    _mm_set_epi32(nonce as i32, job.tail[2] as i32, job.tail[1] as i32, job.tail[0] as i32),
                    pad1,
                    zero,
                    len1,
                ];
            }
            rounds::<N>(&mut abef, &mut cdgh, &mut w);
            for j in 0..N {
                let (m0, m1) = to_words(_mm_add_epi32(abef[j], mid_abef), _mm_add_epi32(cdgh[j], mid_cdgh));
                w[j] = [m0, m1, pad1, len2];
                abef[j] = iv_abef;
                cdgh[j] = iv_cdgh;
            }
            rounds::<N>(&mut abef, &mut cdgh, &mut w);
            for j in 0..N as u32 {
                // cdgh holds [h, g, d, c]: lane 0 is h.
                let h7 = (_mm_cvtsi128_si32(cdgh[j as usize]) as u32).wrapping_add(IV[7]);
                if h7.swap_bytes() <= job.target[7] && done.saturating_add(j) < count {
                    let nonce = base.wrapping_add(j);
                    if target.is_met_by(&job.hash(nonce)) {
                        hits.push(nonce);
                    }
                }
            }
            done = done.saturating_add(step);
        }
    }
}
