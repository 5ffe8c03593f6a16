//! A transaction as the block executor runs it ([`TxTask`]): a transfer
//! (or the payment of a staking operation), or contract code — a deploy,
//! a call, an admin operation — on wasmtime, each with the chain's fee
//! rules, and the receipt it leaves ([`receipt`]).
//!
//! The rules (docs/protocol.md, "Transaction validity" and "Contracts"):
//! - **Invalid** (the block is invalid; producers drop it): the nonce is
//!   not the sender's next, the nonce cannot grow, or the balance cannot
//!   pay `gas_limit x gas_price`.
//! - **Failed** (nonce bumped, `gas_used x gas_price` paid to the
//!   coinbase, nothing else): below the intrinsic gas, a balance that
//!   cannot also pay the value moved, code refused at deploy, no contract
//!   or no such method, not the admin; the contract reverted, ran out of
//!   gas or trapped.
//! - **Success**: the value moved, the contract's writes and events, the
//!   fee paid. The fee is taken after the call (a contract sees the
//!   sender's balance less the value, before the fee).

use std::sync::Mutex;

use cinder_engine::exec::{Suspend, Task, TaskOutput, TxOutput, TxStatus, TxView};
use cinder_primitives::{
    Address, AdminOp, Bounded, BoundedBytes, BoundedString, Call, ContractInfo, Deploy, Event, Hash, MAX_EVENTS,
    MAX_RETURN_BYTES, OUTBOX_ADDRESS, Receipt, ReceiptStatus, ShardId, SignedTransaction, TxKind, contract_address,
    encode, shard_of,
};

use crate::Vm;
use crate::call::{self, Code, Ending, Top};
use crate::host::{Entry, Journal, lock};
use crate::limits::gas;
use crate::state::{BlockEnv, StateKey, Val};
use crate::transfer::TransferTask;

/// One block's contract execution: the runtime, the block, and the first
/// internal error any of its transactions met (a fault of this node, not
/// of the transaction: the block's execution must be abandoned).
pub struct Runner<'a> {
    vm: &'a Vm,
    env: BlockEnv,
    rules: Rules,
    internal: Mutex<Option<String>>,
}

/// What the chain's parameters decide about a block's transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Whether staking and governance operations run (proof of stake);
    /// where they do not, they fail after paying their fee.
    pub system_ops: bool,
    /// The largest code a deploy or migration stores (the chain's
    /// `max_code_bytes`).
    pub max_code_bytes: u64,
    /// On a sharded chain, the chunk's shard and the chain's shard count
    /// (`None` on a chain of one shard).
    pub shard: Option<ShardRule>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { system_ops: true, max_code_bytes: cinder_primitives::MAX_CODE_BYTES as u64, shard: None }
    }
}

/// How a chunk of a sharded chain runs its transactions
/// (docs/design/sharding.md): every sender is on the chunk's shard; a
/// transfer to an account on another shard pays [`OUTBOX_ADDRESS`], and so
/// does the fee when the coinbase is on another shard (the chain turns
/// the outbox's balance into cross-shard receipts); contract transactions
/// fail (contracts on a sharded chain are not built yet), and so do
/// staking, governance and inter-blockchain operations from a shard other
/// than 0 (their ledgers live on shard 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardRule {
    /// The chunk's shard.
    pub shard: ShardId,
    /// How many shards the chain has (at least 2).
    pub shards: u16,
}

/// Why a contract transaction fails on a sharded chain.
pub const NO_SHARDED_CONTRACTS: &str =
    "contracts do not run on a chain of several shards yet (docs/design/sharding.md)";
/// Why a transfer to the outbox account fails on a sharded chain (its
/// balance is what leaves the shard; it is never stored).
pub const NO_OUTBOX_TRANSFERS: &str = "the outbox account takes no transfers (docs/design/sharding.md)";
/// Why a staking, governance or inter-blockchain operation fails from an
/// account outside shard 0.
pub const SYSTEM_OPS_ON_SHARD_ZERO: &str =
    "staking, governance and inter-blockchain operations are sent from accounts on shard 0 (docs/design/sharding.md)";

impl ShardRule {
    /// Whether `a` is on another shard than the chunk's.
    pub fn is_remote(&self, a: &Address) -> bool {
        shard_of(a, self.shards) != self.shard
    }

