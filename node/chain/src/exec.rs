//! Executing a block's transactions on a parent state: the shared core of
//! import (Verify) and production (Build).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use cinder_consensus::{Ancestry, ChainSpec, Validators};
use cinder_engine::exec::{self, ExecStats, Mode, StateView, Strategy};
use cinder_gov::ChainParams;
use cinder_primitives::{
    Account, Address, Block, BoundedString, CommitCertificate, GOV_ADDRESS, Hash, Header, IBC_ADDRESS, OUTBOX_ADDRESS,
    PosHeaderData, Receipt, ReceiptStatus, STAKING_ADDRESS, ShardReceipt, ShardReceiptKind, SignedTransaction, TxKind,
    shard_of,
};
use cinder_state::{KeyHash, State, StateStore, Version};
use cinder_vm::{BlockEnv, Rules, Runner, ShardRule, StateKey, TxTask, Val};
use hashbrown::HashMap;
use rayon::prelude::*;

use crate::contracts;
use crate::error::BlockInvalid;
use crate::gov::Upgrades;

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
    /// The software upgrades this node can apply (from its
    /// [`crate::ChainConfig`]).
    pub upgrades: Upgrades,
    /// The chain's genesis block id (what counterparties' light clients
    /// name it by).
    pub genesis: Hash,
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

    /// The parent as a chain tip (what the chain's head is while a child
    /// of it is imported).
    pub fn parent_tip(&self) -> cinder_consensus::Tip {
        cinder_consensus::Tip { id: self.parent_id, height: self.parent.height(), weight: self.parent_weight }
    }

    /// The context of a child of this context's parent: `block`, committed
    /// at `version` with cumulative `weight`, keeping `window` times. The
    /// validator sets are not carried over (they come from state:
    /// [`crate::Chain::child_context`] reads them).
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
            upgrades: self.upgrades.clone(),
            genesis: self.genesis,
        }
    }
}

/// The state a block executes on: the accounts it touches, read
/// beforehand on all cores (a transfer-only block reads nothing else);
/// anything else — an account a contract reaches, contract records, code,
/// storage — read when first asked for and kept. A read error is kept and
/// surfaces after the run (the executor's view cannot fail).
pub(crate) struct BlockView<'a, S> {
    state: &'a State<S>,
    version: Version,
    accounts: HashMap<Address, Option<Account>>,
    more_accounts: Shards<Address, Option<Account>>,
    records: Shards<StateKey, Option<Val>>,
    error: Mutex<Option<anyhow::Error>>,
}

/// A map shared by the executor's threads, split over locks.
struct Shards<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Shards<K, V> {
    fn new() -> Self {
        Shards { shards: (0..16).map(|_| Mutex::new(HashMap::new())).collect() }
    }
    fn shard(&self, k: &K) -> &Mutex<HashMap<K, V>> {
        use std::hash::BuildHasher;
        let h = hashbrown::DefaultHashBuilder::default().hash_one(k);
        &self.shards[(h % 16) as usize]
    }
    /// The value of `k`, computed by `f` (outside the lock) the first time.
    fn get_or(&self, k: &K, f: impl FnOnce() -> V) -> V {
        if let Some(v) = self.shard(k).lock().unwrap_or_else(PoisonError::into_inner).get(k) {
            return v.clone();
        }
        let v = f();
        self.shard(k).lock().unwrap_or_else(PoisonError::into_inner).entry(k.clone()).or_insert(v).clone()
    }
}

/// A view of the state at `version` that reads everything when asked
/// (read-only calls and estimates): the executor's view of one
/// transaction alone.
pub(crate) fn view_at<S: StateStore>(state: &State<S>, version: Version) -> BlockView<'_, S> {
    BlockView {
        state,
        version,
        accounts: HashMap::new(),
        more_accounts: Shards::new(),
        records: Shards::new(),
        error: Mutex::new(None),
    }
}

