//! Read-only execution: a contract method run against a state with
//! nothing written (`cinder_call`), bounded by gas like a transaction.

use cinder_engine::exec::{StateView, Suspend, TxView};
use cinder_primitives::{Address, Event};

use crate::call::{self, Code, Ending, Top};
use crate::host::Journal;
use crate::limits::gas;
use crate::state::{StateKey, Val};
use crate::task::{Runner, Status};

/// One transaction alone on a state: reads go straight to the state.
pub struct StateTxView<'a, S>(pub &'a S);

impl<S: StateView<StateKey, Val>> TxView<StateKey, Val> for StateTxView<'_, S> {
    fn read(&mut self, key: &StateKey) -> Result<Option<Val>, Suspend> {
        Ok(self.0.get(key))
    }
    fn range(&mut self, start: &StateKey, end: &StateKey, limit: usize) -> Result<Vec<(StateKey, Val)>, Suspend> {
        Ok(self.0.range(start, end, limit))
    }
}

/// A read-only call.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    /// The caller (and origin) the contract sees.
    pub from: Address,
    /// The contract.
    pub contract: Address,
    /// The method.
    pub method: &'a str,
    /// Its input.
    pub args: &'a [u8],
    /// A value the contract sees credited (nobody is debited).
    pub value: u128,
    /// The most gas it may use.
    pub gas: u64,
}

/// What a read-only call did (nothing of it is kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResult {
    /// How it ended.
    pub status: Status,
    /// What it returned.
    pub output: Vec<u8>,
    /// The events it would have emitted.
    pub events: Vec<Event>,
    /// Gas it used, counted as a transaction would.
    pub gas_used: u64,
}

/// Runs `q` on `view` (a state, through [`StateTxView`]); `Err` only for a
/// fault of this node.
pub fn query(runner: &Runner<'_>, view: &mut dyn TxView<StateKey, Val>, q: &Query<'_>) -> anyhow::Result<QueryResult> {
    let intrinsic = gas::CALL_BASE.saturating_add(gas::ARGS_BYTE.saturating_mul(q.args.len() as u64));
    let done = |status: Status, gas_used: u64| QueryResult { status, output: Vec::new(), events: Vec::new(), gas_used };
    if q.gas < intrinsic {
        return Ok(done(Status::OutOfGas, q.gas));
    }
    if q.method == "init" || q.method == "migrate" {
        let reason = format!("`{}` runs only at deploy or migration; it cannot be called", q.method);
        return Ok(done(Status::Failed(reason), intrinsic));
    }
    let suspended = |_: Suspend| anyhow::anyhow!("a read was suspended outside a block executor");
    let info = match view.read(&StateKey::Contract(q.contract)).map_err(suspended)? {
        None => return Ok(done(Status::Failed(format!("no contract at {}", q.contract)), intrinsic)),
        Some(Val::Bytes(b)) => cinder_primitives::decode::<cinder_primitives::ContractInfo>(&b)
            .map_err(|e| anyhow::anyhow!("the record of contract {} does not decode: {e}", q.contract))?,
        Some(v) => anyhow::bail!("the record of contract {} is {v:?}", q.contract),
    };
    let mut journal = Journal::default();
    journal.credit(StateKey::Balance(q.contract), q.value).map_err(|e| anyhow::anyhow!("crediting the value: {e}"))?;
    let top = Top {
        contract: q.contract,
        caller: q.from,
        value: q.value,
        input: q.args.to_vec(),
        method: q.method,
        optional: false,
        code: Code::Hash(info.code_hash),
    };
    let run = call::run(&runner.vm().inner, runner.env(), journal, q.gas - intrinsic, top, view).map_err(suspended)?;
    let gas_used = intrinsic.saturating_add(run.fuel_used).min(q.gas);
    let status = match run.ending {
        Ending::Success => Status::Success,
        Ending::Reverted(m) => Status::Reverted(m),
        Ending::OutOfGas => Status::OutOfGas,
        Ending::Trapped(t) => Status::Trapped(t),
        Ending::NoMethod(m) => Status::Failed(format!("the contract has no method `{m}`")),
        Ending::Suspended => anyhow::bail!("a query unwound as suspended"),
        Ending::Internal(m) => anyhow::bail!("{m}"),
    };
    let success = status == Status::Success;
    Ok(QueryResult { status, output: run.output, events: if success { run.events } else { Vec::new() }, gas_used })
}
