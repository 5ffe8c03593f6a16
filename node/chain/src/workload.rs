//! Deterministic accounts and blocks of signed transfers: what the import
//! benchmark, the crash test and the integration tests run on.
//!
//! Keys derive from a seed string: account `i`'s ed25519 seed is
//! BLAKE3(`"{seed}/{i}"`), so a run can be repeated and a data directory
//! continued.

use anyhow::{Context, Result};
use cinder_consensus::{Alloc, ChainSpec, ConsensusKind, PowSpec};
use cinder_engine::pow::Algo;
use cinder_engine::sig::SecretKey;
use cinder_primitives::{Address, Block, SignedTransaction, Transaction, TxKind};
use cinder_state::{Overlay, State, StateStore};
use rayon::prelude::*;

use crate::build::{build_block, seal_cpu};
use crate::chain::Chain;
use crate::exec::BlockContext;
use crate::vm::TRANSFER_GAS;

/// The key of account `i` under `seed`.
pub fn key(seed: &str, i: u64) -> SecretKey {
    SecretKey::from_seed(blake3::hash(format!("{seed}/{i}").as_bytes()).as_bytes())
}

/// `n` accounts under `seed`: keys and addresses (derived in parallel).
pub struct Accounts {
    /// Secret keys.
    pub keys: Vec<SecretKey>,
    /// Their addresses.
    pub addresses: Vec<Address>,
}

impl Accounts {
    /// Derives `n` accounts.
    pub fn derive(seed: &str, n: u64) -> Accounts {
        let keys: Vec<SecretKey> = (0..n).into_par_iter().map(|i| key(seed, i)).collect();
        let addresses = keys.par_iter().map(|k| Address::from_public_key(&k.public_key())).collect();
        Accounts { keys, addresses }
    }
}

/// A PoW spec funding `addresses` with `balance` each, at the easiest
/// target (sealing takes two hashes on average), blocks every second.
pub fn spec(name: &str, chain_id: u64, addresses: &[Address], balance: u128) -> ChainSpec {
    ChainSpec {
        name: name.to_string(),
        chain_id,
        consensus: ConsensusKind::Pow,
        genesis_time: 1_700_000_000,
        block_reward: 1_000_000,
        block_gas_limit: cinder_consensus::DEFAULT_BLOCK_GAS_LIMIT,
        max_block_bytes: cinder_consensus::DEFAULT_MAX_BLOCK_BYTES,
        min_gas_price: 0,
        max_code_bytes: cinder_primitives::MAX_CODE_BYTES as u64,
        pow: Some(PowSpec {
            algorithm: Algo::Sha256d,
            initial_bits: cinder_consensus::DEFAULT_LIMIT_BITS,
            limit_bits: cinder_consensus::DEFAULT_LIMIT_BITS,
            target_block_time: 1,
            half_life: None,
            max_future_drift: 60,
        }),
        pos: None,
        alloc: addresses.iter().map(|a| Alloc { address: *a, balance }).collect(),
        shards: 1,
    }
}

/// A PoS spec funding `addresses` with `balance` each, with `validators`
/// (equal power) and the default timeouts.
pub fn pos_spec(
    name: &str,
    chain_id: u64,
    addresses: &[Address],
    balance: u128,
    validators: &[cinder_engine::sig::PublicKey],
) -> ChainSpec {
    ChainSpec {
        consensus: ConsensusKind::Pos,
        pow: None,
        pos: Some(cinder_consensus::PosSpec {
            validators: validators.iter().map(|k| cinder_consensus::PosValidator { key: *k, power: 100 }).collect(),
            max_future_drift_ms: 10_000,
            timeout_propose_ms: 1_000,
            timeout_prevote_ms: 500,
            timeout_precommit_ms: 500,
            timeout_delta_ms: 500,
            min_block_interval_ms: 200,
            staking: cinder_consensus::StakingSpec::default(),
            gov: cinder_consensus::GovSpec::default(),
        }),
        ..spec(name, chain_id, addresses, balance)
    }
}

/// A SplitMix64 stream: transfers (and the benchmarks' blocks) are a
/// function of the seed.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below_u64(&mut self, n: u64) -> u64 {
        // The high half of a 64 x 64-bit product is below n.
        u64::try_from((u128::from(self.next_u64()) * u128::from(n)) >> 64).unwrap_or(0)
    }
    /// Uniform in `[0, 1)`, 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.below_u64(n as u64)).unwrap_or(0)
    }
}