impl<S: StateStore> BlockView<'_, S> {
    /// The first read error, if any (then what was read is not to be
    /// trusted).
    pub(crate) fn take_error(&self) -> Option<anyhow::Error> {
        self.error.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn fail(&self, e: anyhow::Error) {
        self.error.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(e);
    }

    /// The account at `a` before the block.
    fn account(&self, a: &Address) -> Option<Account> {
        if let Some(acct) = self.accounts.get(a) {
            return *acct;
        }
        self.more_accounts.get_or(a, || {
            self.state.account(self.version, a).unwrap_or_else(|e| {
                self.fail(e.context(format!("reading account {a}")));
                None
            })
        })
    }

    fn record(&self, key: &StateKey) -> Option<Val> {
        self.records.get_or(key, || {
            let read = match key {
                StateKey::Contract(a) => self.state.data(self.version, contracts::contract_key(a)),
                StateKey::Code(h) => self.state.data(self.version, contracts::code_key(h)),
                StateKey::Storage(a, k) => {
                    self.state.ordered(self.version, &contracts::storage_record(a, k.as_bytes()))
                }
                StateKey::Balance(_) | StateKey::Nonce(_) => Ok(None),
            };
            match read {
                Ok(v) => v.map(|b| Val::from_bytes(&b)),
                Err(e) => {
                    self.fail(e.context(format!("reading {key:?}")));
                    None
                }
            }
        })
    }
}

impl<S: StateStore> StateView<StateKey, Val> for BlockView<'_, S> {
    fn get(&self, key: &StateKey) -> Option<Val> {
        match key {
            StateKey::Balance(a) => self.account(a).map(|acct| Val::Num(acct.balance)),
            StateKey::Nonce(a) => self.account(a).map(|acct| Val::Num(u128::from(acct.nonce))),
            _ => self.record(key),
        }
    }

    fn range(&self, start: &StateKey, end: &StateKey, limit: usize) -> Vec<(StateKey, Val)> {
        let (StateKey::Storage(a, from), StateKey::Storage(b, to)) = (start, end) else {
            self.fail(anyhow!("a range read of {start:?}..={end:?}: only one contract's storage is ranged"));
            return Vec::new();
        };
        if a != b {
            self.fail(anyhow!("a range read across contracts {a} and {b}"));
            return Vec::new();
        }
        let (from, to) = (contracts::storage_record(a, from.as_bytes()), contracts::storage_record(a, to.as_bytes()));
        match self.state.ordered_range(self.version, &from, &to, limit) {
            Ok(entries) => {
                entries.into_iter().map(|(k, v)| (StateKey::storage(*a, &k[32..]), Val::from_bytes(&v))).collect()
            }
            Err(e) => {
                self.fail(e.context(format!("scanning the storage of {a}")));
                Vec::new()
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
    /// Data records the block writes (the staking ledger, contract
    /// records and code).
    pub data: Vec<(KeyHash, Option<Vec<u8>>)>,
    /// Ordered records the block writes (contract storage).
    pub ordered: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Reading the touched accounts.
    pub state_read: Duration,
    /// Running the transactions.
    pub execution: Duration,
    /// Executor counters.
    pub stats: ExecStats,
    /// On a sharded chain: what leaves the chunk's shard, in order (see
    /// [`ShardExec`]); empty otherwise.
    pub outgoing: Vec<Payment>,
}

/// A payment that leaves a chunk's shard: it becomes a cross-shard
/// receipt (crate::shard numbers it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Payment {
    /// Who paid (debited here): the sender, or the system account that paid
    /// a payout; the zero address for minted credits.
    pub from: Address,
    /// Who is credited, on another shard.
    pub to: Address,
    /// How much.
    pub amount: u128,
    /// The transaction that caused it, or the zero hash.
    pub origin: Hash,
    /// A transfer, or a refund of a receipt that could not be applied.
    pub kind: ShardReceiptKind,
}

/// How a chunk of a sharded chain executes (docs/design/sharding.md): its
/// senders must be on its shard; the receipts it applies (already checked
/// against their proofs) credit their recipients before its transactions
/// run, a credit that cannot be applied is refunded; cross-shard payments,
/// fees for a coinbase on another shard, and credits to accounts on other
/// shards leave as [`Payment`]s.
pub(crate) struct ShardExec {
    /// The chunk's shard and the chain's shard count.
    pub rule: ShardRule,
    /// The receipts the chunk applies, in order.
    pub incoming: Vec<ShardReceipt>,
}

/// How the executor runs on `threads`.
pub(crate) fn strategy(threads: usize) -> Strategy {
    if threads <= 1 { Strategy::Sequential } else { Strategy::Parallel { threads } }
}

/// The time a block's contracts see, in milliseconds: a PoS header's own,
/// a PoW header's seconds x 1000.
pub(crate) fn block_time_ms(header: &Header) -> u64 {
    match cinder_primitives::decode::<PosHeaderData>(header.fields.consensus_data.as_slice()) {
        Ok(d) => d.time_ms,
        Err(_) => u64::from(header.pow.time()) * 1000,
    }
}

/// The rules a block executes under: its parent state's parameters, and
/// on a PoS chain the staking pass and the known upgrades.
pub(crate) struct BlockRules<'a> {
    /// The chain parameters (PoS: from the parent's state).
    pub params: ChainParams,
    /// PoS: the staking pass (and, after it, the governance pass).
    pub staking: Option<crate::staking::Pass>,
    /// The upgrades this binary can apply.
    pub upgrades: &'a Upgrades,
    /// The chain's id.
    pub chain_id: u64,
    /// The chain's genesis block id.
    pub genesis: Hash,
    /// On a sharded chain, the chunk being executed.
    pub shard: Option<ShardExec>,
}

