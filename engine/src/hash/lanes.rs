//! Multi-nonce SIMD kernels, written once over a [`Lanes`] vector of `u32`s.
//!
//! One generic body per algorithm is instantiated for plain `u32` (the
//! portable kernel, one nonce at a time, still with the midstate and early
//! reject), AVX2 (8 nonces) and AVX-512 (16 nonces). The generic functions are
//! `#[inline(always)]` and only called from entry points carrying
//! `#[target_feature]`, so each instantiation is compiled for its instruction
//! set while the crate itself is built for baseline x86-64; the caller picks
//! the entry point at run time after `is_x86_feature_detected!`.
//!
//! Rounds are unrolled with const-generic round indices, so the message
//! schedule and the state live in registers and every branch on the round
//! number folds at compile time.

use crate::hash::{blake3 as b3, sha256};

/// A vector of `N` independent `u32` lanes.
///
/// # Safety
/// Implementations for SIMD types may only be used where the instruction set
/// is enabled (inside a `#[target_feature]` function, after detection).
pub(crate) unsafe trait Lanes: Copy {
    /// Number of lanes.
    const N: u32;
    unsafe fn splat(x: u32) -> Self;
    /// `base, base+1, ..., base+N-1`, wrapping.
    unsafe fn counting(base: u32) -> Self;
    unsafe fn add(self, o: Self) -> Self;
    unsafe fn xor(self, o: Self) -> Self;
    unsafe fn and(self, o: Self) -> Self;
    /// `!self & o`.
    unsafe fn andnot(self, o: Self) -> Self;
    unsafe fn or(self, o: Self) -> Self;
    /// Rotate right by `R`; `L` must be `32 - R`.
    unsafe fn rotr<const R: i32, const L: i32>(self) -> Self;
    unsafe fn shr<const R: i32>(self) -> Self;
    unsafe fn rotr16(self) -> Self {
        unsafe { self.rotr::<16, 16>() }
    }
    unsafe fn rotr8(self) -> Self {
        unsafe { self.rotr::<8, 24>() }
    }
    unsafe fn bswap(self) -> Self;
    /// SHA-256 `Ch(e, f, g)`.
    unsafe fn ch(e: Self, f: Self, g: Self) -> Self {
        unsafe { e.and(f).xor(e.andnot(g)) }
    }
    /// SHA-256 `Maj(a, b, c)`.
    unsafe fn maj(a: Self, b: Self, c: Self) -> Self {
        unsafe { a.and(b).or(c.and(a.or(b))) }
    }
    unsafe fn xor3(a: Self, b: Self, c: Self) -> Self {
        unsafe { a.xor(b).xor(c) }
    }
    /// Bit `i` set where lane `i` of `self` is `<= o` (unsigned).
    unsafe fn le_mask(self, o: Self) -> u32;
    /// Loads lanes from `src[..N]`.
    unsafe fn load(src: &[u32]) -> Self;
    /// Stores lanes to `dst[..N]`.
    unsafe fn store(self, dst: &mut [u32]);
}

