//! # cinder-gov
//!
//! On-chain governance as pure functions over a [`Gov`] ledger: proposals
//! (text, parameter changes, software upgrade plans and their
//! cancellation, community-pool spends) submitted with a deposit, a
//! deposit period, a voting period, and a stake-weighted tally at the
//! voting period's last block. The rules are Cosmos SDK x/gov's
//! (docs/design/governance.md):
//!
//! - voting power is bonded stake: the tokens of validators in the active
//!   set that are not jailed, at the tally (a slash during the vote
//!   counts);
//! - a delegator who does not vote inherits its validator's vote; one who
//!   votes overrides it for its own stake;
//! - quorum (a share of all bonded stake must vote), veto (a share of the
//!   votes `no_with_veto` burns the deposits) and threshold (a share of
//!   the non-abstaining votes `yes` must exceed) are parameters;
//! - deposits are refunded unless the proposal is vetoed (burned).
//!
//! No I/O and no balances: the chain moves what is deposited to the
//! governance account before calling in and pays what [`EndBlock`] says.
//! Every amount uses checked arithmetic; an overflow is an error.

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
use cinder_primitives::{Address, GOV_ADDRESS, ProposalAction, ProposalContent, UpgradePlan, VoteOption};
use cinder_staking::{Staking, mul_div, mul_div_ceil};

pub mod params;
pub mod store;

pub use params::{BPS, ChainParams, bounds};

/// The most distinct depositors of one proposal.
pub const MAX_DEPOSITORS: usize = 128;

/// Where a proposal is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Status {
    /// Waiting for its deposit to reach the minimum.
    DepositPeriod,
    /// Being voted on.
    VotingPeriod,
    /// Passed, and its action applied.
    Passed,
    /// Voted down (no quorum, or `yes` below the threshold); deposits
    /// refunded.
    Rejected,
    /// Vetoed; deposits burned.
    Vetoed,
    /// Passed, but its action could not be applied (the note says why);
    /// deposits refunded.
    Failed,
    /// Its deposit period ended below the minimum deposit; deposits
    /// refunded.
    Expired,
}

impl Status {
    /// Its name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::DepositPeriod => "deposit_period",
            Status::VotingPeriod => "voting_period",
            Status::Passed => "passed",
            Status::Rejected => "rejected",
            Status::Vetoed => "vetoed",
            Status::Failed => "failed",
            Status::Expired => "expired",
        }
    }
    /// Whether the proposal still takes deposits or votes.
    pub fn is_live(self) -> bool {
        matches!(self, Status::DepositPeriod | Status::VotingPeriod)
    }
}

/// Votes by option, in tokens of bonded stake, and the bonded total.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Tally {
    /// For.
    pub yes: u128,
    /// Against.
    pub no: u128,
    /// Against with veto.
    pub no_with_veto: u128,
    /// Abstaining.
    pub abstain: u128,
    /// All bonded stake (the quorum's base).
    pub bonded: u128,
}

impl Tally {
    fn add(&mut self, option: VoteOption, amount: u128) -> Result<(), GovError> {
        let slot = match option {
            VoteOption::Yes => &mut self.yes,
            VoteOption::No => &mut self.no,
            VoteOption::NoWithVeto => &mut self.no_with_veto,
            VoteOption::Abstain => &mut self.abstain,
        };
        *slot = slot.checked_add(amount).ok_or(GovError::Overflow)?;
        Ok(())
    }

    /// All votes cast, in tokens.
    pub fn voted(&self) -> Result<u128, GovError> {
        [self.no, self.no_with_veto, self.abstain]
            .iter()
            .try_fold(self.yes, |a, b| a.checked_add(*b))
            .ok_or(GovError::Overflow)
    }

    /// The outcome under `p`: (status, why).
    pub fn decide(&self, p: &ChainParams) -> Result<(Status, String), GovError> {
        let voted = self.voted()?;
        let quorum = mul_div_ceil(self.bonded, u128::from(p.quorum_bps), u128::from(BPS))?;
        if self.bonded == 0 || voted < quorum {
            return Ok((
                Status::Rejected,
                format!("no quorum: {voted} of {} bonded voted, {quorum} needed", self.bonded),
            ));
        }
        if self.no_with_veto > mul_div(voted, u128::from(p.veto_bps), u128::from(BPS))? {
            return Ok((
                Status::Vetoed,
                format!(
                    "vetoed: {} of {voted} voted no_with_veto, the veto is at {} bps",
                    self.no_with_veto, p.veto_bps
                ),
            ));
        }
        let counted = voted.checked_sub(self.abstain).ok_or(GovError::Overflow)?;
        if counted > 0 && self.yes > mul_div(counted, u128::from(p.threshold_bps), u128::from(BPS))? {
            Ok((Status::Passed, format!("passed: {} of {counted} non-abstaining voted yes", self.yes)))
        } else {
            Ok((
                Status::Rejected,
                format!(
                    "rejected: {} of {counted} non-abstaining voted yes, more than {} bps needed",
                    self.yes, p.threshold_bps
                ),
            ))
        }
    }
}