impl<'a> BlockRules<'a> {
    /// The rules of a block at `height` on the state at `parent_version`
    /// carrying `last_commit` (PoS), its parent certified by
    /// `parent_set`, on the chain of genesis `genesis`.
    #[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
    pub(crate) fn of<S: StateStore>(
        spec: &ChainSpec,
        state: &State<S>,
        parent_version: Version,
        height: u64,
        last_commit: Option<&CommitCertificate>,
        parent_set: Option<&Validators>,
        upgrades: &'a Upgrades,
        genesis: Hash,
    ) -> Result<BlockRules<'a>> {
        let params = crate::gov::params_at(state, parent_version, spec).context("reading the chain parameters")?;
        let staking = spec.pos.as_ref().map(|p| {
            crate::staking::Pass::new(
                crate::gov::staking_spec(&p.staking, &params),
                spec.chain_id,
                height,
                last_commit,
                parent_set,
            )
        });
        Ok(BlockRules { params, staking, upgrades, chain_id: spec.chain_id, genesis, shard: None })
    }

    /// What the VM needs of them.
    pub(crate) fn vm(&self) -> Rules {
        Rules {
            system_ops: self.staking.is_some(),
            max_code_bytes: self.params.max_code_bytes,
            shard: self.shard.as_ref().map(|s| s.rule),
        }
    }

    /// Why `tx` may not be in the block before it runs, if it may not.
    pub(crate) fn refuse(&self, tx: &SignedTransaction) -> Option<String> {
        (tx.tx.gas_price < self.params.min_gas_price).then(|| {
            format!("gas price {} is below the chain's minimum {}", tx.tx.gas_price, self.params.min_gas_price)
        })
    }
}