unsafe impl Lanes for u32 {
    const N: u32 = 1;
    #[inline(always)]
    unsafe fn splat(x: u32) -> Self {
        x
    }
    #[inline(always)]
    unsafe fn counting(base: u32) -> Self {
        base
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    unsafe fn xor(self, o: Self) -> Self {
        self ^ o
    }
    #[inline(always)]
    unsafe fn and(self, o: Self) -> Self {
        self & o
    }
    #[inline(always)]
    unsafe fn andnot(self, o: Self) -> Self {
        !self & o
    }
    #[inline(always)]
    unsafe fn or(self, o: Self) -> Self {
        self | o
    }
    #[inline(always)]
    unsafe fn rotr<const R: i32, const L: i32>(self) -> Self {
        self.rotate_right(R as u32)
    }
    #[inline(always)]
    unsafe fn shr<const R: i32>(self) -> Self {
        self >> R
    }
    #[inline(always)]
    unsafe fn bswap(self) -> Self {
        self.swap_bytes()
    }
    #[inline(always)]
    unsafe fn le_mask(self, o: Self) -> u32 {
        u32::from(self <= o)
    }
    #[inline(always)]
    unsafe fn load(src: &[u32]) -> Self {
        src[0]
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [u32]) {
        dst[0] = self;
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    //! AVX2 and AVX-512 lanes.
    use super::Lanes;
    use std::arch::x86_64::*;

    /// Eight lanes in a `__m256i`.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(pub(crate) __m256i);

    unsafe impl Lanes for Avx2 {
        const N: u32 = 8;
        #[inline(always)]
        unsafe fn splat(x: u32) -> Self {
            unsafe { Avx2(_mm256_set1_epi32(x as i32)) }
        }
        #[inline(always)]
        unsafe fn counting(base: u32) -> Self {
            unsafe { Avx2(_mm256_add_epi32(_mm256_set1_epi32(base as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))) }
        }
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self {
            unsafe { Avx2(_mm256_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn xor(self, o: Self) -> Self {
            unsafe { Avx2(_mm256_xor_si256(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn and(self, o: Self) -> Self {
            unsafe { Avx2(_mm256_and_si256(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn andnot(self, o: Self) -> Self {
            unsafe { Avx2(_mm256_andnot_si256(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn or(self, o: Self) -> Self {
            unsafe { Avx2(_mm256_or_si256(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn rotr<const R: i32, const L: i32>(self) -> Self {
            unsafe { Avx2(_mm256_or_si256(_mm256_srli_epi32::<R>(self.0), _mm256_slli_epi32::<L>(self.0))) }
        }
        #[inline(always)]
        unsafe fn shr<const R: i32>(self) -> Self {
            unsafe { Avx2(_mm256_srli_epi32::<R>(self.0)) }
        }
        #[inline(always)]
        unsafe fn rotr16(self) -> Self {
            unsafe {
                let m = _mm256_setr_epi8(
                    2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15,
                    12, 13,
                );
                Avx2(_mm256_shuffle_epi8(self.0, m))
            }
        }
        #[inline(always)]
        unsafe fn rotr8(self) -> Self {
            unsafe {
                let m = _mm256_setr_epi8(
                    1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14,
                    15, 12,
                );
                Avx2(_mm256_shuffle_epi8(self.0, m))
            }
        }
        #[inline(always)]
        unsafe fn bswap(self) -> Self {
            unsafe {
                let m = _mm256_setr_epi8(
                    3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14,
                    13, 12,
                );
                Avx2(_mm256_shuffle_epi8(self.0, m))
            }
        }
        #[inline(always)]
        unsafe fn le_mask(self, o: Self) -> u32 {
            unsafe {
                let le = _mm256_cmpeq_epi32(_mm256_min_epu32(self.0, o.0), self.0);
                _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
            }
        }
        #[inline(always)]
        unsafe fn load(src: &[u32]) -> Self {
            assert!(src.len() >= 8);
            unsafe { Avx2(_mm256_loadu_si256(src.as_ptr().cast())) }
        }
        #[inline(always)]
        unsafe fn store(self, dst: &mut [u32]) {
            assert!(dst.len() >= 8);
            unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), self.0) }
        }
    }

    /// Transposes eight rows of eight `u32`s (row `i` in `r[i]`) so that
    /// vector `k` holds word `k` of every row. Its own inverse.
    #[inline(always)]
    pub(crate) unsafe fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
        unsafe {
            let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
            let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
            let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
            let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
            let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
            let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
            let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
            let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
            let u0 = _mm256_unpacklo_epi64(t0, t2);
            let u1 = _mm256_unpackhi_epi64(t0, t2);
            let u2 = _mm256_unpacklo_epi64(t1, t3);
            let u3 = _mm256_unpackhi_epi64(t1, t3);
            let u4 = _mm256_unpacklo_epi64(t4, t6);
            let u5 = _mm256_unpackhi_epi64(t4, t6);
            let u6 = _mm256_unpacklo_epi64(t5, t7);
            let u7 = _mm256_unpackhi_epi64(t5, t7);
            [
                _mm256_permute2x128_si256::<0x20>(u0, u4),
                _mm256_permute2x128_si256::<0x20>(u1, u5),
                _mm256_permute2x128_si256::<0x20>(u2, u6),
                _mm256_permute2x128_si256::<0x20>(u3, u7),
                _mm256_permute2x128_si256::<0x31>(u0, u4),
                _mm256_permute2x128_si256::<0x31>(u1, u5),
                _mm256_permute2x128_si256::<0x31>(u2, u6),
                _mm256_permute2x128_si256::<0x31>(u3, u7),
            ]
        }
    }

    /// Sixteen lanes in a `__m512i` (AVX-512F + BW).
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512(__m512i);

    unsafe impl Lanes for Avx512 {
        const N: u32 = 16;
        #[inline(always)]
        unsafe fn splat(x: u32) -> Self {
            unsafe { Avx512(_mm512_set1_epi32(x as i32)) }
        }
        #[inline(always)]
        unsafe fn counting(base: u32) -> Self {
            unsafe {
                Avx512(_mm512_add_epi32(
                    _mm512_set1_epi32(base as i32),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                ))
            }
        }
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn xor(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_xor_si512(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn and(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_and_si512(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn andnot(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_andnot_si512(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn or(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_or_si512(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn rotr<const R: i32, const L: i32>(self) -> Self {
            unsafe { Avx512(_mm512_ror_epi32::<R>(self.0)) }
        }
        #[inline(always)]
        unsafe fn shr<const R: i32>(self) -> Self {
            unsafe { Avx512(_mm512_srl_epi32(self.0, _mm_cvtsi32_si128(R))) }
        }
        #[inline(always)]
        unsafe fn rotr16(self) -> Self {
            unsafe { Avx512(_mm512_ror_epi32::<16>(self.0)) }
        }
        #[inline(always)]
        unsafe fn rotr8(self) -> Self {
            unsafe { Avx512(_mm512_ror_epi32::<8>(self.0)) }
        }
        #[inline(always)]
        unsafe fn bswap(self) -> Self {
            unsafe {
                let m = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
                Avx512(_mm512_shuffle_epi8(self.0, m))
            }
        }
        #[inline(always)]
        unsafe fn ch(e: Self, f: Self, g: Self) -> Self {
            // (e ? f : g)
            unsafe { Avx512(_mm512_ternarylogic_epi32::<0xca>(e.0, f.0, g.0)) }
        }
        #[inline(always)]
        unsafe fn maj(a: Self, b: Self, c: Self) -> Self {
            unsafe { Avx512(_mm512_ternarylogic_epi32::<0xe8>(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn xor3(a: Self, b: Self, c: Self) -> Self {
            unsafe { Avx512(_mm512_ternarylogic_epi32::<0x96>(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn le_mask(self, o: Self) -> u32 {
            unsafe { u32::from(_mm512_cmple_epu32_mask(self.0, o.0)) }
        }
        #[inline(always)]
        unsafe fn load(src: &[u32]) -> Self {
            assert!(src.len() >= 16);
            unsafe { Avx512(_mm512_loadu_si512(src.as_ptr().cast())) }
        }
        #[inline(always)]
        unsafe fn store(self, dst: &mut [u32]) {
            assert!(dst.len() >= 16);
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), self.0) }
        }
    }
}

// ---------------------------------------------------------------- SHA-256d

/// A sha256d job prepared for the kernels: the midstate of the first 64
/// header bytes, the state after the first three rounds of the second block
/// (they do not depend on the nonce), and the three tail words.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sha256dJob {
    /// State after compressing header bytes 0..64.
    pub mid: [u32; 8],
    /// State after rounds 0..3 of the second block (before the feed-forward).
    pub pre3: [u32; 8],
    /// Big-endian words of header bytes 64..76 (commitment tail, time, bits).
    pub tail: [u32; 3],
    /// Target, little-endian words.
    pub target: [u32; 8],
}

impl Sha256dJob {
    pub(crate) fn new(header: &[u8; 80], target: [u32; 8]) -> Self {
        let mut first = [0u8; 64];
        first.copy_from_slice(&header[..64]);
        let mut mid = sha256::IV;
        sha256::compress(&mut mid, &sha256::block_words(&first));
        let word = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let tail = [word(64), word(68), word(72)];
        let mut pre3 = mid;
        for (t, w) in tail.iter().enumerate() {
            sha256::round(&mut pre3, sha256::K[t].wrapping_add(*w));
        }
        Sha256dJob { mid, pre3, tail, target }
    }

    /// The second block of the first hash for `nonce`.
    pub(crate) fn block2(&self, nonce: u32) -> [u32; 16] {
        let mut w = [0u32; 16];
        w[..3].copy_from_slice(&self.tail);
        w[3] = nonce.swap_bytes(); // the nonce is little-endian in the header, SHA reads big-endian
        w[4] = 0x8000_0000;
        w[15] = 640;
        w
    }

    /// The full sha256d hash (output byte order) for one nonce, scalar.
    pub(crate) fn hash(&self, nonce: u32) -> [u8; 32] {
        let mut h1 = self.mid;
        sha256::compress(&mut h1, &self.block2(nonce));
        let mut w = [0u32; 16];
        w[..8].copy_from_slice(&h1);
        w[8] = 0x8000_0000;
        w[15] = 256;
        let mut h2 = sha256::IV;
        sha256::compress(&mut h2, &w);
        sha256::state_bytes(&h2)
    }
}

/// One SHA-256 round over lanes, `kw = K[t] + W[t]`.
#[inline(always)]
unsafe fn sha_round<V: Lanes>(s: &mut [V; 8], kw: V) {
    unsafe {
        let [a, b, c, d, e, f, g, h] = *s;
        let s1 = V::xor3(e.rotr::<6, 26>(), e.rotr::<11, 21>(), e.rotr::<25, 7>());
        let t1 = h.add(s1).add(V::ch(e, f, g)).add(kw);
        let s0 = V::xor3(a.rotr::<2, 30>(), a.rotr::<13, 19>(), a.rotr::<22, 10>());
        let t2 = s0.add(V::maj(a, b, c));
        *s = [t1.add(t2), a, b, c, d.add(t1), e, f, g];
    }
}

/// Round `T` with the message schedule kept in a rolling 16-word window.
#[inline(always)]
unsafe fn sha_step<V: Lanes, const T: usize>(s: &mut [V; 8], w: &mut [V; 16]) {
    unsafe {
        if T >= 16 {
            let w2 = w[(T + 14) & 15];
            let w15 = w[(T + 1) & 15];
            let s1 = V::xor3(w2.rotr::<17, 15>(), w2.rotr::<19, 13>(), w2.shr::<10>());
            let s0 = V::xor3(w15.rotr::<7, 25>(), w15.rotr::<18, 14>(), w15.shr::<3>());
            w[T & 15] = s1.add(w[(T + 9) & 15]).add(s0).add(w[T & 15]);
        }
        sha_round(s, V::splat(sha256::K[T]).add(w[T & 15]));
    }
}

macro_rules! sha_steps {
    ($V:ty, $s:expr, $w:expr; $($t:literal)*) => { $( sha_step::<$V, $t>($s, $w); )* };
}

/// Scans `count` nonces from `start` (`count` a multiple of `V::N` or the
/// tail is masked) and pushes every nonce whose hash meets the target.
#[inline(always)]
pub(crate) unsafe fn sha256d_scan<V: Lanes>(job: &Sha256dJob, start: u32, count: u32, hits: &mut Vec<u32>) {
    let top = unsafe { V::splat(job.target[7]) };
    let mut done: u32 = 0;
    while done < count {
        let base = start.wrapping_add(done);
        unsafe {
            // First hash, second block, from the state after round 2.
            let mut s = [V::splat(0); 8];
            for (l, v) in s.iter_mut().zip(job.pre3) {
                *l = V::splat(v);
            }
            let nonce_be = V::counting(base).bswap();
            let mut w = [V::splat(0); 16];
            w[0] = V::splat(job.tail[0]);
            w[1] = V::splat(job.tail[1]);
            w[2] = V::splat(job.tail[2]);
            w[3] = nonce_be;
            w[4] = V::splat(0x8000_0000);
            w[15] = V::splat(640);
            sha_steps!(V, &mut s, &mut w; 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
                31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
            // Second hash over the 32-byte digest.
            let mut w2 = [V::splat(0); 16];
            for i in 0..8 {
                w2[i] = s[i].add(V::splat(job.mid[i]));
            }
            w2[8] = V::splat(0x8000_0000);
            w2[15] = V::splat(256);
            let mut s2 = [V::splat(0); 8];
            for (l, v) in s2.iter_mut().zip(sha256::IV) {
                *l = V::splat(v);
            }
            sha_steps!(V, &mut s2, &mut w2; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27
                28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60);
            // After round 60, e is what rounds 61..63 shift into h: final H7 = IV7 + e.
            let h7 = s2[4].add(V::splat(sha256::IV[7]));
            // The hash's most significant little-endian word is H7 byte-swapped.
            let mask = h7.bswap().le_mask(top);
            if mask != 0 {
                collect_lanes::<V>(
                    mask,
                    base,
                    done,
                    count,
                    hits,
                    |n| crate::pow::target::le_words_of(&job.hash(n)),
                    &job.target,
                );
            }
        }
        done = done.saturating_add(V::N);
    }
}

/// Exact check of the candidate lanes in `mask` (top word `<=` target's).
#[inline(never)]
fn collect_lanes<V: Lanes>(
    mask: u32,
    base: u32,
    done: u32,
    count: u32,
    hits: &mut Vec<u32>,
    full_hash_words: impl Fn(u32) -> [u32; 8],
    target: &[u32; 8],
) {
    let t = crate::pow::Target::from_le_words(*target);
    for lane in 0..V::N {
        if mask & (1 << lane) != 0 && done.saturating_add(lane) < count {
            let nonce = base.wrapping_add(lane);
            if t.is_met_by_words(&full_hash_words(nonce)) {
                hits.push(nonce);
            }
        }
    }
}

// ---------------------------------------------------------------- BLAKE3

/// A BLAKE3 PoW job prepared for the kernels: the chaining value after the
/// first 64 header bytes and the three message words before the nonce.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blake3Job {
    /// Chaining value after block 0 (flags CHUNK_START).
    pub cv: [u32; 8],
    /// Little-endian words of header bytes 64..76.
    pub tail: [u32; 3],
    /// Target, little-endian words.
    pub target: [u32; 8],
}

/// Flags of the header's last block: it ends the only chunk and is the root.
pub(crate) const BLAKE3_POW_FLAGS: u32 = b3::CHUNK_END | b3::ROOT;

impl Blake3Job {
    pub(crate) fn new(header: &[u8; 80], target: [u32; 8]) -> Self {
        let out = b3::compress(&b3::CompressInput {
            cv: b3::IV,
            block: b3::block_words(&header[..64]),
            counter: 0,
            block_len: 64,
            flags: b3::CHUNK_START,
        });
        let mut cv = [0u32; 8];
        cv.copy_from_slice(&out[..8]);
        let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        Blake3Job { cv, tail: [word(64), word(68), word(72)], target }
    }

    pub(crate) fn last_block(&self, nonce: u32) -> b3::CompressInput {
        let mut block = [0u32; 16];
        block[..3].copy_from_slice(&self.tail);
        block[3] = nonce;
        b3::CompressInput { cv: self.cv, block, counter: 0, block_len: 16, flags: BLAKE3_POW_FLAGS }
    }

    /// The BLAKE3 hash (output byte order) for one nonce, scalar.
    pub(crate) fn hash(&self, nonce: u32) -> [u8; 32] {
        let out = b3::compress(&self.last_block(nonce));
        let mut h = [0u8; 32];
        for (c, w) in h.chunks_exact_mut(4).zip(&out[..8]) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        h
    }
}

#[inline(always)]
unsafe fn b3_g<V: Lanes>(v: &mut [V; 16], a: usize, b: usize, c: usize, d: usize, mx: V, my: V) {
    unsafe {
        v[a] = v[a].add(v[b]).add(mx);
        v[d] = v[d].xor(v[a]).rotr16();
        v[c] = v[c].add(v[d]);
        v[b] = v[b].xor(v[c]).rotr::<12, 20>();
        v[a] = v[a].add(v[b]).add(my);
        v[d] = v[d].xor(v[a]).rotr8();
        v[c] = v[c].add(v[d]);
        v[b] = v[b].xor(v[c]).rotr::<7, 25>();
    }
}

#[inline(always)]
unsafe fn b3_round<V: Lanes, const R: usize>(v: &mut [V; 16], m: &[V; 16]) {
    let s = &b3::MSG_SCHEDULE[R];
    unsafe {
        b3_g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
        b3_g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        b3_g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        b3_g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        b3_g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
        b3_g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
        b3_g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
        b3_g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
}

/// BLAKE3 compression of `V::N` independent inputs, one per lane. Returns all
/// 16 output words per lane.
#[inline(always)]
pub(crate) unsafe fn b3_compress<V: Lanes>(
    cv: &[V; 8],
    m: &[V; 16],
    counter_lo: V,
    counter_hi: V,
    block_len: V,
    flags: V,
) -> [V; 16] {
    unsafe {
        let mut v = [
            cv[0],
            cv[1],
            cv[2],
            cv[3],
            cv[4],
            cv[5],
            cv[6],
            cv[7],
            V::splat(b3::IV[0]),
            V::splat(b3::IV[1]),
            V::splat(b3::IV[2]),
            V::splat(b3::IV[3]),
            counter_lo,
            counter_hi,
            block_len,
            flags,
        ];
        b3_round::<V, 0>(&mut v, m);
        b3_round::<V, 1>(&mut v, m);
        b3_round::<V, 2>(&mut v, m);
        b3_round::<V, 3>(&mut v, m);
        b3_round::<V, 4>(&mut v, m);
        b3_round::<V, 5>(&mut v, m);
        b3_round::<V, 6>(&mut v, m);
        let mut out = v;
        for i in 0..8 {
            out[i] = v[i].xor(v[i + 8]);
            out[i + 8] = v[i + 8].xor(cv[i]);
        }
        out
    }
}

/// Scans `count` nonces from `start` for BLAKE3 PoW: one compression per
/// nonce from the precomputed chaining value.
#[inline(always)]
pub(crate) unsafe fn blake3_scan<V: Lanes>(job: &Blake3Job, start: u32, count: u32, hits: &mut Vec<u32>) {
    unsafe {
        let top = V::splat(job.target[7]);
        let zero = V::splat(0);
        let mut cv = [zero; 8];
        for (l, v) in cv.iter_mut().zip(job.cv) {
            *l = V::splat(v);
        }
        let mut done: u32 = 0;
        while done < count {
            let base = start.wrapping_add(done);
            let mut m = [zero; 16];
            m[0] = V::splat(job.tail[0]);
            m[1] = V::splat(job.tail[1]);
            m[2] = V::splat(job.tail[2]);
            m[3] = V::counting(base);
            let out = b3_compress(&cv, &m, zero, zero, V::splat(16), V::splat(BLAKE3_POW_FLAGS));
            // Output word 7 is the hash's most significant little-endian word.
            let mask = out[7].le_mask(top);
            if mask != 0 {
                collect_lanes::<V>(
                    mask,
                    base,
                    done,
                    count,
                    hits,
                    |n| crate::pow::target::le_words_of(&job.hash(n)),
                    &job.target,
                );
            }
            done = done.saturating_add(V::N);
        }
    }
}

/// Compresses up to `V::N` arbitrary inputs at once (lanes transposed in and
/// out): the general multi-input compression the BLAKE3 test vectors check.
#[inline(always)]
pub(crate) unsafe fn b3_compress_many<V: Lanes>(inputs: &[b3::CompressInput], out: &mut [[u32; 16]]) {
    assert!(inputs.len() <= V::N as usize && out.len() >= inputs.len());
    let lane = |f: &dyn Fn(&b3::CompressInput) -> u32| -> V {
        let mut col = [0u32; 16];
        for (c, i) in col.iter_mut().zip(inputs) {
            *c = f(i);
        }
        unsafe { V::load(&col) }
    };
    let cv: [V; 8] = std::array::from_fn(|k| lane(&|i| i.cv[k]));
    let m: [V; 16] = std::array::from_fn(|k| lane(&|i| i.block[k]));
    let res = unsafe {
        b3_compress(
            &cv,
            &m,
            lane(&|i| super::split_u64(i.counter).0),
            lane(&|i| super::split_u64(i.counter).1),
            lane(&|i| i.block_len),
            lane(&|i| i.flags),
        )
    };
    for (k, v) in res.iter().enumerate() {
        let mut col = [0u32; 16];
        unsafe { v.store(&mut col) };
        for (o, c) in out.iter_mut().zip(col) {
            o[k] = c;
        }
    }
}

/// BLAKE3 of up to `V::N` independent one-block inputs (each at most 64
/// bytes) under chaining value `cv` (the key words in keyed mode) and `flags`
/// (CHUNK_START | CHUNK_END | ROOT | the mode flag): `len(j)` is input `j`'s
/// length and `word(j, k)` its `k`-th little-endian message word, zero past
/// the end. Writes the 32-byte hashes to `out[..n]`.
#[inline(always)]
pub(crate) unsafe fn b3_one_block_many<V: Lanes>(
    cv: &[u32; 8],
    flags: u32,
    n: usize,
    len: impl Fn(usize) -> u32,
    word: impl Fn(usize, usize) -> u32,
    out: &mut [[u8; 32]],
) {
    debug_assert!(n <= V::N as usize && out.len() >= n);
    let mut m = [unsafe { V::splat(0) }; 16];
    let mut col = [0u32; 16];
    for (k, mk) in m.iter_mut().enumerate() {
        for (j, c) in col.iter_mut().enumerate().take(n) {
            *c = word(j, k);
        }
        *mk = unsafe { V::load(&col) };
    }
    for (j, c) in col.iter_mut().enumerate() {
        *c = if j < n { len(j) } else { 0 };
    }
    let block_len = unsafe { V::load(&col) };
    unsafe {
        let cvv: [V; 8] = std::array::from_fn(|k| V::splat(cv[k]));
        let zero = V::splat(0);
        let o = b3_compress(&cvv, &m, zero, zero, block_len, V::splat(flags));
        let mut words = [[0u32; 16]; 8];
        for k in 0..8 {
            o[k].store(&mut words[k]);
        }
        for (j, h) in out.iter_mut().take(n).enumerate() {
            for k in 0..8 {
                h[4 * k..4 * k + 4].copy_from_slice(&words[k][j].to_le_bytes());
            }
        }
    }
}
