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
//! - [`message`]: the [`message::ConsensusMessage`] gossiped between
//!   validators, with the checks a relay makes before forwarding.
//! - [`propose`]: the consensus fields of a proposed block (VRF proof and
//!   seed, millisecond time, the parent's certificate).
//!
//! The node wires these to libp2p gossip, tokio timers and block
//! building and import (docs/design/pos.md).

#![forbid(unsafe_code)]

pub mod driver;
pub mod message;
pub mod propose;
pub mod validator;
