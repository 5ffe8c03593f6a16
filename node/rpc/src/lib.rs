//! # cinder-rpc
//!
//! Cinder's JSON-RPC interface as data: the method names, the JSON objects
//! they take and return, the error codes, and a typed HTTP client. The
//! server lives in `cinder-node`; this crate has no node and no RocksDB, so
//! the miner, the wallet and the load generator depend on it cheaply.
//!
//! Encodings (docs/rpc.md): heights, counts and nonces are JSON numbers;
//! amounts are decimal strings (a `u128` does not fit a JSON number); ids,
//! hashes, addresses and bytes are `0x`-prefixed hex; keys are camelCase.

mod client;
pub mod codes;
mod gov;
mod ibc;
mod shard;
mod types;

pub use client::{Client, ClientError};
pub use gov::{ActionJson, AppliedUpgradeJson, DepositJson, ParamsJson, ProposalJson, TallyJson, VoteJson};
pub use ibc::{
    IbcChannelJson, IbcClientJson, IbcConsensusJson, IbcInfoJson, IbcPacketJson, IbcReceiptJson, IbcVoucherJson,
};
pub use shard::{ChunkJson, ChunkProofJson, ShardOfJson, ShardReceiptJson};
pub use types::{
    BlockJson, CallRequest, CallResultJson, CodeJson, CommitJson, CommitSignatureJson, ContractTxJson, EventJson,
    GovJson, HeadEvent, LogFilter, LogJson, LogPlace, NetInfoJson, OneOrMany, PeerJson, PendingEvent, PosBlockJson,
    ProofJson, ReceiptJson, StakeInfoJson, StakeJson, StorageProofJson, SubmitWorkResult, SyncingJson, TxJson,
    UnbondingJson, ValidatorJson, ValidatorsJson, Work, action_name, amount, status_json,
};

