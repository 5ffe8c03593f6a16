//! # cinder-mempool
//!
//! The pool of transactions waiting for a block. Validity is the chain's
//! rule (docs/protocol.md, "Transaction validity"): what the pool admits is
//! what a block may contain, checked against the head's state.
//!
//! - **Admission** ([`Mempool::add`]): the envelope (chain id, size) and the
//!   signatures of a whole batch at once (the engine's batch verifier), then
//!   per transaction: a nonce not below the sender's, at most
//!   `max_per_sender` ahead of it, a balance that pays `gas_limit x
//!   gas_price`.
//! - **Replacement**: a transaction with a sender's nonce already pooled
//!   replaces it only with a gas price at least `replace_bump_percent`
//!   higher.
//! - **Limits and eviction**: at most `max_txs` in all and `max_per_sender`
//!   per sender; a full pool evicts the cheapest transaction that is its
//!   sender's last (so no sender is left with a gap) for a better-paying
//!   one, and refuses one that pays no more.
//! - **Selection** ([`Mempool::select`]): each sender's transactions in
//!   nonce order from its state nonce, without gaps, senders interleaved by
//!   the gas price of their next transaction, up to a gas budget.
//! - **New heads** ([`Mempool::on_new_head`]): included and outdated
//!   transactions leave; the transactions of blocks a reorg reverted come
//!   back (re-validated).

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use anyhow::Result;
use cinder_primitives::{Account, Address, Hash, SignedTransaction, TxInvalid};

/// Limits of a pool.
#[derive(Clone, Copy, Debug)]
pub struct MempoolConfig {
    /// Transactions in all.
    pub max_txs: usize,
    /// Transactions per sender (also how far ahead of its state nonce).
    pub max_per_sender: usize,
    /// A replacement's gas price must exceed the old one's by this much.
    pub replace_bump_percent: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig { max_txs: 100_000, max_per_sender: 64, replace_bump_percent: 10 }
    }
}

/// The head state the pool checks against.
pub trait AccountView {
    /// The account at `address` (`None`: it does not exist).
    fn account(&self, address: &Address) -> Result<Option<Account>>;
}

impl<F: Fn(&Address) -> Result<Option<Account>>> AccountView for F {
    fn account(&self, address: &Address) -> Result<Option<Account>> {
        self(address)
    }
}

/// Why a transaction was not admitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Bad signature, chain id or size.
    #[error("{0}")]
    Invalid(#[from] TxInvalid),
    /// Already pooled.
    #[error("already known")]
    Known,
    /// Below the sender's nonce.
    #[error("nonce {got} is below the sender's next nonce {next}")]
    NonceTooLow {
        /// In the transaction.
        got: u64,
        /// The sender's.
        next: u64,
    },
    /// Too far ahead of the sender's nonce.
    #[error("nonce {got} is more than {max} ahead of the sender's next nonce {next}")]
    NonceTooHigh {
        /// In the transaction.
        got: u64,
        /// The sender's.
        next: u64,
        /// The pool's limit.
        max: usize,
    },
    /// The sender cannot pay `gas_limit x gas_price`.
    #[error("balance {balance} cannot pay gas_limit x gas_price = {max_fee}")]
    CannotPay {
        /// The sender's balance.
        balance: u128,
        /// What the transaction may cost in fees.
        max_fee: u128,
    },
    /// A replacement that does not raise the gas price enough.
    #[error("a replacement needs a gas price of at least {min}, it has {got}")]
    Underpriced {
        /// Offered.
        got: u64,
        /// Needed.
        min: u64,
    },
    /// The sender has the most transactions a sender may pool.
    #[error("the sender has {0} pooled transactions, the most allowed")]
    SenderFull(usize),
    /// The pool is full of transactions that pay at least as much.
    #[error("the pool is full and every pooled transaction pays at least {0}")]
    PoolFull(u64),
    /// Reading the sender's account failed (the node's fault).
    #[error("reading the sender's account: {0}")]
    State(String),
    /// The chain's rules would refuse it in a block (a gas price below the
    /// minimum) or fail it outright (staking or governance on a
    /// proof-of-work chain).
    #[error("{0}")]
    Refused(String),
}

struct Entry {
    tx: SignedTransaction,
    id: Hash,
    seq: u64,
}

/// The pool.
pub struct Mempool {
    cfg: MempoolConfig,
    chain_id: u64,
    senders: hashbrown::HashMap<Address, BTreeMap<u64, Entry>>,
    ids: hashbrown::HashMap<Hash, (Address, u64)>,
    /// (gas price, arrival, sender, nonce): the cheapest first.
    by_price: BTreeSet<(u64, u64, Address, u64)>,
    seq: u64,
}

