//! # cinder-bft
//!
//! The voting core of Cinder's proof of stake: Tendermint's algorithm
//! (Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus",
//! arXiv:1807.04938) for one height as a pure state machine — events in
//! ([`Event`]: proposals, votes, timeouts, the value to propose), actions
//! out ([`Action`]: broadcast, schedule a timeout, decide, equivocation) —
//! with no I/O, no clock and no randomness inside. Drivers own the
//! network, the timers, signing and the chain.
//!
//! - [`ValidatorSet`]: voting power by validator, the > 2/3 and > 1/3
//!   thresholds, and the stake-weighted proposer of each round drawn from
//!   an on-chain seed.
//! - [`Machine`]: Algorithm 1's rules over any [`View`] of the messages
//!   (what the model check explores).
//! - [`Core`]: the machine over the messages this validator received —
//!   what the node runs.
//!
//! It is generic over the value (a block id in the node, a small integer
//! in the model check), so the code the node runs is the code the
//! deterministic simulation and the stateright model check explore
//! (tests/it).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod core;
mod machine;
mod types;
mod validators;

pub use crate::core::{Core, Event, MAX_PROPOSALS_PER_ROUND, MAX_ROUNDS_AHEAD};
pub use crate::machine::{Action, Machine, Rule, Step, View};
pub use crate::types::{Height, Message, Proposal, Round, TimeoutKind, ValidatorIndex, Vote, VoteKind};
pub use crate::validators::{MAX_VALIDATORS, Quorum, SetError, ValidatorSet};
