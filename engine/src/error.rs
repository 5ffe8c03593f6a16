//! The engine's error type.

#[cfg(feature = "gpu")]
use std::fmt;

/// Result with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the engine.
///
/// Input errors (a malformed header, an impossible range) are kept apart from
/// environment errors (no GPU, a lost device) so that callers can map them to
/// "fix your input" versus "fix your machine".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A header was not 80 bytes or not valid hex.
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    /// A target was malformed, zero, negative or overflowing.
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// A nonce range runs past 2^32.
    #[error("nonce range start {start} + count {count} runs past 2^32 (the nonce is a u32)")]
    NonceRange {
        /// First nonce.
        start: u32,
        /// Number of nonces.
        count: u64,
    },
    /// An unknown name for an algorithm, backend or instruction set.
    #[error("unknown {what} '{got}' (expected one of: {expected})")]
    UnknownName {
        /// What was being named ("algorithm", "backend", ...).
        what: &'static str,
        /// What the caller gave.
        got: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A CPU instruction set was requested that this machine lacks.
    #[error("CPU kernel '{0}' is not supported on this machine")]
    IsaUnavailable(crate::pow::Isa),
    /// No usable GPU adapter.
    #[error("no GPU adapter: {0}")]
    NoGpu(String),
    /// A GPU device index that does not exist.
    #[error("GPU device {index} does not exist ({available} adapter(s) found; see `cinder-miner devices`)")]
    NoSuchDevice {
        /// The index asked for.
        index: usize,
        /// How many adapters there are.
        available: usize,
    },
    /// Adapter, device, shader, pipeline or dispatch failure.
    #[error("GPU error on {device}: {message}")]
    Gpu {
        /// The adapter's name.
        device: String,
        /// What failed.
        message: String,
    },
    /// The GPU auto-tune cache could not be read or written.
    #[error("GPU tune cache {path}: {message}")]
    TuneCache {
        /// The cache file.
        path: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    #[cfg(feature = "gpu")]
    /// A GPU error on the named device.
    pub(crate) fn gpu(device: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Gpu { device: device.to_string(), message: message.to_string() }
    }

    /// True for errors caused by the caller's input rather than the machine.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Error::InvalidHeader(_)
                | Error::InvalidTarget(_)
                | Error::NonceRange { .. }
                | Error::UnknownName { .. }
                | Error::NoSuchDevice { .. }
        )
    }
}
