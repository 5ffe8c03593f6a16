//! Where contracts live in the state tree (docs/design/contracts.md):
//! a contract's record is a data record in the namespace `"contract"`
//! keyed by its address, its code one in `"code"` keyed by the code's
//! BLAKE3 hash (shared by every contract with that code), and each entry
//! of its storage an ordered record keyed by the contract's address
//! followed by the storage key, so a contract's keys are one range of the
//! ordered index and every entry is proven against the state root.

use cinder_primitives::{Address, Hash};
use cinder_state::{KeyHash, data_key, ordered_key};

/// The namespace of contract records.
pub const CONTRACT_NAMESPACE: &str = "contract";
/// The namespace of contract code.
pub const CODE_NAMESPACE: &str = "code";

/// The tree key of the record of the contract at `a`.
pub fn contract_key(a: &Address) -> KeyHash {
    data_key(CONTRACT_NAMESPACE, &a.0)
}

/// The tree key of the code with hash `h`.
pub fn code_key(h: &Hash) -> KeyHash {
    data_key(CODE_NAMESPACE, &h.0)
}

/// The ordered-record key of entry `key` of `contract`'s storage.
pub fn storage_record(contract: &Address, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + key.len());
    k.extend_from_slice(&contract.0);
    k.extend_from_slice(key);
    k
}

/// The tree key of entry `key` of `contract`'s storage.
pub fn storage_key(contract: &Address, key: &[u8]) -> KeyHash {
    ordered_key(&storage_record(contract, key))
}

use anyhow::{Context, Result, anyhow, bail};
use cinder_engine::exec::{self, Mode, Strategy, TxStatus};
use cinder_primitives::{ContractInfo, TxKind, decode};
use cinder_state::{DataProof, Version};
use cinder_vm::{BlockEnv, ContractTask, Query, QueryResult, Runner, StateTxView, Status, TxTask};

use crate::Chain;
use crate::exec::view_at;

/// The most gas a read-only call or an estimate may use.
pub const QUERY_GAS_CAP: u64 = 100_000_000;

/// What running a transaction alone on a state says about its gas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// The least gas limit with which it succeeds.
    pub gas: u64,
    /// What it returned with that limit.
    pub output: Vec<u8>,
}

/// Why an estimate found no gas limit that works.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the transaction fails even with {cap} gas: {status:?}")]
pub struct EstimateFailed {
    /// The cap tried.
    pub cap: u64,
    /// How it ended with the cap.
    pub status: Status,
}

/// A canonical block's state: its number, id and state version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateAt {
    /// Height.
    pub number: u64,
    /// Block id.
    pub id: Hash,
    /// State version.
    pub version: Version,
    /// Its header's state root.
    pub state_root: Hash,
    /// Its time, Unix milliseconds.
    pub time_ms: u64,
}

impl Chain {
    /// The state of canonical block `number` (the head if `None`); `None`
    /// if there is no such block; an error if its state was pruned.
    pub fn state_at(&self, number: Option<u64>) -> Result<Option<StateAt>> {
        let number = match number {
            Some(n) => n,
            None => self.head()?.height,
        };
        let Some((id, version)) = self.db().canonical(number)? else { return Ok(None) };
        if number > 0 && number < self.db().pruned_height()? {
            bail!(
                "the state of block {number} was pruned (this node keeps the last {} blocks)",
                self.config().max_reorg_depth
            );
        }
        let header = self.db().header(&id)?.with_context(|| format!("canonical block {id} has no header"))?;
        let time_ms = crate::exec::block_time_ms(&header);
        Ok(Some(StateAt { number, id, version, state_root: header.fields.state_root, time_ms }))
    }

    /// The environment a query at `at` runs in: the next block's height,
    /// `at`'s time, no coinbase.
    fn query_env(at: &StateAt) -> BlockEnv {
        BlockEnv { height: at.number + 1, time_ms: at.time_ms, coinbase: Address::default() }
    }

    /// Runs `q` read-only on the state at `at` (nothing is written).
    pub fn call_contract(&self, at: &StateAt, q: &Query<'_>) -> Result<QueryResult> {
        let state = self.state();
        let view = view_at(&state, at.version);
        let runner = Runner::new(cinder_vm::Vm::shared()?, Self::query_env(at));
        let r = cinder_vm::query(&runner, &mut StateTxView(&view), q);
        if let Some(e) = view.take_error() {
            return Err(e.context("reading state for a call"));
        }
        r
    }

