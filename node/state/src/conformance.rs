//! A check any [`StateStore`] can be held to (the in-memory store here, the
//! RocksDB store in its own tests): ordered records written on random
//! branches read back, listed and ranged exactly as a model of each
//! version says.

#![allow(clippy::cast_possible_truncation, reason = "a seeded test generator of small numbers")]

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::{State, StateStore, Version};

/// `steps` commits of random ordered-record updates, each on a random
/// earlier version (so links and branches happen), then every version's
/// records, point reads and random ranges compared with a model.
pub fn ordered_records<S: StateStore>(state: &State<S>, seed: u64, steps: usize) -> Result<()> {
    let mut x = seed | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m.max(1)
    };
    // Short keys over a small alphabet share prefixes; some are prefixes
    // of others.
    fn key(n: &mut dyn FnMut(u64) -> u64) -> Vec<u8> {
        let len = 1 + n(3) as usize;
        (0..len).map(|_| [0u8, 1, 0x61, 0xff][n(4) as usize]).collect()
    }
    let (_, b) = state.apply_records(state.store().latest()?, &[], &[], &[(vec![0x61], Some(vec![1]))])?;
    state.store().commit(&b)?;
    type Model = BTreeMap<Vec<u8>, Vec<u8>>;
    let mut versions: Vec<(Version, Model)> = vec![(b.version, BTreeMap::from([(vec![0x61], vec![1])]))];
    for step in 0..steps {
        let back = next(4) as usize;
        let (parent, mut model) = versions[versions.len().saturating_sub(1 + back)].clone();
        let mut updates = Vec::new();
        for _ in 0..next(6) {
            let k = key(&mut next);
            let v = (next(4) != 0).then(|| vec![step as u8, next(256) as u8]);
            match &v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(&k),
            };
            updates.push((k, v));
        }
        let (_, batch) = state.apply_records(Some(parent), &[], &[], &updates)?;
        state.store().commit(&batch)?;
        versions.push((batch.version, model));
    }
    for (v, model) in &versions {
        let all = state.ordered_range(*v, &[], &[0xff; 8], usize::MAX)?;
        let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if all != want {
            bail!("version {v}: listed {all:?}, the model has {want:?}");
        }
        for _ in 0..8 {
            let (a, b) = (key(&mut next), key(&mut next));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let limit = 1 + next(4) as usize;
            let got = state.ordered_range(*v, &lo, &hi, limit)?;
            let want: Vec<(Vec<u8>, Vec<u8>)> =
                model.range(lo.clone()..=hi.clone()).take(limit).map(|(k, v)| (k.clone(), v.clone())).collect();
            if got != want {
                bail!("version {v}, range {lo:?}..={hi:?} limit {limit}: got {got:?}, the model has {want:?}");
            }
            let k = key(&mut next);
            if state.ordered(*v, &k)? != model.get(&k).cloned() {
                bail!("version {v}: key {k:?} reads differently from the model");
            }
        }
    }
    Ok(())
}
