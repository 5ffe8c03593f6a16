//! The chain parameters governance may change, their bounds, and applying
//! a change. The chain spec's values are the genesis parameters and are
//! checked against the same bounds ([`ChainParams::check`]), so a
//! proposal can never set what a spec could not.

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_primitives::Param;

/// Basis points in one.
pub const BPS: u16 = 10_000;

/// The bounds, each `(lowest, highest)`; docs/design/governance.md gives
/// the reason for each.
pub mod bounds {
    /// Gas of one block: at least one transfer, at most 10^12.
    pub const BLOCK_GAS_LIMIT: (u64, u64) = (21_000, 1_000_000_000_000);
    /// The lowest gas price a block may carry.
    pub const MIN_GAS_PRICE: (u64, u64) = (0, 1_000_000_000_000);
    /// Contract code: at least 1 KiB, at most what a transaction carries.
    pub const MAX_CODE_BYTES: (u64, u64) = (1024, cinder_primitives::MAX_CODE_BYTES as u64);
    /// The active set's size.
    pub const MAX_VALIDATORS: (u64, u64) = (1, 1024);
    /// Epochs (unbonding, jail).
    pub const EPOCHS: (u64, u64) = (0, 10_000);
    /// Governance periods, in blocks.
    pub const PERIOD: (u64, u64) = (1, 10_000_000);
    /// Quorum: some stake must vote; all of it may be required.
    pub const QUORUM_BPS: (u16, u16) = (1, 10_000);
    /// Threshold: more than half, and below all (a threshold no vote can
    /// pass would lock governance for good).
    pub const THRESHOLD_BPS: (u16, u16) = (5_000, 9_999);
    /// Veto: some share of the votes.
    pub const VETO_BPS: (u16, u16) = (1, 10_000);
    /// The community pool's share of fees: at most half.
    pub const COMMUNITY_TAX_BPS: (u16, u16) = (0, 5_000);
}

/// Every parameter a proposal may change, as the state records them
/// (`cinder_getParams` shows them by these names).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainParams {
    /// The most gas one block's transactions use.
    pub block_gas_limit: u64,
    /// The lowest gas price a transaction in a block offers.
    pub min_gas_price: u64,
    /// The largest contract code a deploy or migration stores.
    pub max_code_bytes: u64,
    /// Staking: tokens per unit of voting power.
    pub power_unit: u128,
    /// Staking: the least self-stake of an operator.
    pub min_self_stake: u128,
    /// Staking: the size of the active set.
    pub max_validators: u64,
    /// Staking: epochs an undelegation waits.
    pub unbonding_epochs: u64,
    /// Staking: the highest commission (basis points).
    pub max_commission_bps: u16,
    /// Staking: what a double-signer loses (basis points).
    pub double_sign_slash_bps: u16,
    /// Staking: epochs a jailed validator sits out.
    pub jail_epochs: u64,
    /// Staking: the share of an epoch's certificates a validator may miss
    /// (basis points).
    pub max_missed_bps: u16,
    /// Governance: the deposit that opens voting.
    pub min_deposit: u128,
    /// Governance: the least deposit a proposal is submitted with.
    pub min_initial_deposit: u128,
    /// Governance: blocks a proposal waits for its deposit.
    pub deposit_period: u64,
    /// Governance: blocks of voting.
    pub voting_period: u64,
    /// Governance: the share of bonded stake that must vote (bps).
    pub quorum_bps: u16,
    /// Governance: the share of non-abstaining votes `yes` must exceed
    /// (bps).
    pub threshold_bps: u16,
    /// Governance: the share of votes `no_with_veto` must exceed to veto
    /// (bps).
    pub veto_bps: u16,
    /// Governance: the share of each block's fees paid into the community
    /// pool (bps).
    pub community_tax_bps: u16,
}

fn within<T: PartialOrd + std::fmt::Display + Copy>(name: &str, v: T, (lo, hi): (T, T)) -> Result<(), String> {
    if v < lo || v > hi { Err(format!("{name} = {v} is outside {lo} ..= {hi}")) } else { Ok(()) }
}

impl ChainParams {
    /// Checks every value against its bounds and the rules between them.
    pub fn check(&self) -> Result<(), String> {
        within("block_gas_limit", self.block_gas_limit, bounds::BLOCK_GAS_LIMIT)?;
        within("min_gas_price", self.min_gas_price, bounds::MIN_GAS_PRICE)?;
        within("max_code_bytes", self.max_code_bytes, bounds::MAX_CODE_BYTES)?;
        within("power_unit", self.power_unit, (1, u128::MAX))?;
        within("min_self_stake", self.min_self_stake, (1, u128::MAX))?;
        within("max_validators", self.max_validators, bounds::MAX_VALIDATORS)?;
        within("unbonding_epochs", self.unbonding_epochs, bounds::EPOCHS)?;
        within("jail_epochs", self.jail_epochs, bounds::EPOCHS)?;
        within("max_commission_bps", self.max_commission_bps, (0, BPS))?;
        within("double_sign_slash_bps", self.double_sign_slash_bps, (0, BPS))?;
        within("max_missed_bps", self.max_missed_bps, (0, BPS))?;
        within("min_deposit", self.min_deposit, (1, u128::MAX))?;
        within("min_initial_deposit", self.min_initial_deposit, (0, self.min_deposit))?;
        within("deposit_period", self.deposit_period, bounds::PERIOD)?;
        within("voting_period", self.voting_period, bounds::PERIOD)?;
        within("quorum_bps", self.quorum_bps, bounds::QUORUM_BPS)?;
        within("threshold_bps", self.threshold_bps, bounds::THRESHOLD_BPS)?;
        within("veto_bps", self.veto_bps, bounds::VETO_BPS)?;
        within("community_tax_bps", self.community_tax_bps, bounds::COMMUNITY_TAX_BPS)?;
        Ok(())
    }

