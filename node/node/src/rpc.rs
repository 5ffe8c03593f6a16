//! The JSON-RPC server (jsonrpsee, HTTP and WebSocket on one port).
//!
//! Limits: request body size, batch length, connections, and a token bucket
//! per client IP address shared by all its connections (calls in a batch
//! count one by one). Admin methods need the node's token and are off
//! without one.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Context, Result};
use cinder_mempool::Rejected;
use cinder_primitives::{Address, Hash, SignedTransaction, TxInvalid, decode};
use cinder_rpc::{
    BlockJson, CallRequest, CallResultJson, CodeJson, EventJson, LogFilter, LogJson, LogPlace, ProofJson, ReceiptJson,
    StorageProofJson, TxJson, codes, methods as m, status_json,
};
use jsonrpsee::core::middleware::{
    Batch, BatchEntry, BatchEntryErr, Notification, ResponseFuture, RpcServiceBuilder, RpcServiceT,
};
use jsonrpsee::server::{
    BatchRequestConfig, MethodResponse, RpcModule, ServerConfig, ServerHandle, StopHandle, SubscriptionMessage,
    stop_channel,
};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Request};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;

use crate::node::Node;
use crate::work::WorkError;

/// Limits and access of the RPC server.
#[derive(Clone, Debug)]
pub struct RpcConfig {
    /// Where to listen (127.0.0.1 unless asked otherwise).
    pub addr: SocketAddr,
    /// Largest request body in bytes.
    pub max_request_bytes: u32,
    /// Largest response body in bytes.
    pub max_response_bytes: u32,
    /// Most calls in one batch.
    pub max_batch: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
    /// Calls per second per client IP (0: unlimited); bursts of twice that.
    pub rate_per_sec: u32,
    /// The token admin methods need; `None` turns them off.
    pub admin_token: Option<String>,
    /// Most concurrent connections from one IP address (the rest are
    /// closed at once).
    pub max_connections_per_ip: u32,
    /// Most subscriptions on one WebSocket connection.
    pub max_subscriptions_per_connection: u32,
    /// How long a client may take to send a request's headers, and to
    /// send the next request on a kept-alive HTTP connection: a slow or
    /// silent client loses its connection then.
    pub header_timeout: std::time::Duration,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_request_bytes: 8 << 20,
            max_response_bytes: 32 << 20,
            max_batch: 1_000,
            max_connections: 256,
            rate_per_sec: 50_000,
            admin_token: None,
            max_connections_per_ip: 64,
            max_subscriptions_per_connection: 64,
            header_timeout: std::time::Duration::from_secs(10),
        }
    }
}

fn error(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(code, msg.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    error(codes::INTERNAL_ERROR, format!("internal error: {e}"))
}

/// The most proposals one `cinder_getProposals` returns.
const MAX_PROPOSALS: u64 = 100;

/// Refuses a governance method on a PoW chain.
fn pos_only(n: &Node) -> Result<(), ErrorObjectOwned> {
    match n.chain().spec().pos {
        Some(_) => Ok(()),
        None => Err(error(codes::NOT_POS, "this chain is proof of work: it has no governance")),
    }
}

fn tally_json(t: &cinder_gov::Tally) -> cinder_rpc::TallyJson {
    cinder_rpc::TallyJson { yes: t.yes, no: t.no, no_with_veto: t.no_with_veto, abstain: t.abstain, bonded: t.bonded }
}

/// The JSON of proposal `p`.
pub fn proposal_json(p: &cinder_gov::Proposal) -> cinder_rpc::ProposalJson {
    cinder_rpc::ProposalJson {
        id: p.id,
        proposer: p.proposer,
        title: p.content.title.as_str().to_string(),
        description: p.content.description.as_str().to_string(),
        action: cinder_rpc::ActionJson::new(&p.content.action),
        status: p.status.name().to_string(),
        submit_height: p.submit_height,
        deposit_end: p.deposit_end,
        voting_start: p.voting_start,
        voting_end: p.voting_end,
        total_deposit: p.total_deposit,
        deposits: p.deposits.iter().map(|(d, a)| cinder_rpc::DepositJson { depositor: *d, amount: *a }).collect(),
        voters: p.voters,
        tally: p.tally.as_ref().map(tally_json),
        note: p.note.clone(),
    }
}

/// The error object for a refused transaction.
pub fn rejected(r: &Rejected) -> ErrorObjectOwned {
    let code = match r {
        Rejected::Invalid(TxInvalid::BadSignature) => codes::INVALID_SIGNATURE,
        Rejected::Invalid(TxInvalid::ChainId { .. } | TxInvalid::Oversized(_)) => codes::WRONG_CHAIN,
        Rejected::Known => codes::ALREADY_KNOWN,
        Rejected::NonceTooLow { .. } => codes::NONCE_TOO_LOW,
        Rejected::NonceTooHigh { .. } => codes::NONCE_TOO_HIGH,
        Rejected::CannotPay { .. } => codes::INSUFFICIENT_FUNDS,
        Rejected::Underpriced { .. } | Rejected::PoolFull(_) => codes::FEE_TOO_LOW,
        Rejected::SenderFull(_) => codes::MEMPOOL_FULL,
        Rejected::State(_) => codes::INTERNAL_ERROR,
        Rejected::Refused(_) => codes::INVALID_TRANSACTION,
    };
    error(code, r.to_string())
}

fn work_error(e: WorkError) -> ErrorObjectOwned {
    let code = match &e {
        WorkError::NoCoinbase | WorkError::Internal(_) => codes::INTERNAL_ERROR,
        WorkError::UnknownJob(_) => codes::UNKNOWN_JOB,
        WorkError::Invalid(_) => codes::INVALID_WORK,
    };
    error(code, e.to_string())
}

fn hex_bytes(s: &str, what: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| error(codes::INVALID_PARAMS, format!("{what}: expected 0x-prefixed hex")))?;
    hex::decode(h).map_err(|e| error(codes::INVALID_PARAMS, format!("{what}: {e}")))
}

/// The canonical block `number` (default: the head) and its state version.
fn ibc_at(n: &Node, number: Option<u64>) -> R<(u64, cinder_state::Version)> {
    let number = match number {
        Some(x) => x,
        None => n.chain().head().map_err(internal)?.height,
    };
    let (_, version) = n
        .chain()
        .db()
        .canonical(number)
        .map_err(internal)?
        .ok_or_else(|| error(codes::UNKNOWN_BLOCK, "no such block"))?;
    Ok((number, version))
}

