//! # cinder-staking
//!
//! Proof of stake's bookkeeping as pure functions over a [`Staking`]
//! state: validators and their commission, delegations (as shares of a
//! validator's pool, so a slash cuts every delegator in proportion),
//! unbonding with a waiting period, rewards paid pro rata to stake with
//! the operator's commission taken first, slashing and jailing, and the
//! epoch transition that picks the next validator set (the top N by
//! stake). No I/O and no balances: the chain debits what is bonded before
//! calling in and credits what the functions return. Every amount uses
//! checked arithmetic; an overflow is an error, never a wrap.
//!
//! Rewards follow the accumulator ("reward per share") scheme: a pool's
//! `acc` grows by `reward * SCALE / shares` and a delegation owes
//! `shares * acc / SCALE - debt`, so paying a pool costs O(1) whatever the
//! number of delegators. Claims round down and debts round up, and what
//! the accumulator cannot represent goes to the operator, so delegators
//! together are never owed more than was paid in (a property test holds
//! it to that).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::Address;

pub mod store;

/// Fixed-point scale of the reward accumulator.
const SCALE: u128 = 1_000_000_000_000;
/// Basis points in one.
pub const BPS: u16 = 10_000;

/// The rules of staking (from the chain spec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The least self-stake an operator keeps to validate.
    pub min_self_stake: u128,
    /// The size of the active set (the top N by stake).
    pub max_validators: usize,
    /// Epochs an undelegation waits before it is paid out.
    pub unbonding_epochs: u64,
    /// The highest commission, in basis points.
    pub max_commission_bps: u16,
    /// The share of stake a double-signer loses, in basis points.
    pub double_sign_slash_bps: u16,
    /// Epochs a jailed validator sits out.
    pub jail_epochs: u64,
    /// An active validator missing from more than this share of an
    /// epoch's commit certificates (basis points) is jailed at its end.
    pub max_missed_bps: u16,
}

/// Why a staking operation was refused (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    /// The operator already runs a validator.
    #[error("{0} already has a validator")]
    Exists(Address),
    /// No such validator.
    #[error("no validator {0}")]
    NoValidator(Address),
    /// No delegation of this delegator to this validator.
    #[error("no delegation")]
    NoDelegation,
    /// Below the minimum self-stake.
    #[error("self-stake {got} is below the minimum {min}")]
    SelfStakeTooLow {
        /// Offered or left.
        got: u128,
        /// Required.
        min: u128,
    },
    /// Commission above the maximum.
    #[error("commission {0} bps is above the maximum {1} bps")]
    Commission(u16, u16),
    /// Nothing to bond or unbond.
    #[error("the amount must be positive")]
    Zero,
    /// More than the delegation holds.
    #[error("undelegating {asked}, the delegation holds {held}")]
    TooMuch {
        /// Asked.
        asked: u128,
        /// Held.
        held: u128,
    },
    /// The validator was slashed to nothing.
    #[error("the validator's pool is empty")]
    EmptyPool,
    /// An amount overflowed.
    #[error("an amount overflows")]
    Overflow,
}

use StakingError::Overflow;

fn add(a: u128, b: u128) -> Result<u128, StakingError> {
    a.checked_add(b).ok_or(Overflow)
}
fn sub(a: u128, b: u128) -> Result<u128, StakingError> {
    a.checked_sub(b).ok_or(Overflow)
}
/// The 256-bit product of `a` and `b` as (high, low) halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (a1, a0) = (a.wrapping_shr(64), a & LOW);
    let (b1, b0) = (b.wrapping_shr(64), b & LOW);
    // Each partial product of two 64-bit halves fits in 128 bits.
    let (p00, p01, p10, p11) = (a0.wrapping_mul(b0), a0.wrapping_mul(b1), a1.wrapping_mul(b0), a1.wrapping_mul(b1));
    let mid = p00.wrapping_shr(64).wrapping_add(p01 & LOW).wrapping_add(p10 & LOW);
    let lo = (p00 & LOW) | mid.wrapping_shl(64);
    let hi =
        p11.wrapping_add(p01.wrapping_shr(64)).wrapping_add(p10.wrapping_shr(64)).wrapping_add(mid.wrapping_shr(64));
    (hi, lo)
}

