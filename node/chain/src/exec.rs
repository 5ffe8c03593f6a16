//! Executing a block's transactions on a parent state: the shared core of
//! import (Verify) and production (Build).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use std::sync::Arc;

use cinder_consensus::{Ancestry, Validators};
use cinder_engine::exec::{self, ExecStats, Mode, StateView, Strategy, TxStatus};
use cinder_primitives::{
    Account, Address, Block, BoundedString, Hash, Header, Receipt, ReceiptStatus, STAKING_ADDRESS, SignedTransaction,
    TxKind,
};
use cinder_state::{KeyHash, State, StateStore, Version};
use hashbrown::HashMap;
use rayon::prelude::*;

use crate::error::BlockInvalid;
use crate::vm::{StateKey, TransferTask, Word};

/// What a block is checked and executed against: its parent and the
/// parent's ancestry.
#[derive(Clone, Debug)]
pub struct BlockContext {
    /// The parent header.
    pub parent: Header,
    /// The parent's id.
    pub parent_id: Hash,
    /// The state version after the parent.
    pub parent_version: Version,
    /// The parent chain's cumulative weight.
    pub parent_weight: u128,
    /// Times of the parent and its predecessors, oldest first.
    pub recent_times: Vec<u32>,
    /// PoS: the validators of the child's height (from the parent's state).
    pub validators: Option<Arc<Validators>>,
    /// PoS: the validators of the parent's height (who certify it).
    pub parent_validators: Option<Arc<Validators>>,
}

impl BlockContext {
    /// The ancestry as consensus sees it.
    pub fn ancestry(&self) -> Ancestry<'_> {
        Ancestry {
            parent: &self.parent,
            parent_id: self.parent_id,
            recent_times: &self.recent_times,
            validators: self.validators.as_deref(),
            parent_validators: self.parent_validators.as_deref(),
        }
    }

    /// The context of a child of this context's parent: `block`, committed
    /// at `version` with cumulative `weight`, keeping `window` times. The
    /// validator sets are not carried over (they come from state: PoS
    /// blocks are not pipelined).
    pub fn child(&self, block: &Block, version: Version, weight: u128, window: usize) -> BlockContext {
        let mut recent_times = self.recent_times.clone();
        recent_times.push(block.header.pow.time());
        let excess = recent_times.len().saturating_sub(window);
        recent_times.drain(..excess);
        BlockContext {
            parent: block.header.clone(),
            parent_id: block.id(),
            parent_version: version,
            parent_weight: weight,
            recent_times,
            validators: None,
            parent_validators: None,
        }
    }
}

/// The base state of a block: the accounts it touches, read beforehand
/// (errors surface here, not inside the executor).
struct Prefetched {
    accounts: HashMap<Address, Option<Account>>,
    miss: AtomicBool,
}

