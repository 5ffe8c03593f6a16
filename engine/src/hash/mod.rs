//! Hash cores: portable SHA-256 and BLAKE3 compressions (the oracles), the
//! multi-lane SIMD kernels and the SHA-NI kernel.

pub mod blake3;
pub(crate) mod lanes;
pub mod sha256;

/// The low and high halves of a `u64`.
#[allow(clippy::cast_possible_truncation, reason = "taking the halves is the point")]
pub(crate) const fn split_u64(x: u64) -> (u32, u32) {
    (x as u32, (x >> 32) as u32)
}

/// A length of at most one block (64 bytes) as the `u32` the compressions take.
#[allow(clippy::cast_possible_truncation, reason = "callers pass lengths <= 64")]
pub(crate) const fn block_len_u32(len: usize) -> u32 {
    debug_assert!(len <= 64);
    len as u32
}
#[cfg(target_arch = "x86_64")]
pub(crate) mod sha_ni;