    /// Sets one parameter (unchecked: [`ChainParams::check`] the result).
    pub fn set(&mut self, p: &Param) {
        match *p {
            Param::BlockGasLimit(v) => self.block_gas_limit = v,
            Param::MinGasPrice(v) => self.min_gas_price = v,
            Param::MaxCodeBytes(v) => self.max_code_bytes = v,
            Param::PowerUnit(v) => self.power_unit = v,
            Param::MinSelfStake(v) => self.min_self_stake = v,
            Param::MaxValidators(v) => self.max_validators = v,
            Param::UnbondingEpochs(v) => self.unbonding_epochs = v,
            Param::MaxCommissionBps(v) => self.max_commission_bps = v,
            Param::DoubleSignSlashBps(v) => self.double_sign_slash_bps = v,
            Param::JailEpochs(v) => self.jail_epochs = v,
            Param::MaxMissedBps(v) => self.max_missed_bps = v,
            Param::MinDeposit(v) => self.min_deposit = v,
            Param::MinInitialDeposit(v) => self.min_initial_deposit = v,
            Param::DepositPeriod(v) => self.deposit_period = v,
            Param::VotingPeriod(v) => self.voting_period = v,
            Param::QuorumBps(v) => self.quorum_bps = v,
            Param::ThresholdBps(v) => self.threshold_bps = v,
            Param::VetoBps(v) => self.veto_bps = v,
            Param::CommunityTaxBps(v) => self.community_tax_bps = v,
        }
    }

    /// These parameters with `changes` applied in order, if the result is
    /// within bounds.
    pub fn with(&self, changes: &[Param]) -> Result<ChainParams, String> {
        if changes.is_empty() {
            return Err("a parameter change must change something".into());
        }
        let mut next = self.clone();
        for c in changes {
            next.set(c);
        }
        next.check()?;
        Ok(next)
    }

    /// The staking ledger's parameters.
    pub fn staking(&self) -> cinder_staking::Params {
        cinder_staking::Params {
            min_self_stake: self.min_self_stake,
            max_validators: usize::try_from(self.max_validators).unwrap_or(usize::MAX),
            unbonding_epochs: self.unbonding_epochs,
            max_commission_bps: self.max_commission_bps,
            double_sign_slash_bps: self.double_sign_slash_bps,
            jail_epochs: self.jail_epochs,
            max_missed_bps: self.max_missed_bps,
        }
    }

    /// Every parameter as a [`Param`] (its name and value), in tag order.
    pub fn list(&self) -> Vec<Param> {
        vec![
            Param::BlockGasLimit(self.block_gas_limit),
            Param::MinGasPrice(self.min_gas_price),
            Param::MaxCodeBytes(self.max_code_bytes),
            Param::PowerUnit(self.power_unit),
            Param::MinSelfStake(self.min_self_stake),
            Param::MaxValidators(self.max_validators),
            Param::UnbondingEpochs(self.unbonding_epochs),
            Param::MaxCommissionBps(self.max_commission_bps),
            Param::DoubleSignSlashBps(self.double_sign_slash_bps),
            Param::JailEpochs(self.jail_epochs),
            Param::MaxMissedBps(self.max_missed_bps),
            Param::MinDeposit(self.min_deposit),
            Param::MinInitialDeposit(self.min_initial_deposit),
            Param::DepositPeriod(self.deposit_period),
            Param::VotingPeriod(self.voting_period),
            Param::QuorumBps(self.quorum_bps),
            Param::ThresholdBps(self.threshold_bps),
            Param::VetoBps(self.veto_bps),
            Param::CommunityTaxBps(self.community_tax_bps),
        ]
    }
}

#[cfg(test)]
pub(crate) fn test_params() -> ChainParams {
    ChainParams {
        block_gas_limit: 100_000_000,
        min_gas_price: 0,
        max_code_bytes: 65_536,
        power_unit: 1,
        min_self_stake: 1,
        max_validators: 100,
        unbonding_epochs: 2,
        max_commission_bps: 5_000,
        double_sign_slash_bps: 500,
        jail_epochs: 2,
        max_missed_bps: 5_000,
        min_deposit: 100,
        min_initial_deposit: 10,
        deposit_period: 10,
        voting_period: 10,
        quorum_bps: 3_340,
        threshold_bps: 5_000,
        veto_bps: 3_340,
        community_tax_bps: 200,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_and_every_parameter_is_listed_and_settable() {
        let p = test_params();
        p.check().unwrap();
        assert_eq!(p.list().len(), 19);
        // Setting each listed value back changes nothing.
        let mut q = p.clone();
        for x in p.list() {
            q.set(&x);
        }
        assert_eq!(p, q);
        for bad in [
            Param::BlockGasLimit(20_999),
            Param::MaxCodeBytes(1_000_000),
            Param::MaxValidators(0),
            Param::QuorumBps(0),
            Param::ThresholdBps(4_999),
            Param::ThresholdBps(10_000),
            Param::CommunityTaxBps(5_001),
            Param::MinInitialDeposit(101),
            Param::VotingPeriod(0),
            Param::MaxMissedBps(10_001),
        ] {
            let e = p.with(std::slice::from_ref(&bad)).unwrap_err();
            assert!(e.contains(bad.name()), "{e}");
        }
        // Order matters: raising the minimum first lets the initial deposit
        // follow.
        let ok = p.with(&[Param::MinDeposit(1_000), Param::MinInitialDeposit(500)]).unwrap();
        assert_eq!((ok.min_deposit, ok.min_initial_deposit), (1_000, 500));
        assert!(p.with(&[]).is_err());
    }
}
