//! The argument and return encoding: borsh's rules (little-endian fixed
//! integers, `0`/`1` booleans, `u32` length prefixes for bytes, strings
//! and vectors, a tag byte for options, tuples in order), so that wallets
//! and other languages encode arguments with any borsh library.

use alloc::string::String;
use alloc::vec::Vec;

use crate::Address;

/// A value that encodes.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);
}

/// A value that decodes.
pub trait Decode: Sized {
    /// Reads one from `r`; `None` if the bytes are short or malformed.
    fn decode_from(r: &mut Reader<'_>) -> Option<Self>;
}

/// The encoding of `v`.
pub fn encode<T: Encode + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode_to(&mut out);
    out
}

/// Decodes exactly `bytes` (trailing bytes are an error).
pub fn decode<T: Decode>(bytes: &[u8]) -> Option<T> {
    let mut r = Reader::new(bytes);
    let v = T::decode_from(&mut r)?;
    if r.is_empty() { Some(v) } else { None }
}

/// Reads encoded values from bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }
    /// A `u32` length, then that many bytes.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u32::decode_from(self)? as usize;
        self.take(n)
    }
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
        impl Decode for $t {
            fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
                let mut b = [0u8; core::mem::size_of::<$t>()];
                b.copy_from_slice(r.take(core::mem::size_of::<$t>())?);
                Some(<$t>::from_le_bytes(b))
            }
        }
    )*};
}
int!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl Encode for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}
impl Decode for bool {
    fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
        match u8::decode_from(r)? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl Encode for Address {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}
impl Decode for Address {
    fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
        let mut a = [0u8; 32];
        a.copy_from_slice(r.take(32)?);
        Some(Address(a))
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}
impl<const N: usize> Decode for [u8; N] {
    fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
        let mut a = [0u8; N];
        a.copy_from_slice(r.take(N)?);
        Some(a)
    }
}

impl Encode for [u8] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (self.len() as u32).encode_to(out);
        out.extend_from_slice(self);
    }
}

impl Encode for str {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.as_bytes().encode_to(out);
    }
}

impl Encode for String {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.as_str().encode_to(out);
    }
}
impl Decode for String {
    fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
        String::from_utf8(r.bytes()?.to_vec()).ok()
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (self.len() as u32).encode_to(out);
        for x in self {
            x.encode_to(out);
        }
    }
}
impl<T: Decode> Decode for Vec<T> {
    fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
        let n = u32::decode_from(r)? as usize;
        // Every item takes at least a byte... except zero-sized ones; cap
        // the reservation by what is left.
        let mut v = Vec::with_capacity(n.min(r.bytes.len()));
        for _ in 0..n {
            v.push(T::decode_from(r)?);
        }
        Some(v)
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(x) => {
                out.push(1);
                x.encode_to(out);
            }
        }
    }
}
impl<T: Decode> Decode for Option<T> {
    fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
        match u8::decode_from(r)? {
            0 => Some(None),
            1 => Some(Some(T::decode_from(r)?)),
            _ => None,
        }
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (**self).encode_to(out);
    }
}

macro_rules! tuple {
    ($($name:ident)*) => {
        impl<$($name: Encode),*> Encode for ($($name,)*) {
            #[allow(non_snake_case, unused_variables)]
            fn encode_to(&self, out: &mut Vec<u8>) {
                let ($($name,)*) = self;
                $($name.encode_to(out);)*
            }
        }
        impl<$($name: Decode),*> Decode for ($($name,)*) {
            #[allow(unused_variables)]
            fn decode_from(r: &mut Reader<'_>) -> Option<Self> {
                Some(($($name::decode_from(r)?,)*))
            }
        }
    };
}
tuple!();
tuple!(A);
tuple!(A B);
tuple!(A B C);
tuple!(A B C D);
tuple!(A B C D E);
tuple!(A B C D E F);
tuple!(A B C D E F G);
tuple!(A B C D E F G H);
