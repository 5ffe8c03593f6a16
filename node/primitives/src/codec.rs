//! The canonical encoding: borsh (fixed-width little-endian integers, `u32`
//! length prefixes, one-byte enum tags, `0`/`1` booleans), with every
//! collection bounded and every top-level type carrying a format version.
//!
//! Borsh gives each value exactly one encoding, so hashing or signing the
//! encoding is well defined. On top of it:
//! - [`decode`] rejects trailing bytes and inputs longer than the type's
//!   [`Limited::MAX_BYTES`] before parsing;
//! - [`Bounded`] and [`BoundedBytes`] reject a length prefix over their
//!   maximum before allocating anything;
//! - unknown enum tags and format versions are errors, never panics.

use std::io::{self, Read, Write};

use borsh::{BorshDeserialize, BorshSerialize};

/// Why bytes do not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// More bytes than the type may ever take.
    #[error("{what}: {len} bytes, at most {max} allowed")]
    TooLong {
        /// The type.
        what: &'static str,
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Malformed: truncated, a bad tag or version, an oversized collection,
    /// trailing bytes, invalid UTF-8.
    #[error("{what}: {reason}")]
    Malformed {
        /// The type.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A type with a largest encoding.
pub trait Limited {
    /// The type's name in errors.
    const NAME: &'static str;
    /// The largest valid encoding.
    const MAX_BYTES: usize;
}

/// The canonical encoding of `v`.
pub fn encode<T: BorshSerialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = v.serialize(&mut out);
    out
}

/// Decodes exactly `bytes` as a `T`.
pub fn decode<T: BorshDeserialize + Limited>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > T::MAX_BYTES {
        return Err(DecodeError::TooLong { what: T::NAME, len: bytes.len(), max: T::MAX_BYTES });
    }
    borsh::from_slice(bytes).map_err(|e| DecodeError::Malformed { what: T::NAME, reason: e.to_string() })
}

pub(crate) fn invalid(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// A vector of at most `MAX` items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounded<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> Default for Bounded<T, MAX> {
    fn default() -> Self {
        Bounded(Vec::new())
    }
}

impl<T, const MAX: usize> Bounded<T, MAX> {
    /// `items` if there are at most `MAX`.
    pub fn new(items: Vec<T>) -> Result<Self, Vec<T>> {
        if items.len() <= MAX { Ok(Bounded(items)) } else { Err(items) }
    }
    /// The items.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
    /// The items, owned.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: usize> std::ops::Deref for Bounded<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: BorshSerialize, const MAX: usize> BorshSerialize for Bounded<T, MAX> {
    fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
        let len = u32::try_from(self.0.len()).map_err(|_| invalid("too many items"))?;
        len.serialize(w)?;
        for item in &self.0 {
            item.serialize(w)?;
        }
        Ok(())
    }
}

impl<T: BorshDeserialize, const MAX: usize> BorshDeserialize for Bounded<T, MAX> {
    fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
        let len = u32::deserialize_reader(r)? as usize;
        if len > MAX {
            return Err(invalid(format!("{len} items, at most {MAX} allowed")));
        }
        // Items are at least a byte each; the reader runs out long before a
        // lying prefix could make this allocation matter.
        let mut v = Vec::with_capacity(len.min(1024));
        for _ in 0..len {
            v.push(T::deserialize_reader(r)?);
        }
        Ok(Bounded(v))
    }
}

/// At most `MAX` bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BoundedBytes<const MAX: usize>(Vec<u8>);

impl<const MAX: usize> BoundedBytes<MAX> {
    /// `bytes` if there are at most `MAX`.
    pub fn new(bytes: Vec<u8>) -> Result<Self, Vec<u8>> {
        if bytes.len() <= MAX { Ok(BoundedBytes(bytes)) } else { Err(bytes) }
    }
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl<const MAX: usize> BorshSerialize for BoundedBytes<MAX> {
    fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
        let len = u32::try_from(self.0.len()).map_err(|_| invalid("too many bytes"))?;
        len.serialize(w)?;
        w.write_all(&self.0)
    }
}

impl<const MAX: usize> BorshDeserialize for BoundedBytes<MAX> {
    fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
        let len = u32::deserialize_reader(r)? as usize;
        if len > MAX {
            return Err(invalid(format!("{len} bytes, at most {MAX} allowed")));
        }
        let mut v = vec![0u8; len];
        r.read_exact(&mut v)?;
        Ok(BoundedBytes(v))
    }
}

/// A UTF-8 string of at most `MAX` bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BoundedString<const MAX: usize>(String);

impl<const MAX: usize> BoundedString<MAX> {
    /// `s`, or it back if it is longer than `MAX` bytes.
    pub fn new(s: String) -> Result<Self, String> {
        if s.len() <= MAX { Ok(BoundedString(s)) } else { Err(s) }
    }
    /// `s`, cut at a character boundary to at most `MAX` bytes.
    pub fn truncated(s: &str) -> Self {
        let mut end = s.len().min(MAX);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        BoundedString(s[..end].to_string())
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> BorshSerialize for BoundedString<MAX> {
    fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
        BoundedBytes::<MAX>(self.0.as_bytes().to_vec()).serialize(w)
    }
}

impl<const MAX: usize> BorshDeserialize for BoundedString<MAX> {
    fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
        let b = BoundedBytes::<MAX>::deserialize_reader(r)?;
        String::from_utf8(b.0).map(BoundedString).map_err(|_| invalid("not UTF-8"))
    }
}

/// Writes a format version byte.
pub(crate) fn write_version<W: Write>(w: &mut W, v: u8) -> io::Result<()> {
    v.serialize(w)
}

/// Reads a format version byte and checks it.
pub(crate) fn read_version<R: Read>(r: &mut R, what: &str, supported: u8) -> io::Result<()> {
    let v = u8::deserialize_reader(r)?;
    if v == supported {
        Ok(())
    } else {
        Err(invalid(format!("{what} format version {v} is not supported (only {supported})")))
    }
}
