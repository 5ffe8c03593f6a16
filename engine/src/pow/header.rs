//! The 80-byte PoW header in Bitcoin's layout.
//!
//! | bytes  | field                                    |
//! |--------|------------------------------------------|
//! | 0..4   | version, u32 little-endian               |
//! | 4..36  | previous block id                        |
//! | 36..68 | commitment (Bitcoin: merkle root)        |
//! | 68..72 | time, u32 LE seconds                     |
//! | 72..76 | bits, u32 LE compact target              |
//! | 76..80 | nonce, u32 LE                            |

use std::fmt;

use crate::error::{Error, Result};
use crate::pow::Target;

/// Length of a PoW header in bytes.
pub const HEADER_LEN: usize = 80;
/// Offset of the nonce.
pub const NONCE_OFFSET: usize = 76;

/// An 80-byte PoW header.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header(pub [u8; HEADER_LEN]);

impl Header {
    /// Parses 160 hex digits in serialization order (as Bitcoin's
    /// `getblockheader false` prints them).
    pub fn from_hex(s: &str) -> Result<Self> {
        let s = s.trim();
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != 2 * HEADER_LEN {
            return Err(Error::InvalidHeader(format!(
                "expected {} hex digits (80 bytes), got {} characters",
                2 * HEADER_LEN,
                s.len()
            )));
        }
        let mut b = [0u8; HEADER_LEN];
        hex::decode_to_slice(s, &mut b).map_err(|e| Error::InvalidHeader(format!("not hex: {e}")))?;
        Ok(Header(b))
    }

    /// From a byte slice of exactly 80 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; HEADER_LEN] =
            bytes.try_into().map_err(|_| Error::InvalidHeader(format!("expected 80 bytes, got {}", bytes.len())))?;
        Ok(Header(arr))
    }

    /// Builds a header from its fields.
    pub fn new(version: u32, prev: [u8; 32], commitment: [u8; 32], time: u32, bits: u32, nonce: u32) -> Self {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&version.to_le_bytes());
        b[4..36].copy_from_slice(&prev);
        b[36..68].copy_from_slice(&commitment);
        b[68..72].copy_from_slice(&time.to_le_bytes());
        b[72..76].copy_from_slice(&bits.to_le_bytes());
        b[76..80].copy_from_slice(&nonce.to_le_bytes());
        Header(b)
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }

    fn set_u32_at(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Version field.
    pub fn version(&self) -> u32 {
        self.u32_at(0)
    }
    /// Sets the version (BIP 320-style version rolling gives extra nonce space).
    pub fn set_version(&mut self, v: u32) {
        self.set_u32_at(0, v)
    }
    /// Previous block id.
    pub fn prev(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0[4..36]);
        out
    }
    /// Commitment (Bitcoin: merkle root).
    pub fn commitment(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0[36..68]);
        out
    }
    /// Time in seconds.
    pub fn time(&self) -> u32 {
        self.u32_at(68)
    }
    /// Sets the time.
    pub fn set_time(&mut self, t: u32) {
        self.set_u32_at(68, t)
    }
    /// Compact target.
    pub fn bits(&self) -> u32 {
        self.u32_at(72)
    }
    /// The target encoded in `bits`.
    pub fn target(&self) -> Result<Target> {
        Target::from_compact(self.bits())
    }
    /// Nonce.
    pub fn nonce(&self) -> u32 {
        self.u32_at(NONCE_OFFSET)
    }
    /// Sets the nonce.
    pub fn set_nonce(&mut self, n: u32) {
        self.set_u32_at(NONCE_OFFSET, n)
    }
    /// A copy with the nonce replaced.
    pub fn with_nonce(mut self, n: u32) -> Self {
        self.set_nonce(n);
        self
    }
    /// Hex in serialization order.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Header({})", self.to_hex())
    }
}

/// A PoW hash: 32 bytes in the hash function's output order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PowHash(pub [u8; 32]);

impl PowHash {
    /// Hex of the bytes reversed, as Bitcoin displays hashes (the integer's
    /// most significant byte first). Used for both algorithms.
    pub fn to_display_hex(&self) -> String {
        let mut b = self.0;
        b.reverse();
        hex::encode(b)
    }
    /// Hex in natural byte order.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for PowHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PowHash({})", self.to_display_hex())
    }
}

impl fmt::Display for PowHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_display_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

    #[test]
    fn genesis_fields() {
        let h = Header::from_hex(GENESIS).unwrap();
        assert_eq!(h.version(), 1);
        assert_eq!(h.time(), 1_231_006_505);
        assert_eq!(h.bits(), 0x1d00_ffff);
        assert_eq!(h.nonce(), 2_083_236_893);
        assert_eq!(h.to_hex(), GENESIS);
        let rebuilt = Header::new(1, h.prev(), h.commitment(), h.time(), h.bits(), h.nonce());
        assert_eq!(rebuilt, h);
    }

    #[test]
    fn bad_headers_are_errors() {
        assert!(Header::from_hex("00").is_err());
        assert!(Header::from_hex(&"g".repeat(160)).is_err());
        assert!(Header::from_slice(&[0u8; 79]).is_err());
    }
}