    /// The task of `tx` in this chunk: its payment and fee routed, or
    /// refused.
    fn task(&self, tx: &SignedTransaction, sender: Address, coinbase: Address) -> TransferTask {
        let fee_to = if self.is_remote(&coinbase) { OUTBOX_ADDRESS } else { coinbase };
        let t = TransferTask::new(tx, sender, fee_to);
        match &tx.tx.kind {
            k if k.is_contract() => t.refused(NO_SHARDED_CONTRACTS),
            TxKind::Stake(_) | TxKind::Gov(_) | TxKind::Ibc(_) if self.shard != 0 => {
                t.refused(SYSTEM_OPS_ON_SHARD_ZERO)
            }
            TxKind::Transfer { to, .. } if *to == OUTBOX_ADDRESS => t.refused(NO_OUTBOX_TRANSFERS),
            TxKind::Transfer { to, .. } if self.is_remote(to) => t.paying(OUTBOX_ADDRESS),
            _ => t,
        }
    }
}

/// Why a staking or governance operation fails on a proof-of-work chain.
pub const NO_SYSTEM_OPS: &str =
    "staking and governance run on proof-of-stake chains only; this chain is proof of work (docs/design/governance.md)";

impl<'a> Runner<'a> {
    /// Executing in block `env` on `vm` under the default [`Rules`].
    pub fn new(vm: &'a Vm, env: BlockEnv) -> Self {
        Runner { vm, env, rules: Rules::default(), internal: Mutex::new(None) }
    }
    /// The same, under `rules`.
    pub fn with_rules(self, rules: Rules) -> Self {
        Runner { rules, ..self }
    }
    /// The rules.
    pub fn rules(&self) -> Rules {
        self.rules
    }
    /// The block.
    pub fn env(&self) -> BlockEnv {
        self.env
    }
    /// The runtime.
    pub fn vm(&self) -> &'a Vm {
        self.vm
    }
    /// The first internal error of the run, if any: then the outputs must
    /// not be used.
    pub fn internal_error(&self) -> Option<String> {
        lock(&self.internal).clone()
    }
    fn fail(&self, msg: String) {
        tracing::error!("contract execution failed inside this node: {msg}");
        lock(&self.internal).get_or_insert(msg);
    }
}

/// How a transaction ended, for its receipt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// Applied.
    #[default]
    Success,
    /// Failed outside contract code.
    Failed(String),
    /// The contract reverted.
    Reverted(String),
    /// Out of gas.
    OutOfGas,
    /// The contract trapped.
    Trapped(String),
}

impl Status {
    /// The receipt status saying the same.
    pub fn to_receipt(&self) -> ReceiptStatus {
        let t = |s: &str| BoundedString::truncated(s);
        match self {
            Status::Success => ReceiptStatus::Success,
            Status::Failed(r) => ReceiptStatus::Failed(t(r)),
            Status::Reverted(m) => ReceiptStatus::Reverted(t(m)),
            Status::OutOfGas => ReceiptStatus::OutOfGas,
            Status::Trapped(k) => ReceiptStatus::Trapped(t(k)),
        }
    }
}

/// What a transaction reports besides its writes (the executor keeps it
/// with the transaction's output).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended (transfers: decided by the executor's status alone).
    pub status: Status,
    /// What the contract returned.
    pub output: Vec<u8>,
    /// The events it emitted.
    pub events: Vec<Event>,
    /// The contract a deploy created.
    pub created: Option<Address>,
}

/// The receipt of an included transaction.
pub fn receipt(tx_id: Hash, out: &TxOutput<StateKey, Val, Outcome>) -> Receipt {
    let o = &out.output;
    let truncated = |s: &str| BoundedString::truncated(s);
    let status = match (&out.status, &o.status) {
        (TxStatus::Success, _) => ReceiptStatus::Success,
        (TxStatus::Failed(_), Status::Reverted(m)) => ReceiptStatus::Reverted(truncated(m)),
        (TxStatus::Failed(_), Status::OutOfGas) => ReceiptStatus::OutOfGas,
        (TxStatus::Failed(_), Status::Trapped(t)) => ReceiptStatus::Trapped(truncated(t)),
        (TxStatus::Failed(r) | TxStatus::Invalid(r), _) => ReceiptStatus::Failed(truncated(r)),
    };
    let success = status.is_success();
    let mut output = o.output.clone();
    output.truncate(MAX_RETURN_BYTES);
    let mut events = if success { o.events.clone() } else { Vec::new() };
    events.truncate(MAX_EVENTS);
    Receipt {
        tx_id,
        status,
        gas_used: out.gas_used,
        output: BoundedBytes::new(if success { output } else { Vec::new() }).unwrap_or_default(),
        events: Bounded::new(events).unwrap_or_default(),
        created: if success { o.created } else { None },
    }
}

