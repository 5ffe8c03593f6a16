//! The staking pass of a proof-of-stake block (docs/design/staking.md):
//! after Block-STM has run the block's transactions (a staking operation
//! moving what it bonds to [`STAKING_ADDRESS`] like a transfer), the
//! ledger operations run in block order on the ledger of the parent's
//! state; then the block's reward and fees are shared among the set, absent
//! signers are counted, and at an epoch's last block the epoch ends.
//!
//! The ledger lies in the state tree as data records under the `staking`
//! namespace ([`cinder_staking::store`]), so the state root covers it and
//! every node computes the same. A refused operation changes no record,
//! gets back what it bonded and fails its receipt (its fee stays paid).

use anyhow::{Context, Result, anyhow};
use cinder_consensus::{StakingSpec, Validators};
use cinder_engine::sig::VerifyingKey;
use cinder_primitives::{Address, CommitCertificate, DoubleVote, SignedTransaction, StakeOp, TxKind};
use cinder_staking::store::{self, ConsensusSet, Loaded};
use cinder_state::{KeyHash, State, StateStore, Version, data_key};

/// The namespace of the ledger's records in the state tree.
pub const NAMESPACE: &str = "staking";

/// The state key of ledger record `key`.
pub fn record_key(key: &[u8]) -> KeyHash {
    data_key(NAMESPACE, key)
}

/// A data record written (`Some`) or deleted (`None`).
pub type DataWrite = (KeyHash, Option<Vec<u8>>);

/// What the pass needs to know of the block.
#[derive(Clone, Debug)]
pub(crate) struct Pass {
    /// The staking rules (the spec's epochs, the parameters of the parent
    /// state).
    pub spec: StakingSpec,
    /// The chain.
    pub chain_id: u64,
    /// The block's height.
    pub height: u64,
    /// Operators of the parent's set missing from the block's
    /// `last_commit`.
    pub absent: Vec<Address>,
}

impl Pass {
    /// The pass of a block at `height` carrying `last_commit`, signed by
    /// `parent_set` (none for the first block).
    pub(crate) fn new(
        spec: StakingSpec,
        chain_id: u64,
        height: u64,
        last_commit: Option<&CommitCertificate>,
        parent_set: Option<&Validators>,
    ) -> Pass {
        let absent = match (last_commit, parent_set) {
            (Some(c), Some(set)) => set
                .addresses
                .iter()
                .enumerate()
                .filter(|(i, _)| !c.signatures.iter().any(|(s, _)| usize::from(*s) == *i))
                .map(|(_, a)| *a)
                .collect(),
            _ => Vec::new(),
        };
        Pass { spec, chain_id, height, absent }
    }
}

/// What a system pass (staking, governance) changes besides its records.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Records to write or delete (the ledger's; an upgrade's).
    pub data: Vec<DataWrite>,
    /// Credits out of the system account: rewards, unbonded stake,
    /// refunds, pool spends.
    pub credits: Vec<(Address, u128)>,
    /// What leaves the system account in all: the credits and what is
    /// burned (slashing, vetoed deposits).
    pub debit: u128,
    /// Transactions whose operation was refused (receipt index) and why.
    pub refused: Vec<(usize, String)>,
}

/// The ledger of the state at `version`, with the delegations `pairs`
/// loaded.
pub(crate) fn load<S: StateStore>(
    state: &State<S>,
    version: Version,
    spec: &StakingSpec,
    pairs: &[(Address, Address)],
) -> Result<Loaded> {
    Loaded::load(spec.params(), |k| state.data(version, record_key(k)), pairs).map_err(|e| anyhow!("{e}"))
}

/// Epoch `epoch`'s recorded consensus set in the state at `version`.
pub fn set_at<S: StateStore>(state: &State<S>, version: Version, epoch: u64) -> Result<Option<ConsensusSet>> {
    let Some(bytes) = state.data(version, record_key(&store::set_key(epoch)))? else { return Ok(None) };
    store::decode_set(&bytes).map(Some).with_context(|| format!("the validator set of epoch {epoch} does not decode"))
}