/// On a sharded chain: the chunk state root that `address`'s account proof
/// in block `id` verifies against, and the link from it to the header's
/// state root. `None` on a chain of one shard.
fn shard_proof(n: &Node, id: &Hash, address: &Address) -> R<Option<(Hash, cinder_rpc::ChunkProofJson)>> {
    let shards = n.chain().shards();
    if shards == 1 {
        return Ok(None);
    }
    let shard = cinder_primitives::shard_of(address, shards);
    let chunks = n.chain().db().chunks(id).map_err(internal)?.ok_or_else(|| internal("canonical chunks missing"))?;
    let leaves: Vec<[u8; 32]> = chunks.iter().map(|c| c.header.hash().0).collect();
    let tree = cinder_engine::merkle::Tree::new(leaves);
    let header = &chunks.get(usize::from(shard)).ok_or_else(|| internal("a chunk is missing"))?.header;
    let proof = cinder_primitives::ReceiptProof::of(&tree, u64::from(shard)).ok_or_else(|| internal("chunk proof"))?;
    let json = cinder_rpc::ChunkProofJson {
        shard,
        header: format!("0x{}", hex::encode(cinder_primitives::encode(header))),
        proof: format!("0x{}", hex::encode(cinder_primitives::encode(&proof))),
    };
    Ok(Some((header.state_root, json)))
}

/// The sharded-chain methods: the shard of an address, a chunk, the
/// receipts in flight.
fn register_shards(md: &mut RpcModule<Node>) -> Result<()> {
    md.register_blocking_method(m::SHARD_OF, |p, n, _| -> R<cinder_rpc::ShardOfJson> {
        let address: Address = p.one()?;
        let shards = n.chain().shards();
        Ok(cinder_rpc::ShardOfJson { address, shard: cinder_primitives::shard_of(&address, shards), shards })
    })?;
    md.register_blocking_method(m::GET_CHUNK, |p, n, _| -> R<Option<cinder_rpc::ChunkJson>> {
        let mut s = p.sequence();
        let number: u64 = s.next()?;
        let shard: u16 = s.next()?;
        let shards = n.chain().shards();
        if shards == 1 {
            return Err(error(codes::INVALID_PARAMS, "this chain has one shard: its blocks carry no chunks"));
        }
        if shard >= shards {
            return Err(error(codes::INVALID_PARAMS, format!("shard {shard}: the chain has {shards}")));
        }
        let db = n.chain().db();
        let Some((id, _)) = db.canonical(number).map_err(internal)? else { return Ok(None) };
        let block = db.block(&id).map_err(internal)?.ok_or_else(|| internal("canonical block missing"))?;
        let chunk = block.chunks.get(usize::from(shard)).ok_or_else(|| internal("a chunk is missing"))?;
        let before: usize = block.chunks.iter().take(usize::from(shard)).map(|c| c.header.tx_count as usize).sum();
        let txs = block.transactions.get(before..before + chunk.header.tx_count as usize).unwrap_or_default();
        let incoming: Vec<_> = chunk.incoming.iter().map(|r| r.receipt.clone()).collect();
        Ok(Some(cinder_rpc::ChunkJson::new(number, id, &chunk.header, txs.iter().map(|t| t.id()).collect(), &incoming)))
    })?;
    md.register_blocking_method(m::RECEIPTS_IN_FLIGHT, |p, n, _| -> R<Vec<cinder_rpc::ShardReceiptJson>> {
        let mut s = p.sequence();
        let shard: Option<u16> = s.optional_next()?;
        let chain = n.chain();
        if chain.shards() == 1 {
            return Ok(Vec::new());
        }
        if let Some(s) = shard.filter(|s| *s >= chain.shards()) {
            return Err(error(codes::INVALID_PARAMS, format!("shard {s}: the chain has {}", chain.shards())));
        }
        let head = chain.head().map_err(internal)?;
        let by_dest = chain.incoming_after(&head.id).map_err(internal)?;
        Ok(by_dest
            .iter()
            .enumerate()
            .filter(|(d, _)| shard.is_none_or(|s| usize::from(s) == *d))
            .flat_map(|(_, list)| list.iter().map(|r| cinder_rpc::ShardReceiptJson::from(&r.receipt)))
            .collect())
    })?;
    Ok(())
}

/// The inter-blockchain record `key` in the state at `at`.
fn ibc_read(n: &Node, at: (u64, cinder_state::Version), key: &[u8]) -> R<Option<Vec<u8>>> {
    n.chain()
        .state()
        .data(at.1, cinder_chain::ibc::keys::tree_key(key))
        .map_err(|e| error(codes::UNKNOWN_BLOCK, format!("the state of block {}: {e:#}", at.0)))
}

/// The inter-blockchain record `key` of the state at canonical block
/// `number` (default: the head): the block's number and the record.
fn ibc_record(n: &Node, number: Option<u64>, key: &[u8]) -> R<(u64, Option<Vec<u8>>)> {
    let at = ibc_at(n, number)?;
    Ok((at.0, ibc_read(n, at, key)?))
}

fn ibc_decode<T: borsh::BorshDeserialize>(bytes: &[u8], what: &str) -> R<T> {
    borsh::from_slice(bytes).map_err(|e| internal(format!("{what} does not decode: {e}")))
}

fn ibc_u64(n: &Node, key: &[u8], absent: u64) -> R<u64> {
    match ibc_record(n, None, key)?.1 {
        None => Ok(absent),
        Some(b) => {
            <[u8; 8]>::try_from(b.as_slice()).map(u64::from_le_bytes).map_err(|_| internal("a counter is not 8 bytes"))
        }
    }
}

fn ibc_u128(n: &Node, key: &[u8]) -> R<u128> {
    match ibc_record(n, None, key)?.1 {
        None => Ok(0),
        Some(b) => <[u8; 16]>::try_from(b.as_slice())
            .map(u128::from_le_bytes)
            .map_err(|_| internal("an amount is not 16 bytes")),
    }
}

/// The JSON of a packet (its data decoded as a transfer).
fn packet_json(p: &cinder_primitives::Packet) -> R<cinder_rpc::IbcPacketJson> {
    let d: cinder_primitives::TransferData =
        decode(p.data.as_slice()).map_err(|e| internal(format!("a sent packet's data: {e}")))?;
    Ok(cinder_rpc::IbcPacketJson {
        sequence: p.sequence,
        source_channel: p.source_channel,
        dest_channel: p.dest_channel,
        timeout_height: p.timeout_height,
        timeout_time_ms: p.timeout_time_ms,
        denom: d.denom.as_str().to_string(),
        amount: d.amount,
        sender: d.sender,
        receiver: d.receiver,
        memo: d.memo.as_str().to_string(),
        raw: format!("0x{}", hex::encode(cinder_primitives::encode(p))),
    })
}

/// The most packets one `cinder_ibcPackets` returns.
const MAX_PACKETS: u64 = 100;

type R<T> = Result<T, ErrorObjectOwned>;

/// The state of canonical block `number` (the head if `None`), or the
/// error to answer.
fn state_at(n: &Node, number: Option<u64>) -> R<cinder_chain::StateAt> {
    match n.chain().state_at(number) {
        Ok(Some(at)) => Ok(at),
        Ok(None) => Err(error(codes::UNKNOWN_BLOCK, format!("no block {}", number.unwrap_or_default()))),
        Err(e) => Err(error(codes::UNKNOWN_BLOCK, format!("{e:#}"))),
    }
}

fn opt_hex(s: &Option<String>, what: &str) -> R<Vec<u8>> {
    match s {
        None => Ok(Vec::new()),
        Some(s) => hex_bytes(s, what),
    }
}

