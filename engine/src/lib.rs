//! # cinder-engine
//!
//! The hardware engine of the Cinder chain: the heavy, parallel work of a
//! node, with no I/O and no node types: proof-of-work nonce search, the
//! verification a validator spends its time on, and parallel execution.
//!
//! - [`pow`]: jobs (80-byte header, algorithm, target), nonce ranges, and the
//!   [`pow::Backend`] enum: `reference` (the oracle), `cpu` (SHA-NI / AVX-512 /
//!   AVX2 kernels chosen at run time, rayon across cores) and `gpu` (WGSL
//!   compute shaders through wgpu).
//! - [`sig`]: ed25519 under one rule (ZIP-215) for [`sig::verify`] and
//!   [`sig::BatchVerifier`] (rayon chunks, bisection to the bad indices),
//!   key types that wipe their secrets, domain-separated payloads.
//! - [`merkle`]: BLAKE3 Merkle trees: [`merkle::root`] (SIMD on all cores),
//!   proofs, batch proof verification, incremental append; the GPU root is
//!   `gpu::GpuDevice::merkle_root`.
//! - [`exec`]: Block-STM, optimistic parallel execution of a block with
//!   conflict detection, generic over the VM ([`exec::Task`]) and the state
//!   ([`exec::StateView`]); results identical to [`exec::Strategy::Sequential`].
//! - [`hash`]: portable SHA-256 and BLAKE3 compressions and a reference BLAKE3
//!   tree hasher, the oracles the fast paths are held to.
//! - [`gpu`] (feature `gpu`, on by default): adapters, the per-device context,
//!   the auto-tuner and its on-disk cache, the GPU Merkle root.
//!
//! | feature | default | what |
//! |---|---|---|
//! | `gpu` | yes | the wgpu backend and `shaders/*.wgsl` |
//!
//! Every fast path has a plain oracle and the tests hold them equal.
//!
//! ```
//! use cinder_engine::pow::{Algo, Backend, BackendKind, BackendOptions, Header, NonceRange, PowJob, SearchControl};
//!
//! // Bitcoin's genesis header; search 1000 nonces around its known nonce on the CPU.
//! let header = Header::from_hex("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")?;
//! let job = PowJob::from_header_bits(Algo::Sha256d, header)?;
//! let backend = Backend::from_options(&BackendOptions::new(BackendKind::Cpu))?;
//! let report = backend.search(&job, NonceRange::new(2_083_236_393, 1000)?, &SearchControl::new())?;
//! assert_eq!(report.hits[0].nonce, 2_083_236_893);
//! assert_eq!(report.hits[0].hash.to_display_hex(), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
//! # Ok::<(), cinder_engine::Error>(())
//! ```

pub mod error;
pub mod exec;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod hash;
pub mod merkle;
pub mod pow;
pub mod sig;

pub use error::{Error, Result};
