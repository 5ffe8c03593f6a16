//! 256-bit PoW targets: Bitcoin's compact `bits` encoding and the comparison rule.
//!
//! A hash meets a target when the hash, read as a 256-bit **little-endian**
//! integer, is at most the target (Bitcoin's rule). Internally both are kept as
//! eight little-endian `u32` words, word 7 the most significant, which is the
//! order the kernels compare in.

use std::fmt;

use crate::error::{Error, Result};

/// A 256-bit target. `words[7]` is the most significant word.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Target {
    words: [u32; 8],
}

impl Target {
    /// The easiest possible target: every hash meets it.
    pub const MAX: Target = Target { words: [u32::MAX; 8] };

    /// From eight little-endian words, `words[7]` the most significant.
    pub const fn from_le_words(words: [u32; 8]) -> Self {
        Target { words }
    }

    /// The eight little-endian words, `[7]` the most significant.
    pub const fn le_words(&self) -> [u32; 8] {
        self.words
    }

    /// From 32 bytes in little-endian order (byte 31 the most significant).
    pub fn from_le_bytes(bytes: [u8; 32]) -> Self {
        Target { words: le_words_of(&bytes) }
    }

    /// The 32 bytes in little-endian order.
    pub fn to_le_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(4).zip(self.words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Parses 64 hex digits in big-endian order, as Bitcoin displays targets
    /// and hashes (`00000000ffff0000...`). A `0x` prefix is accepted.
    pub fn from_be_hex(s: &str) -> Result<Self> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != 64 {
            return Err(Error::InvalidTarget(format!(
                "expected 64 hex digits (big-endian), got {} characters",
                s.len()
            )));
        }
        let mut be = [0u8; 32];
        hex::decode_to_slice(s, &mut be).map_err(|e| Error::InvalidTarget(format!("not hex: {e}")))?;
        be.reverse();
        Ok(Target::from_le_bytes(be))
    }

    /// 64 hex digits, big-endian (Bitcoin's display order).
    pub fn to_be_hex(&self) -> String {
        let mut b = self.to_le_bytes();
        b.reverse();
        hex::encode(b)
    }

    /// Decodes Bitcoin's compact `bits` (`nBits`) field, rejecting what Bitcoin
    /// Core's `CheckProofOfWork` rejects: a negative, zero or overflowing target.
    pub fn from_compact(bits: u32) -> Result<Self> {
        let exponent = bits >> 24;
        let mut mantissa = bits & 0x007f_ffff;
        let negative = mantissa != 0 && bits & 0x0080_0000 != 0;
        let overflow = mantissa != 0
            && (exponent > 34 || (mantissa > 0xff && exponent > 33) || (mantissa > 0xffff && exponent > 32));
        if negative {
            return Err(Error::InvalidTarget(format!("compact bits {bits:#010x} encode a negative target")));
        }
        if overflow {
            return Err(Error::InvalidTarget(format!("compact bits {bits:#010x} overflow 256 bits")));
        }
        let mut bytes = [0u8; 32];
        if exponent <= 3 {
            mantissa >>= 8 * (3 - exponent);
            bytes[..4].copy_from_slice(&mantissa.to_le_bytes());
        } else {
            // mantissa * 256^(exponent - 3): its three bytes land at exponent-3 ..= exponent-1.
            let shift = (exponent - 3) as usize;
            for (i, b) in mantissa.to_le_bytes()[..3].iter().enumerate() {
                if let Some(slot) = bytes.get_mut(shift + i) {
                    *slot = *b;
                }
            }
        }
        let target = Target::from_le_bytes(bytes);
        if target == Target::default() {
            return Err(Error::InvalidTarget(format!("compact bits {bits:#010x} encode a zero target")));
        }
        Ok(target)
    }

    /// Encodes as Bitcoin's compact `bits` (the inverse of [`Target::from_compact`]
    /// up to the 23-bit mantissa's precision: low bits are truncated).
    pub fn to_compact(&self) -> u32 {
        let le = self.to_le_bytes();
        let Some(top) = le.iter().rposition(|&b| b != 0) else { return 0 };
        // top < 32, so the size fits.
        let mut size = u32::try_from(top + 1).unwrap_or(32);
        let byte = |below: usize| -> u32 { top.checked_sub(below).map_or(0, |i| u32::from(le[i])) };
        let mut mantissa = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        if mantissa & 0x0080_0000 != 0 {
            mantissa >>= 8;
            size += 1;
        }
        (size << 24) | mantissa
    }

