//! cinder-vm: the example contracts on the host harness, every kind of bad
//! input a contract can give (each ends its transaction with its own
//! status, the chain goes on), and contracts under Block-STM against
//! sequential execution.

#![allow(clippy::cast_possible_truncation, reason = "test data is built with narrowing casts")]

mod abuse;
mod examples;
mod parallel;
mod usecases;
mod zk;

use cinder_primitives::{Address, ReceiptStatus};
use cinder_vm::harness::{TestChain, TxResult};

/// A chain with one funded account.
pub(crate) fn chain() -> (TestChain, Address) {
    let mut c = TestChain::new().expect("the runtime starts");
    let a = c.account(1_000_000_000_000_000);
    (c, a)
}

/// WebAssembly text to bytes.
pub(crate) fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|e| panic!("bad test module: {e}"))
}

/// Deploys `code` and returns its address (panics unless it succeeds).
pub(crate) fn deploy(c: &mut TestChain, from: Address, code: &[u8], args: &[u8]) -> Address {
    let r = c.deploy(from, code, args).expect("a valid transaction");
    assert_eq!(r.status, ReceiptStatus::Success, "deploy: {r:?}");
    r.created.expect("a deploy creates a contract")
}

/// The status text of a failed result.
pub(crate) fn status(r: &TxResult) -> String {
    match &r.status {
        ReceiptStatus::Success => "success".into(),
        ReceiptStatus::Failed(m) => format!("failed: {}", m.as_str()),
        ReceiptStatus::Reverted(m) => format!("reverted: {}", m.as_str()),
        ReceiptStatus::OutOfGas => "out of gas".into(),
        ReceiptStatus::Trapped(m) => format!("trapped: {}", m.as_str()),
    }
}