/// (a * b / c, a * b mod c), exact in 256 bits; `Overflow` if c is 0 or
/// the quotient does not fit in 128 bits.
fn mul_div_rem(a: u128, b: u128, c: u128) -> Result<(u128, u128), StakingError> {
    if c == 0 {
        return Err(Overflow);
    }
    let (hi, lo) = mul_wide(a, b);
    if hi == 0 {
        return Ok((lo.checked_div(c).ok_or(Overflow)?, lo.checked_rem(c).ok_or(Overflow)?));
    }
    if hi >= c {
        return Err(Overflow);
    }
    // Long division of (hi, lo) by c, one bit of lo at a time; the running
    // remainder stays below c.
    let (mut q, mut r) = (0u128, hi);
    for i in (0..128u32).rev() {
        let carry = r.wrapping_shr(127) == 1;
        r = r.wrapping_shl(1) | (lo.wrapping_shr(i) & 1);
        if carry || r >= c {
            r = r.wrapping_sub(c);
            q |= 1u128.wrapping_shl(i);
        }
    }
    Ok((q, r))
}

/// a * b / c, exact in 256 bits; `Overflow` if c is 0 or the quotient
/// does not fit in 128 bits.
pub fn mul_div(a: u128, b: u128, c: u128) -> Result<u128, StakingError> {
    mul_div_rem(a, b, c).map(|(q, _)| q)
}

/// a * b / c rounded up; `Overflow` as [`mul_div`].
pub fn mul_div_ceil(a: u128, b: u128, c: u128) -> Result<u128, StakingError> {
    let (q, r) = mul_div_rem(a, b, c)?;
    if r == 0 { Ok(q) } else { add(q, 1) }
}

/// What a delegation is owed at `acc`: rounded down, while its debt is
/// rounded up, so delegators together never get more than was paid in.
fn owed(d: &Delegation, acc: u128) -> Result<u128, StakingError> {
    Ok(mul_div(d.shares, acc, SCALE)?.saturating_sub(d.debt))
}

/// A delegation's debt after settling at `acc` (rounded up).
fn debt_at(shares: u128, acc: u128) -> Result<u128, StakingError> {
    mul_div_ceil(shares, acc, SCALE)
}

/// A validator's pool.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Validator {
    /// Its operator (who created it, and whose delegation is self-stake).
    pub operator: Address,
    /// Its consensus key (ed25519).
    pub key: [u8; 32],
    /// The operator's cut of rewards, in basis points.
    pub commission_bps: u16,
    /// Tokens bonded to the pool.
    pub tokens: u128,
    /// Shares issued to delegators.
    pub shares: u128,
    /// Reward per share, times [`SCALE`].
    pub acc: u128,
    /// Commission and rounding remainders owed to the operator.
    pub operator_rewards: u128,
    /// Jailed until this epoch (exclusive), if jailed.
    pub jailed_until: Option<u64>,
}

/// A delegation: shares of a validator's pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Delegation {
    /// Shares held.
    pub shares: u128,
    /// `shares * acc / SCALE` (rounded up) when last settled.
    pub debt: u128,
}

/// Tokens on their way out.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Unbonding {
    /// Who gets them.
    pub delegator: Address,
    /// From which validator (slashes reach unbonding tokens too).
    pub validator: Address,
    /// How many.
    pub amount: u128,
    /// Paid at the end of this epoch.
    pub matures: u64,
}

/// All of staking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staking {
    /// The rules.
    pub params: Params,
    /// The current epoch.
    pub epoch: u64,
    /// Validators by operator.
    pub validators: BTreeMap<Address, Validator>,
    /// Delegations by (delegator, validator).
    pub delegations: BTreeMap<(Address, Address), Delegation>,
    /// Pending undelegations, oldest first.
    pub unbonding: Vec<Unbonding>,
    /// The active set of this epoch: operators and their bonded tokens
    /// when the epoch began. It changes only when an epoch ends.
    pub active: Vec<(Address, u128)>,
    /// Commit certificates of this epoch each active validator is missing
    /// from.
    pub missed: BTreeMap<Address, u64>,
}

