//! A transfer workload for the Block-STM executor: a small account VM,
//! seeded block generators with three contention patterns, and calibrated
//! busy work standing in for the rest of a VM's per-transaction cost.
//!
//! The VM is the paper's peer-to-peer transfer (Gelashvili et al., §6): a
//! transfer reads and writes the sender's nonce and balance and reads and
//! writes the recipient's balance; the fee goes to a pool by a commutative
//! [`WriteOp::Delta`]. Crediting the recipient is a read-modify-write on
//! purpose, as in the paper: "hotspot" (every transfer to one account) is
//! then the worst case the issue asks about, every transaction reading and
//! writing one key, instead of a delta that would hide the conflict.
//!
//! Rules (the chain's, issue #5):
//! - nonce not equal to the sender's nonce, or a balance that cannot pay
//!   `gas_limit x gas_price`: **Invalid**;
//! - a balance that pays the gas but not the amount: **Failed**; the nonce
//!   still moves and `gas_used x gas_price` is paid;
//! - otherwise **Success**.

use cinder_engine::exec::{self, StateView, Suspend, Task, TaskOutput, TxStatus, TxView, Value, WriteOp};

/// A state key of the transfer VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountKey {
    /// An account's balance.
    Balance(u32),
    /// An account's nonce (missing = 0).
    Nonce(u32),
    /// The fee pool every transaction pays into.
    FeePool,
}

/// A value: balances, nonces and the fee pool are all counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(pub u128);

impl Value for Amount {
    fn as_counter(&self) -> Option<u128> {
        Some(self.0)
    }
    fn from_counter(n: u128) -> Self {
        Amount(n)
    }
}

/// Gas a transfer uses.
pub const TRANSFER_GAS: u64 = 21_000;

/// One transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Sender account.
    pub from: u32,
    /// Recipient account.
    pub to: u32,
    /// Amount moved.
    pub amount: u128,
    /// The sender's nonce this transfer must carry.
    pub nonce: u64,
    /// Most gas it may use.
    pub gas_limit: u64,
    /// Price per unit of gas.
    pub gas_price: u64,
    /// Busy-work iterations per execution (see [`Work`]).
    pub work_iters: u64,
}

fn counter(v: Option<Amount>) -> u128 {
    v.map_or(0, |a| a.0)
}

impl Task for Transfer {
    type Key = AccountKey;
    type Value = Amount;
    type Output = ();

    fn execute(&self, view: &mut dyn TxView<AccountKey, Amount>) -> Result<TaskOutput<AccountKey, Amount>, Suspend> {
        let invalid = |reason: String| TaskOutput {
            status: TxStatus::Invalid(reason),
            gas_used: 0,
            writes: Vec::new(),
            failure_writes: Vec::new(),
            output: (),
        };
        let nonce = counter(view.read(&AccountKey::Nonce(self.from))?);
        if nonce != u128::from(self.nonce) {
            return Ok(invalid(format!("nonce {} but the account is at {nonce}", self.nonce)));
        }
        let balance = counter(view.read(&AccountKey::Balance(self.from))?);
        let max_fee = u128::from(self.gas_limit) * u128::from(self.gas_price);
        if balance < max_fee || self.gas_limit < TRANSFER_GAS {
            return Ok(invalid(format!("cannot pay for gas: balance {balance}, needs {max_fee}")));
        }
        // Reads first (as a transfer VM loads both accounts), then the
        // work, then the writes.
        let to = if self.to == self.from { balance } else { counter(view.read(&AccountKey::Balance(self.to))?) };
        spin(self.work_iters);
        let fee = u128::from(TRANSFER_GAS) * u128::from(self.gas_price);
        let next_nonce = (AccountKey::Nonce(self.from), WriteOp::Put(Amount(nonce + 1)));
        let pay_fee = (AccountKey::FeePool, WriteOp::Delta(i128::try_from(fee).unwrap_or(i128::MAX)));
        let failure_writes = vec![
            next_nonce.clone(),
            (AccountKey::Balance(self.from), WriteOp::Put(Amount(balance - fee))),
            pay_fee.clone(),
        ];
        let failed = |reason: String| TaskOutput {
            status: TxStatus::Failed(reason),
            gas_used: TRANSFER_GAS,
            writes: Vec::new(),
            failure_writes: failure_writes.clone(),
            output: (),
        };
        let Some(after) = balance.checked_sub(fee).and_then(|b| b.checked_sub(self.amount)) else {
            return Ok(failed(format!("balance {balance} cannot pay {} plus {fee} in fees", self.amount)));
        };
        let mut writes = vec![next_nonce, pay_fee];
        if self.to == self.from {
            writes.push((AccountKey::Balance(self.from), WriteOp::Put(Amount(after + self.amount))));
        } else {
            let Some(credited) = to.checked_add(self.amount) else {
                return Ok(failed("the recipient's balance would overflow".into()));
            };
            writes.push((AccountKey::Balance(self.from), WriteOp::Put(Amount(after))));
            writes.push((AccountKey::Balance(self.to), WriteOp::Put(Amount(credited))));
        }
        Ok(TaskOutput { status: TxStatus::Success, gas_used: TRANSFER_GAS, writes, failure_writes, output: () })
    }

    fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    fn write_hints(&self) -> Vec<AccountKey> {
        vec![AccountKey::Nonce(self.from), AccountKey::Balance(self.from), AccountKey::Balance(self.to)]
    }
}

/// Spins `iters` rounds of a dependent integer mix the optimiser cannot
/// remove: the stand-in for a VM's per-transaction cost.
#[inline(never)]
pub fn spin(iters: u64) -> u64 {
    let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15u64);
    for i in 0..iters {
        x = (x ^ i).wrapping_mul(0xbf58_476d_1ce4_e5b9).rotate_left(17);
    }
    std::hint::black_box(x)
}

/// Calibrated busy work: iterations of [`spin`] per microsecond on this
/// machine, measured once.
#[derive(Clone, Copy, Debug)]
pub struct Work {
    /// Iterations of [`spin`] per microsecond.
    pub iters_per_us: f64,
}

impl Work {
    /// Measures [`spin`] (best of five 2 ms runs).
    pub fn calibrate() -> Work {
        let n = 1u64 << 16;
        spin(n);
        let mut best = f64::MAX;
        for _ in 0..5 {
            let mut done = 0u64;
            let start = std::time::Instant::now();
            while start.elapsed().as_secs_f64() < 2e-3 {
                spin(n);
                done += n;
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e6 / done as f64);
        }
        Work { iters_per_us: 1.0 / best }
    }

    /// Iterations for `us` microseconds.
    #[allow(clippy::cast_possible_truncation, reason = "a positive float; `as` saturates")]
    pub fn iters(&self, us: f64) -> u64 {
        (us * self.iters_per_us).round() as u64
    }
}

/// Which accounts transfers touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Contention {
    /// Every sender and recipient distinct (needs accounts >= 2 x txs):
    /// no two transactions touch the same account.
    None,
    /// Senders and recipients drawn from a Zipf(1.0) distribution over the
    /// accounts: a few accounts are busy, most are idle.
    Zipf,
    /// Every transfer goes to one account (distinct senders): every
    /// transaction reads and writes one hot key.
    Hotspot,
}

impl std::str::FromStr for Contention {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Contention::None),
            "zipf" => Ok(Contention::Zipf),
            "hotspot" => Ok(Contention::Hotspot),
            _ => Err(format!("unknown contention {s:?} (none, zipf, hotspot)")),
        }
    }
}

impl std::fmt::Display for Contention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Contention::None => "none",
            Contention::Zipf => "zipf",
            Contention::Hotspot => "hotspot",
        })
    }
}

/// Starting balance of every account.
pub const INITIAL_BALANCE: u128 = 1_000_000_000_000;

/// The base state: every account funded, nonces 0, an empty fee pool.
#[derive(Clone, Debug)]
pub struct Accounts {
    balances: Vec<u128>,
}

impl Accounts {
    /// `n` accounts with [`INITIAL_BALANCE`] each.
    pub fn new(n: u32) -> Accounts {
        Accounts { balances: vec![INITIAL_BALANCE; n as usize] }
    }
}