/// A proposal and where it is.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Its id (proposals are numbered from 0 in submission order).
    pub id: u64,
    /// Who submitted it.
    pub proposer: Address,
    /// What it proposes.
    pub content: ProposalContent,
    /// The block it was submitted in.
    pub submit_height: u64,
    /// The last block of its deposit period.
    pub deposit_end: u64,
    /// The block its voting began in (its deposit reached the minimum).
    pub voting_start: Option<u64>,
    /// The last block of its voting period: it is tallied at that block's
    /// end.
    pub voting_end: Option<u64>,
    /// Deposits by depositor, in the order they first deposited.
    pub deposits: Vec<(Address, u128)>,
    /// Their sum.
    pub total_deposit: u128,
    /// Distinct voters so far.
    pub voters: u64,
    /// Where it is.
    pub status: Status,
    /// The tally, once counted.
    pub tally: Option<Tally>,
    /// Why it ended as it did (empty while live).
    pub note: String,
}

/// A software upgrade applied, and at which block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Applied {
    /// The upgrade's name.
    pub name: String,
    /// The block it applied at.
    pub height: u64,
}

/// Governance's bookkeeping besides proposals and votes.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Meta {
    /// The next proposal's id.
    pub next_id: u64,
    /// The community pool (held by [`GOV_ADDRESS`], with the live
    /// proposals' deposits).
    pub pool: u128,
    /// Live proposals by the block their current period ends at: (height,
    /// id), sorted.
    pub queue: Vec<(u64, u64)>,
    /// The scheduled software upgrade.
    pub plan: Option<UpgradePlan>,
    /// Upgrades applied so far, oldest first.
    pub applied: Vec<Applied>,
}

/// Why a governance operation was refused (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GovError {
    /// No such proposal.
    #[error("no proposal {0}")]
    NoProposal(u64),
    /// A deposit below the minimum.
    #[error("deposit {got} is below the minimum {min}")]
    DepositTooLow {
        /// Offered.
        got: u128,
        /// Required.
        min: u128,
    },
    /// Nothing deposited.
    #[error("the deposit must be positive")]
    Zero,
    /// A deposit to a proposal past its deposit period.
    #[error("proposal {0} is not in its deposit period (it is {1})")]
    NotInDepositPeriod(u64, &'static str),
    /// A vote on a proposal not being voted on.
    #[error("proposal {0} is not in its voting period (it is {1})")]
    NotVoting(u64, &'static str),
    /// A voter with no stake.
    #[error("{0} has no bonded stake to vote with")]
    NotAStaker(Address),
    /// Too many depositors.
    #[error("proposal {0} has {MAX_DEPOSITORS} depositors already")]
    TooManyDepositors(u64),
    /// A proposal that could never apply.
    #[error("{0}")]
    BadProposal(String),
    /// A proposal the chain did not load (a bug in the caller).
    #[error("proposal {0} is due but was not loaded")]
    NotLoaded(u64),
    /// An amount overflowed.
    #[error("an amount overflows")]
    Overflow,
}

impl From<cinder_staking::StakingError> for GovError {
    fn from(_: cinder_staking::StakingError) -> Self {
        GovError::Overflow
    }
}

/// What the end of a block pays out of [`GOV_ADDRESS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndBlock {
    /// Refunds and pool spends.
    pub payouts: Vec<(Address, u128)>,
    /// Deposits burned.
    pub burned: u128,
    /// Proposals that ended, and how.
    pub ended: Vec<(u64, Status)>,
    /// Whether the parameters changed (they apply from the next block).
    pub params_changed: bool,
}