impl Staking {
    /// Empty staking at epoch 0.
    pub fn new(params: Params) -> Staking {
        Staking {
            params,
            epoch: 0,
            validators: BTreeMap::new(),
            delegations: BTreeMap::new(),
            unbonding: Vec::new(),
            active: Vec::new(),
            missed: BTreeMap::new(),
        }
    }

    /// What `delegator` holds in `validator`'s pool, in tokens.
    pub fn stake_of(&self, delegator: &Address, validator: &Address) -> u128 {
        let (Some(v), Some(d)) = (self.validators.get(validator), self.delegations.get(&(*delegator, *validator)))
        else {
            return 0;
        };
        if v.shares == 0 { 0 } else { mul_div(d.shares, v.tokens, v.shares).unwrap_or(0) }
    }

    /// The rewards `delegator` could withdraw from `validator` now (for
    /// the operator, with the commission).
    pub fn pending_rewards(&self, delegator: &Address, validator: &Address) -> u128 {
        let Some(v) = self.validators.get(validator) else { return 0 };
        let own = if v.operator == *delegator { v.operator_rewards } else { 0 };
        let d = self.delegations.get(&(*delegator, *validator)).map_or(0, |d| owed(d, v.acc).unwrap_or(0));
        own.saturating_add(d)
    }

    /// Creates `operator`'s validator with `self_stake` (already debited).
    pub fn create_validator(
        &mut self,
        operator: Address,
        key: [u8; 32],
        commission_bps: u16,
        self_stake: u128,
    ) -> Result<(), StakingError> {
        if self.validators.contains_key(&operator) {
            return Err(StakingError::Exists(operator));
        }
        if commission_bps > self.params.max_commission_bps {
            return Err(StakingError::Commission(commission_bps, self.params.max_commission_bps));
        }
        if self_stake < self.params.min_self_stake {
            return Err(StakingError::SelfStakeTooLow { got: self_stake, min: self.params.min_self_stake });
        }
        self.validators.insert(
            operator,
            Validator {
                operator,
                key,
                commission_bps,
                tokens: 0,
                shares: 0,
                acc: 0,
                operator_rewards: 0,
                jailed_until: None,
            },
        );
        self.delegate(operator, operator, self_stake).map(|_| ())
    }

    /// Bonds `amount` (already debited) from `delegator` to `validator`.
    /// Returns rewards settled on the way (to credit).
    pub fn delegate(&mut self, delegator: Address, validator: Address, amount: u128) -> Result<u128, StakingError> {
        if amount == 0 {
            return Err(StakingError::Zero);
        }
        let v = self.validators.get(&validator).ok_or(StakingError::NoValidator(validator))?;
        if v.tokens == 0 && v.shares > 0 {
            return Err(StakingError::EmptyPool);
        }
        let new_shares = if v.shares == 0 { amount } else { mul_div(amount, v.shares, v.tokens)? };
        let (tokens, shares) = (add(v.tokens, amount)?, add(v.shares, new_shares)?);
        let acc = v.acc;
        let d = self.delegations.get(&(delegator, validator)).cloned().unwrap_or_default();
        let paid = owed(&d, acc)?;
        let held = add(d.shares, new_shares)?;
        let debt = debt_at(held, acc)?;
        // All checked: now write.
        if let Some(v) = self.validators.get_mut(&validator) {
            v.tokens = tokens;
            v.shares = shares;
        }
        self.delegations.insert((delegator, validator), Delegation { shares: held, debt });
        Ok(paid)
    }