impl StateView<AccountKey, Amount> for Accounts {
    fn get(&self, key: &AccountKey) -> Option<Amount> {
        match key {
            AccountKey::Balance(a) => self.balances.get(*a as usize).map(|b| Amount(*b)),
            AccountKey::Nonce(_) | AccountKey::FeePool => None,
        }
    }
    fn range(&self, start: &AccountKey, end: &AccountKey, limit: usize) -> Vec<(AccountKey, Amount)> {
        // Only balances are stored; they sort by account index.
        let from = match start {
            AccountKey::Balance(a) => *a as usize,
            _ => self.balances.len(),
        };
        (from..self.balances.len())
            .map_while(|a| Some((AccountKey::Balance(u32::try_from(a).ok()?), Amount(self.balances[a]))))
            .take_while(|(k, _)| k <= end)
            .take(limit)
            .collect()
    }
}

/// The seeded generator of the blocks (SplitMix64, shared with the chain's
/// workload).
pub use cinder_chain::workload::Rng as SplitMix;

/// What a generated block looks like.
#[derive(Clone, Copy, Debug)]
pub struct BlockSpec {
    /// Accounts in the state.
    pub accounts: u32,
    /// Transfers in the block.
    pub txs: u32,
    /// Contention pattern.
    pub contention: Contention,
    /// Busy-work iterations per execution.
    pub work_iters: u64,
    /// Seed.
    pub seed: u64,
}

/// Why a block cannot be generated.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Fewer than two accounts.
    #[error("at least 2 accounts are needed")]
    TooFewAccounts,
    /// `none` needs a distinct sender and recipient per transfer.
    #[error("contention none needs accounts >= 2 x txs ({accounts} accounts, {txs} txs)")]
    NotEnoughForDistinct {
        /// Accounts asked for.
        accounts: u32,
        /// Transfers asked for.
        txs: u32,
    },
}

/// A seeded block of transfers with valid, consecutive nonces per sender.
pub fn generate(spec: &BlockSpec) -> Result<Vec<Transfer>, SpecError> {
    let (n, txs) = (spec.accounts, spec.txs);
    if n < 2 {
        return Err(SpecError::TooFewAccounts);
    }
    if spec.contention == Contention::None && u64::from(n) < 2 * u64::from(txs) {
        return Err(SpecError::NotEnoughForDistinct { accounts: n, txs });
    }
    let mut rng = SplitMix::new(spec.seed);
    // A random permutation of the accounts: which account has which role or
    // Zipf rank is not tied to its number.
    let mut perm: Vec<u32> = (0..n).collect();
    for i in (1..perm.len()).rev() {
        let j = usize::try_from(rng.below_u64(i as u64 + 1)).unwrap_or(i);
        perm.swap(i, j);
    }
    let zipf = (spec.contention == Contention::Zipf).then(|| {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut sum = 0.0;
        for rank in 1..=n {
            sum += 1.0 / f64::from(rank);
            cdf.push(sum);
        }
        cdf
    });
    let draw_zipf = |rng: &mut SplitMix| -> u32 {
        // Only called for Zipf blocks, where the table has `n >= 2` entries.
        let cdf = zipf.as_deref().unwrap_or(&[]);
        let Some(&total) = cdf.last() else { return perm[0] };
        let x = rng.unit() * total;
        let rank = cdf.partition_point(|&c| c <= x).min(cdf.len() - 1);
        perm[rank]
    };
    let mut nonces: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(txs as usize);
    for i in 0..txs {
        let (from, to) = match spec.contention {
            Contention::None => (perm[2 * i as usize], perm[2 * i as usize + 1]),
            Contention::Hotspot => (perm[1 + (i % (n - 1)) as usize], perm[0]),
            Contention::Zipf => {
                let from = draw_zipf(&mut rng);
                let mut to = draw_zipf(&mut rng);
                while to == from {
                    to = draw_zipf(&mut rng);
                }
                (from, to)
            }
        };
        let nonce = nonces.entry(from).or_insert(0);
        out.push(Transfer {
            from,
            to,
            amount: u128::from(1 + rng.below_u64(1_000_000)),
            nonce: *nonce,
            gas_limit: 30_000,
            gas_price: 1 + rng.below_u64(10),
            work_iters: spec.work_iters,
        });
        *nonce += 1;
    }
    Ok(out)
}

