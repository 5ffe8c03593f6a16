//! A chain in memory for testing contracts on the host, without a node
//! (the role of CosmWasm's cw-multi-test or near-workspaces): deploy the
//! compiled `.wasm`, call and query it, look at balances, storage, events
//! and receipts. Every transaction runs through the same task, gas rules
//! and executor as on the chain, one block per transaction.

use std::collections::HashMap;

use anyhow::{Result, bail};
use cinder_engine::exec::{self, Mode, Strategy, TxStatus};
use cinder_primitives::{
    Address, AdminOp, BoundedBytes, BoundedString, Call, Deploy, Event, Hash, ReceiptStatus, TxKind,
};

use crate::Vm;
use crate::query::{Query, QueryResult, StateTxView, query};
use crate::state::{BlockEnv, StateKey, Val};
use crate::task::{ContractTask, Runner, TxTask, receipt};

/// The gas limit of the harness's transactions unless one is given.
pub const DEFAULT_GAS: u64 = 50_000_000;

/// What a transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxResult {
    /// How it ended.
    pub status: ReceiptStatus,
    /// Gas used.
    pub gas_used: u64,
    /// What the contract returned.
    pub output: Vec<u8>,
    /// The events it emitted.
    pub events: Vec<Event>,
    /// The contract a deploy created.
    pub created: Option<Address>,
}

impl TxResult {
    /// `Ok(self)` if it succeeded, else an error with its status.
    pub fn success(self) -> Result<TxResult> {
        if self.status.is_success() { Ok(self) } else { bail!("the transaction failed: {:?}", self.status) }
    }
}

/// An in-memory chain.
pub struct TestChain {
    vm: Vm,
    state: HashMap<StateKey, Val>,
    env: BlockEnv,
    accounts: u64,
    /// The gas price of its transactions (default 1).
    pub gas_price: u64,
}

impl TestChain {
    /// An empty chain at height 1, on the process's shared runtime.
    pub fn new() -> Result<TestChain> {
        Ok(TestChain::with_vm(Vm::shared()?.clone()))
    }

    /// An empty chain on `vm` (share one runtime across tests).
    pub fn with_vm(vm: Vm) -> TestChain {
        let env = BlockEnv { height: 1, time_ms: 1_767_225_600_000, coinbase: Address([0xcb; 32]) };
        TestChain { vm, state: HashMap::new(), env, accounts: 0, gas_price: 1 }
    }

    /// The runtime.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// A new account holding `balance`.
    pub fn account(&mut self, balance: u128) -> Address {
        self.accounts += 1;
        let a = Address(blake3::derive_key("cinder test account", &self.accounts.to_le_bytes()));
        self.state.insert(StateKey::Balance(a), Val::Num(balance));
        a
    }

    /// Sets the balance of `a` (an account whose key a test holds).
    pub fn fund(&mut self, a: Address, balance: u128) {
        self.state.insert(StateKey::Balance(a), Val::Num(balance));
    }

    /// The whole state (to start a block of one's own from it).
    pub fn state(&self) -> &HashMap<StateKey, Val> {
        &self.state
    }

    /// The balance of `a`.
    pub fn balance(&self, a: &Address) -> u128 {
        self.state.get(&StateKey::Balance(*a)).and_then(Val::num).unwrap_or(0)
    }

    /// The value of `key` in `contract`'s storage.
    pub fn storage(&self, contract: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(&StateKey::storage(*contract, key)).and_then(|v| v.bytes().map(<[u8]>::to_vec))
    }