/// The checks every transaction makes first: the sender's nonce and that
/// its balance pays the most gas. The nonce and balance, or the Invalid
/// output.
#[allow(clippy::type_complexity, reason = "the prelude's two outcomes")]
pub(crate) fn prelude(
    view: &mut dyn TxView<StateKey, Val>,
    sender: Address,
    nonce: u64,
    gas_limit: u64,
    gas_price: u64,
) -> Result<Result<(u128, u128), TaskOutput<StateKey, Val, Outcome>>, Suspend> {
    let invalid = |reason: String| TaskOutput {
        status: TxStatus::Invalid(reason),
        gas_used: 0,
        writes: Vec::new(),
        failure_writes: Vec::new(),
        output: Outcome::default(),
    };
    let current = view.read(&StateKey::Nonce(sender))?.and_then(|v| v.num()).unwrap_or(0);
    if u128::from(nonce) != current {
        return Ok(Err(invalid(format!("nonce {nonce}, the sender's next nonce is {current}"))));
    }
    if nonce == u64::MAX {
        return Ok(Err(invalid("the sender's nonce cannot grow".into())));
    }
    let balance = view.read(&StateKey::Balance(sender))?.and_then(|v| v.num()).unwrap_or(0);
    let max_fee = u128::from(gas_limit) * u128::from(gas_price);
    if balance < max_fee {
        return Ok(Err(invalid(format!("balance {balance} cannot pay gas_limit x gas_price = {max_fee}"))));
    }
    Ok(Ok((current, balance)))
}

/// A transaction for the block executor.
pub enum TxTask<'a> {
    /// A transfer, or the payment of a staking operation.
    Transfer(TransferTask),
    /// A deploy, a call or an admin operation.
    Contract(ContractTask<'a>),
}

impl<'a> TxTask<'a> {
    /// The task of `tx` from `sender` (its address, computed once);
    /// contract transactions run on `runner`.
    pub fn new(tx: &'a SignedTransaction, sender: Address, runner: &'a Runner<'a>) -> TxTask<'a> {
        if tx.tx.kind.is_contract() && runner.rules.shard.is_none() {
            TxTask::Contract(ContractTask {
                runner,
                sender,
                nonce: tx.tx.nonce,
                gas_limit: tx.tx.gas_limit,
                gas_price: tx.tx.gas_price,
                kind: &tx.tx.kind,
            })
        } else if let Some(rule) = runner.rules.shard {
            let t = rule.task(tx, sender, runner.env.coinbase);
            let system = matches!(tx.tx.kind, TxKind::Stake(_) | TxKind::Gov(_));
            let pow_shard_zero = system && rule.shard == 0 && !runner.rules.system_ops;
            TxTask::Transfer(if pow_shard_zero { t.refused(NO_SYSTEM_OPS) } else { t })
        } else {
            let t = TransferTask::new(tx, sender, runner.env.coinbase);
            let system = matches!(tx.tx.kind, TxKind::Stake(_) | TxKind::Gov(_));
            TxTask::Transfer(if system && !runner.rules.system_ops { t.refused(NO_SYSTEM_OPS) } else { t })
        }
    }
}

impl Task for TxTask<'_> {
    type Key = StateKey;
    type Value = Val;
    type Output = Outcome;

    fn execute(&self, view: &mut dyn TxView<StateKey, Val>) -> Result<TaskOutput<StateKey, Val, Outcome>, Suspend> {
        match self {
            TxTask::Transfer(t) => t.execute(view),
            TxTask::Contract(c) => c.execute(view),
        }
    }

    fn gas_limit(&self) -> u64 {
        match self {
            TxTask::Transfer(t) => t.gas_limit(),
            TxTask::Contract(c) => c.gas_limit,
        }
    }

    fn write_hints(&self) -> Vec<StateKey> {
        let s = match self {
            TxTask::Transfer(t) => t.sender(),
            TxTask::Contract(c) => c.sender,
        };
        vec![StateKey::Nonce(s), StateKey::Balance(s)]
    }
}