fn opt_amount(s: &Option<String>) -> R<u128> {
    match s {
        None => Ok(0),
        Some(v) => v.parse().map_err(|e| error(codes::INVALID_PARAMS, format!("value {v:?}: {e}"))),
    }
}

/// The transaction kind a call request describes: a deploy (`code`), a
/// call (`to` and `method`) or a transfer (`to` alone).
fn request_kind(r: &CallRequest) -> R<cinder_primitives::TxKind> {
    use cinder_primitives::{BoundedBytes, BoundedString, TxKind};
    let bad = |m: String| error(codes::INVALID_PARAMS, m);
    let args = opt_hex(&r.args, "args")?;
    let value = opt_amount(&r.value)?;
    let args = BoundedBytes::new(args)
        .map_err(|a| bad(format!("args: {} bytes, at most {}", a.len(), cinder_primitives::MAX_ARGS_BYTES)))?;
    match (&r.code, r.to, &r.method) {
        (Some(code), None, None) => {
            let code = hex_bytes(code, "code")?;
            let code = BoundedBytes::new(code)
                .map_err(|c| bad(format!("code: {} bytes, at most {}", c.len(), cinder_primitives::MAX_CODE_BYTES)))?;
            Ok(TxKind::Deploy(cinder_primitives::Deploy { code, init_args: args, value, admin: r.admin }))
        }
        (None, Some(contract), Some(method)) => {
            if method.len() > cinder_primitives::MAX_METHOD_BYTES {
                return Err(bad(format!(
                    "method: {} bytes, at most {}",
                    method.len(),
                    cinder_primitives::MAX_METHOD_BYTES
                )));
            }
            Ok(TxKind::Call(cinder_primitives::Call {
                contract,
                method: BoundedString::truncated(method),
                args,
                value,
            }))
        }
        (None, Some(to), None) if args.as_slice().is_empty() => Ok(TxKind::Transfer { to, amount: value }),
        _ => Err(bad("a request is a deploy (code), a call (to and method) or a transfer (to alone)".into())),
    }
}

/// The chain's log query of a filter, with the head for defaults.
fn log_query(n: &Node, f: &LogFilter) -> R<cinder_chain::LogQuery> {
    let head = n.chain().head().map_err(internal)?.height;
    Ok(cinder_chain::LogQuery {
        from: f.from_block.unwrap_or(head),
        to: f.to_block.unwrap_or(head).min(head),
        contracts: f.address.as_ref().map(|a| a.to_vec()).unwrap_or_default(),
        topics: f.topics.iter().map(|t| t.as_ref().map(|t| t.to_vec())).collect(),
    })
}

fn log_json(l: &cinder_chain::FoundLog) -> LogJson {
    let at =
        LogPlace { block_hash: l.block, block_number: l.height, transaction_hash: l.tx, transaction_index: l.tx_index };
    LogJson::new(&l.event, &at, l.log_index)
}

/// Runs a log query, mapping refusals to their error codes.
fn find_logs(n: &Node, q: &cinder_chain::LogQuery) -> R<Vec<LogJson>> {
    match n.chain().logs(q).map_err(internal)? {
        Ok(found) => Ok(found.iter().map(log_json).collect()),
        Err(cinder_chain::LogQueryError::Invalid(m)) => Err(error(codes::INVALID_PARAMS, m)),
        Err(cinder_chain::LogQueryError::Limit(m)) => Err(error(codes::LIMIT_EXCEEDED, m)),
    }
}

/// Refuses an admin call without the right token.
fn check_admin(want: Option<&str>, given: &str) -> Result<(), ErrorObjectOwned> {
    let Some(want) = want else {
        return Err(error(codes::UNAUTHORIZED, "admin methods are off: start the node with an admin token"));
    };
    if !constant_time_eq(given.as_bytes(), want.as_bytes()) {
        return Err(error(codes::UNAUTHORIZED, "wrong admin token"));
    }
    Ok(())
}