    /// Starts unbonding `amount` tokens of `delegator`'s delegation to
    /// `validator`; they are paid when the unbonding period has passed.
    /// An operator keeps at least the minimum self-stake or leaves
    /// entirely. Returns rewards settled on the way (to credit).
    pub fn undelegate(&mut self, delegator: Address, validator: Address, amount: u128) -> Result<u128, StakingError> {
        if amount == 0 {
            return Err(StakingError::Zero);
        }
        let v = self.validators.get(&validator).ok_or(StakingError::NoValidator(validator))?;
        let d = self.delegations.get(&(delegator, validator)).cloned().ok_or(StakingError::NoDelegation)?;
        let held = if v.shares == 0 { 0 } else { mul_div(d.shares, v.tokens, v.shares)? };
        if amount > held {
            return Err(StakingError::TooMuch { asked: amount, held });
        }
        let left = sub(held, amount)?;
        if delegator == v.operator && left > 0 && left < self.params.min_self_stake {
            return Err(StakingError::SelfStakeTooLow { got: left, min: self.params.min_self_stake });
        }
        // Shares burned: all of them for a full exit (no dust left behind),
        // else rounded up, so leaving never takes value from those who stay.
        let burned = if left == 0 { d.shares } else { mul_div_ceil(amount, v.shares, v.tokens)?.min(d.shares) };
        let paid = owed(&d, v.acc)?;
        let shares_left = sub(d.shares, burned)?;
        let debt = debt_at(shares_left, v.acc)?;
        let (tokens, shares) = (sub(v.tokens, amount)?, sub(v.shares, burned)?);
        let matures = self.epoch.checked_add(self.params.unbonding_epochs).ok_or(Overflow)?;
        if let Some(v) = self.validators.get_mut(&validator) {
            v.tokens = tokens;
            v.shares = shares;
        }
        if shares_left == 0 {
            self.delegations.remove(&(delegator, validator));
        } else {
            self.delegations.insert((delegator, validator), Delegation { shares: shares_left, debt });
        }
        self.unbonding.push(Unbonding { delegator, validator, amount, matures });
        Ok(paid)
    }

    /// Pays out `delegator`'s rewards from `validator` (and, for the
    /// operator, the commission): the amount to credit.
    pub fn withdraw_rewards(&mut self, delegator: Address, validator: Address) -> Result<u128, StakingError> {
        let v = self.validators.get(&validator).ok_or(StakingError::NoValidator(validator))?;
        let (acc, is_operator, commission) = (v.acc, v.operator == delegator, v.operator_rewards);
        let mut paid = if is_operator { commission } else { 0 };
        if let Some(d) = self.delegations.get(&(delegator, validator)) {
            paid = add(paid, owed(d, acc)?)?;
            let debt = debt_at(d.shares, acc)?;
            if let Some(d) = self.delegations.get_mut(&(delegator, validator)) {
                d.debt = debt;
            }
        } else if !is_operator {
            return Err(StakingError::NoDelegation);
        }
        if is_operator && let Some(v) = self.validators.get_mut(&validator) {
            v.operator_rewards = 0;
        }
        Ok(paid)
    }

    /// Pays `reward` (minted and fees) to the active set pro rata to
    /// voting power; each validator's share is split into the operator's
    /// commission and its delegators' part. Returns what could not be
    /// paid (no active set): the caller keeps or burns it.
    pub fn distribute(&mut self, reward: u128) -> Result<u128, StakingError> {
        // Jailed validators stay in the set until the epoch ends but earn
        // nothing: the others share their part.
        let paid: Vec<(Address, u128)> = self
            .active
            .iter()
            .filter(|(op, _)| self.validators.get(op).is_some_and(|v| v.jailed_until.is_none()))
            .copied()
            .collect();
        let total: u128 = paid.iter().try_fold(0u128, |a, (_, p)| add(a, *p))?;
        if total == 0 {
            return Ok(reward);
        }
        let mut left = reward;
        let n = paid.len();
        for (i, (op, power)) in paid.into_iter().enumerate() {
            // The last validator takes the rounding remainder.
            let share = if i.checked_add(1) == Some(n) { left } else { mul_div(reward, power, total)? };
            left = sub(left, share)?;
            let Some(v) = self.validators.get_mut(&op) else { continue };
            let commission = mul_div(share, u128::from(v.commission_bps), u128::from(BPS))?;
            let to_pool = sub(share, commission)?;
            if v.shares == 0 {
                v.operator_rewards = add(v.operator_rewards, share)?;
                continue;
            }
            let step = mul_div(to_pool, SCALE, v.shares)?;
            // What the accumulator cannot represent goes to the operator
            // (rounded up: the delegations' claims never exceed it).
            let represented = mul_div_ceil(step, v.shares, SCALE)?.min(to_pool);
            v.acc = add(v.acc, step)?;
            v.operator_rewards = add(add(v.operator_rewards, commission)?, sub(to_pool, represented)?)?;
        }
        Ok(0)
    }