/// The ledger records and staking-account balance of a spec's genesis: its
/// validators bonded with their self-stake, active in epoch 0.
pub fn genesis(spec: &cinder_consensus::ChainSpec) -> Result<(Vec<DataWrite>, u128)> {
    let Some(pos) = &spec.pos else { return Ok((Vec::new(), 0)) };
    let st = &pos.staking;
    let mut l = Loaded::empty(st.params());
    let mut total = 0u128;
    for v in &pos.validators {
        let stake = st.genesis_stake(v.power);
        let op = Address::from_public_key(&v.key);
        l.staking.create_validator(op, v.key.0, 0, stake).map_err(|e| anyhow!("genesis validator {op}: {e}"))?;
        l.staking.active.push((op, stake));
        total = total.checked_add(stake).context("the genesis stake overflows")?;
    }
    let mut data: Vec<_> = l.changes().into_iter().map(|(k, v)| (record_key(&k), v)).collect();
    let set = l.consensus_set(st.power_unit);
    data.push((record_key(&store::set_key(0)), Some(store::encode_record(&set))));
    Ok((data, total))
}

/// The (delegator, validator) pairs `txs` touch, for loading.
pub(crate) fn pairs(txs: &[SignedTransaction], senders: &[Address]) -> Vec<(Address, Address)> {
    txs.iter()
        .zip(senders)
        .filter_map(|(t, s)| match &t.tx.kind {
            TxKind::Stake(StakeOp::Delegate { validator, .. })
            | TxKind::Stake(StakeOp::Undelegate { validator, .. })
            | TxKind::Stake(StakeOp::WithdrawRewards { validator }) => Some((*s, *validator)),
            _ => None,
        })
        .collect()
}

/// Runs the pass: `ops` are (index in the block, sender, operation) of the
/// staking transactions that executed successfully, in block order;
/// `income` is what the block paid into the staking account (reward and
/// fees).
pub(crate) fn run<S: StateStore>(
    state: &State<S>,
    version: Version,
    pass: &Pass,
    ledger: &mut Loaded,
    ops: &[(usize, Address, &StakeOp)],
    income: u128,
) -> Result<Outcome> {
    let mut out = Outcome::default();
    let mut markers: Vec<Vec<u8>> = Vec::new();
    let pay = |out: &mut Outcome, to: Address, amount: u128| -> Result<()> {
        if amount > 0 {
            out.credits.push((to, amount));
            out.debit = out.debit.checked_add(amount).context("staking payouts overflow")?;
        }
        Ok(())
    };
    for (index, sender, op) in ops {
        let s = &mut ledger.staking;
        let result: Result<u128, String> = match op {
            StakeOp::CreateValidator { key, commission_bps, amount } => match VerifyingKey::from_bytes(key) {
                Err(e) => Err(format!("consensus key: {e}")),
                Ok(_) if s.validators.values().any(|v| v.key == *key) => {
                    Err("the consensus key belongs to another validator".into())
                }
                Ok(_) => {
                    s.create_validator(*sender, *key, *commission_bps, *amount).map(|()| 0).map_err(|e| e.to_string())
                }
            },
            StakeOp::Delegate { validator, amount } => {
                s.delegate(*sender, *validator, *amount).map_err(|e| e.to_string())
            }
            StakeOp::Undelegate { validator, amount } => {
                s.undelegate(*sender, *validator, *amount).map_err(|e| e.to_string())
            }
            StakeOp::WithdrawRewards { validator } => {
                s.withdraw_rewards(*sender, *validator).map_err(|e| e.to_string())
            }
            StakeOp::ReportDoubleVote(dv) => match check_evidence(state, version, pass, s.epoch, dv, &markers)? {
                Err(reason) => Err(reason),
                Ok((operator, marker)) => match s.slash(operator, s.params.double_sign_slash_bps) {
                    Err(e) => Err(e.to_string()),
                    Ok(burned) => {
                        out.debit = out.debit.checked_add(burned).context("slashing overflows")?;
                        markers.push(marker);
                        tracing::warn!(%operator, height = dv.first.data.height, burned, "slashed a double-signer");
                        Ok(0)
                    }
                },
            },
        };
        match result {
            Ok(paid) => pay(&mut out, *sender, paid)?,
            Err(reason) => {
                pay(&mut out, *sender, op.bonded())?;
                out.refused.push((*index, reason));
            }
        }
    }
    let s = &mut ledger.staking;
    for op in &pass.absent {
        if s.active.iter().any(|(a, _)| a == op) {
            s.record_missed(*op).map_err(|e| anyhow!("{e}"))?;
        }
    }
    let unpaid = s.distribute(income).map_err(|e| anyhow!("distributing the block's income: {e}"))?;
    // Nobody to pay (every validator jailed): burned.
    out.debit = out.debit.checked_add(unpaid).context("overflow")?;
    let mut data: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    if pass.spec.ends_epoch(pass.height) {
        let payouts = s.end_epoch_of(pass.spec.epoch_length).map_err(|e| anyhow!("ending the epoch: {e}"))?;
        for (to, amount) in payouts {
            pay(&mut out, to, amount)?;
        }
        let epoch = ledger.staking.epoch;
        let set = ledger.consensus_set(pass.spec.power_unit);
        if set.members.is_empty() {
            // A chain with no validator cannot go on; keep the last set
            // rather than halt (docs/design/staking.md).
            tracing::error!(epoch, "no validator qualifies for the next epoch: the previous set stays");
            let previous = set_at(state, version, epoch.saturating_sub(1))?.unwrap_or_default();
            data.push((store::set_key(epoch), Some(store::encode_record(&previous))));
        } else {
            data.push((store::set_key(epoch), Some(store::encode_record(&set))));
        }
        // Sets older than evidence may reach are dropped.
        if let Some(old) = epoch.checked_sub(pass.spec.unbonding_epochs.saturating_add(2)) {
            data.push((store::set_key(old), None));
        }
    }
    data.extend(ledger.changes());
    data.extend(markers.into_iter().map(|m| (m, Some(vec![1]))));
    out.data = data.into_iter().map(|(k, v)| (record_key(&k), v)).collect();
    Ok(out)
}