/// A block output without the run's counters, for comparing strategies.
pub fn same_result(a: &exec::BlockOutput<AccountKey, Amount>, b: &exec::BlockOutput<AccountKey, Amount>) -> bool {
    a.per_tx == b.per_tx && a.included == b.included && a.writes == b.writes && a.gas_used == b.gas_used
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinder_engine::exec::{Mode, Strategy};

    fn spec(contention: Contention) -> BlockSpec {
        BlockSpec { accounts: 1000, txs: 400, contention, work_iters: 0, seed: 3 }
    }

    #[test]
    fn generated_blocks_are_valid_and_parallel_equals_sequential() {
        for c in [Contention::None, Contention::Zipf, Contention::Hotspot] {
            let txs = generate(&spec(c)).unwrap();
            let base = Accounts::new(1000);
            let seq = exec::execute(&txs, &base, Strategy::Sequential, Mode::Verify, u64::MAX).unwrap();
            assert!(seq.per_tx.iter().all(|t| t.status == TxStatus::Success), "{c}");
            let par = exec::execute(&txs, &base, Strategy::Parallel { threads: 3 }, Mode::Verify, u64::MAX).unwrap();
            assert!(same_result(&seq, &par), "{c}");
            let fees: u128 = txs.iter().map(|t| u128::from(TRANSFER_GAS) * u128::from(t.gas_price)).sum();
            assert!(seq.writes.contains(&(AccountKey::FeePool, Some(Amount(fees)))));
            // Money is conserved: what the touched balances lost is the fees.
            let touched = seq.writes.iter().filter(|(k, _)| matches!(k, AccountKey::Balance(_))).count() as u128;
            let total: u128 =
                seq.writes.iter().filter(|(k, _)| matches!(k, AccountKey::Balance(_))).map(|(_, v)| v.unwrap().0).sum();
            assert_eq!(total + fees, touched * INITIAL_BALANCE, "{c}");
        }
    }

    #[test]
    fn contention_patterns_touch_the_accounts_they_promise() {
        let none = generate(&spec(Contention::None)).unwrap();
        let mut seen = std::collections::HashSet::new();
        assert!(none.iter().all(|t| seen.insert(t.from) && seen.insert(t.to)));
        let hot = generate(&spec(Contention::Hotspot)).unwrap();
        assert!(hot.iter().all(|t| t.to == hot[0].to && t.from != t.to));
        let zipf = generate(&spec(Contention::Zipf)).unwrap();
        let mut count = std::collections::HashMap::new();
        for t in &zipf {
            *count.entry(t.to).or_insert(0) += 1;
        }
        // Rank 1 of Zipf(1) over 1000 accounts gets ~13% of the draws.
        assert!(count.values().max().unwrap() * 20 > zipf.len(), "{count:?}");
        assert_eq!(
            generate(&BlockSpec { accounts: 100, ..spec(Contention::None) }),
            Err(SpecError::NotEnoughForDistinct { accounts: 100, txs: 400 })
        );
    }

    #[test]
    fn bad_nonces_and_poor_senders_follow_the_rules() {
        let base = Accounts::new(4);
        let t = |from, nonce, amount| Transfer {
            from,
            to: 3,
            amount,
            nonce,
            gas_limit: 30_000,
            gas_price: 1,
            work_iters: 0,
        };
        let txs = vec![t(0, 1, 5), t(1, 0, INITIAL_BALANCE), t(2, 0, 7)];
        let out = exec::execute(&txs, &base, Strategy::Parallel { threads: 2 }, Mode::Build, u64::MAX).unwrap();
        assert!(matches!(out.per_tx[0].status, TxStatus::Invalid(_)));
        assert!(matches!(out.per_tx[1].status, TxStatus::Failed(_)));
        assert_eq!(out.per_tx[2].status, TxStatus::Success);
        assert_eq!(out.included, vec![1, 2]);
        assert!(out.writes.contains(&(AccountKey::Nonce(1), Some(Amount(1)))));
        assert!(out.writes.contains(&(AccountKey::Balance(1), Some(Amount(INITIAL_BALANCE - 21_000)))));
        assert!(out.writes.contains(&(AccountKey::Balance(3), Some(Amount(INITIAL_BALANCE + 7)))));
        assert!(exec::execute(&txs, &base, Strategy::Sequential, Mode::Verify, u64::MAX).is_err());
    }

    #[test]
    fn calibrated_work_takes_about_the_time_asked() {
        let w = Work::calibrate();
        assert!(w.iters_per_us > 1.0);
        let iters = w.iters(2000.0);
        let start = std::time::Instant::now();
        spin(iters);
        let us = start.elapsed().as_secs_f64() * 1e6;
        assert!((1000.0..20_000.0).contains(&us), "{us} us for 2000 us of work");
    }
}