    /// The least gas limit with which `kind` from `from` succeeds on the
    /// state at `at` (at most `cap`), found by running it: once with the
    /// cap, then a binary search (a contract may need more than it uses,
    /// as a nested call only gets 63/64 of what is left).
    pub fn estimate_gas(
        &self,
        at: &StateAt,
        from: Address,
        kind: &TxKind,
        cap: u64,
    ) -> Result<Result<Estimate, EstimateFailed>> {
        match kind {
            TxKind::Transfer { .. } | TxKind::Stake(_) | TxKind::Gov(_) | TxKind::Ibc(_) => {
                return Ok(Ok(Estimate { gas: cinder_vm::plain_gas(kind), output: Vec::new() }));
            }
            _ => {}
        }
        let state = self.state();
        let view = view_at(&state, at.version);
        let nonce = state.account(at.version, &from)?.map_or(0, |a| a.nonce);
        let vm = cinder_vm::Vm::shared()?;
        let env = Self::query_env(at);
        let run = |gas_limit: u64| -> Result<(bool, u64, Status, Vec<u8>)> {
            let runner = Runner::new(vm, env);
            let task = TxTask::Contract(ContractTask::from_parts(&runner, from, nonce, gas_limit, 0, kind));
            let out = exec::execute(std::slice::from_ref(&task), &view, Strategy::Sequential, Mode::Build, u64::MAX)
                .map_err(|e| anyhow!("{e}"))?;
            if let Some(e) = view.take_error() {
                return Err(e.context("reading state for an estimate"));
            }
            if let Some(e) = runner.internal_error() {
                bail!("contract execution failed in this node: {e}");
            }
            let o = out.per_tx.into_iter().next().context("no output")?;
            if let TxStatus::Invalid(r) = &o.status {
                bail!("the transaction is invalid: {r}");
            }
            Ok((o.status == TxStatus::Success, o.gas_used, o.output.status, o.output.output))
        };
        let (ok, used, status, output) = run(cap)?;
        if !ok {
            return Ok(Err(EstimateFailed { cap, status }));
        }
        let (mut lo, mut hi, mut best) = (used, cap, output);
        match run(lo)? {
            (true, _, _, out) => return Ok(Ok(Estimate { gas: lo, output: out })),
            _ => lo += 1,
        }
        for _ in 0..24 {
            if lo >= hi {
                break;
            }
            let mid = lo + (hi - lo) / 2;
            match run(mid)? {
                (true, _, _, out) => {
                    hi = mid;
                    best = out;
                }
                _ => lo = mid + 1,
            }
        }
        Ok(Ok(Estimate { gas: hi, output: best }))
    }

    /// The contract at `a` in the state at `version`: its record and code.
    pub fn contract_code(&self, version: Version, a: &Address) -> Result<Option<(ContractInfo, Vec<u8>)>> {
        let state = self.state();
        let Some(bytes) = state.data(version, contract_key(a))? else { return Ok(None) };
        let info = decode::<ContractInfo>(&bytes).with_context(|| format!("the record of contract {a}"))?;
        let code = state
            .data(version, code_key(&info.code_hash))?
            .with_context(|| format!("contract {a} has no code {}", info.code_hash))?;
        Ok(Some((info, code)))
    }

    /// Entry `key` of `contract`'s storage in the state at `version`, with
    /// its proof against that state's root.
    pub fn storage_proof(
        &self,
        version: Version,
        contract: &Address,
        key: &[u8],
    ) -> Result<(Option<Vec<u8>>, DataProof)> {
        self.state().prove_data(version, record_tree_key(contract, key))
    }
}

/// The tree key of entry `key` under `address`: a record of the staking
/// ledger for [`cinder_primitives::STAKING_ADDRESS`], of governance for
/// [`cinder_primitives::GOV_ADDRESS`], of the inter-blockchain records
/// for [`cinder_primitives::IBC_ADDRESS`] (their record keys:
/// docs/design/staking.md, docs/design/governance.md, docs/protocol.md),
/// else a contract
/// storage entry.
pub fn record_tree_key(address: &Address, key: &[u8]) -> KeyHash {
    match *address {
        cinder_primitives::STAKING_ADDRESS => crate::staking::record_key(key),
        cinder_primitives::GOV_ADDRESS => crate::gov::record_key(key),
        cinder_primitives::IBC_ADDRESS => cinder_ibc::keys::tree_key(key),
        _ => storage_key(address, key),
    }
}

/// The most blocks one log query may span.
pub const MAX_LOG_BLOCKS: u64 = 10_000;
/// The most blocks a log query with neither contract nor topic may span
/// (it reads every receipt of the range).
pub const MAX_UNFILTERED_LOG_BLOCKS: u64 = 1_000;
/// The most events one log query returns.
pub const MAX_LOGS: usize = 10_000;

/// What a log query matches: contracts (any of, or all if empty) and, per
/// topic position, any of a list (or anything: `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// First height.
    pub from: u64,
    /// Last height.
    pub to: u64,
    /// Contracts.
    pub contracts: Vec<Address>,
    /// Topics by position (at most 4).
    pub topics: Vec<Option<Vec<Hash>>>,
}