    /// True when `hash` (32 bytes in the hash function's output order, read as
    /// a little-endian integer) is at most this target.
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        self.is_met_by_words(&le_words_of(hash))
    }

    /// [`Target::is_met_by`] on a hash already split into little-endian words.
    pub fn is_met_by_words(&self, hash: &[u32; 8]) -> bool {
        for i in (0..8).rev() {
            if hash[i] != self.words[i] {
                return hash[i] < self.words[i];
            }
        }
        true
    }

    /// Expected hashes per hit: 2^256 / (target + 1), as a float.
    pub fn expected_hashes(&self) -> f64 {
        let mut value = 0f64;
        for w in self.words.iter().rev() {
            value = value * 4_294_967_296.0 + f64::from(*w);
        }
        2f64.powi(256) / (value + 1.0)
    }
}

/// Splits 32 bytes into eight little-endian words.
pub(crate) fn le_words_of(bytes: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (w, c) in w.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    w
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target(0x{})", self.to_be_hex())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_be_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_bits_decode_to_difficulty_one() {
        let t = Target::from_compact(0x1d00_ffff).unwrap();
        assert_eq!(t.to_be_hex(), "00000000ffff0000000000000000000000000000000000000000000000000000");
        assert_eq!(t.to_compact(), 0x1d00_ffff);
    }

    #[test]
    fn compact_edge_cases_follow_bitcoin_core() {
        // Values from Bitcoin Core's arith_uint256_tests (SetCompact).
        assert!(Target::from_compact(0).is_err(), "zero target");
        assert!(Target::from_compact(0x0012_3456).is_err(), "underflows to zero");
        assert_eq!(Target::from_compact(0x0112_3456).unwrap().le_words()[0], 0x12);
        assert_eq!(Target::from_compact(0x0212_3456).unwrap().le_words()[0], 0x1234);
        assert_eq!(Target::from_compact(0x0312_3456).unwrap().le_words()[0], 0x12_3456);
        assert_eq!(Target::from_compact(0x0412_3456).unwrap().le_words()[0], 0x1234_5600);
        assert!(Target::from_compact(0x0492_3456).is_err(), "negative");
        assert!(Target::from_compact(0xff12_3456).is_err(), "overflow");
        assert_eq!(
            Target::from_compact(0x2012_3456).unwrap().to_be_hex(),
            "1234560000000000000000000000000000000000000000000000000000000000"
        );
        assert!(Target::from_compact(0x2112_3456).is_err(), "overflow by one byte");
    }

    #[test]
    fn compact_round_trips_for_normalised_values() {
        for bits in [0x1d00_ffffu32, 0x1b04_864c, 0x1a44_b9f2, 0x207f_ffff, 0x1700_e4b9, 0x0412_3456] {
            assert_eq!(Target::from_compact(bits).unwrap().to_compact(), bits, "{bits:#x}");
        }
    }

    #[test]
    fn comparison_is_little_endian_and_inclusive() {
        let t = Target::from_compact(0x1d00_ffff).unwrap();
        let mut h = t.to_le_bytes();
        assert!(t.is_met_by(&h), "equal meets");
        h[0] = 1; // target + 1
        assert!(!t.is_met_by(&h));
        let mut low = [0u8; 32];
        low[26] = 0xff; // 0x00000000 00ff ... < 0x00000000 ffff ...
        assert!(t.is_met_by(&low));
        let mut above = [0u8; 32];
        above[28] = 1; // 0x00000001 ... > target
        assert!(!t.is_met_by(&above));
        let mut high = [0u8; 32];
        high[31] = 1;
        assert!(!t.is_met_by(&high));
    }

    #[test]
    fn be_hex_round_trip_and_errors() {
        let s = "00000000ffff0000000000000000000000000000000000000000000000000001";
        assert_eq!(Target::from_be_hex(s).unwrap().to_be_hex(), s);
        assert!(Target::from_be_hex("00").is_err());
        assert!(Target::from_be_hex(&"zz".repeat(32)).is_err());
    }
}