/// The governance ledger as one block sees it: the parameters, the meta
/// record, the proposals it touches or ends, and their votes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gov {
    /// The chain's parameters (they may change at a tally).
    pub params: ChainParams,
    /// Pool, queue, upgrade plan.
    pub meta: Meta,
    /// Proposals by id (those loaded).
    pub proposals: BTreeMap<u64, Proposal>,
    /// Votes by (proposal, voter) (those loaded: every vote of a proposal
    /// tallied in this block, and the earlier vote of each voter voting
    /// in it).
    pub votes: BTreeMap<(u64, Address), VoteOption>,
    /// First votes cast in this block, in order (the voter lists grow by
    /// them).
    pub new_voters: Vec<(u64, Address)>,
}

fn add(a: u128, b: u128) -> Result<u128, GovError> {
    a.checked_add(b).ok_or(GovError::Overflow)
}

fn after(height: u64, blocks: u64) -> Result<u64, GovError> {
    height.checked_add(blocks).ok_or(GovError::Overflow)
}

impl Gov {
    /// A ledger with no proposals under `params`.
    pub fn new(params: ChainParams) -> Gov {
        Gov {
            params,
            meta: Meta::default(),
            proposals: BTreeMap::new(),
            votes: BTreeMap::new(),
            new_voters: Vec::new(),
        }
    }

    fn enqueue(&mut self, height: u64, id: u64) {
        let at = self.meta.queue.partition_point(|e| *e < (height, id));
        self.meta.queue.insert(at, (height, id));
    }

    /// Checks `content` as submitted at `height`.
    pub fn check_content(&self, height: u64, content: &ProposalContent) -> Result<(), GovError> {
        let bad = |m: String| Err(GovError::BadProposal(m));
        if content.title.as_str().trim().is_empty() {
            return bad("the title is empty".into());
        }
        match &content.action {
            ProposalAction::Text => Ok(()),
            ProposalAction::ParamChange(changes) => {
                self.params.with(changes).map(|_| ()).map_err(GovError::BadProposal)
            }
            ProposalAction::Upgrade(plan) => {
                let name = plan.name.as_str();
                if !UpgradePlan::valid_name(name) {
                    return bad(format!("upgrade name {name:?}: use 1 to 64 of a-z 0-9 . _ -"));
                }
                if self.meta.applied.iter().any(|a| a.name == name) {
                    return bad(format!("upgrade {name:?} was applied already"));
                }
                let latest = after(after(height, self.params.deposit_period)?, self.params.voting_period)?;
                if plan.height <= latest {
                    return bad(format!(
                        "upgrade height {} must be above {latest}, the last block its vote could end at",
                        plan.height
                    ));
                }
                Ok(())
            }
            ProposalAction::CancelUpgrade { name } => match UpgradePlan::valid_name(name.as_str()) {
                true => Ok(()),
                false => bad(format!("upgrade name {:?}: use 1 to 64 of a-z 0-9 . _ -", name.as_str())),
            },
            ProposalAction::PoolSpend { recipient, amount } => {
                if *amount == 0 {
                    return bad("a pool spend must pay something".into());
                }
                if *recipient == GOV_ADDRESS {
                    return bad("a pool spend to the governance account".into());
                }
                Ok(())
            }
        }
    }

    /// Submits `content` from `proposer` at `height` with `deposit`
    /// (already moved to the governance account). Returns its id.
    pub fn submit(
        &mut self,
        height: u64,
        proposer: Address,
        content: &ProposalContent,
        deposit: u128,
    ) -> Result<u64, GovError> {
        if deposit < self.params.min_initial_deposit {
            return Err(GovError::DepositTooLow { got: deposit, min: self.params.min_initial_deposit });
        }
        self.check_content(height, content)?;
        let id = self.meta.next_id;
        let next_id = id.checked_add(1).ok_or(GovError::Overflow)?;
        let deposit_end = after(height, self.params.deposit_period)?;
        let voting_end = after(height, self.params.voting_period)?;
        let opens = deposit >= self.params.min_deposit;
        let p = Proposal {
            id,
            proposer,
            content: content.clone(),
            submit_height: height,
            deposit_end,
            voting_start: opens.then_some(height),
            voting_end: opens.then_some(voting_end),
            deposits: if deposit > 0 { vec![(proposer, deposit)] } else { Vec::new() },
            total_deposit: deposit,
            voters: 0,
            status: if opens { Status::VotingPeriod } else { Status::DepositPeriod },
            tally: None,
            note: String::new(),
        };
        self.meta.next_id = next_id;
        self.proposals.insert(id, p);
        self.enqueue(if opens { voting_end } else { deposit_end }, id);
        Ok(id)
    }