/// A contract transaction.
pub struct ContractTask<'a> {
    runner: &'a Runner<'a>,
    sender: Address,
    nonce: u64,
    gas_limit: u64,
    gas_price: u64,
    kind: &'a TxKind,
}

/// What a contract transaction does, resolved.
enum Plan<'a> {
    Deploy(&'a Deploy),
    Call(&'a Call),
    Migrate { contract: Address, code: &'a [u8], args: &'a [u8] },
    SetAdmin { contract: Address, admin: Option<Address> },
}

impl<'a> ContractTask<'a> {
    /// A contract transaction from its parts (queries and estimates build
    /// one without a signed transaction). `kind` must be a deploy, a call
    /// or an admin operation.
    pub fn from_parts(
        runner: &'a Runner<'a>,
        sender: Address,
        nonce: u64,
        gas_limit: u64,
        gas_price: u64,
        kind: &'a TxKind,
    ) -> Self {
        ContractTask { runner, sender, nonce, gas_limit, gas_price, kind }
    }

    fn plan(&self) -> Option<Plan<'a>> {
        Some(match self.kind {
            TxKind::Deploy(d) => Plan::Deploy(d),
            TxKind::Call(c) => Plan::Call(c),
            TxKind::Admin(AdminOp::Migrate { contract, code, args }) => {
                Plan::Migrate { contract: *contract, code: code.as_slice(), args: args.as_slice() }
            }
            TxKind::Admin(AdminOp::SetAdmin { contract, admin }) => {
                Plan::SetAdmin { contract: *contract, admin: *admin }
            }
            TxKind::Transfer { .. } | TxKind::Stake(_) | TxKind::Gov(_) | TxKind::Ibc(_) => return None,
        })
    }

    /// Why `code` is too large for the chain's rules, if it is.
    fn too_large(&self, code: &[u8]) -> Option<String> {
        let max = self.runner.rules.max_code_bytes;
        (code.len() as u64 > max)
            .then(|| format!("code refused: {} bytes, the chain's max_code_bytes is {max}", code.len()))
    }

    /// Gas used before any code runs.
    pub fn intrinsic_gas(&self) -> u64 {
        let bytes = |n: usize| n as u64;
        match self.plan() {
            Some(Plan::Deploy(d)) => gas::DEPLOY_BASE
                .saturating_add(gas::CODE_BYTE.saturating_mul(bytes(d.code.as_slice().len())))
                .saturating_add(gas::ARGS_BYTE.saturating_mul(bytes(d.init_args.as_slice().len()))),
            Some(Plan::Call(c)) => {
                gas::CALL_BASE.saturating_add(gas::ARGS_BYTE.saturating_mul(bytes(c.args.as_slice().len())))
            }
            Some(Plan::Migrate { code, args, .. }) => gas::DEPLOY_BASE
                .saturating_add(gas::CODE_BYTE.saturating_mul(bytes(code.len())))
                .saturating_add(gas::ARGS_BYTE.saturating_mul(bytes(args.len()))),
            Some(Plan::SetAdmin { .. }) | None => gas::SET_ADMIN,
        }
    }

    fn value(&self) -> u128 {
        match self.plan() {
            Some(Plan::Deploy(d)) => d.value,
            Some(Plan::Call(c)) => c.value,
            _ => 0,
        }
    }

    fn execute(&self, view: &mut dyn TxView<StateKey, Val>) -> Result<TaskOutput<StateKey, Val, Outcome>, Suspend> {
        let (nonce, balance) = match prelude(view, self.sender, self.nonce, self.gas_limit, self.gas_price)? {
            Ok(p) => p,
            Err(invalid) => return Ok(invalid),
        };
        let coinbase = self.runner.env.coinbase;
        let price = u128::from(self.gas_price);
        // Bump the nonce and pay `gas_used`: all a failure leaves.
        let failure = |gas_used: u64, status: Status| {
            let fee = u128::from(gas_used) * price;
            let mut j = Journal::default();
            j.set(StateKey::Nonce(self.sender), Entry::Put(Val::Num(nonce + 1)));
            j.set(StateKey::Balance(self.sender), Entry::Put(Val::Num(balance - fee)));
            // The fee is at most the balance: it fits.
            let _ = j.credit(StateKey::Balance(coinbase), fee);
            let reason = match &status {
                Status::Failed(r) => r.clone(),
                Status::Reverted(m) => format!("reverted: {m}"),
                Status::OutOfGas => "out of gas".to_string(),
                Status::Trapped(t) => format!("trapped: {t}"),
                Status::Success => String::new(),
            };
            TaskOutput {
                status: TxStatus::Failed(reason),
                gas_used,
                writes: Vec::new(),
                failure_writes: j.into_writes(),
                output: Outcome { status, ..Outcome::default() },
            }
        };
        let intrinsic = self.intrinsic_gas();
        if self.gas_limit < intrinsic {
            return Ok(failure(self.gas_limit, Status::OutOfGas));
        }
        let value = self.value();
        let max_fee = u128::from(self.gas_limit) * price;
        if balance - max_fee < value {
            return Ok(failure(
                intrinsic,
                Status::Failed(format!(
                    "insufficient balance: {balance} cannot pay the value {value} and gas_limit x gas_price = {max_fee}"
                )),
            ));
        }
        let Some(plan) = self.plan() else {
            return Ok(failure(intrinsic, Status::Failed("not a contract transaction".into())));
        };
        let mut journal = Journal::default();
        journal.set(StateKey::Balance(self.sender), Entry::Put(Val::Num(balance - value)));
        let inner = &self.runner.vm.inner;
        let info = |code_hash: Hash, admin: Option<Address>, creator: Address| {
            Val::from_bytes(&encode(&ContractInfo { version: 1, code_hash, admin, creator }))
        };
        let read_info = |view: &mut dyn TxView<StateKey, Val>,
                         a: Address|
         -> Result<Result<Option<ContractInfo>, String>, Suspend> {
            Ok(match view.read(&StateKey::Contract(a))? {
                None => Ok(None),
                Some(Val::Bytes(b)) => cinder_primitives::decode::<ContractInfo>(&b)
                    .map(Some)
                    .map_err(|e| format!("the record of contract {a} does not decode: {e}")),
                Some(v) => Err(format!("the record of contract {a} is {v:?}")),
            })
        };
        macro_rules! info_or_fail {
            ($a:expr) => {
                match read_info(view, $a)? {
                    Ok(Some(i)) => i,
                    Ok(None) => return Ok(failure(intrinsic, Status::Failed(format!("no contract at {}", $a)))),
                    Err(e) => {
                        self.runner.fail(e.clone());
                        return Ok(failure(intrinsic, Status::Failed(e)));
                    }
                }
            };
        }
        let (top, created) = match plan {
            Plan::Deploy(d) => {
                let code = d.code.as_slice();
                if let Some(reason) = self.too_large(code) {
                    return Ok(failure(intrinsic, Status::Failed(reason)));
                }
                let hash = Hash::of(code);
                let compiled = match inner.compile(hash, code) {
                    Ok(c) => c,
                    Err(e) => return Ok(failure(intrinsic, Status::Failed(format!("code refused: {e}")))),
                };
                let address = contract_address(&self.sender, self.nonce);
                match read_info(view, address)? {
                    Ok(None) => {}
                    Ok(Some(_)) => {
                        let reason = format!("a contract exists at {address} already");
                        return Ok(failure(intrinsic, Status::Failed(reason)));
                    }
                    Err(e) => {
                        self.runner.fail(e.clone());
                        return Ok(failure(intrinsic, Status::Failed(e)));
                    }
                }
                journal.set(StateKey::Code(hash), Entry::Put(Val::from_bytes(code)));
                journal.set(StateKey::Contract(address), Entry::Put(info(hash, d.admin, self.sender)));
                if journal.credit(StateKey::Balance(address), value).is_err() {
                    return Ok(failure(intrinsic, Status::Failed("the contract's balance overflows".into())));
                }
                let top = Top {
                    contract: address,
                    caller: self.sender,
                    value,
                    input: d.init_args.as_slice().to_vec(),
                    method: "init",
                    optional: true,
                    code: Code::Compiled(compiled),
                };
                (Some(top), Some(address))
            }
            Plan::Call(c) => {
                let method = c.method.as_str();
                if method == "init" || method == "migrate" {
                    let reason = format!("`{method}` runs only at deploy or migration; it cannot be called");
                    return Ok(failure(intrinsic, Status::Failed(reason)));
                }
                let i = info_or_fail!(c.contract);
                if journal.credit(StateKey::Balance(c.contract), value).is_err() {
                    return Ok(failure(intrinsic, Status::Failed("the contract's balance overflows".into())));
                }
                let top = Top {
                    contract: c.contract,
                    caller: self.sender,
                    value,
                    input: c.args.as_slice().to_vec(),
                    method,
                    optional: false,
                    code: Code::Hash(i.code_hash),
                };
                (Some(top), None)
            }
            Plan::Migrate { contract, code, args } => {
                let i = info_or_fail!(contract);
                if i.admin != Some(self.sender) {
                    return Ok(failure(intrinsic, Status::Failed(not_admin(contract, i.admin))));
                }
                if let Some(reason) = self.too_large(code) {
                    return Ok(failure(intrinsic, Status::Failed(reason)));
                }
                let hash = Hash::of(code);
                let compiled = match inner.compile(hash, code) {
                    Ok(c) => c,
                    Err(e) => return Ok(failure(intrinsic, Status::Failed(format!("code refused: {e}")))),
                };
                journal.set(StateKey::Code(hash), Entry::Put(Val::from_bytes(code)));
                journal.set(StateKey::Contract(contract), Entry::Put(info(hash, i.admin, i.creator)));
                let top = Top {
                    contract,
                    caller: self.sender,
                    value: 0,
                    input: args.to_vec(),
                    method: "migrate",
                    optional: false,
                    code: Code::Compiled(compiled),
                };
                (Some(top), None)
            }
            Plan::SetAdmin { contract, admin } => {
                let i = info_or_fail!(contract);
                if i.admin != Some(self.sender) {
                    return Ok(failure(intrinsic, Status::Failed(not_admin(contract, i.admin))));
                }
                journal.set(StateKey::Contract(contract), Entry::Put(info(i.code_hash, admin, i.creator)));
                (None, None)
            }
        };
        let (journal, gas_used, output, events) = match top {
            None => (journal, intrinsic, Vec::new(), Vec::new()),
            Some(top) => {
                let fuel = self.gas_limit - intrinsic;
                let run = call::run(inner, self.runner.env, journal, fuel, top, view)?;
                let gas_used = intrinsic.saturating_add(run.fuel_used).min(self.gas_limit);
                let status = match run.ending {
                    Ending::Success => None,
                    Ending::Reverted(m) => Some(Status::Reverted(m)),
                    Ending::OutOfGas => Some(Status::OutOfGas),
                    Ending::Trapped(t) => Some(Status::Trapped(t)),
                    Ending::NoMethod(m) => {
                        let what = if m == "migrate" { "the new code" } else { "the contract" };
                        Some(Status::Failed(format!("{what} has no method `{m}`")))
                    }
                    Ending::Suspended => {
                        let m = "a run unwound as suspended with no suspended read".to_string();
                        self.runner.fail(m.clone());
                        Some(Status::Failed(m))
                    }
                    Ending::Internal(m) => {
                        self.runner.fail(m.clone());
                        Some(Status::Failed(m))
                    }
                };
                if let Some(status) = status {
                    return Ok(failure(gas_used, status));
                }
                (run.journal, gas_used, run.output, run.events)
            }
        };
        let fee = u128::from(gas_used) * price;
        let mut journal = journal;
        let left = match journal.get(&StateKey::Balance(self.sender)) {
            Some(Entry::Put(Val::Num(n))) => n.checked_sub(fee),
            _ => None,
        };
        let Some(left) = left else {
            let m = format!("the sender's balance entry cannot pay the fee {fee}");
            self.runner.fail(m.clone());
            return Ok(failure(gas_used, Status::Failed(m)));
        };
        journal.set(StateKey::Balance(self.sender), Entry::Put(Val::Num(left)));
        journal.set(StateKey::Nonce(self.sender), Entry::Put(Val::Num(nonce + 1)));
        if journal.credit(StateKey::Balance(coinbase), fee).is_err() {
            return Ok(failure(gas_used, Status::Failed("the coinbase's balance overflows".into())));
        }
        let ok = failure(gas_used, Status::Success);
        Ok(TaskOutput {
            status: TxStatus::Success,
            gas_used,
            writes: journal.into_writes(),
            failure_writes: ok.failure_writes,
            output: Outcome { status: Status::Success, output, events, created },
        })
    }
}

fn not_admin(contract: Address, admin: Option<Address>) -> String {
    match admin {
        None => format!("contract {contract} has no admin: its code cannot change"),
        Some(a) => format!("only the admin of contract {contract} ({a}) may do this"),
    }
}
