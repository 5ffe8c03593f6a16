//! A chain in a temporary directory with funded accounts.

use std::path::PathBuf;

use cinder_chain::workload::{self, Accounts, Rng};
use cinder_chain::{Chain, ChainConfig};
use cinder_consensus::ChainSpec;
use cinder_primitives::Block;

pub(crate) const ACCOUNTS: u64 = 64;
pub(crate) const BALANCE: u128 = 1_000_000_000;

pub(crate) fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinder-chain-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub(crate) struct Fixture {
    pub chain: Chain,
    pub accounts: Accounts,
    pub spec: ChainSpec,
    pub rng: Rng,
    pub dir: PathBuf,
}

impl Fixture {
    pub(crate) fn new(name: &str) -> Fixture {
        Fixture::with(name, |_| {})
    }

    pub(crate) fn with(name: &str, edit: impl FnOnce(&mut ChainSpec)) -> Fixture {
        let accounts = Accounts::derive("chain-it", ACCOUNTS);
        let mut spec = workload::spec("chain-it", 77, &accounts.addresses, BALANCE);
        edit(&mut spec);
        let dir = dir(name);
        let chain = Chain::open(
            &dir,
            spec.clone(),
            ChainConfig { exec_threads: 2, max_reorg_depth: 8, prune: true, ..ChainConfig::default() },
        )
        .unwrap();
        Fixture { chain, accounts, spec, rng: Rng(1), dir }
    }

    /// `n` blocks of `txs` transfers on the head, built but not imported.
    pub(crate) fn blocks(&mut self, n: usize, txs: usize) -> Vec<Block> {
        workload::extend(&self.chain, &self.accounts, n, txs, &mut self.rng).unwrap()
    }

    pub(crate) fn reopen(self) -> Fixture {
        let Fixture { chain, accounts, spec, rng, dir } = self;
        let config = chain.config().clone();
        drop(chain);
        Fixture { chain: Chain::open(&dir, spec.clone(), config).unwrap(), accounts, spec, rng, dir }
    }
}