/// The method names.
pub mod methods {
    /// `[]` -> chain id (number).
    pub const CHAIN_ID: &str = "cinder_chainId";
    /// `[]` -> head height (number).
    pub const BLOCK_NUMBER: &str = "cinder_blockNumber";
    /// `[number, full?]` -> block or null.
    pub const GET_BLOCK_BY_NUMBER: &str = "cinder_getBlockByNumber";
    /// `[hash, full?]` -> block or null.
    pub const GET_BLOCK_BY_HASH: &str = "cinder_getBlockByHash";
    /// `[hash]` -> transaction or null.
    pub const GET_TRANSACTION_BY_HASH: &str = "cinder_getTransactionByHash";
    /// `[hash]` -> receipt or null.
    pub const GET_TRANSACTION_RECEIPT: &str = "cinder_getTransactionReceipt";
    /// `[address]` -> decimal string.
    pub const GET_BALANCE: &str = "cinder_getBalance";
    /// `[address]` -> number (the next nonce).
    pub const GET_NONCE: &str = "cinder_getNonce";
    /// `[address, number?, [storage key hex, ...]?]` -> proof of the
    /// account and of each contract storage entry asked for.
    pub const GET_PROOF: &str = "cinder_getProof";
    /// `[request, number?]` -> [`crate::CallResultJson`]: a contract method
    /// run read-only on a block's state (default the head), nothing kept.
    pub const CALL: &str = "cinder_call";
    /// `[request, number?]` -> number: the least gas limit with which the
    /// transaction succeeds (error -32040 if none up to the cap does).
    pub const ESTIMATE_GAS: &str = "cinder_estimateGas";
    /// `[address, number?]` -> [`crate::CodeJson`] or null.
    pub const GET_CODE: &str = "cinder_getCode";
    /// `[address, key hex, number?]` -> value hex or null.
    pub const GET_STORAGE_AT: &str = "cinder_getStorageAt";
    /// `[filter]` -> [`crate::LogJson`] list: events of canonical blocks
    /// by block range, contract and topics (bounded; docs/rpc.md).
    pub const GET_LOGS: &str = "cinder_getLogs";
    /// `[hex]` -> transaction hash.
    pub const SEND_RAW_TRANSACTION: &str = "cinder_sendRawTransaction";
    /// `[]` -> decimal string.
    pub const GAS_PRICE: &str = "cinder_gasPrice";
    /// `[]` -> false or progress.
    pub const SYNCING: &str = "cinder_syncing";
    /// `["newHeads" | "newPendingTransactions" | "logs", filter?]`
    /// (WebSocket).
    pub const SUBSCRIBE: &str = "cinder_subscribe";
    /// Notifications of a subscription.
    pub const SUBSCRIPTION: &str = "cinder_subscription";
    /// `[subscription id]` -> bool.
    pub const UNSUBSCRIBE: &str = "cinder_unsubscribe";
    /// `[]` -> work.
    pub const GET_WORK: &str = "cinder_getWork";
    /// `[{jobId, header}]` -> result.
    pub const SUBMIT_WORK: &str = "cinder_submitWork";
    /// `[]` -> the pool's size (number).
    pub const PENDING_COUNT: &str = "cinder_pendingTransactionCount";
    /// `[token, "off" | "on"]` -> bool: start or stop the node's own mining
    /// (needs the admin token).
    pub const SET_MINING: &str = "cinder_setMining";
    /// `[]` -> [`crate::PeerJson`] for each connected peer.
    pub const PEERS: &str = "cinder_peers";
    /// `[]` -> [`crate::NetInfoJson`]: peer id, listen and external
    /// addresses, AutoNAT's verdict, relay and hole-punch counters.
    pub const NET_INFO: &str = "cinder_netInfo";
    /// `[token, [peer id, ...] | null]` -> the number of peers allowed
    /// (null: all): connect only to the listed peers, dropping the others
    /// (needs the admin token). Tests partition a network with it.
    pub const ADMIN_SET_PEER_FILTER: &str = "cinder_adminSetPeerFilter";
    /// `[token, filter]` -> the filter: changes the node's log filter (an
    /// `EnvFilter` directive such as `info,cinder_net=debug`) at run time
    /// (needs the admin token).
    pub const ADMIN_SET_LOG_LEVEL: &str = "cinder_adminSetLogLevel";
    /// `[]` -> the newest finalized height (number); proof of stake only.
    pub const FINALIZED_BLOCK_NUMBER: &str = "cinder_finalizedBlockNumber";
    /// `[number?]` -> [`crate::ValidatorsJson`]: the validator set of a
    /// height (default: the next one); proof of stake only.
    pub const GET_VALIDATORS: &str = "cinder_getValidators";
    /// `[number]` -> [`crate::CommitJson`] or null: the certificate that
    /// finalized the canonical block at that height.
    pub const GET_COMMIT: &str = "cinder_getCommit";
    /// `[validator, delegator?]` -> [`crate::StakeInfoJson`] or null: a
    /// validator's pool (by operator address) and, with a delegator, its
    /// stake, withdrawable rewards and unbonding tokens there; proof of
    /// stake only.
    pub const GET_STAKE: &str = "cinder_getStake";
    /// `[]` -> [`crate::ParamsJson`]: the chain parameters the head's
    /// child is checked against, the community pool and the upgrade plan.
    pub const GET_PARAMS: &str = "cinder_getParams";
    /// `[id]` -> [`crate::ProposalJson`] or null; proof of stake only.
    pub const GET_PROPOSAL: &str = "cinder_getProposal";
    /// `[from_id?, limit?]` -> [`crate::ProposalJson`]s with ids from
    /// `from_id` (default 0) up, at most `limit` (default and most 100);
    /// proof of stake only.
    pub const GET_PROPOSALS: &str = "cinder_getProposals";
    /// `[id]` -> [`crate::VoteJson`]s of a live proposal in voting order
    /// (an ended one keeps its tally, not its votes); proof of stake only.
    pub const GET_VOTES: &str = "cinder_getVotes";
    /// `[id]` -> [`crate::TallyJson`] or null: a live proposal's tally as
    /// if it ended with the head; an ended one's final tally.
    pub const GET_TALLY: &str = "cinder_getTally";
    /// `[]` -> [`crate::IbcInfoJson`]: what a counterparty's light client
    /// of this chain needs.
    pub const IBC_INFO: &str = "cinder_ibcInfo";
    /// `[id, number?]` -> [`crate::IbcClientJson`] or null.
    pub const IBC_CLIENT: &str = "cinder_ibcClient";
    /// `[client, height]` -> [`crate::IbcConsensusJson`] or null.
    pub const IBC_CONSENSUS_STATE: &str = "cinder_ibcConsensusState";
    /// `[id]` -> [`crate::IbcChannelJson`] or null.
    pub const IBC_CHANNEL: &str = "cinder_ibcChannel";
    /// `[channel, from?, limit?]` -> [`crate::IbcPacketJson`]s in flight
    /// with sequences from `from` (default 1), at most `limit` (default and
    /// most 100).
    pub const IBC_PACKETS: &str = "cinder_ibcPackets";
    /// `[channel, sequence]` -> [`crate::IbcReceiptJson`].
    pub const IBC_RECEIPT: &str = "cinder_ibcReceipt";
    /// `[denom, address]` -> [`crate::IbcVoucherJson`].
    pub const IBC_VOUCHER: &str = "cinder_ibcVoucher";
    /// `[address]` -> [`crate::ShardOfJson`]: the shard that holds an
    /// account (0 on a chain of one shard).
    pub const SHARD_OF: &str = "cinder_shardOf";
    /// `[number, shard]` -> [`crate::ChunkJson`] or null: one shard's chunk
    /// of a canonical block of a sharded chain.
    pub const GET_CHUNK: &str = "cinder_getChunk";
    /// `[shard?]` -> [`crate::ShardReceiptJson`]s: the cross-shard
    /// receipts the head block emitted, which the next block applies (to
    /// `shard` only when given), in the order they are applied.
    pub const RECEIPTS_IN_FLIGHT: &str = "cinder_receiptsInFlight";
}
