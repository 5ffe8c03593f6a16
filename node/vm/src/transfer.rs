//! Transfers (and what a staking operation bonds): how a transaction that
//! runs no contract code changes accounts. Only the sender's keys are
//! read; the recipient's and the coinbase's credits are deltas.
//!
//! The rules (docs/protocol.md, "Transaction validity"):
//! - **Invalid** (the block is invalid; producers drop it): the nonce is not
//!   the sender's next, the nonce cannot grow, or the balance cannot pay
//!   `gas_limit x gas_price`.
//! - **Failed** (nonce bumped, `gas_used x gas_price` paid to the coinbase):
//!   the gas limit is below [`TRANSFER_GAS`] (all of it is used), the
//!   balance after the fee is below the amount, the amount is above
//!   [`MAX_TRANSFER`], or a credit would overflow the recipient's balance.
//! - **Success**: the sender pays the amount and the fee, the recipient
//!   gets the amount, the coinbase the fee.

use cinder_engine::exec::{Suspend, TaskOutput, TxStatus, TxView, WriteOp};
use cinder_primitives::{Address, ClientUpdate, GovOp, IbcOp, Misbehaviour, SignedTransaction, TxKind, encode};

use crate::state::{StateKey, Val};
use crate::task::Outcome;

/// The gas a transfer uses.
pub const TRANSFER_GAS: u64 = 21_000;
/// The gas a staking operation uses (its ledger work and, for evidence,
/// two signature checks).
pub const STAKE_GAS: u64 = 60_000;
/// The gas a governance deposit or vote uses (the ledger's records and,
/// for a vote, the voter's stake lookups).
pub const GOV_GAS: u64 = 60_000;
/// The gas of submitting a proposal, before its bytes.
pub const GOV_SUBMIT_GAS: u64 = 100_000;
/// The gas per byte of a submitted proposal (it is kept in state).
pub const GOV_CONTENT_BYTE: u64 = 30;

/// The gas of an inter-blockchain operation, before its bytes and
/// signatures (the state reads and writes of the rules, a state proof).
pub const IBC_GAS: u64 = 50_000;
/// The gas per byte of an inter-blockchain operation (headers, proofs and
/// packets are decoded and hashed; packets are kept in state).
pub const IBC_BYTE: u64 = 30;
/// The gas per signature of a commit certificate an operation carries
/// (ed25519 verification, ~30 µs).
pub const IBC_SIGNATURE: u64 = 30_000;
/// The gas per proof-of-work header an operation carries (its hash and
/// work).
pub const IBC_POW_HEADER: u64 = 20_000;

/// The gas of inter-blockchain operation `op`.
pub fn ibc_gas(op: &IbcOp) -> u64 {
    let signatures = |c: &cinder_primitives::CommitCertificate| c.signatures.len() as u64;
    let (sigs, headers) = match op {
        IbcOp::UpdateClient { update, .. } => match update.as_ref() {
            ClientUpdate::Pos { commit, .. } => (signatures(commit), 0),
            ClientUpdate::Pow { headers } => (0, headers.as_slice().len() as u64),
        },
        IbcOp::Misbehaviour { evidence, .. } => match evidence.as_ref() {
            Misbehaviour::Pos { first_commit, second_commit, .. } => {
                (signatures(first_commit).saturating_add(signatures(second_commit)), 0)
            }
            Misbehaviour::Pow { headers } => (0, headers.as_slice().len() as u64),
        },
        _ => (0, 0),
    };
    IBC_GAS
        .saturating_add(IBC_BYTE.saturating_mul(encode(op).len() as u64))
        .saturating_add(IBC_SIGNATURE.saturating_mul(sigs))
        .saturating_add(IBC_POW_HEADER.saturating_mul(headers))
}

/// The largest amount one transfer may move (2^126; balances stay far
/// below it: the genesis supply is at most 2^120).
pub const MAX_TRANSFER: u128 = 1 << 126;

/// One transfer as the executor runs it.
#[derive(Clone, Debug)]
pub struct TransferTask {
    sender: Address,
    coinbase: Address,
    gas: u64,
    nonce: u64,
    gas_limit: u64,
    gas_price: u64,
    to: Address,
    amount: u128,
    refusal: Option<&'static str>,
}