    /// Slashes `validator` by `bps` of its pool and of its unbonding
    /// tokens, and jails it for the jail period: it earns nothing from now
    /// and leaves the active set when the epoch ends. Returns the amount
    /// burned.
    pub fn slash(&mut self, validator: Address, bps: u16) -> Result<u128, StakingError> {
        let bps = u128::from(bps.min(BPS));
        let until = self.epoch.checked_add(self.params.jail_epochs).ok_or(Overflow)?.checked_add(1).ok_or(Overflow)?;
        let v = self.validators.get_mut(&validator).ok_or(StakingError::NoValidator(validator))?;
        let cut = mul_div(v.tokens, bps, u128::from(BPS))?;
        v.tokens = sub(v.tokens, cut)?;
        v.jailed_until = Some(v.jailed_until.map_or(until, |u| u.max(until)));
        let mut burned = cut;
        for u in self.unbonding.iter_mut().filter(|u| u.validator == validator) {
            let c = mul_div(u.amount, bps, u128::from(BPS))?;
            u.amount = sub(u.amount, c)?;
            burned = add(burned, c)?;
        }
        Ok(burned)
    }

    /// Jails `validator` for the jail period without slashing (absence).
    pub fn jail(&mut self, validator: Address) -> Result<(), StakingError> {
        let until = self.epoch.checked_add(self.params.jail_epochs).ok_or(Overflow)?.checked_add(1).ok_or(Overflow)?;
        let v = self.validators.get_mut(&validator).ok_or(StakingError::NoValidator(validator))?;
        v.jailed_until = Some(v.jailed_until.map_or(until, |u| u.max(until)));
        Ok(())
    }

    /// Records that active validator `validator` is missing from a commit
    /// certificate of this epoch.
    pub fn record_missed(&mut self, validator: Address) -> Result<(), StakingError> {
        let n = self.missed.entry(validator).or_insert(0);
        *n = n.checked_add(1).ok_or(Overflow)?;
        Ok(())
    }

    /// Ends the epoch: pays out matured undelegations (returned, to
    /// credit), releases validators whose jail time is over, and picks
    /// the next active set: the top `max_validators` unjailed validators
    /// by tokens whose operator keeps the minimum self-stake (ties by
    /// operator address).
    pub fn end_epoch(&mut self) -> Result<Vec<(Address, u128)>, StakingError> {
        self.end_epoch_of(0)
    }

    /// [`Staking::end_epoch`] after an epoch of `certificates` commit
    /// certificates: first, active validators missing from more than
    /// [`Params::max_missed_bps`] of them are jailed (no slash). Returns
    /// the payouts and the validators jailed for absence.
    pub fn end_epoch_of(&mut self, certificates: u64) -> Result<Vec<(Address, u128)>, StakingError> {
        let limit = mul_div(u128::from(certificates), u128::from(self.params.max_missed_bps), u128::from(BPS))?;
        let absent: Vec<Address> = std::mem::take(&mut self.missed)
            .into_iter()
            .filter(|(_, n)| certificates > 0 && u128::from(*n) > limit)
            .map(|(op, _)| op)
            .collect();
        for op in absent {
            if self.validators.contains_key(&op) {
                self.jail(op)?;
            }
        }
        let epoch = self.epoch;
        let (due, waiting): (Vec<Unbonding>, Vec<Unbonding>) =
            std::mem::take(&mut self.unbonding).into_iter().partition(|u| u.matures <= epoch);
        self.unbonding = waiting;
        let payouts: Vec<(Address, u128)> =
            due.into_iter().filter(|u| u.amount > 0).map(|u| (u.delegator, u.amount)).collect();
        self.epoch = epoch.checked_add(1).ok_or(Overflow)?;
        let next = self.epoch;
        let mut candidates: Vec<(Address, u128)> = Vec::new();
        for v in self.validators.values_mut() {
            if v.jailed_until.is_some_and(|u| u <= next) {
                v.jailed_until = None;
            }
        }
        for (op, v) in &self.validators {
            let own = self.stake_of(op, op);
            if v.jailed_until.is_none() && v.tokens > 0 && own >= self.params.min_self_stake {
                candidates.push((*op, v.tokens));
            }
        }
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        candidates.truncate(self.params.max_validators);
        self.active = candidates;
        Ok(payouts)
    }
}

