//! Governance in the chain (docs/design/governance.md): the chain
//! parameters each block is checked against, the governance pass of a
//! proof-of-stake block, and software upgrades.
//!
//! - **Parameters.** A PoS chain keeps its [`ChainParams`] in the state
//!   (record `params` of the `gov` namespace), written at genesis from the
//!   spec; a block is checked against its parent state's parameters, so a
//!   change passed at the tally of block `h` governs blocks from `h + 1`
//!   on. A PoW chain has no governance: its parameters are the spec's.
//! - **The pass.** After the staking pass, in block order, each
//!   governance operation that executed (its deposit already moved to
//!   [`GOV_ADDRESS`]) runs on the ledger; a refused one gets its deposit
//!   back and fails its receipt. The community pool takes its share of the
//!   block's fees; then the periods ending at this block end: tallies on
//!   the stake bonded at the end of the block, refunds, burns, parameter
//!   changes, upgrade plans, pool spends.
//! - **Upgrades.** A block at a scheduled upgrade's height is executed only
//!   by a node whose [`Upgrades`] registry has a handler of that name:
//!   the handler's records are written with the block and the plan is
//!   marked applied. Without one, building or importing the block fails
//!   with [`UpgradeNeeded`] and the node stops.

use std::fmt;

use anyhow::{Context, Result, anyhow};
use cinder_consensus::{ChainSpec, StakingSpec};
use cinder_gov::ChainParams;
use cinder_gov::store::{self, Loaded};
use cinder_primitives::{Address, GOV_ADDRESS, GovOp, SignedTransaction, TxKind, UpgradePlan};
use cinder_staking::Staking;
use cinder_state::{KeyHash, State, StateStore, Version, data_key};

use crate::staking::{DataWrite, Outcome};

/// The namespace of the governance records in the state tree.
pub const NAMESPACE: &str = "gov";

/// The state key of governance record `key`.
pub fn record_key(key: &[u8]) -> KeyHash {
    data_key(NAMESPACE, key)
}

/// The parameters of the state at `version`: a PoS chain's from its
/// state, a PoW chain's from its spec.
pub fn params_at<S: StateStore>(state: &State<S>, version: Version, spec: &ChainSpec) -> Result<ChainParams> {
    if spec.pos.is_none() {
        return Ok(spec.params());
    }
    store::load_params(|k| state.data(version, record_key(k))).map_err(|e| anyhow!("{e}"))
}

/// The staking rules of a block under `params` (the epoch length stays
/// the spec's).
pub fn staking_spec(spec: &StakingSpec, params: &ChainParams) -> StakingSpec {
    StakingSpec {
        epoch_length: spec.epoch_length,
        power_unit: params.power_unit,
        min_self_stake: params.min_self_stake,
        max_validators: usize::try_from(params.max_validators).unwrap_or(usize::MAX),
        unbonding_epochs: params.unbonding_epochs,
        max_commission_bps: params.max_commission_bps,
        double_sign_slash_bps: params.double_sign_slash_bps,
        jail_epochs: params.jail_epochs,
        max_missed_bps: params.max_missed_bps,
    }
}

/// The governance records of a spec's genesis (PoS: the parameters).
pub fn genesis(spec: &ChainSpec) -> Vec<DataWrite> {
    match spec.pos {
        None => Vec::new(),
        Some(_) => vec![(record_key(&store::params_key()), Some(store::encode_record(&spec.params())))],
    }
}

/// The governance ledger of the state at `version` for a block at
/// `height`, with `ids` and the earlier votes of `voters` loaded.
pub fn load<S: StateStore>(
    state: &State<S>,
    version: Version,
    height: u64,
    ids: &[u64],
    voters: &[(u64, Address)],
) -> Result<Loaded> {
    Loaded::load(height, |k| state.data(version, record_key(k)), ids, voters).map_err(|e| anyhow!("{e}"))
}

/// The proposals a block's governance operations name, and its votes
/// (proposal, voter).
pub(crate) fn named(txs: &[SignedTransaction], senders: &[Address]) -> (Vec<u64>, Vec<(u64, Address)>) {
    let (mut ids, mut votes) = (Vec::new(), Vec::new());
    for (t, s) in txs.iter().zip(senders) {
        match &t.tx.kind {
            TxKind::Gov(GovOp::Deposit { proposal, .. }) => ids.push(*proposal),
            TxKind::Gov(GovOp::Vote { proposal, .. }) => votes.push((*proposal, *s)),
            _ => {}
        }
    }
    (ids, votes)
}

/// A software upgrade's handler: the records it writes with the block at
/// the upgrade's height (it reads the parent state through `read`).
pub type Handler = fn(height: u64, read: &dyn Fn(KeyHash) -> Result<Option<Vec<u8>>>) -> Result<Vec<DataWrite>>;

/// The upgrades this binary knows, by name.
#[derive(Clone, Default)]
pub struct Upgrades(Vec<(&'static str, Handler)>);

impl fmt::Debug for Upgrades {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(n, _)| n)).finish()
    }
}

/// The test upgrade's name ([`Upgrades::with_test_upgrade`]).
pub const TEST_UPGRADE: &str = "cinder-test-upgrade";
/// The record the test upgrade writes (in the `gov` namespace).
pub const TEST_UPGRADE_RECORD: &[u8] = b"upgrade-test";

