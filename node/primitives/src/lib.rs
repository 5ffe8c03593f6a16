//! # cinder-primitives
//!
//! What the chain is made of, and how it is written down: hashes,
//! addresses, accounts, transactions (versioned kinds, ed25519 signatures
//! over a domain-separated digest), receipts, PoW headers and blocks, and
//! the one canonical encoding of everything hashed or signed ([`codec`]);
//! proof-of-stake votes, proposals and double-vote evidence as signed and
//! gossiped, with batch verification of votes; contract deploys, calls
//! and admin operations, the contract record and contract events;
//! governance operations (proposals, deposits, votes, parameters);
//! inter-blockchain operations (light clients, channels, packets, token
//! transfers); sharding's chunk headers and cross-shard receipts with
//! their Merkle proofs ([`shard`]).
//!
//! No I/O, no state, no consensus rules beyond a transaction's stateless
//! checks; the storage, state and chain crates build on these types. The
//! byte layouts are specified in `docs/protocol.md`.

pub mod codec;
mod consensus;
mod contract;
mod gov;
mod ibc;
pub mod shard;
mod types;

pub use codec::{Bounded, BoundedBytes, BoundedString, DecodeError, Limited, decode, encode};
pub use consensus::{
    CONSENSUS_VERSION, CertError, CommitCertificate, DoubleVote, EvidenceError, PosHeaderData, ProposalData,
    SignedProposal, SignedVote, VoteData, VoteType, commit_hash, verify_votes,
};
pub use contract::{
    AdminOp, Call, ContractInfo, Deploy, Event, MAX_ARGS_BYTES, MAX_CODE_BYTES, MAX_EVENT_DATA, MAX_EVENTS,
    MAX_METHOD_BYTES, MAX_RETURN_BYTES, MAX_TOPICS, contract_address,
};
pub use gov::{
    GOV_ADDRESS, GovOp, MAX_DESCRIPTION_BYTES, MAX_PARAM_CHANGES, MAX_TITLE_BYTES, MAX_UPGRADE_INFO_BYTES,
    MAX_UPGRADE_NAME_BYTES, Param, ProposalAction, ProposalContent, UpgradePlan, VoteOption,
};
pub use ibc::{
    Acknowledgement, ClientInit, ClientUpdate, IBC_ADDRESS, IbcOp, MAX_CLIENT_STATE_BYTES, MAX_DENOM_BYTES,
    MAX_MEMO_BYTES, MAX_PACKET_DATA, MAX_POW_HEADERS, MAX_PROOF_BYTES, MAX_SET_BYTES, Misbehaviour, NATIVE_DENOM,
    Ordering, Packet, PowAlgo, Proof, SetProof, TRANSFER_PORT, TransferData,
};
pub use shard::{
    Chunk, ChunkHeader, IncomingReceipt, MAX_SHARDS, OUTBOX_ADDRESS, ReceiptProof, ShardId, ShardReceipt,
    ShardReceiptKind, shard_of,
};
pub use types::*;