/// Executes `txs` on the state at `parent_version` (pipelined import
/// passes a [`cinder_state::Pending`] view while the parent is written), in
/// the block `env` (its height, time, and the coinbase fees go to), then
/// applies `credits`, then (PoS) the staking and governance passes.
/// `Ok(Err(_))`: the block is invalid (Verify) or a credit overflows.
/// `Err` with an [`crate::gov::UpgradeNeeded`] inside: the block is at an
/// upgrade this binary does not know.
#[expect(clippy::too_many_arguments, reason = "the block's parts, each needed")]
pub(crate) fn execute_block<S: StateStore>(
    state: &State<S>,
    parent_version: Version,
    txs: &[SignedTransaction],
    env: BlockEnv,
    credits: &[(Address, u128)],
    mode: Mode,
    threads: usize,
    rules: &BlockRules<'_>,
) -> Result<Result<Executed, BlockInvalid>> {
    if mode == Mode::Verify
        && let Some((index, reason)) = txs.iter().enumerate().find_map(|(i, t)| rules.refuse(t).map(|r| (i, r)))
    {
        return Ok(Err(BlockInvalid::Transaction { index, reason }));
    }
    let gas_limit = rules.params.block_gas_limit;
    let coinbase = env.coinbase;
    let t = Instant::now();
    let senders: Vec<Address> = txs.par_iter().map(|t| t.tx.sender_address()).collect();
    if let Some(sh) = &rules.shard
        && let Some(index) = senders.iter().position(|s| sh.rule.is_remote(s))
    {
        let reason = format!(
            "its sender is on shard {}, not on the chunk's shard {}",
            shard_of(&senders[index], sh.rule.shards),
            sh.rule.shard
        );
        return Ok(Err(BlockInvalid::Transaction { index, reason }));
    }
    // PoS: the governance ledger first, so that a block at an upgrade this
    // binary does not know stops before it executes anything.
    let governance = match rules.staking {
        None => None,
        Some(_) => {
            let (ids, votes) = crate::gov::named(txs, &senders);
            let mut gov = crate::gov::load(state, parent_version, env.height, &ids, &votes)?;
            let upgrade = crate::gov::upgrade(state, parent_version, env.height, &mut gov, rules.upgrades)?;
            Some((gov, votes, upgrade))
        }
    };
    let mut touched: Vec<Address> = senders.clone();
    touched.extend(txs.iter().map(|t| t.tx.payment().0));
    touched.push(coinbase);
    touched.extend(credits.iter().map(|(a, _)| *a));
    if let Some(sh) = &rules.shard {
        touched.extend(sh.incoming.iter().map(|r| r.to));
        touched.push(OUTBOX_ADDRESS);
    }
    touched.par_sort_unstable();
    touched.dedup();
    let read: Vec<(Address, Option<Account>)> = touched
        .par_iter()
        .map(|a| state.account(parent_version, a).map(|acct| (*a, acct)))
        .collect::<Result<_>>()
        .context("reading the accounts the block touches")?;
    let mut read: HashMap<Address, Option<Account>> = read.into_iter().collect();
    // Sharded: the incoming receipts credit their recipients before the
    // transactions run; one that cannot be credited goes back as a refund.
    let mut outgoing: Vec<Payment> = Vec::new();
    let mut received: HashMap<Address, Account> = HashMap::new();
    if let Some(sh) = &rules.shard {
        if read.get(&OUTBOX_ADDRESS).is_some_and(Option::is_some) {
            bail!("the outbox account has a balance in the state");
        }
        for r in &sh.incoming {
            let acct = read.get(&r.to).copied().flatten().unwrap_or_default();
            match acct.balance.checked_add(r.amount) {
                Some(balance) => {
                    let acct = Account { balance, ..acct };
                    read.insert(r.to, Some(acct));
                    received.insert(r.to, acct);
                }
                None => outgoing.push(Payment {
                    from: r.to,
                    to: r.from,
                    amount: r.amount,
                    origin: r.origin,
                    kind: ShardReceiptKind::Refund { of: r.id() },
                }),
            }
        }
    }
    let view = BlockView {
        state,
        version: parent_version,
        accounts: read,
        more_accounts: Shards::new(),
        records: Shards::new(),
        error: Mutex::new(None),
    };
    let state_read = t.elapsed();

    let t = Instant::now();
    let vm = cinder_vm::Vm::shared()?;
    let runner = Runner::new(vm, env).with_rules(rules.vm());
    let tasks: Vec<TxTask<'_>> = txs.iter().zip(&senders).map(|(tx, s)| TxTask::new(tx, *s, &runner)).collect();
    let out = exec::execute(&tasks, &view, strategy(threads), mode, gas_limit);
    if let Some(e) = view.error.lock().unwrap_or_else(PoisonError::into_inner).take() {
        return Err(e.context("reading state during execution"));
    }
    if let Some(e) = runner.internal_error() {
        bail!("contract execution failed in this node: {e}");
    }
    let out = match out {
        Ok(o) => o,
        Err(e) => return Ok(Err(BlockInvalid::Transaction { index: e.index, reason: e.reason })),
    };
    let mut receipts: Vec<Receipt> =
        out.included.par_iter().map(|&i| cinder_vm::receipt(txs[i].id(), &out.per_tx[i])).collect();
    let mut accounts: HashMap<Address, Account> = HashMap::with_capacity(touched.len());
    // What the receipts credited, unless a transaction wrote it since.
    accounts.extend(received);
    // Sharded: the cross-shard transfers that succeeded and the fees for a
    // coinbase on another shard paid the outbox.
    let mut outboxed = 0u128;
    if let Some(sh) = &rules.shard {
        let mut fees = 0u128;
        for (r, &i) in out.included.iter().enumerate() {
            fees = fees.saturating_add(u128::from(receipts[r].gas_used) * u128::from(txs[i].tx.gas_price));
            if let (TxKind::Transfer { to, amount }, ReceiptStatus::Success) = (&txs[i].tx.kind, &receipts[r].status)
                && sh.rule.is_remote(to)
            {
                outboxed = outboxed.saturating_add(*amount);
                outgoing.push(Payment {
                    from: senders[i],
                    to: *to,
                    amount: *amount,
                    origin: txs[i].id(),
                    kind: ShardReceiptKind::Transfer,
                });
            }
        }
        if sh.rule.is_remote(&coinbase) && fees > 0 {
            outboxed = outboxed.saturating_add(fees);
            outgoing.push(Payment {
                from: Address::default(),
                to: coinbase,
                amount: fees,
                origin: Hash::default(),
                kind: ShardReceiptKind::Transfer,
            });
        }
    }
    let mut data = Vec::new();
    let mut ordered = Vec::new();
    let bytes = |v: &Option<Val>, k: &StateKey| -> Result<Option<Vec<u8>>> {
        match v {
            None => Ok(None),
            Some(Val::Bytes(b)) => Ok(Some(b.to_vec())),
            Some(Val::Num(_)) => bail!("{k:?} was written a number"),
        }
    };
    for (k, v) in &out.writes {
        let n = |v: &Option<Val>| v.as_ref().map_or(Some(0), Val::num).with_context(|| format!("{k:?} holds bytes"));
        match k {
            StateKey::Balance(a) => {
                accounts.entry(*a).or_insert_with(|| view.account(a).unwrap_or_default()).balance = n(v)?;
            }
            StateKey::Nonce(a) => {
                accounts.entry(*a).or_insert_with(|| view.account(a).unwrap_or_default()).nonce =
                    u64::try_from(n(v)?).context("a nonce above u64")?;
            }
            StateKey::Contract(a) => data.push((contracts::contract_key(a), bytes(v, k)?)),
            StateKey::Code(h) => data.push((contracts::code_key(h), bytes(v, k)?)),
            StateKey::Storage(a, key) => ordered.push((contracts::storage_record(a, key.as_bytes()), bytes(v, k)?)),
        }
    }
    // An account's balance before the block's credits: written, read, or
    // (staking payouts may reach accounts the block did not touch) read now.
    let base = |a: &Address| -> Result<Account> {
        let acct = view.account(a).unwrap_or_default();
        match view.error.lock().unwrap_or_else(PoisonError::into_inner).take() {
            Some(e) => Err(e),
            None => Ok(acct),
        }
    };
    let shard_rule = rules.shard.as_ref().map(|s| s.rule);
    // A credit to an account on another shard leaves as a payment.
    let mut payouts: Vec<Payment> = Vec::new();
    let mut credit = |accounts: &mut HashMap<Address, Account>, a: &Address, amount: u128| -> Result<bool> {
        if let Some(rule) = shard_rule
            && rule.is_remote(a)
        {
            if amount > 0 {
                payouts.push(Payment {
                    from: Address::default(),
                    to: *a,
                    amount,
                    origin: Hash::default(),
                    kind: ShardReceiptKind::Transfer,
                });
            }
            return Ok(true);
        }
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
    if let Some(pass) = &rules.staking {
        let (mut staking_ops, mut gov_ops) = (Vec::new(), Vec::new());
        let mut income = credits.iter().filter(|(a, _)| *a == STAKING_ADDRESS).map(|(_, x)| *x).sum::<u128>();
        // Sharded: the fees other shards' chunks paid the staking account
        // in the previous block.
        income = income.saturating_add(rules.shard.as_ref().map_or(0, |s| crate::shard::staking_income(&s.incoming)));
        let mut fees = 0u128;
        for (r, &i) in out.included.iter().enumerate() {
            let fee = u128::from(receipts[r].gas_used) * u128::from(txs[i].tx.gas_price);
            fees = fees.checked_add(fee).context("the block's fees overflow")?;
            match (&txs[i].tx.kind, &receipts[r].status) {
                (TxKind::Stake(op), ReceiptStatus::Success) => staking_ops.push((r, senders[i], op)),
                (TxKind::Gov(op), ReceiptStatus::Success) => gov_ops.push((r, senders[i], op)),
                _ => {}
            }
        }
        // The community pool's share of the fees leaves the staking
        // account (where fees are paid) for the governance account.
        let pool_cut = cinder_staking::mul_div(fees, u128::from(rules.params.community_tax_bps), 10_000)
            .map_err(|e| anyhow!("the community tax: {e}"))?;
        income = income.checked_add(fees - pool_cut).context("the block's income overflows")?;
        let Some((mut gov, votes, upgrade)) = governance else { bail!("a PoS block without its governance ledger") };
        let height = env.height;
        let mut ledger =
            crate::staking::load(state, parent_version, &pass.spec, &crate::staking::pairs(txs, &senders))?;
        let voters = gov.voters(&votes);
        if !voters.is_empty() {
            let operators: Vec<Address> = ledger.staking.validators.keys().copied().collect();
            let pairs: Vec<(Address, Address)> =
                voters.iter().flat_map(|v| operators.iter().map(move |o| (*v, *o))).collect();
            ledger
                .load_more(|k| state.data(parent_version, crate::staking::record_key(k)), &pairs)
                .map_err(|e| anyhow!("{e}"))?;
        }
        let outcome = crate::staking::run(state, parent_version, pass, &mut ledger, &staking_ops, income)?;
        let governed = crate::gov::run(height, &mut gov, &ledger.staking, &gov_ops, pool_cut)?;
        for (r, reason) in outcome.refused.iter().chain(&governed.refused) {
            receipts[*r].status = ReceiptStatus::Failed(BoundedString::truncated(reason));
        }
        for (a, amount) in outcome.credits.iter().chain(&governed.credits) {
            if !credit(&mut accounts, a, *amount)? {
                return Ok(Err(BlockInvalid::CreditOverflow(*a)));
            }
        }
        // The pool's cut and the governance account's debits.
        if !credit(&mut accounts, &GOV_ADDRESS, pool_cut)? {
            return Ok(Err(BlockInvalid::CreditOverflow(GOV_ADDRESS)));
        }
        let staking_account = match accounts.entry(STAKING_ADDRESS) {
            hashbrown::hash_map::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_map::Entry::Vacant(v) => v.insert(base(&STAKING_ADDRESS)?),
        };
        let debit = outcome.debit.checked_add(pool_cut).context("the staking account's debit overflows")?;
        staking_account.balance = crate::staking::debit_staking(staking_account.balance, debit)?;
        let gov_account = match accounts.entry(GOV_ADDRESS) {
            hashbrown::hash_map::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_map::Entry::Vacant(v) => v.insert(base(&GOV_ADDRESS)?),
        };
        gov_account.balance = crate::gov::debit_gov(gov_account.balance, governed.debit)?;
        data.extend(outcome.data);
        data.extend(governed.data);
        data.extend(upgrade);
    }
    // The inter-blockchain pass, on PoW and PoS chains alike: each
    // operation that executed (a native transfer's amount already moved
    // to IBC_ADDRESS), in block order.
    let ibc_ops: Vec<(usize, Address, &cinder_primitives::IbcOp)> = out
        .included
        .iter()
        .enumerate()
        .filter_map(|(r, &i)| match (&txs[i].tx.kind, &receipts[r].status) {
            (TxKind::Ibc(op), ReceiptStatus::Success) => Some((r, senders[i], op)),
            _ => None,
        })
        .collect();
    if !ibc_ops.is_empty() {
        let read = |k: &[u8]| state.data(parent_version, cinder_ibc::keys::tree_key(k)).map_err(|e| format!("{e:#}"));
        let ibc_env = cinder_ibc::Env {
            chain_id: rules.chain_id,
            genesis: rules.genesis,
            height: env.height,
            time_ms: env.time_ms,
        };
        let o = cinder_ibc::run(&read, &ibc_env, &ibc_ops).map_err(|e| anyhow!("the inter-blockchain pass: {e}"))?;
        for (r, reason) in &o.refused {
            receipts[*r].status = ReceiptStatus::Failed(BoundedString::truncated(reason));
        }
        for (r, output) in o.outputs {
            receipts[r].output = cinder_primitives::BoundedBytes::new(output)
                .map_err(|o| anyhow!("an inter-blockchain output of {} bytes", o.len()))?;
        }
        for (a, amount) in &o.credits {
            if !credit(&mut accounts, a, *amount)? {
                return Ok(Err(BlockInvalid::CreditOverflow(*a)));
            }
        }
        let escrow = match accounts.entry(IBC_ADDRESS) {
            hashbrown::hash_map::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_map::Entry::Vacant(v) => v.insert(base(&IBC_ADDRESS)?),
        };
        escrow.balance = escrow
            .balance
            .checked_sub(o.debit)
            .with_context(|| format!("the escrow account pays {} but holds {}", o.debit, escrow.balance))?;
        data.extend(o.data.into_iter().map(|(k, v)| (cinder_ibc::keys::tree_key(&k), v)));
    }
    if rules.shard.is_some() {
        // The outbox is never stored: what it received leaves the shard.
        let held = accounts.remove(&OUTBOX_ADDRESS).map_or(0, |a| a.balance);
        if held != outboxed {
            bail!("the outbox holds {held}, the chunk's cross-shard payments and fees are {outboxed}");
        }
        outgoing.append(&mut payouts);
    }
    let mut updates: Vec<(Address, Option<Account>)> = accounts.into_iter().map(|(a, acct)| (a, Some(acct))).collect();
    updates.par_sort_unstable_by_key(|(a, _)| *a);
    Ok(Ok(Executed {
        included: out.included,
        receipts,
        updates,
        data,
        ordered,
        state_read,
        execution: t.elapsed(),
        stats: out.stats,
        outgoing,
    }))
}
