//! Cross-crate tests: known-answer vectors through every backend.

#![allow(clippy::cast_possible_truncation, reason = "test data is built with narrowing casts")]

mod crash;
mod merkle;
mod signatures;
mod vectors;