impl LogQuery {
    /// Whether `e` matches (the block range aside).
    pub fn matches(&self, e: &cinder_primitives::Event) -> bool {
        (self.contracts.is_empty() || self.contracts.contains(&e.contract))
            && self.topics.iter().enumerate().all(|(i, want)| match want {
                None => true,
                Some(list) => e.topics.get(i).is_some_and(|t| list.contains(t)),
            })
    }
}

/// Why a log query is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogQueryError {
    /// Malformed.
    #[error("{0}")]
    Invalid(String),
    /// Too many blocks or events.
    #[error("{0}")]
    Limit(String),
}

/// An event found, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundLog {
    /// The block's height.
    pub height: u64,
    /// The block.
    pub block: Hash,
    /// The transaction's index in it.
    pub tx_index: u32,
    /// The transaction.
    pub tx: Hash,
    /// The event's index among the block's events.
    pub log_index: u32,
    /// The event.
    pub event: cinder_primitives::Event,
}

impl Chain {
    /// The events of canonical blocks that `q` matches, in chain order,
    /// found through the event index (by contract, else by the first topic
    /// position asked for), or, with neither, by reading the receipts of
    /// at most [`MAX_UNFILTERED_LOG_BLOCKS`] blocks.
    pub fn logs(&self, q: &LogQuery) -> Result<Result<Vec<FoundLog>, LogQueryError>> {
        use cinder_storage::EventKey;
        if q.from > q.to {
            return Ok(Err(LogQueryError::Invalid(format!("fromBlock {} is after toBlock {}", q.from, q.to))));
        }
        if q.topics.len() > cinder_primitives::MAX_TOPICS {
            return Ok(Err(LogQueryError::Invalid(format!("{} topic positions, at most 4", q.topics.len()))));
        }
        let span = q.to - q.from + 1;
        let first_topic = q.topics.iter().enumerate().find_map(|(i, t)| t.as_ref().map(|t| (i, t)));
        let keys: Vec<EventKey> = if !q.contracts.is_empty() {
            q.contracts.iter().map(|a| EventKey::Contract(*a)).collect()
        } else if let Some((i, list)) = first_topic {
            let i = u8::try_from(i).unwrap_or(0);
            list.iter().map(|t| EventKey::Topic(i, *t)).collect()
        } else {
            Vec::new()
        };
        let max = if keys.is_empty() { MAX_UNFILTERED_LOG_BLOCKS } else { MAX_LOG_BLOCKS };
        if span > max {
            let what = if keys.is_empty() { "without a contract or topic" } else { "" };
            return Ok(Err(LogQueryError::Limit(format!("{span} blocks {what}: at most {max} in one query"))));
        }
        let db = self.db();
        let mut places: Vec<cinder_storage::EventPlace> = Vec::new();
        if keys.is_empty() {
            for h in q.from..=q.to {
                let Some((id, _)) = db.canonical(h)? else { break };
                let receipts = db.receipts(&id)?.with_context(|| format!("block {id} has no receipts"))?;
                for (t, r) in receipts.iter().enumerate() {
                    for e in 0..r.events.len() {
                        places.push((h, u32::try_from(t)?, u32::try_from(e)?));
                    }
                }
            }
        } else {
            for k in keys {
                match db.events(k, q.from, q.to, MAX_LOGS) {
                    Ok(p) => places.extend(p),
                    Err(_) => return Ok(Err(LogQueryError::Limit(format!("more than {MAX_LOGS} events match")))),
                }
            }
            places.sort_unstable();
            places.dedup();
        }
        let mut out = Vec::new();
        let mut block: Option<(u64, Hash, Vec<cinder_primitives::Receipt>, Vec<u32>)> = None;
        for (h, t, e) in places {
            if block.as_ref().is_none_or(|b| b.0 != h) {
                let (id, _) = db.canonical(h)?.with_context(|| format!("no canonical block at {h}"))?;
                let receipts = db.receipts(&id)?.with_context(|| format!("block {id} has no receipts"))?;
                // Block-wide index of each receipt's first event.
                let mut first = Vec::with_capacity(receipts.len());
                let mut n = 0u32;
                for r in &receipts {
                    first.push(n);
                    n = n.saturating_add(u32::try_from(r.events.len())?);
                }
                block = Some((h, id, receipts, first));
            }
            let Some((_, id, receipts, first)) = &block else { continue };
            let r = receipts.get(t as usize).with_context(|| format!("event index: no receipt {t} at {h}"))?;
            let ev = r.events.get(e as usize).with_context(|| format!("event index: no event {e} of {t} at {h}"))?;
            if !q.matches(ev) {
                continue;
            }
            if out.len() == MAX_LOGS {
                return Ok(Err(LogQueryError::Limit(format!("more than {MAX_LOGS} events match"))));
            }
            out.push(FoundLog {
                height: h,
                block: *id,
                tx_index: t,
                tx: r.tx_id,
                log_index: first.get(t as usize).copied().unwrap_or(0).saturating_add(e),
                event: ev.clone(),
            });
        }
        Ok(Ok(out))
    }
}
