//! Typed storage: a single value under a key ([`Item`]) and a map under a
//! key prefix ([`Map`]) whose keys sort as their values do, so it can be
//! listed in order a page at a time.
//!
//! Give every item and map its own prefix, none a prefix of another
//! (`b"supply"` and `b"bal/"`, not `b"b"` and `b"bal/"`).

use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::codec::{Decode, Encode, decode, encode};
use crate::{Address, env};

/// A map key: its bytes sort as the keys do.
pub trait MapKey: Sized {
    /// Appends the key's bytes.
    fn key_bytes(&self, out: &mut Vec<u8>);
    /// The key back from its bytes (`None`: not one of these keys).
    fn from_key_bytes(bytes: &[u8]) -> Option<Self>;
}

/// A key of a fixed length (it can lead a pair).
pub trait FixedKey: MapKey {
    /// Its length in bytes.
    const LEN: usize;
}

impl MapKey for Address {
    fn key_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let mut a = [0u8; 32];
        a.copy_from_slice(bytes);
        Some(Address(a))
    }
}
impl FixedKey for Address {
    const LEN: usize = 32;
}

impl<const N: usize> MapKey for [u8; N] {
    fn key_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != N {
            return None;
        }
        let mut a = [0u8; N];
        a.copy_from_slice(bytes);
        Some(a)
    }
}
impl<const N: usize> FixedKey for [u8; N] {
    const LEN: usize = N;
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl MapKey for $t {
            fn key_bytes(&self, out: &mut Vec<u8>) {
                // Big-endian: byte order is numeric order.
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
                let mut b = [0u8; core::mem::size_of::<$t>()];
                if bytes.len() != b.len() {
                    return None;
                }
                b.copy_from_slice(bytes);
                Some(<$t>::from_be_bytes(b))
            }
        }
        impl FixedKey for $t {
            const LEN: usize = core::mem::size_of::<$t>();
        }
    )*};
}
int_key!(u8, u16, u32, u64, u128);

impl MapKey for Vec<u8> {
    fn key_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        Some(bytes.to_vec())
    }
}

impl MapKey for alloc::string::String {
    fn key_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        alloc::string::String::from_utf8(bytes.to_vec()).ok()
    }
}

impl<A: FixedKey, B: MapKey> MapKey for (A, B) {
    fn key_bytes(&self, out: &mut Vec<u8>) {
        self.0.key_bytes(out);
        self.1.key_bytes(out);
    }
    fn from_key_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < A::LEN {
            return None;
        }
        let (a, b) = bytes.split_at(A::LEN);
        Some((A::from_key_bytes(a)?, B::from_key_bytes(b)?))
    }
}

fn load<T: Decode>(key: &[u8]) -> Option<T> {
    let bytes = env::read(key)?;
    match decode(&bytes) {
        Some(v) => Some(v),
        None => env::revert("a stored value does not decode"),
    }
}

/// One value under a fixed key.
pub struct Item<T> {
    key: &'static [u8],
    _t: PhantomData<T>,
}

impl<T: Encode + Decode> Item<T> {
    /// The item stored under `key`.
    pub const fn new(key: &'static [u8]) -> Self {
        Item { key, _t: PhantomData }
    }
    /// Its value, if set.
    pub fn load(&self) -> Option<T> {
        load(self.key)
    }
    /// Its value, or `default`.
    pub fn load_or(&self, default: T) -> T {
        self.load().unwrap_or(default)
    }
    /// Sets it.
    pub fn save(&self, value: &T) {
        env::write(self.key, &encode(value));
    }
    /// Removes it.
    pub fn remove(&self) {
        env::remove(self.key);
    }
}

/// Values by key under a prefix.
pub struct Map<K, V> {
    prefix: &'static [u8],
    _kv: PhantomData<(K, V)>,
}

impl<K: MapKey, V: Encode + Decode> Map<K, V> {
    /// The map under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Self {
        Map { prefix, _kv: PhantomData }
    }
    fn key(&self, k: &K) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.prefix.len() + 32);
        out.extend_from_slice(self.prefix);
        k.key_bytes(&mut out);
        out
    }
    /// The value of `k`, if set.
    pub fn get(&self, k: &K) -> Option<V> {
        load(&self.key(k))
    }
    /// The value of `k`, or `default`.
    pub fn get_or(&self, k: &K, default: V) -> V {
        self.get(k).unwrap_or(default)
    }
    /// Sets `k` to `v`.
    pub fn set(&self, k: &K, v: &V) {
        env::write(&self.key(k), &encode(v));
    }
    /// Removes `k`.
    pub fn remove(&self, k: &K) {
        env::remove(&self.key(k));
    }
    /// The entries after `after` (all if `None`) in key order, at most
    /// `limit`: one page of a listing.
    pub fn page(&self, after: Option<&K>, limit: u32) -> Vec<(K, V)> {
        let after = after.map(|k| self.key(k));
        let mut out = Vec::new();
        for (k, v) in env::scan_prefix(self.prefix, after.as_deref(), limit) {
            let key = K::from_key_bytes(&k[self.prefix.len()..]);
            match (key, decode(&v)) {
                (Some(k), Some(v)) => out.push((k, v)),
                _ => env::revert("a stored entry does not decode"),
            }
        }
        out
    }
}
