//! A key-value registry: set, add to and remove values by key, and list
//! keys by prefix in key order (storage scans). Keys are at most 64 bytes,
//! values at most 1 KiB.

use cinder_sdk::{Map, Result, contract, ensure, env, topic};

const VALUES: Map<Vec<u8>, Vec<u8>> = Map::new(b"v/");
const COUNTERS: Map<Vec<u8>, u64> = Map::new(b"c/");

fn check_key(key: &[u8]) -> Result<()> {
    ensure!(!key.is_empty() && key.len() <= 64, "keys are 1 to 64 bytes");
    Ok(())
}

contract! {
    /// Sets `key` to `value`.
    pub fn set(key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        check_key(&key)?;
        ensure!(value.len() <= 1024, "values are at most 1 KiB");
        VALUES.set(&key, &value);
        env::emit(&[topic("Set"), env::blake3(&key)], &value);
        Ok(())
    }

    /// The value of `key`.
    pub fn get(key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        Ok(VALUES.get(&key))
    }

    /// Removes `key`; whether it was there.
    pub fn remove(key: Vec<u8>) -> Result<bool> {
        let had = VALUES.get(&key).is_some();
        VALUES.remove(&key);
        Ok(had)
    }

    /// Adds `by` to counter `key` (a read, then a write); the new value.
    pub fn add(key: Vec<u8>, by: u64) -> Result<u64> {
        check_key(&key)?;
        let n = COUNTERS.get_or(&key, 0).checked_add(by).ok_or("the counter overflows")?;
        COUNTERS.set(&key, &n);
        Ok(n)
    }

    /// Keys and values whose key starts with `prefix`, after `after`, at
    /// most `limit` (at most 100).
    pub fn list(prefix: Vec<u8>, after: Option<Vec<u8>>, limit: u32) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        ensure!(limit <= 100, "at most 100 entries a page");
        let mut full = b"v/".to_vec();
        full.extend_from_slice(&prefix);
        let after = after.map(|a| {
            let mut k = b"v/".to_vec();
            k.extend_from_slice(&a);
            k
        });
        Ok(env::scan_prefix(&full, after.as_deref(), limit)
            .into_iter()
            .map(|(k, v)| (k[2..].to_vec(), cinder_sdk::decode::<Vec<u8>>(&v).unwrap_or_default()))
            .collect())
    }

    /// A writes-and-reads mix for tests: adds `by` to counter `key`, sets
    /// `key` to the sum of the counters listed under `prefix` (at most
    /// `limit`), and returns that sum.
    pub fn fold(key: Vec<u8>, by: u64, prefix: Vec<u8>, limit: u32) -> Result<u64> {
        check_key(&key)?;
        ensure!(limit <= 100, "at most 100 entries a page");
        let n = COUNTERS.get_or(&key, 0).checked_add(by).ok_or("the counter overflows")?;
        COUNTERS.set(&key, &n);
        let mut full = b"c/".to_vec();
        full.extend_from_slice(&prefix);
        let mut sum: u64 = 0;
        for (_, v) in env::scan_prefix(&full, None, limit) {
            let c: u64 = cinder_sdk::decode(&v).ok_or("a counter does not decode")?;
            sum = sum.wrapping_add(c);
        }
        VALUES.set(&key, &sum.to_le_bytes().to_vec());
        Ok(sum)
    }
}