fn test_upgrade(height: u64, _read: &dyn Fn(KeyHash) -> Result<Option<Vec<u8>>>) -> Result<Vec<DataWrite>> {
    Ok(vec![(record_key(TEST_UPGRADE_RECORD), Some(height.to_le_bytes().to_vec()))])
}

impl Upgrades {
    /// The upgrades of this release (none yet: the first real upgrade
    /// adds its handler here).
    pub fn release() -> Upgrades {
        Upgrades(Vec::new())
    }

    /// These upgrades and the test upgrade [`TEST_UPGRADE`], which writes
    /// the block's height under [`TEST_UPGRADE_RECORD`]: what tests (and
    /// `cinder run --test-upgrade`) use to prove the path.
    pub fn with_test_upgrade(mut self) -> Upgrades {
        self.0.push((TEST_UPGRADE, test_upgrade));
        self
    }

    /// The handler of `name`.
    pub fn get(&self, name: &str) -> Option<Handler> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
    }

    /// Their names.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(n, _)| *n).collect()
    }
}

/// A block at an upgrade's height, which this binary cannot execute.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "UPGRADE {name:?} NEEDED at height {height}: this binary does not know it; stop, install the release it names \
     ({info}) and start again"
)]
pub struct UpgradeNeeded {
    /// The upgrade's name.
    pub name: String,
    /// Its height.
    pub height: u64,
    /// Its info (where to get the binary).
    pub info: String,
}

impl UpgradeNeeded {
    pub(crate) fn of(plan: &UpgradePlan) -> UpgradeNeeded {
        UpgradeNeeded {
            name: plan.name.as_str().to_string(),
            height: plan.height,
            info: plan.info.as_str().to_string(),
        }
    }
}

/// Runs the upgrade due at `height`, if any: `Err` ([`UpgradeNeeded`]
/// inside) if this binary has no handler for it.
pub(crate) fn upgrade<S: StateStore>(
    state: &State<S>,
    version: Version,
    height: u64,
    gov: &mut Loaded,
    upgrades: &Upgrades,
) -> Result<Vec<DataWrite>> {
    let Some(plan) = gov.gov.upgrade_due(height) else { return Ok(Vec::new()) };
    let Some(handler) = upgrades.get(plan.name.as_str()) else {
        return Err(anyhow::Error::new(UpgradeNeeded::of(plan)));
    };
    let name = plan.name.as_str().to_string();
    let read = |k: KeyHash| state.data(version, k);
    let writes = handler(height, &read).with_context(|| format!("applying upgrade {name:?}"))?;
    gov.gov.complete_upgrade(height);
    tracing::warn!(name, height, "applied a software upgrade");
    Ok(writes)
}

/// Runs the pass: `ops` are (receipt index, sender, operation) of the
/// governance transactions that executed, in block order; `staking` is the
/// ledger at the block's end (after the staking pass), holding the
/// delegations of every voter; `pool_cut` is the share of fees moved to
/// the governance account for the pool.
pub(crate) fn run(
    height: u64,
    gov: &mut Loaded,
    staking: &Staking,
    ops: &[(usize, Address, &GovOp)],
    pool_cut: u128,
) -> Result<Outcome> {
    let mut out = Outcome::default();
    for (index, sender, op) in ops {
        let g = &mut gov.gov;
        let result = match op {
            GovOp::Submit { proposal, deposit } => g.submit(height, *sender, proposal, *deposit).map(|id| {
                tracing::info!(id, height, title = proposal.title.as_str(), "proposal submitted");
            }),
            GovOp::Deposit { proposal, amount } => g.deposit(height, *sender, *proposal, *amount),
            GovOp::Vote { proposal, option } => {
                g.vote(*sender, *proposal, *option, cinder_gov::is_staker(staking, sender))
            }
        };
        if let Err(e) = result {
            let back = op.deposited();
            if back > 0 {
                out.credits.push((*sender, back));
                out.debit = out.debit.checked_add(back).context("governance refunds overflow")?;
            }
            out.refused.push((*index, e.to_string()));
        }
    }
    let g = &mut gov.gov;
    g.fund_pool(pool_cut).map_err(|e| anyhow!("the community pool: {e}"))?;
    let end = g.end_block(height, staking).map_err(|e| anyhow!("ending governance periods: {e}"))?;
    for (id, status) in &end.ended {
        tracing::info!(id, height, status = status.name(), "proposal ended");
    }
    if end.params_changed {
        tracing::warn!(height, "chain parameters changed; they apply from the next block");
    }
    for (to, amount) in end.payouts {
        out.credits.push((to, amount));
        out.debit = out.debit.checked_add(amount).context("governance payouts overflow")?;
    }
    out.debit = out.debit.checked_add(end.burned).context("governance burns overflow")?;
    out.data = gov.changes().into_iter().map(|(k, v)| (record_key(&k), v)).collect();
    Ok(out)
}

/// The governance account never pays more than it holds.
pub(crate) fn debit_gov(balance: u128, debit: u128) -> Result<u128> {
    balance.checked_sub(debit).with_context(|| {
        format!("the governance account {GOV_ADDRESS} holds {balance} and must pay {debit}: the ledger disagrees")
    })
}
