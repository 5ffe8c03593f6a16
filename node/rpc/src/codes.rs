//! JSON-RPC error codes. The standard ones come first; Cinder's own live in
//! the server-error range -32000..-32099 (docs/rpc.md has the table).

/// The request is not valid JSON.
pub const PARSE_ERROR: i32 = -32700;
/// The JSON is not a valid request object.
pub const INVALID_REQUEST: i32 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Wrong number or types of parameters, or malformed hex.
pub const INVALID_PARAMS: i32 = -32602;
/// The node failed (a bug or a storage error); nothing was changed.
pub const INTERNAL_ERROR: i32 = -32603;

/// The raw transaction does not decode.
pub const INVALID_TRANSACTION: i32 = -32000;
/// The transaction's signature does not verify.
pub const INVALID_SIGNATURE: i32 = -32001;
/// The transaction is signed for another chain id (or is oversized).
pub const WRONG_CHAIN: i32 = -32002;
/// The nonce is below the sender's next nonce (already used).
pub const NONCE_TOO_LOW: i32 = -32003;
/// The nonce is too far ahead of the sender's next nonce.
pub const NONCE_TOO_HIGH: i32 = -32004;
/// A replacement without a sufficient gas price bump, or a full pool
/// whose cheapest transaction pays at least as much.
pub const FEE_TOO_LOW: i32 = -32005;
/// The sender cannot pay `gasLimit x gasPrice`.
pub const INSUFFICIENT_FUNDS: i32 = -32006;
/// The sender already has the most pooled transactions allowed.
pub const MEMPOOL_FULL: i32 = -32007;
/// The transaction is already pooled.
pub const ALREADY_KNOWN: i32 = -32008;
/// No block with that number or hash (or its state was pruned).
pub const UNKNOWN_BLOCK: i32 = -32010;
/// `cinder_submitWork` for a job the node no longer has (a new head came).
pub const UNKNOWN_JOB: i32 = -32011;
/// Submitted work that is not the job's header with a rolled nonce and
/// version, or that meets neither target.
pub const INVALID_WORK: i32 = -32012;
/// The client sent more requests than its rate allows.
pub const RATE_LIMITED: i32 = -32020;
/// An admin method without the node's token.
pub const UNAUTHORIZED: i32 = -32021;
/// The method needs a proof-of-stake chain.
pub const NOT_POS: i32 = -32030;
/// A contract call or estimate failed (reverted, out of gas, trapped, no
/// contract): the message says how.
pub const CALL_FAILED: i32 = -32040;
/// A log query over more blocks or matching more events than the node
/// serves in one answer.
pub const LIMIT_EXCEEDED: i32 = -32041;