impl StateView<StateKey, Word> for Prefetched {
    fn get(&self, key: &StateKey) -> Option<Word> {
        let (StateKey::Balance(a) | StateKey::Nonce(a)) = key;
        match self.accounts.get(a) {
            Some(Some(acct)) => Some(Word(match key {
                StateKey::Balance(_) => acct.balance,
                StateKey::Nonce(_) => u128::from(acct.nonce),
            })),
            Some(None) => None,
            None => {
                self.miss.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}

/// A block's execution.
pub(crate) struct Executed {
    /// Indices of the transactions in the block (all of them in Verify).
    pub included: Vec<usize>,
    /// Their receipts.
    pub receipts: Vec<Receipt>,
    /// Account updates, transactions and credits applied, by address.
    pub updates: Vec<(Address, Option<Account>)>,
    /// Data records the block writes (PoS: the staking ledger).
    pub data: Vec<(KeyHash, Option<Vec<u8>>)>,
    /// Reading the touched accounts.
    pub state_read: Duration,
    /// Running the transactions.
    pub execution: Duration,
    /// Executor counters.
    pub stats: ExecStats,
}

/// How the executor runs on `threads`.
pub(crate) fn strategy(threads: usize) -> Strategy {
    if threads <= 1 { Strategy::Sequential } else { Strategy::Parallel { threads } }
}

/// Executes `txs` on the state at `parent_version` (with `pending`
/// account updates on top, when the parent is not committed yet), paying
/// fees to `coinbase`, then applies `credits`, then (PoS) the staking pass.
/// `Ok(Err(_))`: the block is invalid (Verify) or a credit overflows.
#[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
pub(crate) fn execute_block<S: StateStore>(
    state: &State<S>,
    parent_version: Version,
    pending: Option<&HashMap<Address, Account>>,
    txs: &[SignedTransaction],
    coinbase: Address,
    credits: &[(Address, u128)],
    mode: Mode,
    gas_limit: u64,
    threads: usize,
    staking: Option<&crate::staking::Pass<'_>>,
) -> Result<Result<Executed, BlockInvalid>> {
    let t = Instant::now();
    let senders: Vec<Address> = txs.par_iter().map(|t| t.tx.sender_address()).collect();
    let mut touched: Vec<Address> = senders.clone();
    touched.extend(txs.iter().map(|t| t.tx.kind.payment().0));
    touched.push(coinbase);
    touched.extend(credits.iter().map(|(a, _)| *a));
    touched.par_sort_unstable();
    touched.dedup();
    let read: Vec<(Address, Option<Account>)> = touched
        .par_iter()
        .map(|a| match pending.and_then(|p| p.get(a)) {
            Some(acct) => Ok((*a, Some(*acct))),
            None => state.account(parent_version, a).map(|acct| (*a, acct)),
        })
        .collect::<Result<_>>()
        .context("reading the accounts the block touches")?;
    let view = Prefetched { accounts: read.into_iter().collect(), miss: AtomicBool::new(false) };
    let state_read = t.elapsed();

    let t = Instant::now();
    let tasks: Vec<TransferTask> =
        txs.iter().zip(&senders).map(|(tx, s)| TransferTask::new(tx, *s, coinbase)).collect();
    let out = match exec::execute(&tasks, &view, strategy(threads), mode, gas_limit) {
        Ok(o) => o,
        Err(e) => return Ok(Err(BlockInvalid::Transaction { index: e.index, reason: e.reason })),
    };
    if view.miss.load(Ordering::Relaxed) {
        bail!("the executor read an account that was not prefetched");
    }
    let mut receipts: Vec<Receipt> = out
        .included
        .par_iter()
        .map(|&i| {
            let o = &out.per_tx[i];
            let status = match &o.status {
                TxStatus::Success => ReceiptStatus::Success,
                TxStatus::Failed(r) | TxStatus::Invalid(r) => ReceiptStatus::Failed(BoundedString::truncated(r)),
            };
            Receipt { tx_id: txs[i].id(), status, gas_used: o.gas_used }
        })
        .collect();
    let mut accounts: HashMap<Address, Account> = HashMap::with_capacity(touched.len());
    for (k, v) in &out.writes {
        let (StateKey::Balance(a) | StateKey::Nonce(a)) = k;
        let acct = accounts.entry(*a).or_insert_with(|| view.accounts.get(a).copied().flatten().unwrap_or_default());
        let n = v.map_or(0, |w| w.0);
        match k {
            StateKey::Balance(_) => acct.balance = n,
            StateKey::Nonce(_) => acct.nonce = u64::try_from(n).context("a nonce above u64")?,
        }
    }
    // An account's balance before the block's credits: written, read, or
    // (staking payouts may reach accounts the block did not touch) read now.
    let base = |a: &Address| -> Result<Account> {
        if let Some(acct) = view.accounts.get(a) {
            return Ok(acct.unwrap_or_default());
        }
        match pending.and_then(|p| p.get(a)) {
            Some(acct) => Ok(*acct),
            None => Ok(state.account(parent_version, a)?.unwrap_or_default()),
        }
    };
    let credit = |accounts: &mut HashMap<Address, Account>, a: &Address, amount: u128| -> Result<bool> {
        let acct = match accounts.entry(*a) {
            hashbrown::hash_map::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_map::Entry::Vacant(v) => v.insert(base(a)?),
        };
        Ok(match acct.balance.checked_add(amount) {
            Some(b) => {
                acct.balance = b;
                true
            }
            None => false,
        })
    };
    for (a, amount) in credits {
        if !credit(&mut accounts, a, *amount)? {
            return Ok(Err(BlockInvalid::CreditOverflow(*a)));
        }
    }
    let mut data = Vec::new();
    if let Some(pass) = staking {
        let mut ops = Vec::new();
        let mut income = credits.iter().filter(|(a, _)| *a == STAKING_ADDRESS).map(|(_, x)| *x).sum::<u128>();
        for (r, &i) in out.included.iter().enumerate() {
            let fee = u128::from(receipts[r].gas_used) * u128::from(txs[i].tx.gas_price);
            income = income.checked_add(fee).context("the block's income overflows")?;
            if let (TxKind::Stake(op), ReceiptStatus::Success) = (&txs[i].tx.kind, &receipts[r].status) {
                ops.push((r, senders[i], op));
            }
        }
        let ledger = crate::staking::load(state, parent_version, pass.spec, &crate::staking::pairs(txs, &senders))?;
        let outcome = crate::staking::run(state, parent_version, pass, ledger, &ops, income)?;
        for (r, reason) in &outcome.refused {
            receipts[*r].status = ReceiptStatus::Failed(BoundedString::truncated(reason));
        }
        for (a, amount) in &outcome.credits {
            if !credit(&mut accounts, a, *amount)? {
                return Ok(Err(BlockInvalid::CreditOverflow(*a)));
            }
        }
        let staking_account = match accounts.entry(STAKING_ADDRESS) {
            hashbrown::hash_map::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_map::Entry::Vacant(v) => v.insert(base(&STAKING_ADDRESS)?),
        };
        staking_account.balance = crate::staking::debit_staking(staking_account.balance, outcome.debit)?;
        data = outcome.data;
    }
    let mut updates: Vec<(Address, Option<Account>)> = accounts.into_iter().map(|(a, acct)| (a, Some(acct))).collect();
    updates.par_sort_unstable_by_key(|(a, _)| *a);
    Ok(Ok(Executed {
        included: out.included,
        receipts,
        updates,
        data,
        state_read,
        execution: t.elapsed(),
        stats: out.stats,
    }))
}