/// The node's methods.
pub fn module(node: Arc<Node>, admin_token: Option<String>) -> Result<RpcModule<Node>> {
    let mut md = RpcModule::from_arc(node);
    register_shards(&mut md)?;
    md.register_method(m::CHAIN_ID, |_, n, _| -> R<u64> { Ok(n.chain().spec().chain_id) })?;
    md.register_method(m::BLOCK_NUMBER, |_, n, _| -> R<u64> { n.chain().head().map(|h| h.height).map_err(internal) })?;
    md.register_blocking_method(m::GET_BLOCK_BY_NUMBER, |p, n, _| -> R<Option<BlockJson>> {
        let mut s = p.sequence();
        let number: u64 = s.next()?;
        let full: Option<bool> = s.optional_next()?;
        let db = n.chain().db();
        let Some((id, _)) = db.canonical(number).map_err(internal)? else { return Ok(None) };
        Ok(db.block(&id).map_err(internal)?.map(|b| BlockJson::new(&b, full.unwrap_or(false))))
    })?;
    md.register_blocking_method(m::GET_BLOCK_BY_HASH, |p, n, _| -> R<Option<BlockJson>> {
        let mut s = p.sequence();
        let id: Hash = s.next()?;
        let full: Option<bool> = s.optional_next()?;
        Ok(n.chain().db().block(&id).map_err(internal)?.map(|b| BlockJson::new(&b, full.unwrap_or(false))))
    })?;
    md.register_blocking_method(m::GET_TRANSACTION_BY_HASH, |p, n, _| -> R<Option<TxJson>> {
        let id: Hash = p.one()?;
        let db = n.chain().db();
        if let Some((block, index)) = db.transaction_location(&id).map_err(internal)? {
            let b = db.block(&block).map_err(internal)?.ok_or_else(|| internal("indexed block missing"))?;
            let t = b.transactions.get(index as usize).ok_or_else(|| internal("index out of range"))?;
            return Ok(Some(TxJson::new(t, Some((block, b.header.height(), index)))));
        }
        Ok(n.mempool().get(&id).map(|t| TxJson::new(t, None)))
    })?;
    md.register_blocking_method(m::GET_TRANSACTION_RECEIPT, |p, n, _| -> R<Option<ReceiptJson>> {
        let id: Hash = p.one()?;
        let db = n.chain().db();
        let Some((block, index)) = db.transaction_location(&id).map_err(internal)? else { return Ok(None) };
        let header = db.header(&block).map_err(internal)?.ok_or_else(|| internal("indexed block missing"))?;
        if !n.chain().tracks_all() {
            // Sharded chains run no contracts: no events, the first log 0.
            let r = n
                .chain()
                .receipt_at(&block, index as usize)
                .map_err(|e| error(codes::INVALID_PARAMS, format!("{e:#}")))?
                .ok_or_else(|| internal("receipt index out of range"))?;
            return Ok(Some(ReceiptJson::new(&r, block, header.height(), index, 0)));
        }
        let receipts = db.receipts(&block).map_err(internal)?.ok_or_else(|| internal("receipts missing"))?;
        let r = receipts.get(index as usize).ok_or_else(|| internal("receipt index out of range"))?;
        let first_log: usize = receipts[..index as usize].iter().map(|r| r.events.len()).sum();
        let first_log = u32::try_from(first_log).unwrap_or(u32::MAX);
        Ok(Some(ReceiptJson::new(r, block, header.height(), index, first_log)))
    })?;
    md.register_blocking_method(m::GET_BALANCE, |p, n, _| -> R<String> {
        let a: Address = p.one()?;
        Ok(n.account(&a).map_err(internal)?.map_or(0, |a| a.balance).to_string())
    })?;
    md.register_blocking_method(m::GET_NONCE, |p, n, _| -> R<u64> {
        let a: Address = p.one()?;
        Ok(n.account(&a).map_err(internal)?.map_or(0, |a| a.nonce))
    })?;
    md.register_blocking_method(m::GET_PROOF, |p, n, _| -> R<ProofJson> {
        let mut s = p.sequence();
        let address: Address = s.next()?;
        let number: Option<u64> = s.optional_next()?;
        let keys: Option<Vec<String>> = s.optional_next()?;
        let keys = keys.unwrap_or_default();
        if keys.len() > 64 {
            return Err(error(codes::INVALID_PARAMS, "at most 64 storage keys in one proof request"));
        }
        let keys = keys.iter().map(|k| hex_bytes(k, "storage key")).collect::<R<Vec<_>>>()?;
        let db = n.chain().db();
        let number = match number {
            Some(x) => x,
            None => n.chain().head().map_err(internal)?.height,
        };
        let (id, version) =
            db.canonical(number).map_err(internal)?.ok_or_else(|| error(codes::UNKNOWN_BLOCK, "no such block"))?;
        let header = db.header(&id).map_err(internal)?.ok_or_else(|| internal("canonical header missing"))?;
        if number < db.pruned_height().map_err(internal)? {
            return Err(error(codes::UNKNOWN_BLOCK, format!("the state of block {number} was pruned")));
        }
        let (account, proof) = n
            .chain()
            .state_of(&address)
            .and_then(|st| st.prove(version, &address))
            .map_err(|e| error(codes::UNKNOWN_BLOCK, format!("the state of block {number}: {e:#}")))?;
        let chunk = shard_proof(&n, &id, &address)?;
        let mut storage = Vec::with_capacity(keys.len());
        for key in keys {
            let (value, proof) = n
                .chain()
                .storage_proof(version, &address, &key)
                .map_err(|e| error(codes::UNKNOWN_BLOCK, format!("the state of block {number}: {e:#}")))?;
            storage.push(StorageProofJson {
                key: format!("0x{}", hex::encode(&key)),
                value: value.map(|v| format!("0x{}", hex::encode(v))),
                tree_key: Hash(cinder_chain::contracts::record_tree_key(&address, &key).0),
                proof: format!("0x{}", hex::encode(proof.to_bytes())),
            });
        }
        Ok(ProofJson {
            address,
            block_number: number,
            block_hash: id,
            state_root: chunk.as_ref().map_or(header.fields.state_root, |(root, _)| *root),
            exists: account.is_some(),
            balance: account.map_or(0, |a| a.balance),
            nonce: account.map_or(0, |a| a.nonce),
            proof: format!("0x{}", hex::encode(proof.to_bytes())),
            storage,
            chunk: chunk.map(|(_, c)| c),
        })
    })?;
    md.register_blocking_method(m::CALL, |p, n, _| -> R<CallResultJson> {
        let mut s = p.sequence();
        let req: CallRequest = s.next()?;
        let number: Option<u64> = s.optional_next()?;
        let (Some(contract), Some(method)) = (req.to, req.method.as_deref()) else {
            return Err(error(codes::INVALID_PARAMS, "a call needs `to` (the contract) and `method`"));
        };
        if req.code.is_some() || req.admin.is_some() {
            return Err(error(
                codes::INVALID_PARAMS,
                "cinder_call runs a method; deploys are estimated with cinder_estimateGas",
            ));
        }
        let args = opt_hex(&req.args, "args")?;
        if args.len() > cinder_primitives::MAX_ARGS_BYTES {
            return Err(error(
                codes::INVALID_PARAMS,
                format!("args: {} bytes, at most {}", args.len(), cinder_primitives::MAX_ARGS_BYTES),
            ));
        }
        let at = state_at(&n, number)?;
        let q = cinder_vm::Query {
            from: req.from.unwrap_or_default(),
            contract,
            method,
            args: &args,
            value: opt_amount(&req.value)?,
            gas: req.gas.unwrap_or(cinder_chain::QUERY_GAS_CAP).min(cinder_chain::QUERY_GAS_CAP),
        };
        let r = n.chain().call_contract(&at, &q).map_err(internal)?;
        let (status, reason) = status_json(&r.status.to_receipt());
        Ok(CallResultJson {
            block_number: at.number,
            status: status.to_string(),
            reason,
            output: format!("0x{}", hex::encode(&r.output)),
            gas_used: r.gas_used,
            events: r.events.iter().map(EventJson::new).collect(),
        })
    })?;
    md.register_blocking_method(m::ESTIMATE_GAS, |p, n, _| -> R<u64> {
        let mut s = p.sequence();
        let req: CallRequest = s.next()?;
        let number: Option<u64> = s.optional_next()?;
        let from = req.from.ok_or_else(|| error(codes::INVALID_PARAMS, "an estimate needs `from`"))?;
        let kind = request_kind(&req)?;
        let at = state_at(&n, number)?;
        let cap = req.gas.unwrap_or(cinder_chain::QUERY_GAS_CAP).min(cinder_chain::QUERY_GAS_CAP);
        match n.chain().estimate_gas(&at, from, &kind, cap).map_err(|e| error(codes::CALL_FAILED, format!("{e:#}")))? {
            Ok(e) => Ok(e.gas),
            Err(f) => {
                let (status, reason) = status_json(&f.status.to_receipt());
                let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
                Err(error(codes::CALL_FAILED, format!("the transaction fails with {} gas ({status}{why})", f.cap)))
            }
        }
    })?;
    md.register_blocking_method(m::GET_CODE, |p, n, _| -> R<Option<CodeJson>> {
        let mut s = p.sequence();
        let address: Address = s.next()?;
        let number: Option<u64> = s.optional_next()?;
        let at = state_at(&n, number)?;
        let Some((info, code)) = n.chain().contract_code(at.version, &address).map_err(internal)? else {
            return Ok(None);
        };
        Ok(Some(CodeJson {
            address,
            block_number: at.number,
            code_hash: info.code_hash,
            code: format!("0x{}", hex::encode(code)),
            admin: info.admin,
            creator: info.creator,
        }))
    })?;
    md.register_blocking_method(m::GET_STORAGE_AT, |p, n, _| -> R<Option<String>> {
        let mut s = p.sequence();
        let address: Address = s.next()?;
        let key: String = s.next()?;
        let number: Option<u64> = s.optional_next()?;
        let key = hex_bytes(&key, "storage key")?;
        if key.len() > cinder_vm::limits::MAX_KEY_BYTES {
            return Err(error(
                codes::INVALID_PARAMS,
                format!("storage key: {} bytes, at most {}", key.len(), cinder_vm::limits::MAX_KEY_BYTES),
            ));
        }
        let at = state_at(&n, number)?;
        let record = cinder_chain::contracts::storage_record(&address, &key);
        let v = n.chain().state().ordered(at.version, &record).map_err(internal)?;
        Ok(v.map(|v| format!("0x{}", hex::encode(v))))
    })?;
    md.register_blocking_method(m::GET_LOGS, |p, n, _| -> R<Vec<LogJson>> {
        let f: LogFilter = p.one()?;
        find_logs(&n, &log_query(&n, &f)?)
    })?;
    md.register_blocking_method(m::FINALIZED_BLOCK_NUMBER, |_, n, _| -> R<u64> {
        n.finalized_height().map_err(internal)?.ok_or_else(|| error(codes::NOT_POS, "this chain is proof of work"))
    })?;
    md.register_blocking_method(m::GET_VALIDATORS, |p, n, _| -> R<cinder_rpc::ValidatorsJson> {
        let number: Option<u64> = p.sequence().optional_next()?;
        let chain = n.chain();
        if chain.spec().pos.is_none() {
            return Err(error(codes::NOT_POS, "this chain is proof of work"));
        }
        let head = chain.head().map_err(internal)?.height;
        let number = number.unwrap_or(head + 1);
        if number > head + 1 {
            return Err(error(codes::UNKNOWN_BLOCK, format!("height {number} is past the next one ({})", head + 1)));
        }
        let v = chain.validators_at_height(number).map_err(internal)?.ok_or_else(|| {
            error(codes::UNKNOWN_BLOCK, format!("the set of height {number} is older than the state keeps"))
        })?;
        let ledger = chain.staking_ledger(&[]).map_err(internal)?;
        let tokens = |a: &Address| ledger.as_ref().and_then(|l| l.staking.validators.get(a)).map_or(0, |v| v.tokens);
        let powers = v.powers();
        let total = v.set.total();
        let validators = (0..v.public_keys.len())
            .map(|i| cinder_rpc::ValidatorJson {
                index: u16::try_from(i).unwrap_or(u16::MAX),
                public_key: format!("0x{}", hex::encode(v.public_keys[i].0)),
                address: v.addresses[i],
                stake: tokens(&v.addresses[i]),
                voting_power: powers[i],
            })
            .collect();
        Ok(cinder_rpc::ValidatorsJson {
            number,
            total_voting_power: total,
            quorum_above: u64::try_from(u128::from(total) * 2 / 3).unwrap_or(u64::MAX),
            validators,
        })
    })?;
    md.register_blocking_method(m::GET_STAKE, |p, n, _| -> R<Option<cinder_rpc::StakeInfoJson>> {
        let mut seq = p.sequence();
        let validator: Address = seq.next()?;
        let delegator: Option<Address> = seq.optional_next()?;
        let pairs: Vec<(Address, Address)> = delegator.map(|d| (d, validator)).into_iter().collect();
        let Some(ledger) = n.chain().staking_ledger(&pairs).map_err(internal)? else {
            return Err(error(codes::NOT_POS, "this chain is proof of work"));
        };
        let s = &ledger.staking;
        let Some(v) = s.validators.get(&validator) else { return Ok(None) };
        let (stake, pending_rewards, unbonding) = match delegator {
            Some(d) => (
                s.stake_of(&d, &validator),
                s.pending_rewards(&d, &validator),
                s.unbonding
                    .iter()
                    .filter(|u| u.delegator == d && u.validator == validator)
                    .map(|u| cinder_rpc::UnbondingJson { amount: u.amount, matures_epoch: u.matures })
                    .collect(),
            ),
            None => (0, 0, Vec::new()),
        };
        Ok(Some(cinder_rpc::StakeInfoJson {
            epoch: s.epoch,
            validator,
            public_key: format!("0x{}", hex::encode(v.key)),
            commission_bps: v.commission_bps,
            tokens: v.tokens,
            active: s.active.iter().any(|(a, _)| *a == validator),
            jailed_until_epoch: v.jailed_until,
            delegator,
            stake,
            pending_rewards,
            unbonding,
        }))
    })?;
    md.register_blocking_method(m::GET_PARAMS, |_, n, _| -> R<cinder_rpc::ParamsJson> {
        let chain = n.chain();
        let height = chain.head().map_err(internal)?.height;
        let params = chain.params().map_err(internal)?;
        let meta = chain.gov_meta().map_err(internal)?.unwrap_or_default();
        Ok(cinder_rpc::ParamsJson {
            height,
            params: params.list().iter().map(|p| (p.name().to_string(), p.value())).collect(),
            community_pool: meta.pool,
            upgrade_plan: meta
                .plan
                .as_ref()
                .map(|p| cinder_rpc::ActionJson::new(&cinder_primitives::ProposalAction::Upgrade(p.clone()))),
            applied_upgrades: meta
                .applied
                .iter()
                .map(|a| cinder_rpc::AppliedUpgradeJson { name: a.name.clone(), height: a.height })
                .collect(),
        })
    })?;
    md.register_blocking_method(m::GET_PROPOSAL, |p, n, _| -> R<Option<cinder_rpc::ProposalJson>> {
        let id: u64 = p.one()?;
        pos_only(&n)?;
        Ok(n.chain().proposal(id).map_err(internal)?.map(|p| proposal_json(&p)))
    })?;
    md.register_blocking_method(m::GET_PROPOSALS, |p, n, _| -> R<Vec<cinder_rpc::ProposalJson>> {
        let mut seq = p.sequence();
        let from: Option<u64> = seq.optional_next()?;
        let limit: Option<u64> = seq.optional_next()?;
        pos_only(&n)?;
        let (from, limit) = (from.unwrap_or(0), limit.unwrap_or(MAX_PROPOSALS).min(MAX_PROPOSALS));
        let next = n.chain().gov_meta().map_err(internal)?.unwrap_or_default().next_id;
        let mut out = Vec::new();
        for id in (from..next).take(usize::try_from(limit).unwrap_or(usize::MAX)) {
            if let Some(p) = n.chain().proposal(id).map_err(internal)? {
                out.push(proposal_json(&p));
            }
        }
        Ok(out)
    })?;
    md.register_blocking_method(m::GET_VOTES, |p, n, _| -> R<Vec<cinder_rpc::VoteJson>> {
        let id: u64 = p.one()?;
        pos_only(&n)?;
        let votes = n.chain().votes(id).map_err(internal)?;
        Ok(votes.into_iter().map(|(voter, o)| cinder_rpc::VoteJson { voter, option: o.name().to_string() }).collect())
    })?;
    md.register_blocking_method(m::GET_TALLY, |p, n, _| -> R<Option<cinder_rpc::TallyJson>> {
        let id: u64 = p.one()?;
        pos_only(&n)?;
        let Some(prop) = n.chain().proposal(id).map_err(internal)? else { return Ok(None) };
        let t = match (prop.status, prop.tally) {
            (cinder_gov::Status::VotingPeriod, _) => n.chain().tally_now(id).map_err(internal)?,
            (_, t) => t,
        };
        Ok(t.map(|t| tally_json(&t)))
    })?;
    md.register_blocking_method(m::IBC_INFO, |_, n, _| -> R<cinder_rpc::IbcInfoJson> {
        let spec = n.chain().spec();
        let head = n.chain().head().map_err(internal)?.height;
        Ok(cinder_rpc::IbcInfoJson {
            chain_id: spec.chain_id,
            genesis: n.chain().genesis_id(),
            consensus: if spec.pos.is_some() { "pos".into() } else { "pow".into() },
            epoch_length: spec.pos.as_ref().map(|p| p.staking.epoch_length),
            pow_algo: spec.pow.as_ref().map(|p| p.algorithm.name().to_string()),
            pow_limit_bits: spec.pow.as_ref().map(|p| format!("{:#010x}", p.limit_bits)),
            native_denom: cinder_primitives::NATIVE_DENOM.into(),
            escrow_account: cinder_primitives::IBC_ADDRESS,
            head,
            finalized: if spec.pos.is_some() { n.finalized_height().map_err(internal)? } else { None },
        })
    })?;
    md.register_blocking_method(m::IBC_CLIENT, |p, n, _| -> R<Option<cinder_rpc::IbcClientJson>> {
        use cinder_chain::ibc::{ClientKind, ClientState, keys};
        let mut s = p.sequence();
        let id: u64 = s.next()?;
        let number: Option<u64> = s.optional_next()?;
        let (block_number, raw) = ibc_record(&n, number, &keys::client(id))?;
        let Some(raw) = raw else { return Ok(None) };
        let c: ClientState = ibc_decode(&raw, "a client record")?;
        let (epoch, validators, depth, pending) = match &c.kind {
            ClientKind::Pos(p) => (Some(p.epoch), Some(p.set.len() as u64), None, None),
            ClientKind::Pow(p) => (None, None, Some(p.depth), Some(p.pending.len() as u64)),
        };
        Ok(Some(cinder_rpc::IbcClientJson {
            id,
            kind: c.kind_name().into(),
            chain_id: c.chain_id(),
            genesis: c.genesis(),
            latest: c.latest(),
            epoch,
            validators,
            depth,
            pending,
            frozen: c.frozen.clone(),
            block_number,
            raw: format!("0x{}", hex::encode(&raw)),
        }))
    })?;
    md.register_blocking_method(m::IBC_CONSENSUS_STATE, |p, n, _| -> R<Option<cinder_rpc::IbcConsensusJson>> {
        let (client, height): (u64, u64) = p.parse()?;
        let Some(raw) = ibc_record(&n, None, &cinder_chain::ibc::keys::consensus(client, height))?.1 else {
            return Ok(None);
        };
        let cs: cinder_chain::ibc::ConsensusState = ibc_decode(&raw, "a consensus state")?;
        Ok(Some(cinder_rpc::IbcConsensusJson {
            client,
            height,
            block_hash: cs.block,
            state_root: cs.root,
            time_ms: cs.time_ms,
        }))
    })?;
    md.register_blocking_method(m::IBC_CHANNEL, |p, n, _| -> R<Option<cinder_rpc::IbcChannelJson>> {
        use cinder_chain::ibc::{ChannelEnd, keys};
        let id: u64 = p.one()?;
        let Some(raw) = ibc_record(&n, None, &keys::channel(id))?.1 else { return Ok(None) };
        let ch: ChannelEnd = ibc_decode(&raw, "a channel record")?;
        Ok(Some(cinder_rpc::IbcChannelJson {
            id,
            state: ch.state.name().into(),
            ordering: ch.ordering.name().into(),
            client: ch.client,
            counterparty_client: ch.counterparty.map(|c| c.0),
            counterparty_channel: ch.counterparty.map(|c| c.1),
            next_send: ibc_u64(&n, &keys::next_send(id), 1)?,
            next_recv: ibc_u64(&n, &keys::next_recv(id), 1)?,
            next_ack: ibc_u64(&n, &keys::next_ack(id), 1)?,
            escrowed: ibc_u128(&n, &keys::escrow(id, cinder_primitives::NATIVE_DENOM))?,
        }))
    })?;
    md.register_blocking_method(m::IBC_PACKETS, |p, n, _| -> R<Vec<cinder_rpc::IbcPacketJson>> {
        use cinder_chain::ibc::keys;
        let mut s = p.sequence();
        let channel: u64 = s.next()?;
        let from: u64 = s.optional_next()?.unwrap_or(1).max(1);
        let limit: u64 = s.optional_next()?.unwrap_or(MAX_PACKETS).min(MAX_PACKETS);
        let next = ibc_u64(&n, &keys::next_send(channel), 1)?;
        let at = ibc_at(&n, None)?;
        let mut out = Vec::new();
        let mut seq = from;
        // A bounded scan: at most 10,000 sequences per call, one state.
        while seq < next && (out.len() as u64) < limit && seq < from.saturating_add(10_000) {
            if let Some(raw) = ibc_read(&n, at, &keys::packet(channel, seq))? {
                let packet: cinder_primitives::Packet = ibc_decode(&raw, "a packet record")?;
                out.push(packet_json(&packet)?);
            }
            seq = seq.saturating_add(1);
        }
        Ok(out)
    })?;
    md.register_blocking_method(m::IBC_RECEIPT, |p, n, _| -> R<cinder_rpc::IbcReceiptJson> {
        use cinder_chain::ibc::{ChannelEnd, keys};
        let (channel, sequence): (u64, u64) = p.parse()?;
        let ack = ibc_record(&n, None, &keys::ack(channel, sequence))?.1;
        let ordered = match ibc_record(&n, None, &keys::channel(channel))?.1 {
            Some(raw) => {
                ibc_decode::<ChannelEnd>(&raw, "a channel record")?.ordering == cinder_primitives::Ordering::Ordered
            }
            None => false,
        };
        let received = match ordered {
            true => ibc_u64(&n, &keys::next_recv(channel), 1)? > sequence,
            false => ibc_record(&n, None, &keys::receipt(channel, sequence))?.1.is_some(),
        };
        let error = match &ack {
            Some(raw) => match decode::<cinder_primitives::Acknowledgement>(raw) {
                Ok(cinder_primitives::Acknowledgement::Error(e)) => Some(e.as_str().to_string()),
                Ok(cinder_primitives::Acknowledgement::Success) => None,
                Err(e) => return Err(internal(format!("an acknowledgement: {e}"))),
            },
            None => None,
        };
        Ok(cinder_rpc::IbcReceiptJson {
            channel,
            sequence,
            received,
            ack: ack.map(|a| format!("0x{}", hex::encode(a))),
            error,
        })
    })?;
    md.register_blocking_method(m::IBC_VOUCHER, |p, n, _| -> R<cinder_rpc::IbcVoucherJson> {
        use cinder_chain::ibc::{keys, transfer};
        let (denom, owner): (String, Address) = p.parse()?;
        transfer::validate(&denom).map_err(|e| error(codes::INVALID_PARAMS, e))?;
        Ok(cinder_rpc::IbcVoucherJson {
            balance: ibc_u128(&n, &keys::voucher(&denom, &owner))?,
            supply: ibc_u128(&n, &keys::supply(&denom))?,
            denom,
            owner,
        })
    })?;
    md.register_blocking_method(m::GET_COMMIT, |p, n, _| -> R<Option<cinder_rpc::CommitJson>> {
        let number: u64 = p.one()?;
        if n.chain().spec().pos.is_none() {
            return Err(error(codes::NOT_POS, "this chain is proof of work"));
        }
        let Some(c) = n.commit_at(number).map_err(internal)? else { return Ok(None) };
        let v = n.chain().validators_at_height(number).map_err(internal)?.ok_or_else(|| {
            error(codes::UNKNOWN_BLOCK, format!("the set of height {number} is older than the state keeps"))
        })?;
        let powers = v.powers();
        let signed = c.signatures.iter().map(|(i, _)| powers.get(usize::from(*i)).copied().unwrap_or(0)).sum();
        Ok(Some(cinder_rpc::CommitJson {
            number: c.height,
            hash: c.block,
            round: c.round,
            chain_id: c.chain_id,
            signed_power: signed,
            total_voting_power: v.set.total(),
            signatures: c
                .signatures
                .iter()
                .map(|(i, s)| cinder_rpc::CommitSignatureJson {
                    validator: *i,
                    signature: format!("0x{}", hex::encode(s)),
                })
                .collect(),
            raw: format!("0x{}", hex::encode(cinder_primitives::encode(&c))),
        }))
    })?;
    md.register_async_method(m::SEND_RAW_TRANSACTION, |p, n, _| async move {
        let raw: String = p.one()?;
        let bytes = hex_bytes(&raw, "transaction")?;
        let tx: SignedTransaction =
            decode(&bytes).map_err(|e| error(codes::INVALID_TRANSACTION, format!("transaction: {e}")))?;
        n.submit(tx).await.map_err(|r| rejected(&r))
    })?;
    md.register_method(m::GAS_PRICE, |_, n, _| -> R<String> { Ok(n.mempool().suggested_gas_price().to_string()) })?;
    md.register_method(m::PENDING_COUNT, |_, n, _| -> R<u64> { Ok(n.mempool().len() as u64) })?;
    md.register_method(m::SYNCING, |_, n, _| -> R<serde_json::Value> {
        // `false`, or the progress while catching up with a heavier peer.
        Ok(match n.network().and_then(|net| net.syncing()) {
            Some(s) => serde_json::to_value(s).map_err(|e| error(codes::INTERNAL_ERROR, e.to_string()))?,
            None => serde_json::Value::Bool(false),
        })
    })?;
    md.register_method(m::PEERS, |_, n, _| -> R<Vec<cinder_rpc::PeerJson>> {
        Ok(n.network().map(|net| net.peers()).unwrap_or_default())
    })?;
    md.register_method(m::NET_INFO, |_, n, _| -> R<cinder_rpc::NetInfoJson> {
        let net = n.network().ok_or_else(|| error(codes::INVALID_REQUEST, "this node has no p2p network"))?;
        Ok(net.info())
    })?;
    md.register_blocking_method(m::GET_WORK, |_, n, _| n.get_work().map_err(work_error))?;
    md.register_blocking_method(m::SUBMIT_WORK, |p, n, _| {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Sub {
            job_id: String,
            header: String,
        }
        let s: Sub = p.one()?;
        n.submit_work(&s.job_id, &s.header).map_err(work_error)
    })?;
    let token = admin_token.clone();
    md.register_method(m::ADMIN_SET_PEER_FILTER, move |p, n, _| -> R<usize> {
        let (given, allow): (String, Option<Vec<String>>) = p.parse()?;
        check_admin(token.as_deref(), &given)?;
        let net = n.network().ok_or_else(|| error(codes::INVALID_REQUEST, "this node has no p2p network"))?;
        net.set_peer_filter(allow).map_err(|e| error(codes::INVALID_PARAMS, e))
    })?;
    let log_token = admin_token.clone();
    md.register_method(m::ADMIN_SET_LOG_LEVEL, move |p, n, _| -> R<String> {
        let (given, filter): (String, String) = p.parse()?;
        check_admin(log_token.as_deref(), &given)?;
        if filter.len() > 1_024 {
            return Err(error(codes::INVALID_PARAMS, "a log filter is at most 1,024 bytes"));
        }
        n.set_log_filter(&filter).map_err(|e| error(codes::INVALID_PARAMS, e))?;
        tracing::info!(%filter, "log filter changed");
        Ok(filter)
    })?;
    md.register_method(m::SET_MINING, move |p, n, _| -> R<bool> {
        let (token, mode): (String, String) = p.parse()?;
        check_admin(admin_token.as_deref(), &token)?;
        let on = match mode.as_str() {
            "on" => true,
            "off" => false,
            _ => return Err(error(codes::INVALID_PARAMS, "mode: \"on\" or \"off\"")),
        };
        n.mining_on.store(on, Ordering::Release);
        Ok(on)
    })?;
    md.register_subscription(m::SUBSCRIBE, m::SUBSCRIPTION, m::UNSUBSCRIBE, |p, pending, n, _| async move {
        let mut seq = p.sequence();
        let kind: String = match seq.next() {
            Ok(k) => k,
            Err(e) => {
                pending.reject(e).await;
                return;
            }
        };
        match kind.as_str() {
            "newHeads" => {
                let rx = n.subscribe_heads();
                forward(pending, rx).await;
            }
            "newPendingTransactions" => {
                let rx = n.subscribe_pending();
                forward(pending, rx).await;
            }
            "logs" => {
                let filter: Option<LogFilter> = match seq.optional_next() {
                    Ok(f) => f,
                    Err(e) => {
                        pending.reject(e).await;
                        return;
                    }
                };
                let filter = filter.unwrap_or_default();
                if filter.from_block.is_some() || filter.to_block.is_some() {
                    let e =
                        error(codes::INVALID_PARAMS, "a logs subscription follows new blocks: no fromBlock or toBlock");
                    pending.reject(e).await;
                    return;
                }
                forward_logs(pending, n, filter).await;
            }
            other => {
                pending
                    .reject(error(
                        codes::INVALID_PARAMS,
                        format!("unknown subscription {other:?}: newHeads, newPendingTransactions or logs"),
                    ))
                    .await;
            }
        }
    })?;
    Ok(md)
}

