//! Governance transactions (docs/protocol.md, "Governance";
//! docs/design/governance.md): submitting a proposal with a deposit,
//! adding to a proposal's deposit, and voting. Proof-of-stake chains only;
//! the rules live in `cinder-gov`.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::Address;
use crate::codec::{Bounded, BoundedString};

/// The system account that holds proposal deposits and the community
/// pool. Like [`crate::STAKING_ADDRESS`] it is a fixed ASCII string no key
/// hashes to: only the governance rules move its balance.
pub const GOV_ADDRESS: Address = Address(*b"cinder/system/governance/pool/v1");

/// The longest proposal title.
pub const MAX_TITLE_BYTES: usize = 140;
/// The longest proposal description.
pub const MAX_DESCRIPTION_BYTES: usize = 8 * 1024;
/// The most parameter changes one proposal makes.
pub const MAX_PARAM_CHANGES: usize = 32;
/// The longest upgrade name.
pub const MAX_UPGRADE_NAME_BYTES: usize = 64;
/// The longest upgrade info (a URL, a release note, a binary's hash).
pub const MAX_UPGRADE_INFO_BYTES: usize = 1024;

/// A governance operation. New operations are appended with new tags.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum GovOp {
    /// Tag 0: submits `proposal`, depositing `deposit` (moved to
    /// [`GOV_ADDRESS`] with the transaction).
    Submit {
        /// What is proposed.
        proposal: Box<ProposalContent>,
        /// The initial deposit.
        deposit: u128,
    },
    /// Tag 1: adds `amount` to the deposit of proposal `proposal`.
    Deposit {
        /// The proposal's id.
        proposal: u64,
        /// Deposited.
        amount: u128,
    },
    /// Tag 2: votes `option` on proposal `proposal` (a later vote of the
    /// same voter replaces it).
    Vote {
        /// The proposal's id.
        proposal: u64,
        /// The vote.
        option: VoteOption,
    },
}

impl GovOp {
    /// What the operation moves to [`GOV_ADDRESS`] with the transaction.
    pub fn deposited(&self) -> u128 {
        match self {
            GovOp::Submit { deposit, .. } => *deposit,
            GovOp::Deposit { amount, .. } => *amount,
            GovOp::Vote { .. } => 0,
        }
    }
}

/// A proposal as submitted.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalContent {
    /// A one-line title.
    pub title: BoundedString<MAX_TITLE_BYTES>,
    /// What and why.
    pub description: BoundedString<MAX_DESCRIPTION_BYTES>,
    /// What happens if it passes.
    pub action: ProposalAction,
}

/// What a passed proposal does. New actions are appended with new tags.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalAction {
    /// Tag 0: nothing (a signal).
    Text,
    /// Tag 1: sets chain parameters, in order, from the block after the
    /// tally.
    ParamChange(Bounded<Param, MAX_PARAM_CHANGES>),
    /// Tag 2: schedules a software upgrade (replacing a scheduled one).
    Upgrade(UpgradePlan),
    /// Tag 3: cancels the scheduled upgrade of this name.
    CancelUpgrade {
        /// The plan's name.
        name: BoundedString<MAX_UPGRADE_NAME_BYTES>,
    },
    /// Tag 4: pays `amount` from the community pool to `recipient`.
    PoolSpend {
        /// Who is paid.
        recipient: Address,
        /// How much.
        amount: u128,
    },
}

/// A software upgrade: at block `height`, nodes whose binary has no
/// handler for `name` stop; those that have one apply it and go on.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct UpgradePlan {
    /// The upgrade's name (`[a-z0-9._-]`, 1 to 64 bytes).
    pub name: BoundedString<MAX_UPGRADE_NAME_BYTES>,
    /// The first block the new rules apply to.
    pub height: u64,
    /// Where to get the binary, or anything operators need.
    pub info: BoundedString<MAX_UPGRADE_INFO_BYTES>,
}

impl UpgradePlan {
    /// Whether `name` is a valid upgrade name.
    pub fn valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    }
}

/// A vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub enum VoteOption {
    /// Tag 0: for.
    Yes,
    /// Tag 1: against.
    No,
    /// Tag 2: against, and the proposal should not have been made (enough
    /// of these burns its deposit).
    NoWithVeto,
    /// Tag 3: counts for the quorum only.
    Abstain,
}