/// The gas a transaction that runs no contract code uses.
pub fn plain_gas(kind: &TxKind) -> u64 {
    match kind {
        TxKind::Stake(_) => STAKE_GAS,
        TxKind::Gov(GovOp::Submit { proposal, .. }) => {
            GOV_SUBMIT_GAS.saturating_add(GOV_CONTENT_BYTE.saturating_mul(encode(proposal.as_ref()).len() as u64))
        }
        TxKind::Gov(_) => GOV_GAS,
        TxKind::Ibc(op) => ibc_gas(op),
        _ => TRANSFER_GAS,
    }
}

impl TransferTask {
    /// The task of `tx` from `sender` (its address, computed once) in a
    /// block paying fees to `coinbase`. A staking or governance operation
    /// runs as a transfer of what it bonds or deposits to the system
    /// account, at its gas ([`plain_gas`]); its ledger part runs after the
    /// block.
    pub fn new(tx: &SignedTransaction, sender: Address, coinbase: Address) -> TransferTask {
        let (to, amount) = tx.tx.payment();
        let gas = plain_gas(&tx.tx.kind);
        TransferTask {
            refusal: None,
            sender,
            coinbase,
            gas,
            nonce: tx.tx.nonce,
            gas_limit: tx.tx.gas_limit,
            gas_price: tx.tx.gas_price,
            to,
            amount,
        }
    }
}

/// Writes with at most one entry per key: a credit to a key already set
/// folds into the set value, credits to one key add up.
#[derive(Default)]
struct Writes(Vec<(StateKey, WriteOp<Val>)>);

impl Writes {
    fn put(&mut self, k: StateKey, v: u128) {
        match self.0.iter_mut().find(|(key, _)| *key == k) {
            Some((_, w)) => *w = WriteOp::Put(Val::Num(v)),
            None => self.0.push((k, WriteOp::Put(Val::Num(v)))),
        }
    }
    /// Adds `amount` (at most 2^126 + 2^79: deltas cannot overflow i128).
    fn credit(&mut self, a: Address, amount: u128) {
        if amount == 0 {
            return;
        }
        let k = StateKey::Balance(a);
        let add = i128::try_from(amount).unwrap_or(i128::MAX);
        match self.0.iter_mut().find(|(key, _)| *key == k) {
            // The sender's own balance: what it had minus what it paid.
            Some((_, WriteOp::Put(Val::Num(v)))) => *v = v.saturating_add(amount),
            Some((_, WriteOp::Delta(d))) => *d = d.saturating_add(add),
            Some((_, w)) => *w = WriteOp::Delta(add),
            None => self.0.push((k, WriteOp::Delta(add))),
        }
    }
}

impl TransferTask {
    /// Runs the transfer.
    pub(crate) fn execute(
        &self,
        view: &mut dyn TxView<StateKey, Val>,
    ) -> Result<TaskOutput<StateKey, Val, Outcome>, Suspend> {
        let (nonce, balance) =
            match crate::task::prelude(view, self.sender, self.nonce, self.gas_limit, self.gas_price)? {
                Ok(p) => p,
                Err(invalid) => return Ok(invalid),
            };
        let next_nonce = nonce + 1;
        let gas_used = self.gas_limit.min(self.gas);
        let fee = u128::from(gas_used) * u128::from(self.gas_price);
        let after_fee = balance - fee;
        let mut failure = Writes::default();
        failure.put(StateKey::Nonce(self.sender), next_nonce);
        failure.put(StateKey::Balance(self.sender), after_fee);
        failure.credit(self.coinbase, fee);
        let failed = |reason: String, failure: Writes| TaskOutput {
            status: TxStatus::Failed(reason),
            gas_used,
            writes: Vec::new(),
            failure_writes: failure.0,
            output: Outcome::default(),
        };
        if self.gas_limit < self.gas {
            return Ok(failed(format!("out of gas: it needs {}, the limit is {}", self.gas, self.gas_limit), failure));
        }
        if let Some(reason) = self.refusal {
            return Ok(failed(reason.to_string(), failure));
        }
        if self.amount > MAX_TRANSFER {
            return Ok(failed(format!("amount {} is above the largest transfer 2^126", self.amount), failure));
        }
        if self.amount > after_fee {
            return Ok(failed(
                format!("insufficient balance: {after_fee} after the fee, {} to send", self.amount),
                failure,
            ));
        }
        let mut w = Writes::default();
        w.put(StateKey::Nonce(self.sender), next_nonce);
        w.put(StateKey::Balance(self.sender), after_fee - self.amount);
        w.credit(self.to, self.amount);
        w.credit(self.coinbase, fee);
        Ok(TaskOutput {
            status: TxStatus::Success,
            gas_used,
            writes: w.0,
            failure_writes: failure.0,
            output: Outcome::default(),
        })
    }

