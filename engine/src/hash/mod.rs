//! Hash cores: portable SHA-256 and BLAKE3 compressions (the oracles), the
//! multi-lane SIMD kernels and the SHA-NI kernel.

pub mod blake3;
pub(crate) mod lanes;
pub mod sha256;
#[cfg(target_arch = "x86_64")]
pub(crate) mod sha_ni;