    /// Adds `amount` (already moved to the governance account) from
    /// `depositor` to proposal `id` at `height`.
    pub fn deposit(&mut self, height: u64, depositor: Address, id: u64, amount: u128) -> Result<(), GovError> {
        if amount == 0 {
            return Err(GovError::Zero);
        }
        let (min_deposit, voting_period) = (self.params.min_deposit, self.params.voting_period);
        let p = self.proposals.get_mut(&id).ok_or(GovError::NoProposal(id))?;
        if p.status != Status::DepositPeriod {
            return Err(GovError::NotInDepositPeriod(id, p.status.name()));
        }
        let total = add(p.total_deposit, amount)?;
        let slot = p.deposits.iter().position(|(a, _)| *a == depositor);
        if slot.is_none() && p.deposits.len() >= MAX_DEPOSITORS {
            return Err(GovError::TooManyDepositors(id));
        }
        let voting_end = after(height, voting_period)?;
        match slot.and_then(|i| p.deposits.get_mut(i)) {
            Some((_, held)) => *held = add(*held, amount)?,
            None => p.deposits.push((depositor, amount)),
        }
        p.total_deposit = total;
        if total >= min_deposit {
            p.status = Status::VotingPeriod;
            p.voting_start = Some(height);
            p.voting_end = Some(voting_end);
            let old = (p.deposit_end, id);
            self.meta.queue.retain(|e| *e != old);
            self.enqueue(voting_end, id);
        }
        Ok(())
    }

    /// `voter` votes `option` on proposal `id`; `staker` says whether it
    /// has any stake bonded. A later vote replaces an earlier one.
    pub fn vote(&mut self, voter: Address, id: u64, option: VoteOption, staker: bool) -> Result<(), GovError> {
        let p = self.proposals.get_mut(&id).ok_or(GovError::NoProposal(id))?;
        if p.status != Status::VotingPeriod {
            return Err(GovError::NotVoting(id, p.status.name()));
        }
        if !staker {
            return Err(GovError::NotAStaker(voter));
        }
        if self.votes.insert((id, voter), option).is_none() {
            p.voters = p.voters.checked_add(1).ok_or(GovError::Overflow)?;
            self.new_voters.push((id, voter));
        }
        Ok(())
    }

    /// Adds the community pool's share of a block's fees (already paid to
    /// the governance account).
    pub fn fund_pool(&mut self, amount: u128) -> Result<(), GovError> {
        self.meta.pool = add(self.meta.pool, amount)?;
        Ok(())
    }

    /// The upgrade scheduled for block `height`, if any.
    pub fn upgrade_due(&self, height: u64) -> Option<&UpgradePlan> {
        self.meta.plan.as_ref().filter(|p| p.height == height)
    }

    /// Records the scheduled upgrade as applied at `height`.
    pub fn complete_upgrade(&mut self, height: u64) {
        if let Some(plan) = self.meta.plan.take() {
            self.meta.applied.push(Applied { name: plan.name.as_str().to_string(), height });
        }
    }

    /// The votes of proposal `id` (those loaded).
    pub fn votes_of(&self, id: u64) -> BTreeMap<Address, VoteOption> {
        self.votes.range((id, Address([0; 32]))..=(id, Address([0xff; 32]))).map(|((_, a), o)| (*a, *o)).collect()
    }

    /// Ends the periods that end at `height`: expires proposals short of
    /// their deposit, tallies those whose vote ends (on `staking` as it is
    /// at the block's end) and applies what passed. Ended proposals' votes
    /// are dropped (the tally stays in the proposal).
    pub fn end_block(&mut self, height: u64, staking: &Staking) -> Result<EndBlock, GovError> {
        let mut out = EndBlock::default();
        let due: Vec<u64> = self.meta.queue.iter().filter(|(h, _)| *h <= height).map(|(_, id)| *id).collect();
        for id in due {
            let p = self.proposals.get(&id).ok_or(GovError::NotLoaded(id))?;
            let (status, note, tally) = match p.status {
                Status::DepositPeriod => (
                    Status::Expired,
                    format!("the deposit {} stayed below {}", p.total_deposit, self.params.min_deposit),
                    None,
                ),
                _ => {
                    let t = tally(staking, &self.votes_of(id))?;
                    let (status, note) = t.decide(&self.params)?;
                    let (status, note) = match status {
                        Status::Passed => self.apply(height, id, &mut out)?.map_or((Status::Passed, note), |why| {
                            (Status::Failed, format!("passed, but could not be applied: {why}"))
                        }),
                        other => (other, note),
                    };
                    (status, note, Some(t))
                }
            };
            let p = self.proposals.get_mut(&id).ok_or(GovError::NotLoaded(id))?;
            if status == Status::Vetoed {
                out.burned = add(out.burned, p.total_deposit)?;
            } else {
                out.payouts.extend(p.deposits.iter().filter(|(_, x)| *x > 0).copied());
            }
            p.status = status;
            p.note = note;
            p.tally = tally;
            out.ended.push((id, status));
            self.votes.retain(|(pid, _), _| *pid != id);
        }
        self.meta.queue.retain(|(h, _)| *h > height);
        Ok(out)
    }