async fn forward<T: serde::Serialize + Clone>(
    pending: jsonrpsee::PendingSubscriptionSink,
    mut rx: tokio::sync::broadcast::Receiver<T>,
) {
    let Ok(sink) = pending.accept().await else { return };
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    let Ok(json) = serde_json::value::to_raw_value(&ev) else { return };
                    if sink.send(SubscriptionMessage::from(json)).await.is_err() {
                        return;
                    }
                }
                // A slow subscriber misses events rather than stalling the node.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Sends the logs of each new canonical block that match `filter`. After a
/// reorg the new chain's blocks are sent again from the fork (the old
/// chain's logs are not retracted: a client keys logs by block hash).
async fn forward_logs(pending: jsonrpsee::PendingSubscriptionSink, n: Arc<Node>, filter: LogFilter) {
    let mut rx = n.subscribe_heads();
    let Ok(sink) = pending.accept().await else { return };
    let Ok(head) = n.chain().head() else { return };
    let mut next = head.height + 1;
    loop {
        let ev = tokio::select! {
            _ = sink.closed() => return,
            ev = rx.recv() => match ev {
                Ok(ev) => ev,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        if ev.reorg_depth > 0 {
            next = next.saturating_sub(ev.reorg_depth).max(1);
        }
        if ev.number < next {
            continue;
        }
        // At most 64 blocks a head (a node catching up sends a head per block).
        let from = next.max(ev.number.saturating_sub(63));
        next = ev.number + 1;
        let q = match log_query(&n, &LogFilter { from_block: Some(from), to_block: Some(ev.number), ..filter.clone() })
        {
            Ok(q) => q,
            Err(_) => continue,
        };
        let node = n.clone();
        let Ok(Ok(logs)) = tokio::task::spawn_blocking(move || find_logs(&node, &q)).await else { continue };
        for log in logs {
            let Ok(json) = serde_json::value::to_raw_value(&log) else { return };
            if sink.send(SubscriptionMessage::from(json)).await.is_err() {
                return;
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket { rate: f64::from(rate), state: Mutex::new((2.0 * f64::from(rate), Instant::now())) }
    }
    fn take(&self) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(2.0 * self.rate);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The per-client limit as RPC middleware.
#[derive(Clone)]
struct Limit<S> {
    inner: S,
    bucket: Arc<Bucket>,
    node: Arc<Node>,
}

fn limited<'a>() -> ErrorObject<'a> {
    ErrorObject::borrowed(codes::RATE_LIMITED, "rate limit exceeded: slow down", None)
}

impl<S> RpcServiceT for Limit<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        self.node.metrics.rpc_calls.fetch_add(1, Ordering::Relaxed);
        if self.bucket.take() {
            ResponseFuture::future(self.inner.call(req))
        } else {
            self.node.metrics.rpc_rate_limited.fetch_add(1, Ordering::Relaxed);
            ResponseFuture::ready(MethodResponse::error(req.id, limited()))
        }
    }

    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            let refuse = match entry {
                Ok(BatchEntry::Call(req)) => {
                    self.node.metrics.rpc_calls.fetch_add(1, Ordering::Relaxed);
                    (!self.bucket.take()).then(|| req.id.clone())
                }
                _ => None,
            };
            if let Some(id) = refuse {
                self.node.metrics.rpc_rate_limited.fetch_add(1, Ordering::Relaxed);
                *entry = Err(BatchEntryErr::new(id, limited()));
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

/// A running RPC server.
pub struct RpcServer {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

impl RpcServer {
    /// Stops accepting and closes the connections.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        let _ = self.task.await;
    }
}

/// Starts the server for `node` on `cfg.addr`.
pub async fn serve(node: Arc<Node>, cfg: &RpcConfig) -> Result<RpcServer> {
    let listener =
        TcpListener::bind(cfg.addr).await.with_context(|| format!("binding the RPC address {}", cfg.addr))?;
    let addr = listener.local_addr()?;
    let methods = module(node.clone(), cfg.admin_token.clone())?;
    let config = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_bytes)
        .max_response_body_size(cfg.max_response_bytes)
        .max_connections(cfg.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch))
        .max_subscriptions_per_connection(cfg.max_subscriptions_per_connection)
        .build();
    let builder = jsonrpsee::server::Server::builder().set_config(config).to_service_builder();
    let (stop, handle) = stop_channel();
    let limits = ConnLimits { rate: cfg.rate_per_sec, per_ip: cfg.max_connections_per_ip, header: cfg.header_timeout };
    let task = tokio::spawn(accept(listener, builder, methods, stop, node, limits));
    Ok(RpcServer { addr, handle, task })
}

/// What one client may hold.
#[derive(Clone, Copy)]
struct ConnLimits {
    rate: u32,
    per_ip: u32,
    header: std::time::Duration,
}

/// Serves one connection as jsonrpsee's `serve_with_graceful_shutdown`
/// does, with hyper's header-read timeout on (jsonrpsee sets no timer, so
/// a client that sends its headers a byte at a time, or idles between
/// requests, would hold the connection until its first-request timeout
/// or forever).
async fn serve_conn<S, B>(
    sock: tokio::net::TcpStream,
    svc: S,
    stopped: impl std::future::Future<Output = ()>,
    header: std::time::Duration,
) where
    S: tower::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body<Data = hyper::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header);
    let conn = builder.serve_connection_with_upgrades(
        hyper_util::rt::TokioIo::new(sock),
        hyper_util::service::TowerToHyperService::new(svc),
    );
    tokio::pin!(stopped, conn);
    tokio::select! {
        _ = &mut conn => {}
        _ = &mut stopped => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn accept(
    listener: TcpListener,
    builder: jsonrpsee::server::TowerServiceBuilder<tower::layer::util::Identity, tower::layer::util::Identity>,
    methods: RpcModule<Node>,
    stop: StopHandle,
    node: Arc<Node>,
    limits: ConnLimits,
) {
    let rate = limits.rate;
    let buckets: Arc<Mutex<HashMap<IpAddr, Arc<Bucket>>>> = Arc::default();
    let open: Arc<Mutex<HashMap<IpAddr, u32>>> = Arc::default();
    loop {
        let (sock, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accepting an RPC connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.clone().shutdown() => break,
        };
        let _ = sock.set_nodelay(true);
        // Connections per IP: past the limit, closed at once.
        let ip = remote.ip();
        {
            let mut o = open.lock().unwrap_or_else(PoisonError::into_inner);
            let n = o.entry(ip).or_insert(0);
            if *n >= limits.per_ip {
                drop(o);
                node.metrics.rpc_connections_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%ip, "refused an RPC connection: {} open from this address", limits.per_ip);
                drop(sock);
                continue;
            }
            *n += 1;
        }
        let bucket = {
            let mut b = buckets.lock().unwrap_or_else(PoisonError::into_inner);
            if b.len() > 10_000 {
                // Forget idle clients rather than grow without bound.
                b.retain(|_, v| Arc::strong_count(v) > 1);
            }
            b.entry(remote.ip()).or_insert_with(|| Arc::new(Bucket::new(rate))).clone()
        };
        let node2 = node.clone();
        let layer = RpcServiceBuilder::new().layer_fn(move |inner| Limit {
            inner,
            bucket: bucket.clone(),
            node: node2.clone(),
        });
        let svc = builder.clone().set_rpc_middleware(layer).build(methods.clone(), stop.clone());
        let open = open.clone();
        let stopped = stop.clone().shutdown();
        tokio::spawn(async move {
            serve_conn(sock, svc, stopped, limits.header).await;
            let mut o = open.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(n) = o.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    o.remove(&ip);
                }
            }
        });
    }
}
