//! The JSON of governance: proposals, votes, tallies and the chain
//! parameters (docs/rpc.md, "Governance").

use std::collections::BTreeMap;

use cinder_primitives::{Address, ProposalAction};
use serde::{Deserialize, Serialize};

use crate::types::amount;

/// What a passed proposal does, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionJson {
    /// Nothing (a signal).
    Text,
    /// Sets parameters, in order.
    ParamChange {
        /// Name and new value (a decimal string) of each.
        changes: Vec<(String, String)>,
    },
    /// Schedules a software upgrade.
    Upgrade {
        /// Its name.
        name: String,
        /// Its height.
        height: u64,
        /// Where to get the binary.
        info: String,
    },
    /// Cancels the scheduled upgrade of this name.
    CancelUpgrade {
        /// Its name.
        name: String,
    },
    /// Pays from the community pool.
    PoolSpend {
        /// Who.
        recipient: Address,
        /// How much.
        #[serde(with = "amount")]
        amount: u128,
    },
}

impl ActionJson {
    /// The JSON of `a`.
    pub fn new(a: &ProposalAction) -> ActionJson {
        match a {
            ProposalAction::Text => ActionJson::Text,
            ProposalAction::ParamChange(c) => {
                ActionJson::ParamChange { changes: c.iter().map(|p| (p.name().to_string(), p.value())).collect() }
            }
            ProposalAction::Upgrade(p) => ActionJson::Upgrade {
                name: p.name.as_str().to_string(),
                height: p.height,
                info: p.info.as_str().to_string(),
            },
            ProposalAction::CancelUpgrade { name } => ActionJson::CancelUpgrade { name: name.as_str().to_string() },
            ProposalAction::PoolSpend { recipient, amount } => {
                ActionJson::PoolSpend { recipient: *recipient, amount: *amount }
            }
        }
    }
}

/// Votes by option in tokens of bonded stake.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TallyJson {
    /// For.
    #[serde(with = "amount")]
    pub yes: u128,
    /// Against.
    #[serde(with = "amount")]
    pub no: u128,
    /// Against with veto.
    #[serde(with = "amount")]
    pub no_with_veto: u128,
    /// Abstaining.
    #[serde(with = "amount")]
    pub abstain: u128,
    /// All bonded stake (the quorum's base).
    #[serde(with = "amount")]
    pub bonded: u128,
}

/// A deposit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositJson {
    /// Who.
    pub depositor: Address,
    /// How much.
    #[serde(with = "amount")]
    pub amount: u128,
}

/// A proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposalJson {
    /// Its id.
    pub id: u64,
    /// Who submitted it.
    pub proposer: Address,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// What it does if it passes.
    pub action: ActionJson,
    /// `deposit_period`, `voting_period`, `passed`, `rejected`, `vetoed`,
    /// `failed` or `expired`.
    pub status: String,
    /// The block it was submitted in.
    pub submit_height: u64,
    /// The last block of its deposit period.
    pub deposit_end: u64,
    /// The block its voting began in.
    pub voting_start: Option<u64>,
    /// The last block of its voting (tallied at its end).
    pub voting_end: Option<u64>,
    /// All deposited.
    #[serde(with = "amount")]
    pub total_deposit: u128,
    /// By depositor.
    pub deposits: Vec<DepositJson>,
    /// Distinct voters so far.
    pub voters: u64,
    /// The final tally, once counted.
    pub tally: Option<TallyJson>,
    /// Why it ended as it did.
    pub note: String,
}

/// A vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteJson {
    /// Who.
    pub voter: Address,
    /// `yes`, `no`, `no_with_veto` or `abstain`.
    pub option: String,
}

/// An applied upgrade.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedUpgradeJson {
    /// Its name.
    pub name: String,
    /// The block it applied at.
    pub height: u64,
}

/// The chain parameters and governance's state at the head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamsJson {
    /// The head's height: the parameters govern its child.
    pub height: u64,
    /// Every parameter by name, its value a decimal string.
    pub params: BTreeMap<String, String>,
    /// PoS: the community pool.
    #[serde(with = "amount")]
    pub community_pool: u128,
    /// PoS: the scheduled upgrade (an `upgrade` action), if any.
    pub upgrade_plan: Option<ActionJson>,
    /// PoS: upgrades applied so far.
    pub applied_upgrades: Vec<AppliedUpgradeJson>,
}
