//! Cross-crate tests: known-answer vectors through every backend.

mod vectors;