impl VoteOption {
    /// Its name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            VoteOption::Yes => "yes",
            VoteOption::No => "no",
            VoteOption::NoWithVeto => "no_with_veto",
            VoteOption::Abstain => "abstain",
        }
    }
    /// The option named `s` (as [`VoteOption::name`] writes it; `veto`
    /// also names [`VoteOption::NoWithVeto`]).
    pub fn parse(s: &str) -> Option<VoteOption> {
        match s {
            "yes" => Some(VoteOption::Yes),
            "no" => Some(VoteOption::No),
            "no_with_veto" | "veto" => Some(VoteOption::NoWithVeto),
            "abstain" => Some(VoteOption::Abstain),
            _ => None,
        }
    }
}

/// One chain parameter and its new value. Which parameters exist, their
/// bounds and when a change applies: docs/design/governance.md. New
/// parameters are appended with new tags.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Param {
    /// Tag 0: the most gas one block's transactions may use.
    BlockGasLimit(u64),
    /// Tag 1: the lowest gas price a transaction in a block may offer.
    MinGasPrice(u64),
    /// Tag 2: the largest contract code a deploy or migration may store.
    MaxCodeBytes(u64),
    /// Tag 3: staking: tokens per unit of voting power.
    PowerUnit(u128),
    /// Tag 4: staking: the least self-stake of an operator.
    MinSelfStake(u128),
    /// Tag 5: staking: the active set's size.
    MaxValidators(u64),
    /// Tag 6: staking: epochs an undelegation waits.
    UnbondingEpochs(u64),
    /// Tag 7: staking: the highest commission, basis points.
    MaxCommissionBps(u16),
    /// Tag 8: staking: what a double-signer loses, basis points.
    DoubleSignSlashBps(u16),
    /// Tag 9: staking: epochs a jailed validator sits out.
    JailEpochs(u64),
    /// Tag 10: staking: the share of certificates a validator may miss,
    /// basis points.
    MaxMissedBps(u16),
    /// Tag 11: governance: the deposit that starts the voting period.
    MinDeposit(u128),
    /// Tag 12: governance: the least deposit a proposal is submitted with.
    MinInitialDeposit(u128),
    /// Tag 13: governance: blocks a proposal may wait for its deposit.
    DepositPeriod(u64),
    /// Tag 14: governance: blocks of voting.
    VotingPeriod(u64),
    /// Tag 15: governance: the share of bonded stake that must vote,
    /// basis points.
    QuorumBps(u16),
    /// Tag 16: governance: the share of non-abstaining votes `yes` must
    /// exceed, basis points.
    ThresholdBps(u16),
    /// Tag 17: governance: the share of votes `no_with_veto` must exceed
    /// to veto, basis points.
    VetoBps(u16),
    /// Tag 18: governance: the share of each block's fees paid into the
    /// community pool, basis points.
    CommunityTaxBps(u16),
}