impl Mempool {
    /// An empty pool for `chain_id`.
    pub fn new(chain_id: u64, cfg: MempoolConfig) -> Mempool {
        Mempool {
            cfg,
            chain_id,
            senders: hashbrown::HashMap::new(),
            ids: hashbrown::HashMap::new(),
            by_price: BTreeSet::new(),
            seq: 0,
        }
    }

    /// The nonce `sender`'s next transaction takes: after its pooled ones
    /// that follow `account_nonce` without a gap.
    pub fn next_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        let mut next = account_nonce;
        if let Some(q) = self.senders.get(sender) {
            while q.contains_key(&next) {
                next = next.saturating_add(1);
            }
        }
        next
    }

    /// Pooled transactions.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `id` is pooled.
    pub fn contains(&self, id: &Hash) -> bool {
        self.ids.contains_key(id)
    }

    /// Admits what it can of `txs` (signatures verified as one batch);
    /// one result per transaction, in order.
    pub fn add(&mut self, txs: Vec<SignedTransaction>, view: &dyn AccountView) -> Vec<Result<Hash, Rejected>> {
        let mut results: Vec<Option<Result<Hash, Rejected>>> = vec![None; txs.len()];
        let mut checked = Vec::with_capacity(txs.len());
        let mut index = Vec::with_capacity(txs.len());
        for (i, t) in txs.into_iter().enumerate() {
            match t.check_envelope(self.chain_id) {
                Ok(()) => {
                    checked.push(t);
                    index.push(i);
                }
                Err(e) => results[i] = Some(Err(e.into())),
            }
        }
        let mut bad = vec![false; checked.len()];
        // One batch; the senders' public keys come from the process's
        // `sig::KeyCache` (a busy sender's key is not decompressed for
        // every transaction, nor again when its block is imported).
        if let Err(b) = cinder_primitives::verify_signatures(&checked) {
            for i in b {
                bad[i] = true;
            }
        }
        for ((t, i), bad) in checked.into_iter().zip(index).zip(bad) {
            results[i] = Some(if bad { Err(TxInvalid::BadSignature.into()) } else { self.insert(t, view) });
        }
        results.into_iter().map(|r| r.unwrap_or(Err(Rejected::State("not checked".into())))).collect()
    }

    fn insert(&mut self, tx: SignedTransaction, view: &dyn AccountView) -> Result<Hash, Rejected> {
        let id = tx.id();
        if self.ids.contains_key(&id) {
            return Err(Rejected::Known);
        }
        let sender = tx.tx.sender_address();
        let acct = view.account(&sender).map_err(|e| Rejected::State(format!("{e:#}")))?.unwrap_or_default();
        let nonce = tx.tx.nonce;
        if nonce < acct.nonce {
            return Err(Rejected::NonceTooLow { got: nonce, next: acct.nonce });
        }
        if nonce - acct.nonce >= self.cfg.max_per_sender as u64 {
            return Err(Rejected::NonceTooHigh { got: nonce, next: acct.nonce, max: self.cfg.max_per_sender });
        }
        let max_fee = u128::from(tx.tx.gas_limit) * u128::from(tx.tx.gas_price);
        if acct.balance < max_fee {
            return Err(Rejected::CannotPay { balance: acct.balance, max_fee });
        }
        let price = tx.tx.gas_price;
        let queue = self.senders.get(&sender);
        if let Some(old) = queue.and_then(|q| q.get(&nonce)) {
            let min = old.tx.tx.gas_price.saturating_mul(100 + self.cfg.replace_bump_percent).div_ceil(100);
            let min = min.max(old.tx.tx.gas_price.saturating_add(1));
            if price < min {
                return Err(Rejected::Underpriced { got: price, min });
            }
            self.remove(&sender, nonce);
        } else {
            let count = queue.map_or(0, BTreeMap::len);
            if count >= self.cfg.max_per_sender {
                return Err(Rejected::SenderFull(count));
            }
            if self.len() >= self.cfg.max_txs {
                match self.cheapest_tail() {
                    Some((cheapest, s, n)) if price > cheapest => {
                        self.remove(&s, n);
                    }
                    other => return Err(Rejected::PoolFull(other.map_or(0, |c| c.0))),
                }
            }
        }
        self.seq += 1;
        self.by_price.insert((price, self.seq, sender, nonce));
        self.ids.insert(id, (sender, nonce));
        self.senders.entry(sender).or_default().insert(nonce, Entry { tx, id, seq: self.seq });
        Ok(id)
    }

    /// A pooled transaction.
    pub fn get(&self, id: &Hash) -> Option<&SignedTransaction> {
        let (sender, nonce) = self.ids.get(id)?;
        self.senders.get(sender)?.get(nonce).map(|e| &e.tx)
    }

    /// A gas price that gets a transaction in: 1 while the pool has room,
    /// else one above the cheapest evictable transaction.
    pub fn suggested_gas_price(&self) -> u64 {
        if self.len() < self.cfg.max_txs {
            return 1;
        }
        self.cheapest_tail().map_or(1, |(p, _, _)| p.saturating_add(1))
    }

    /// The cheapest transaction that is its sender's last (evicting it
    /// leaves no sender with a gap): price, sender, nonce.
    fn cheapest_tail(&self) -> Option<(u64, Address, u64)> {
        self.by_price.iter().find_map(|&(price, _, sender, nonce)| {
            let last = self.senders.get(&sender).and_then(|q| q.keys().next_back().copied());
            (last == Some(nonce)).then_some((price, sender, nonce))
        })
    }

    fn remove(&mut self, sender: &Address, nonce: u64) -> Option<SignedTransaction> {
        let queue = self.senders.get_mut(sender)?;
        let e = queue.remove(&nonce)?;
        if queue.is_empty() {
            self.senders.remove(sender);
        }
        self.ids.remove(&e.id);
        self.by_price.remove(&(e.tx.tx.gas_price, e.seq, *sender, nonce));
        Some(e.tx)
    }

    /// Transactions for a block: each sender's in nonce order from its state
    /// nonce without gaps, the sender whose next transaction pays the most
    /// first, until the next would exceed `gas_budget` (counted by gas
    /// limits) or `max_txs` are chosen.
    pub fn select(&self, view: &dyn AccountView, gas_budget: u64, max_txs: usize) -> Result<Vec<SignedTransaction>> {
        // (price of the next transaction, arrival reversed, sender, next nonce)
        let mut heap = BinaryHeap::new();
        for (sender, queue) in &self.senders {
            let next = view.account(sender)?.map_or(0, |a| a.nonce);
            if let Some(e) = queue.get(&next) {
                heap.push((e.tx.tx.gas_price, std::cmp::Reverse(e.seq), *sender, next));
            }
        }
        let mut out = Vec::new();
        let mut gas = 0u64;
        while let Some((_, _, sender, nonce)) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            let Some(queue) = self.senders.get(&sender) else { continue };
            let Some(e) = queue.get(&nonce) else { continue };
            let Some(total) = gas.checked_add(e.tx.tx.gas_limit).filter(|g| *g <= gas_budget) else { continue };
            gas = total;
            out.push(e.tx.clone());
            if let Some(n) = queue.get(&(nonce + 1)) {
                heap.push((n.tx.tx.gas_price, std::cmp::Reverse(n.seq), sender, nonce + 1));
            }
        }
        Ok(out)
    }

    /// After the head moved onto a child of the old head whose
    /// transactions are `included` (all of them): drops those and, for
    /// their senders only, any entry below the new nonce — no other
    /// sender's nonce can have moved. O(block), where
    /// [`Mempool::on_new_head`] reads every pooled sender's account.
    pub fn on_extended(&mut self, included: &[SignedTransaction], view: &dyn AccountView) -> Result<()> {
        for t in included {
            if let Some((sender, nonce)) = self.ids.get(&t.id()).copied() {
                self.remove(&sender, nonce);
            }
        }
        let mut senders: Vec<Address> = included.iter().map(|t| t.tx.sender_address()).collect();
        senders.sort_unstable_by_key(|a| a.0);
        senders.dedup();
        for sender in senders {
            let Some(queue) = self.senders.get(&sender) else { continue };
            let next = view.account(&sender)?.map_or(0, |a| a.nonce);
            let stale: Vec<u64> = queue.range(..next).map(|(n, _)| *n).collect();
            for n in stale {
                self.remove(&sender, n);
            }
        }
        Ok(())
    }

    /// After the head moved: drops transactions `included` in the new
    /// chain and any below its senders' nonces, then offers the
    /// transactions of `reverted` blocks (a reorg) again. Returns how many
    /// of those came back.
    pub fn on_new_head(
        &mut self,
        included: &[SignedTransaction],
        reverted: Vec<SignedTransaction>,
        view: &dyn AccountView,
    ) -> Result<usize> {
        for t in included {
            if let Some((sender, nonce)) = self.ids.get(&t.id()).copied() {
                self.remove(&sender, nonce);
            }
        }
        let senders: Vec<Address> = self.senders.keys().copied().collect();
        for sender in senders {
            let next = view.account(&sender)?.map_or(0, |a| a.nonce);
            let stale: Vec<u64> =
                self.senders.get(&sender).map(|q| q.range(..next).map(|(n, _)| *n).collect()).unwrap_or_default();
            for n in stale {
                self.remove(&sender, n);
            }
        }
        let included: hashbrown::HashSet<Hash> = included.iter().map(SignedTransaction::id).collect();
        let back: Vec<SignedTransaction> = reverted.into_iter().filter(|t| !included.contains(&t.id())).collect();
        Ok(self.add(back, view).iter().filter(|r| r.is_ok()).count())
    }
}

#[cfg(test)]
mod tests;