    /// Every storage entry of `contract`, in key order.
    pub fn storage_entries(&self, contract: &Address) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut v: Vec<(Vec<u8>, Vec<u8>)> = self
            .state
            .iter()
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::Storage(c, key), Val::Bytes(b)) if c == contract => {
                    Some((key.as_bytes().to_vec(), b.to_vec()))
                }
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    /// The code hash and admin of the contract at `a`.
    pub fn contract(&self, a: &Address) -> Option<(Hash, Option<Address>)> {
        let b = self.state.get(&StateKey::Contract(*a))?.bytes()?.to_vec();
        let info = cinder_primitives::decode::<cinder_primitives::ContractInfo>(&b).ok()?;
        Some((info.code_hash, info.admin))
    }

    /// The block the next transaction runs in.
    pub fn block(&self) -> BlockEnv {
        self.env
    }

    /// Moves to the next block (height + 1, two seconds later).
    pub fn next_block(&mut self) {
        self.env.height += 1;
        self.env.time_ms += 2_000;
    }

    /// Deploys `code` from `from` with `init_args`, no value, no admin.
    pub fn deploy(&mut self, from: Address, code: &[u8], init_args: &[u8]) -> Result<TxResult> {
        self.execute(from, Self::deploy_kind(code, init_args, 0, None)?, DEFAULT_GAS)
    }

    /// A deploy's transaction kind.
    pub fn deploy_kind(code: &[u8], init_args: &[u8], value: u128, admin: Option<Address>) -> Result<TxKind> {
        Ok(TxKind::Deploy(Deploy {
            code: BoundedBytes::new(code.to_vec())
                .map_err(|c| anyhow::anyhow!("{} bytes of code is too much", c.len()))?,
            init_args: BoundedBytes::new(init_args.to_vec()).map_err(|_| anyhow::anyhow!("init arguments too long"))?,
            value,
            admin,
        }))
    }

    /// A call's transaction kind.
    pub fn call_kind(contract: Address, method: &str, args: &[u8], value: u128) -> Result<TxKind> {
        if method.len() > cinder_primitives::MAX_METHOD_BYTES {
            bail!("method name too long");
        }
        Ok(TxKind::Call(Call {
            contract,
            method: BoundedString::truncated(method),
            args: BoundedBytes::new(args.to_vec()).map_err(|_| anyhow::anyhow!("arguments too long"))?,
            value,
        }))
    }

    /// Calls `method` of `contract` from `from`, moving `value`.
    pub fn call(
        &mut self,
        from: Address,
        contract: Address,
        method: &str,
        args: &[u8],
        value: u128,
    ) -> Result<TxResult> {
        self.execute(from, Self::call_kind(contract, method, args, value)?, DEFAULT_GAS)
    }

    /// Migrates `contract` to `code` (from its admin), running `migrate`.
    pub fn migrate(&mut self, from: Address, contract: Address, code: &[u8], args: &[u8]) -> Result<TxResult> {
        let op = AdminOp::Migrate {
            contract,
            code: BoundedBytes::new(code.to_vec()).map_err(|_| anyhow::anyhow!("code too long"))?,
            args: BoundedBytes::new(args.to_vec()).map_err(|_| anyhow::anyhow!("arguments too long"))?,
        };
        self.execute(from, TxKind::Admin(op), DEFAULT_GAS)
    }

    /// Runs one contract transaction of `from` in its own block; `Err` if
    /// it is invalid (bad nonce, cannot pay its gas) or the node failed.
    pub fn execute(&mut self, from: Address, kind: TxKind, gas_limit: u64) -> Result<TxResult> {
        if !kind.is_contract() {
            bail!("the harness runs contract transactions only");
        }
        let nonce = self.state.get(&StateKey::Nonce(from)).and_then(Val::num).unwrap_or(0);
        let nonce = u64::try_from(nonce)?;
        let runner = Runner::new(&self.vm, self.env);
        let task = TxTask::Contract(ContractTask::from_parts(&runner, from, nonce, gas_limit, self.gas_price, &kind));
        let out = exec::execute(std::slice::from_ref(&task), &self.state, Strategy::Sequential, Mode::Build, u64::MAX)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(e) = runner.internal_error() {
            bail!("internal error: {e}");
        }
        let Some(tx) = out.per_tx.first() else { bail!("the executor returned no output") };
        if let TxStatus::Invalid(r) = &tx.status {
            bail!("invalid transaction: {r}");
        }
        for (k, v) in out.writes {
            match v {
                Some(v) => self.state.insert(k, v),
                None => self.state.remove(&k),
            };
        }
        let r = receipt(Hash::default(), tx);
        self.next_block();
        Ok(TxResult {
            status: r.status,
            gas_used: r.gas_used,
            output: r.output.as_slice().to_vec(),
            events: r.events.into_inner(),
            created: r.created,
        })
    }

    /// Runs `method` of `contract` read-only with `gas` (nothing is kept).
    pub fn query_with(
        &self,
        from: Address,
        contract: Address,
        method: &str,
        args: &[u8],
        gas: u64,
    ) -> Result<QueryResult> {
        let runner = Runner::new(&self.vm, self.env);
        let q = Query { from, contract, method, args, value: 0, gas };
        query(&runner, &mut StateTxView(&self.state), &q)
    }

    /// [`TestChain::query_with`] from the zero address with
    /// [`DEFAULT_GAS`]; `Err` unless it succeeds.
    pub fn query(&self, contract: Address, method: &str, args: &[u8]) -> Result<Vec<u8>> {
        let r = self.query_with(Address::default(), contract, method, args, DEFAULT_GAS)?;
        if r.status != crate::Status::Success {
            bail!("the query failed: {:?}", r.status);
        }
        Ok(r.output)
    }
}