impl Param {
    /// Its name (as in the chain spec and `cinder_getParams`).
    pub fn name(&self) -> &'static str {
        match self {
            Param::BlockGasLimit(_) => "block_gas_limit",
            Param::MinGasPrice(_) => "min_gas_price",
            Param::MaxCodeBytes(_) => "max_code_bytes",
            Param::PowerUnit(_) => "power_unit",
            Param::MinSelfStake(_) => "min_self_stake",
            Param::MaxValidators(_) => "max_validators",
            Param::UnbondingEpochs(_) => "unbonding_epochs",
            Param::MaxCommissionBps(_) => "max_commission_bps",
            Param::DoubleSignSlashBps(_) => "double_sign_slash_bps",
            Param::JailEpochs(_) => "jail_epochs",
            Param::MaxMissedBps(_) => "max_missed_bps",
            Param::MinDeposit(_) => "min_deposit",
            Param::MinInitialDeposit(_) => "min_initial_deposit",
            Param::DepositPeriod(_) => "deposit_period",
            Param::VotingPeriod(_) => "voting_period",
            Param::QuorumBps(_) => "quorum_bps",
            Param::ThresholdBps(_) => "threshold_bps",
            Param::VetoBps(_) => "veto_bps",
            Param::CommunityTaxBps(_) => "community_tax_bps",
        }
    }

    /// The parameter `name` set to `value` (a decimal integer), or why not.
    pub fn parse(name: &str, value: &str) -> Result<Param, String> {
        fn n<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
            v.trim().replace('_', "").parse().map_err(|_| format!("{name}: {v:?} is not a valid number for it"))
        }
        Ok(match name {
            "block_gas_limit" => Param::BlockGasLimit(n(name, value)?),
            "min_gas_price" => Param::MinGasPrice(n(name, value)?),
            "max_code_bytes" => Param::MaxCodeBytes(n(name, value)?),
            "power_unit" => Param::PowerUnit(n(name, value)?),
            "min_self_stake" => Param::MinSelfStake(n(name, value)?),
            "max_validators" => Param::MaxValidators(n(name, value)?),
            "unbonding_epochs" => Param::UnbondingEpochs(n(name, value)?),
            "max_commission_bps" => Param::MaxCommissionBps(n(name, value)?),
            "double_sign_slash_bps" => Param::DoubleSignSlashBps(n(name, value)?),
            "jail_epochs" => Param::JailEpochs(n(name, value)?),
            "max_missed_bps" => Param::MaxMissedBps(n(name, value)?),
            "min_deposit" => Param::MinDeposit(n(name, value)?),
            "min_initial_deposit" => Param::MinInitialDeposit(n(name, value)?),
            "deposit_period" => Param::DepositPeriod(n(name, value)?),
            "voting_period" => Param::VotingPeriod(n(name, value)?),
            "quorum_bps" => Param::QuorumBps(n(name, value)?),
            "threshold_bps" => Param::ThresholdBps(n(name, value)?),
            "veto_bps" => Param::VetoBps(n(name, value)?),
            "community_tax_bps" => Param::CommunityTaxBps(n(name, value)?),
            "epoch_length" => {
                return Err("epoch_length cannot be changed by a proposal: heights map to epochs without state \
                            (docs/design/governance.md); it changes with a software upgrade"
                    .into());
            }
            _ => return Err(format!("no parameter {name:?}")),
        })
    }

    /// Its value as a decimal string.
    pub fn value(&self) -> String {
        match self {
            Param::BlockGasLimit(v)
            | Param::MinGasPrice(v)
            | Param::MaxCodeBytes(v)
            | Param::MaxValidators(v)
            | Param::UnbondingEpochs(v)
            | Param::JailEpochs(v)
            | Param::DepositPeriod(v)
            | Param::VotingPeriod(v) => v.to_string(),
            Param::PowerUnit(v) | Param::MinSelfStake(v) | Param::MinDeposit(v) | Param::MinInitialDeposit(v) => {
                v.to_string()
            }
            Param::MaxCommissionBps(v)
            | Param::DoubleSignSlashBps(v)
            | Param::MaxMissedBps(v)
            | Param::QuorumBps(v)
            | Param::ThresholdBps(v)
            | Param::VetoBps(v)
            | Param::CommunityTaxBps(v) => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode;

    #[test]
    fn layouts_and_names() {
        // Tag, then the fields in order.
        assert_eq!(encode(&GovOp::Vote { proposal: 7, option: VoteOption::NoWithVeto }), {
            let mut v = vec![2];
            v.extend_from_slice(&7u64.to_le_bytes());
            v.push(2);
            v
        });
        assert_eq!(encode(&Param::MinGasPrice(5)), [&[1u8][..], &5u64.to_le_bytes()].concat());
        for p in [Param::BlockGasLimit(1), Param::CommunityTaxBps(3), Param::MinDeposit(9)] {
            assert_eq!(Param::parse(p.name(), &p.value()).unwrap(), p);
        }
        assert!(Param::parse("epoch_length", "5").unwrap_err().contains("software upgrade"));
        assert!(Param::parse("nope", "5").unwrap_err().contains("no parameter"));
        assert!(Param::parse("quorum_bps", "70000").is_err());
        for o in [VoteOption::Yes, VoteOption::No, VoteOption::NoWithVeto, VoteOption::Abstain] {
            assert_eq!(VoteOption::parse(o.name()), Some(o));
        }
        assert!(UpgradePlan::valid_name("v2.0-rc_1"));
        assert!(!UpgradePlan::valid_name("V2") && !UpgradePlan::valid_name("") && !UpgradePlan::valid_name("a b"));
        assert_eq!(GOV_ADDRESS.0.len(), 32);
    }

    #[test]
    fn an_unknown_tag_or_an_oversized_field_does_not_decode() {
        let mut bad = encode(&GovOp::Deposit { proposal: 1, amount: 2 });
        bad[0] = 9;
        assert!(borsh::from_slice::<GovOp>(&bad).is_err());
        let long = ProposalContent {
            title: BoundedString::truncated("t"),
            description: BoundedString::truncated("d"),
            action: ProposalAction::Text,
        };
        let mut bytes = encode(&long);
        // The title's length prefix, claiming 141 bytes.
        bytes[..4].copy_from_slice(&141u32.to_le_bytes());
        assert!(borsh::from_slice::<ProposalContent>(&bytes).is_err());
    }
}