    /// The same task, failing with `reason` after its fee is paid
    /// (moving nothing): what a staking or governance operation does on a
    /// chain without them.
    pub fn refused(self, reason: &'static str) -> TransferTask {
        TransferTask { refusal: Some(reason), ..self }
    }

    /// The same task, its payment going to `to` instead (a cross-shard
    /// transfer pays the shard's outbox).
    pub(crate) fn paying(self, to: Address) -> TransferTask {
        TransferTask { to, ..self }
    }

    /// Its gas limit.
    pub(crate) fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    /// The sender.
    pub(crate) fn sender(&self) -> Address {
        self.sender
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use cinder_engine::exec::{Mode, Strategy, execute};
    use cinder_engine::sig::SecretKey;
    use cinder_primitives::Transaction;

    use super::*;
    use crate::task::TxTask;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32])
    }

    fn tx(from: u8, nonce: u64, to: Address, amount: u128, gas_limit: u64) -> (TxTask<'static>, Address) {
        let k = key(from);
        let t = Transaction {
            chain_id: 1,
            sender: k.public_key(),
            nonce,
            gas_limit,
            gas_price: 2,
            kind: TxKind::Transfer { to, amount },
        }
        .sign(&k);
        let sender = t.tx.sender_address();
        (TxTask::Transfer(TransferTask::new(&t, sender, Address([0xcb; 32]))), sender)
    }

    fn run(tasks: &[TxTask<'_>], base: &HashMap<StateKey, Val>) -> Vec<(StateKey, Option<Val>)> {
        let seq = execute(tasks, base, Strategy::Sequential, Mode::Verify, u64::MAX).unwrap();
        let par = execute(tasks, base, Strategy::Parallel { threads: 2 }, Mode::Verify, u64::MAX).unwrap();
        assert_eq!(seq.writes, par.writes);
        seq.writes
    }

    #[test]
    fn success_failure_and_self_transfer() {
        let a = Address::from_public_key(&key(1).public_key());
        let b = Address([9; 32]);
        let cb = Address([0xcb; 32]);
        let base: HashMap<_, _> = [(StateKey::Balance(a), Val::Num(1_000_000))].into();
        let tasks = vec![
            tx(1, 0, b, 100, 30_000).0,        // ok: fee 42,000
            tx(1, 1, a, 500, 30_000).0,        // self transfer: only the fee
            tx(1, 2, b, 10_000_000, 30_000).0, // insufficient: fails, pays
            tx(1, 3, b, 1, 20_000).0,          // out of gas: pays all 20,000 x 2
        ];
        let w = run(&tasks, &base);
        let get = |k| w.iter().find(|(key, _)| *key == k).and_then(|(_, v)| v.as_ref()).and_then(Val::num);
        let fees = 3 * 42_000 + 40_000;
        assert_eq!(get(StateKey::Balance(a)), Some(1_000_000 - 100 - fees));
        assert_eq!(get(StateKey::Nonce(a)), Some(4));
        assert_eq!(get(StateKey::Balance(b)), Some(100));
        assert_eq!(get(StateKey::Balance(cb)), Some(fees));
    }

    #[test]
    fn invalid_nonce_and_unpayable_gas_reject_the_block() {
        let a = Address::from_public_key(&key(1).public_key());
        let base: HashMap<_, _> = [(StateKey::Balance(a), Val::Num(50_000))].into();
        let e = execute(&[tx(1, 1, a, 1, 21_000).0], &base, Strategy::Sequential, Mode::Verify, u64::MAX).unwrap_err();
        assert!(e.reason.contains("nonce 1"), "{e}");
        let e = execute(&[tx(1, 0, a, 1, 30_000).0], &base, Strategy::Sequential, Mode::Verify, u64::MAX).unwrap_err();
        assert!(e.reason.contains("cannot pay"), "{e}");
    }

    #[test]
    fn credits_to_the_sender_as_coinbase_fold_in() {
        let (t, a) = tx(1, 0, Address([9; 32]), 10, 21_000);
        let TxTask::Transfer(t) = t else { unreachable!() };
        let t = TxTask::Transfer(TransferTask { coinbase: a, ..t });
        let base: HashMap<_, _> = [(StateKey::Balance(a), Val::Num(100_000))].into();
        let w = run(&[t], &base);
        // Fee paid to itself: only the amount leaves.
        assert!(w.contains(&(StateKey::Balance(a), Some(Val::Num(100_000 - 10)))));
    }
}