/// Checks double-vote evidence: `Ok(Ok((operator, marker key)))` if it
/// proves a validator of its height signed two different votes, is not too
/// old and was not slashed for already; `Ok(Err(reason))` if it proves
/// nothing.
fn check_evidence<S: StateStore>(
    state: &State<S>,
    version: Version,
    pass: &Pass,
    epoch: u64,
    dv: &DoubleVote,
    markers: &[Vec<u8>],
) -> Result<std::result::Result<(Address, Vec<u8>), String>> {
    let v = &dv.first.data;
    if v.chain_id != pass.chain_id {
        return Ok(Err(format!("the votes are for chain {}", v.chain_id)));
    }
    if v.height == 0 || v.height >= pass.height {
        return Ok(Err(format!("the votes are for height {}, not below this block's", v.height)));
    }
    let e = pass.spec.epoch_of(v.height);
    if e.saturating_add(pass.spec.unbonding_epochs) < epoch {
        return Ok(Err(format!("the votes are from epoch {e}, older than the unbonding period")));
    }
    let Some(set) = set_at(state, version, e)? else {
        return Ok(Err(format!("no validator set is kept for epoch {e}")));
    };
    let Some(member) = set.members.get(usize::from(v.validator)) else {
        return Ok(Err(format!("no validator {} at height {}", v.validator, v.height)));
    };
    let key = match VerifyingKey::from_bytes(&member.key) {
        Ok(k) => k,
        Err(e) => return Ok(Err(format!("the validator's key: {e}"))),
    };
    if let Err(e) = dv.check(&key) {
        return Ok(Err(e.to_string()));
    }
    let marker = store::evidence_key(&member.operator, v.height);
    if markers.contains(&marker) || state.data(version, record_key(&marker))?.is_some() {
        return Ok(Err(format!("validator {} was slashed for height {} already", member.operator, v.height)));
    }
    Ok(Ok((member.operator, marker)))
}

/// The staking account never pays more than it holds; a shortfall is a
/// bug in the ledger, not a bad block.
pub(crate) fn debit_staking(balance: u128, debit: u128) -> Result<u128> {
    balance.checked_sub(debit).with_context(|| {
        format!("the staking account holds {balance} and must pay {debit}: the ledger and the account disagree")
    })
}