    /// Applies passed proposal `id`'s action; `Some(why)` if it cannot.
    fn apply(&mut self, height: u64, id: u64, out: &mut EndBlock) -> Result<Option<String>, GovError> {
        let action = self.proposals.get(&id).ok_or(GovError::NotLoaded(id))?.content.action.clone();
        Ok(match action {
            ProposalAction::Text => None,
            ProposalAction::ParamChange(changes) => match self.params.with(&changes) {
                Ok(next) => {
                    self.params = next;
                    out.params_changed = true;
                    None
                }
                Err(e) => Some(e),
            },
            ProposalAction::Upgrade(plan) => {
                if plan.height <= height {
                    Some(format!("the upgrade height {} is not above this block {height}", plan.height))
                } else if self.meta.applied.iter().any(|a| a.name == plan.name.as_str()) {
                    Some(format!("upgrade {:?} was applied already", plan.name.as_str()))
                } else {
                    self.meta.plan = Some(plan);
                    None
                }
            }
            ProposalAction::CancelUpgrade { name } => match &self.meta.plan {
                Some(p) if p.name == name => {
                    self.meta.plan = None;
                    None
                }
                _ => Some(format!("no upgrade {:?} is scheduled", name.as_str())),
            },
            ProposalAction::PoolSpend { recipient, amount } => match self.meta.pool.checked_sub(amount) {
                Some(left) => {
                    self.meta.pool = left;
                    out.payouts.push((recipient, amount));
                    None
                }
                None => Some(format!("the community pool holds {}, {amount} asked", self.meta.pool)),
            },
        })
    }

    /// What the governance account must hold for the loaded proposals:
    /// the pool and every live proposal's deposits.
    pub fn held(&self) -> Result<u128, GovError> {
        self.proposals.values().filter(|p| p.status.is_live()).try_fold(self.meta.pool, |a, p| add(a, p.total_deposit))
    }
}

/// Operators of the validators whose stake votes: in the epoch's active
/// set, not jailed, with tokens.
pub fn bonded(staking: &Staking) -> Vec<Address> {
    staking
        .active
        .iter()
        .filter(|(op, _)| staking.validators.get(op).is_some_and(|v| v.jailed_until.is_none() && v.tokens > 0))
        .map(|(op, _)| *op)
        .collect()
}

/// Whether `who` has stake bonded to any validator (it may vote).
pub fn is_staker(staking: &Staking, who: &Address) -> bool {
    staking.validators.keys().any(|v| staking.delegations.get(&(*who, *v)).is_some_and(|d| d.shares > 0))
}

/// Counts `votes` (by voter) on `staking`: each bonded validator's tokens
/// go to its operator's vote, less the stake of its delegators who voted
/// themselves, which goes to their own votes. `staking` must hold the
/// delegations of every voter to every bonded validator.
pub fn tally(staking: &Staking, votes: &BTreeMap<Address, VoteOption>) -> Result<Tally, GovError> {
    let validators = bonded(staking);
    let mut t = Tally::default();
    let mut deducted: BTreeMap<Address, u128> = BTreeMap::new();
    for v in &validators {
        let tokens = staking.validators.get(v).map_or(0, |x| x.tokens);
        t.bonded = add(t.bonded, tokens)?;
    }
    for (voter, option) in votes {
        for v in &validators {
            if !staking.delegations.contains_key(&(*voter, *v)) {
                continue;
            }
            let stake = staking.stake_of(voter, v);
            let d = deducted.entry(*v).or_insert(0);
            *d = add(*d, stake)?;
            t.add(*option, stake)?;
        }
    }
    for v in &validators {
        if let Some(option) = votes.get(v) {
            let tokens = staking.validators.get(v).map_or(0, |x| x.tokens);
            let rest = tokens.checked_sub(deducted.get(v).copied().unwrap_or(0)).ok_or(GovError::Overflow)?;
            t.add(*option, rest)?;
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests;
