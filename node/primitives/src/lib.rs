//! # cinder-primitives
//!
//! What the chain is made of, and how it is written down: hashes,
//! addresses, accounts, transactions (versioned kinds, ed25519 signatures
//! over a domain-separated digest), receipts, PoW headers and blocks, and
//! the one canonical encoding of everything hashed or signed ([`codec`]);
//! proof-of-stake votes, proposals and double-vote evidence as signed and
//! gossiped, with batch verification of votes.
//!
//! No I/O, no state, no consensus rules beyond a transaction's stateless
//! checks; the storage, state and chain crates build on these types. The
//! byte layouts are specified in `docs/protocol.md`.

pub mod codec;
mod consensus;
mod types;

pub use codec::{Bounded, BoundedBytes, BoundedString, DecodeError, Limited, decode, encode};
pub use consensus::{
    CONSENSUS_VERSION, CertError, CommitCertificate, DoubleVote, EvidenceError, PosHeaderData, ProposalData,
    SignedProposal, SignedVote, VoteData, VoteType, commit_hash, verify_votes,
};
pub use types::*;
