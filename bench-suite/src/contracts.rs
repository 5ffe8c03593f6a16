//! The contract workload: the example token with many holders, and blocks
//! of signed token transfers, for the criterion bench (`contracts`) and
//! `cinder-bench contracts`.
//!
//! Holders' balances are written straight into the token's storage (its
//! layout: `bal/` ‖ address -> u128 little-endian, see
//! contracts/examples/token), so a state of 100,000 holders costs no
//! 100,000 calls to set up.

use std::collections::HashMap;

use anyhow::{Context, Result};
use cinder_chain::workload::Rng;
use cinder_engine::sig::SecretKey;
use cinder_primitives::{Address, SignedTransaction, Transaction, TxKind};
use cinder_vm::harness::TestChain;
use cinder_vm::{StateKey, Val};
use rayon::prelude::*;

/// Token units each holder starts with.
pub const HOLDING: u128 = 1_000_000_000;
/// Gas limit of a benchmark token transfer (it uses about a tenth).
pub const TRANSFER_GAS_LIMIT: u64 = 1_000_000;

/// A module with one method that does nothing: the per-call overhead.
pub const EMPTY: &str = r#"(module (memory (export "memory") 1) (func (export "noop")))"#;

/// How token transfers pick their accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenContention {
    /// Random senders to random holders.
    Low,
    /// Every transfer goes to one holder (one storage key every
    /// transaction reads and writes).
    Hot,
}

impl std::fmt::Display for TokenContention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenContention::Low => "low",
            TokenContention::Hot => "hot",
        })
    }
}

/// The key of sender `i`.
pub fn sender_key(i: u64) -> SecretKey {
    cinder_chain::workload::key("cinder-bench-contracts", i)
}

/// The token's storage key of `holder`'s balance.
pub fn balance_key(holder: &Address) -> Vec<u8> {
    [b"bal/".as_slice(), &holder.0].concat()
}

/// The token's `init` arguments (name, symbol, decimals, supply).
pub fn token_init(supply: u128) -> Vec<u8> {
    let mut v = Vec::new();
    for s in ["Bench token", "BNT"] {
        v.extend(u32::try_from(s.len()).unwrap_or(0).to_le_bytes());
        v.extend(s.as_bytes());
    }
    v.push(6);
    v.extend(supply.to_le_bytes());
    v.push(0); // no cap: minted up to u128::MAX
    v
}

/// `transfer(to, amount)` arguments.
pub fn transfer_args(to: &Address, amount: u128) -> Vec<u8> {
    [to.0.as_slice(), &amount.to_le_bytes()].concat()
}

/// Holder `i`'s address: the first `senders` are the senders' addresses,
/// the rest derived.
pub fn holder(i: u64, senders: &[Address]) -> Address {
    match senders.get(usize::try_from(i).unwrap_or(usize::MAX)) {
        Some(a) => *a,
        None => Address(blake3::derive_key("cinder bench holder", &i.to_le_bytes())),
    }
}

/// The token deployed on an in-memory state with `holders` holders of
/// [`HOLDING`] each, `senders` of which are funded accounts with keys.
pub struct TokenState {
    /// The state (accounts, the token's record, code and storage).
    pub state: HashMap<StateKey, Val>,
    /// The token.
    pub token: Address,
    /// The senders' keys and addresses.
    pub senders: Vec<(SecretKey, Address)>,
    /// Holders in all.
    pub holders: u64,
}

impl TokenState {
    /// Deploys the token and writes the holders' balances.
    pub fn new(holders: u64, senders: u64) -> Result<TokenState> {
        let mut chain = TestChain::new()?;
        let deployer = chain.account(u128::MAX / 4);
        let token = chain
            .deploy(deployer, cinder_contracts::TOKEN, &token_init(0))?
            .success()?
            .created
            .context("the deploy created no contract")?;
        let mut state = chain.state().clone();
        let senders: Vec<(SecretKey, Address)> = (0..senders)
            .into_par_iter()
            .map(|i| {
                let k = sender_key(i);
                let a = Address::from_public_key(&k.public_key());
                (k, a)
            })
            .collect();
        let addrs: Vec<Address> = senders.iter().map(|(_, a)| *a).collect();
        for (_, a) in &senders {
            state.insert(StateKey::Balance(*a), Val::Num(10u128.pow(27)));
        }
        for i in 0..holders {
            let h = holder(i, &addrs);
            state.insert(StateKey::storage(token, &balance_key(&h)), Val::from_bytes(&HOLDING.to_le_bytes()));
        }
        Ok(TokenState { state, token, senders, holders })
    }

    /// `n` signed token transfers: senders chosen at random (nonces in
    /// order per sender), recipients at random among the holders (`Low`)
    /// or all the first holder (`Hot`).
    pub fn transfers(&self, n: usize, contention: TokenContention, seed: u64, chain_id: u64) -> Vec<SignedTransaction> {
        let mut rng = Rng::new(seed);
        let addrs: Vec<Address> = self.senders.iter().map(|(_, a)| *a).collect();
        let mut nonces = vec![0u64; self.senders.len()];
        let picks: Vec<(usize, u64, Address)> = (0..n)
            .map(|_| {
                let s = rng.below(self.senders.len());
                let nonce = nonces[s];
                nonces[s] += 1;
                let to = match contention {
                    TokenContention::Low => holder(rng.below_u64(self.holders), &addrs),
                    TokenContention::Hot => holder(0, &addrs),
                };
                (s, nonce, to)
            })
            .collect();
        picks
            .into_par_iter()
            .map(|(s, nonce, to)| {
                let kind =
                    TestChain::call_kind(self.token, "transfer", &transfer_args(&to, 1 + u128::from(nonce % 7)), 0)
                        .unwrap_or(TxKind::Transfer { to, amount: 0 });
                Transaction {
                    chain_id,
                    sender: self.senders[s].0.public_key(),
                    nonce,
                    gas_limit: TRANSFER_GAS_LIMIT,
                    gas_price: 1,
                    kind,
                }
                .sign(&self.senders[s].0)
            })
            .collect()
    }
}
