//! # cinder-pos
//!
//! What a proof-of-stake validator runs around the voting core
//! (cinder-bft), still without the network or the chain:
//!
//! - [`validator`]: the validator key (`--validator-key FILE`, 0600) and
//!   the [`validator::Signer`] with its persisted, fsynced double-sign
//!   guard.
//! - [`driver`]: the [`driver::Driver`]: signed votes and proposals in
//!   (votes verified as one batch), signed messages, timers, decisions
//!   with certificates of signed precommits and double-vote evidence out.
//!
//! The node wires these to libp2p gossip, tokio timers and block
//! building and import (docs/design/pos.md).

#![forbid(unsafe_code)]

pub mod driver;
pub mod validator;
