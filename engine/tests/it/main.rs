//! Integration tests of cinder-engine: every backend against the reference,
//! shader validation, GPU overflow, cancellation and errors.
//!
//! GPU tests run on whatever adapter wgpu finds (lavapipe in CI). Without one
//! they print `SKIPPED: ...`, or fail when `CINDER_REQUIRE_GPU=1`.

#![allow(clippy::cast_possible_truncation, reason = "test data is built with narrowing casts")]

mod common;
mod cpu;
mod exec;
mod gpu;
mod merkle;
mod shaders;
mod sig;