/// The parameters unit tests use.
#[cfg(test)]
pub(crate) fn tests_params() -> Params {
    Params {
        min_self_stake: 100,
        max_validators: 2,
        unbonding_epochs: 2,
        max_commission_bps: 2_000,
        double_sign_slash_bps: 500,
        jail_epochs: 1,
        max_missed_bps: 5_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params() -> Params {
        tests_params()
    }

    fn a(i: u8) -> Address {
        Address([i; 32])
    }

    #[test]
    fn validators_delegations_and_the_active_set() {
        let mut s = Staking::new(params());
        assert_eq!(s.create_validator(a(1), [1; 32], 3_000, 500), Err(StakingError::Commission(3_000, 2_000)));
        assert_eq!(
            s.create_validator(a(1), [1; 32], 1_000, 50),
            Err(StakingError::SelfStakeTooLow { got: 50, min: 100 })
        );
        s.create_validator(a(1), [1; 32], 1_000, 500).unwrap();
        s.create_validator(a(2), [2; 32], 0, 300).unwrap();
        s.create_validator(a(3), [3; 32], 0, 200).unwrap();
        assert_eq!(s.create_validator(a(3), [3; 32], 0, 200), Err(StakingError::Exists(a(3))));
        s.delegate(a(9), a(3), 400).unwrap();
        assert_eq!(s.stake_of(&a(9), &a(3)), 400);
        assert!(s.end_epoch().unwrap().is_empty());
        // Top two by stake: 3 (600) and 1 (500).
        assert_eq!(s.active, vec![(a(3), 600), (a(1), 500)]);
        // An operator keeps the minimum or leaves entirely.
        assert!(matches!(s.undelegate(a(2), a(2), 250), Err(StakingError::SelfStakeTooLow { .. })));
        assert_eq!(s.undelegate(a(9), a(3), 401), Err(StakingError::TooMuch { asked: 401, held: 400 }));
        s.undelegate(a(9), a(3), 400).unwrap();
        assert_eq!(s.stake_of(&a(9), &a(3)), 0);
        // Paid after the unbonding period: epochs 1 and 2 end first.
        assert!(s.end_epoch().unwrap().is_empty());
        assert_eq!(s.active, vec![(a(1), 500), (a(2), 300)]);
        assert!(s.end_epoch().unwrap().is_empty());
        assert_eq!(s.end_epoch().unwrap(), vec![(a(9), 400)]);
    }

    #[test]
    fn rewards_go_pro_rata_with_commission() {
        let mut s = Staking::new(params());
        s.create_validator(a(1), [1; 32], 1_000, 100).unwrap(); // 10 %
        s.delegate(a(9), a(1), 300).unwrap();
        s.create_validator(a(2), [2; 32], 0, 400).unwrap();
        s.end_epoch().unwrap();
        assert_eq!(s.distribute(8_000).unwrap(), 0);
        // Validator 1 gets 4,000: 400 commission, 3,600 to its pool
        // (900 to the operator's 100, 2,700 to the 300).
        assert_eq!(s.withdraw_rewards(a(9), a(1)).unwrap(), 2_700);
        assert_eq!(s.withdraw_rewards(a(1), a(1)).unwrap(), 1_300);
        assert_eq!(s.withdraw_rewards(a(2), a(2)).unwrap(), 4_000);
        assert_eq!(s.withdraw_rewards(a(9), a(1)).unwrap(), 0);
        assert_eq!(s.withdraw_rewards(a(7), a(1)), Err(StakingError::NoDelegation));
    }

    #[test]
    fn rounding_helpers() {
        assert_eq!(mul_div_ceil(7, 3, 2), Ok(11));
        assert_eq!(mul_div_ceil(6, 3, 2), Ok(9));
        assert_eq!(mul_div(u128::MAX, 3, 4), Ok(u128::MAX / 4 * 3 + 2));
        assert_eq!(mul_div_ceil(u128::MAX, u128::MAX, u128::MAX), Ok(u128::MAX));
        assert_eq!(mul_div_rem(u128::MAX, u128::MAX, u128::MAX - 1), Err(Overflow));
        assert_eq!(mul_div(1, 1, 0), Err(Overflow));
        // Products past 128 bits: 18-decimal amounts times share counts.
        let coin = 10u128.pow(18);
        assert_eq!(mul_div(10 * coin, 100 * coin, 100 * coin), Ok(10 * coin));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Ok(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 1), Err(Overflow));
        assert_eq!(mul_div_rem(1 << 100, 1 << 100, 1 << 90), Ok((1 << 110, 0)));
        assert_eq!(mul_div_rem((1 << 100) + 1, 1 << 100, 1 << 90), Ok(((1 << 110) + (1 << 10), 0)));
        // 2^129 = 3q + 2, q = 2 (2^128 - 1) / 3.
        assert_eq!(mul_div_rem(1 << 127, 4, 3), Ok((u128::MAX / 3 * 2, 2)));
    }

    #[test]
    fn slashing_cuts_pools_and_unbonding_and_jails() {
        let mut s = Staking::new(params());
        s.create_validator(a(1), [1; 32], 0, 1_000).unwrap();
        s.delegate(a(9), a(1), 1_000).unwrap();
        s.create_validator(a(2), [2; 32], 0, 100).unwrap();
        s.end_epoch().unwrap();
        s.undelegate(a(9), a(1), 400).unwrap();
        let burned = s.slash(a(1), 500).unwrap();
        // 5 % of 1,600 bonded and of 400 unbonding.
        assert_eq!(burned, 80 + 20);
        assert_eq!(s.stake_of(&a(9), &a(1)), 570);
        // The set holds until the epoch ends, but a jailed validator earns
        // nothing: validator 2 gets the whole reward.
        assert_eq!(s.active, vec![(a(1), 2_000), (a(2), 100)]);
        assert_eq!(s.distribute(1_000).unwrap(), 0);
        assert_eq!(s.withdraw_rewards(a(2), a(2)).unwrap(), 1_000);
        assert_eq!(s.withdraw_rewards(a(1), a(1)).unwrap(), 0);
        // Jailed through the next epoch, back after.
        s.end_epoch().unwrap();
        assert_eq!(s.active, vec![(a(2), 100)]);
        s.end_epoch().unwrap();
        assert_eq!(s.active, vec![(a(1), 1_520), (a(2), 100)]);
        assert_eq!(s.end_epoch().unwrap(), vec![(a(9), 380)]);
    }

    #[test]
    fn absence_jails_at_the_epoch_end() {
        let mut s = Staking::new(params());
        s.create_validator(a(1), [1; 32], 0, 1_000).unwrap();
        s.create_validator(a(2), [2; 32], 0, 500).unwrap();
        s.end_epoch().unwrap();
        // 10 certificates: validator 1 missed 5 (not more than half),
        // validator 2 missed 6.
        for _ in 0..5 {
            s.record_missed(a(1)).unwrap();
        }
        for _ in 0..6 {
            s.record_missed(a(2)).unwrap();
        }
        s.end_epoch_of(10).unwrap();
        assert_eq!(s.active, vec![(a(1), 1_000)]);
        assert!(s.validators[&a(2)].jailed_until.is_some());
        assert!(s.missed.is_empty());
        s.end_epoch_of(10).unwrap();
        s.end_epoch_of(10).unwrap();
        assert_eq!(s.active, vec![(a(1), 1_000), (a(2), 500)]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Delegate(u8, u8, u64),
        Undelegate(u8, u8, u64),
        Withdraw(u8, u8),
        Distribute(u64),
        Slash(u8, u16),
        EndEpoch,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 0u8..3, 1u64..10_000).prop_map(|(d, v, x)| Op::Delegate(d, v, x)),
            (0u8..6, 0u8..3, 1u64..10_000).prop_map(|(d, v, x)| Op::Undelegate(d, v, x)),
            (0u8..6, 0u8..3).prop_map(|(d, v)| Op::Withdraw(d, v)),
            (0u64..1_000_000).prop_map(Op::Distribute),
            (0u8..3, 0u16..=10_000).prop_map(|(v, b)| Op::Slash(v, b)),
            Just(Op::EndEpoch),
        ]
    }

    proptest! {
        /// The 256-bit division agrees with native arithmetic where that
        /// fits, and rebuilds the product where it does not.
        #[test]
        fn wide_division_is_exact(a in any::<u128>(), b in any::<u128>(), c in 1u128..) {
            match mul_div_rem(a, b, c) {
                Ok((q, r)) => {
                    prop_assert!(r < c);
                    // q * c + r == a * b, in 256 bits.
                    let (qh, ql) = mul_wide(q, c);
                    let (lo, carry) = ql.overflowing_add(r);
                    prop_assert_eq!((qh + u128::from(carry), lo), mul_wide(a, b));
                    if let Some(p) = a.checked_mul(b) {
                        prop_assert_eq!((q, r), (p / c, p % c));
                    }
                }
                Err(_) => prop_assert!(mul_wide(a, b).0 >= c),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if std::env::var_os("CI").is_some() { 128 } else { 1_000 }))]
        /// Tokens are conserved (bonded = pools + unbonding + paid out +
        /// burned) and rewards never pay out more than was distributed.
        #[test]
        fn tokens_and_rewards_are_conserved(ops in proptest::collection::vec(op(), 1..80)) {
            let mut s = Staking::new(params());
            let mut bonded = 0u128;
            let (mut paid_out, mut burned, mut distributed, mut rewards_paid) = (0u128, 0u128, 0u128, 0u128);
            for v in 0..3u8 {
                s.create_validator(a(v), [v; 32], 500, 1_000).unwrap();
                bonded += 1_000;
            }
            s.end_epoch().unwrap();
            for o in ops {
                match o {
                    Op::Delegate(d, v, x) => {
                        if let Ok(r) = s.delegate(a(d), a(v), u128::from(x)) {
                            bonded += u128::from(x);
                            rewards_paid += r;
                        }
                    }
                    Op::Undelegate(d, v, x) => {
                        let before = s.stake_of(&a(d), &a(v));
                        let others: u128 = s.delegations.keys().filter(|(e, w)| *w == a(v) && *e != a(d)).map(|(e, w)| s.stake_of(e, w)).sum();
                        if let Ok(r) = s.undelegate(a(d), a(v), u128::from(x)) {
                            rewards_paid += r;
                            // Leaving takes no value from the others.
                            prop_assert!(s.stake_of(&a(d), &a(v)) <= before - u128::from(x));
                            let after: u128 = s.delegations.keys().filter(|(e, w)| *w == a(v) && *e != a(d)).map(|(e, w)| s.stake_of(e, w)).sum();
                            prop_assert!(after >= others, "others held {} and now {}", others, after);
                        }
                    }
                    Op::Withdraw(d, v) => rewards_paid += s.withdraw_rewards(a(d), a(v)).unwrap_or(0),
                    Op::Distribute(x) => {
                        let kept = s.distribute(u128::from(x)).unwrap();
                        distributed += u128::from(x) - kept;
                    }
                    Op::Slash(v, b) => burned += s.slash(a(v), b).unwrap(),
                    Op::EndEpoch => paid_out += s.end_epoch().unwrap().iter().map(|(_, x)| *x).sum::<u128>(),
                }
                let pools: u128 = s.validators.values().map(|v| v.tokens).sum();
                let unbonding: u128 = s.unbonding.iter().map(|u| u.amount).sum();
                prop_assert_eq!(bonded, pools + unbonding + paid_out + burned);
                // Delegators never hold more than their pool.
                for (op, v) in &s.validators {
                    let held: u128 = s.delegations.keys().filter(|(_, w)| w == op).map(|(d, w)| s.stake_of(d, w)).sum();
                    prop_assert!(held <= v.tokens);
                }
                let pending: u128 = s
                    .delegations
                    .iter()
                    .map(|((_, w), d)| owed(d, s.validators[w].acc).unwrap())
                    .sum::<u128>()
                    + s.validators.values().map(|v| v.operator_rewards).sum::<u128>();
                prop_assert!(rewards_paid + pending <= distributed, "paid {} + pending {} > distributed {}", rewards_paid, pending, distributed);
            }
        }
    }
}