/// `n` signed transfers between random accounts on the state at
/// `ctx.parent_version`, each sender's nonces in order.
pub fn transfers<S: StateStore>(
    state: &State<S>,
    ctx: &BlockContext,
    accounts: &Accounts,
    chain_id: u64,
    n: usize,
    rng: &mut Rng,
) -> Result<Vec<SignedTransaction>> {
    let count = accounts.keys.len();
    let picks: Vec<(usize, usize, u128)> = (0..n)
        .map(|_| {
            let from = rng.below(count);
            let to = rng.below(count);
            (from, to, 1 + rng.below(1_000) as u128)
        })
        .collect();
    let mut next = std::collections::HashMap::new();
    let mut unsigned = Vec::with_capacity(n);
    for (from, to, amount) in picks {
        let nonce = match next.get(&from) {
            Some(n) => *n,
            None => state.account(ctx.parent_version, &accounts.addresses[from])?.map_or(0, |a| a.nonce),
        };
        next.insert(from, nonce + 1);
        unsigned.push((
            from,
            Transaction {
                chain_id,
                sender: accounts.keys[from].public_key(),
                nonce,
                gas_limit: TRANSFER_GAS,
                gas_price: 1,
                kind: TxKind::Transfer { to: accounts.addresses[to], amount },
            },
        ));
    }
    Ok(unsigned.into_par_iter().map(|(from, t)| t.sign(&accounts.keys[from])).collect())
}

/// Builds (without importing) `blocks` sealed blocks of `txs_per_block`
/// transfers on the head of `chain`, each on the previous one, one block
/// time apart. Nothing is written to the chain's database.
pub fn extend(
    chain: &Chain,
    accounts: &Accounts,
    blocks: usize,
    txs_per_block: usize,
    rng: &mut Rng,
) -> Result<Vec<Block>> {
    let head = chain.head()?;
    let mut ctx = chain.context(&head.id)?.context("the head has no context")?;
    extend_from(chain, &mut ctx, accounts, blocks, txs_per_block, rng)
}

/// [`extend`] from any stored block's context; `ctx` ends at the last
/// block built.
pub fn extend_from(
    chain: &Chain,
    ctx: &mut BlockContext,
    accounts: &Accounts,
    blocks: usize,
    txs_per_block: usize,
    rng: &mut Rng,
) -> Result<Vec<Block>> {
    let state = State::new(Overlay::new(chain.db()));
    let coinbase = accounts.addresses[0];
    let mut out = Vec::with_capacity(blocks);
    for _ in 0..blocks {
        let txs = transfers(&state, ctx, accounts, chain.spec().chain_id, txs_per_block, rng)?;
        out.push(seal_next(chain, &state, ctx, txs, coinbase)?.block);
    }
    Ok(out)
}

/// Builds sealed blocks of exactly these transactions (each list one block,
/// each block on the previous, starting on `ctx`), fees to `coinbase`;
/// returns the blocks with their receipts. Nothing is written to the
/// chain's database. A transaction that is invalid at its position is an
/// error (the block would leave it out).
pub fn build_chain(
    chain: &Chain,
    ctx: &mut BlockContext,
    blocks: Vec<Vec<SignedTransaction>>,
    coinbase: Address,
) -> Result<Vec<crate::Built>> {
    let state = State::new(Overlay::new(chain.db()));
    let mut out = Vec::with_capacity(blocks.len());
    for txs in blocks {
        let n = txs.len();
        let built = seal_next(chain, &state, ctx, txs, coinbase)?;
        if built.block.transactions.len() != n {
            anyhow::bail!("a block left out transactions: {:?}", built.dropped);
        }
        out.push(built);
    }
    Ok(out)
}

/// Builds and seals the next block on `ctx` over `state` (an overlay it
/// commits to), one block time after the parent, and moves `ctx` on.
fn seal_next<S: StateStore>(
    chain: &Chain,
    state: &State<S>,
    ctx: &mut BlockContext,
    txs: Vec<SignedTransaction>,
    coinbase: Address,
) -> Result<crate::Built> {
    let consensus = chain.consensus();
    let block_time = chain.spec().pow().map_or(1, |p| p.target_block_time);
    let now = u64::from(ctx.parent.pow.time()) + u64::from(block_time);
    let mut built = build_block(consensus, chain.spec(), state, ctx, txs, coinbase, now, chain.config().exec_threads)?;
    seal_cpu(consensus, &mut built.block.header, 1 << 24)?;
    state.store().commit(&built.state)?;
    let weight = ctx.parent_weight + consensus.block_weight(&built.block.header).map_err(anyhow::Error::msg)?;
    *ctx = ctx.child(&built.block, built.state.version, weight, consensus.ancestry_window());
    Ok(built)
}
