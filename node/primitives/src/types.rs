//! The chain's data types and their identities.

use std::fmt;
use std::io::{self, Read, Write};

use borsh::{BorshDeserialize, BorshSerialize};
use cinder_engine::sig::{self, Domain};

use crate::codec::{Bounded, BoundedBytes, BoundedString, Limited, encode, read_version, write_version};

/// A 32-byte BLAKE3 hash.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// BLAKE3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }
    /// `0x`-prefixed hex, natural byte order.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }
    /// Parses `0x`-prefixed (or bare) hex of 32 bytes.
    pub fn from_hex(s: &str) -> Result<Hash, String> {
        parse_hex32(s).map(Hash)
    }
}

fn parse_hex32(s: &str) -> Result<[u8; 32], String> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    let v = hex::decode(h).map_err(|e| format!("not hex: {e}"))?;
    v.try_into().map_err(|v: Vec<u8>| format!("{} bytes, expected 32", v.len()))
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Serde as `0x`-prefixed hex strings (JSON-RPC, config files).
macro_rules! hex32_serde {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                <$t>::from_hex(&s).map_err(|e| serde::de::Error::custom(format!("{}: {e}", stringify!($t))))
            }
        }
    };
}
hex32_serde!(Hash);
hex32_serde!(Address);

/// An account address: the BLAKE3 hash of the account's ed25519 public key
/// under the context `"cinder address v1"`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The address of `key`.
    pub fn from_public_key(key: &sig::PublicKey) -> Address {
        Address(blake3::derive_key("cinder address v1", &key.0))
    }
    /// `0x`-prefixed hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }
    /// Parses `0x`-prefixed (or bare) hex of 32 bytes.
    pub fn from_hex(s: &str) -> Result<Address, String> {
        parse_hex32(s).map(Address)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An account's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    /// Balance in the smallest unit.
    pub balance: u128,
    /// Transactions sent so far (the next transaction carries this nonce).
    pub nonce: u64,
}

impl Limited for Account {
    const NAME: &'static str = "account";
    const MAX_BYTES: usize = 24;
}

/// What a transaction does. New kinds are appended with new tags; existing
/// tags never change meaning.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum TxKind {
    /// Tag 0: move `amount` to `to`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount.
        amount: u128,
    },
    /// Tag 1: a staking operation (proof-of-stake chains only). The amount
    /// it bonds moves to [`STAKING_ADDRESS`] like a transfer; the ledger
    /// operation then runs after the block's transfers, in block order.
    Stake(StakeOp),
    /// Tag 2: deploy a contract ([`crate::Deploy`]).
    Deploy(crate::Deploy),
    /// Tag 3: call a contract ([`crate::Call`]).
    Call(crate::Call),
    /// Tag 4: an operation only a contract's admin may send
    /// ([`crate::AdminOp`]).
    Admin(crate::AdminOp),
    /// Tag 5: a governance operation (proof-of-stake chains only; refused
    /// with a failed receipt elsewhere). What it deposits moves to
    /// [`crate::GOV_ADDRESS`] like a transfer; the operation then runs
    /// after the block's transactions, in block order.
    Gov(crate::GovOp),
    /// Tag 6: an inter-blockchain operation ([`crate::IbcOp`]). A native
    /// transfer's amount moves to [`crate::IBC_ADDRESS`] like a transfer;
    /// the operation then runs after the block's transactions (and, on a
    /// PoS chain, its staking and governance passes), in block order.
    Ibc(crate::IbcOp),
}

impl TxKind {
    /// Whether it runs contract code (a deploy, a call, a migration).
    pub fn is_contract(&self) -> bool {
        matches!(self, TxKind::Deploy(_) | TxKind::Call(_) | TxKind::Admin(_))
    }
}

/// The system account that holds bonded stake, unbonding stake and
/// undistributed rewards. No key hashes to it (addresses of keys are
/// BLAKE3 outputs; this is a fixed ASCII string), so nobody can spend
/// from it; only the staking rules move its balance.
pub const STAKING_ADDRESS: Address = Address(*b"cinder/system/staking/ledger/v1\0");

/// A staking operation (docs/design/staking.md). New operations are
/// appended with new tags.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum StakeOp {
    /// Tag 0: the sender becomes a validator's operator with consensus key
    /// `key`, commission `commission_bps` (basis points of its rewards),
    /// bonding `amount` as its self-stake.
    CreateValidator {
        /// The consensus (block and vote signing) key, ed25519.
        key: [u8; 32],
        /// The operator's cut of rewards, basis points.
        commission_bps: u16,
        /// The self-stake bonded.
        amount: u128,
    },
    /// Tag 1: bonds `amount` to `validator` (an operator address); the
    /// operator adding to its own pool bonds self-stake.
    Delegate {
        /// The validator's operator address.
        validator: Address,
        /// Bonded.
        amount: u128,
    },
    /// Tag 2: starts unbonding `amount` from `validator`; it is paid after
    /// the unbonding period.
    Undelegate {
        /// The validator's operator address.
        validator: Address,
        /// Unbonded.
        amount: u128,
    },
    /// Tag 3: pays the sender's rewards from `validator` (and, for its
    /// operator, the commission).
    WithdrawRewards {
        /// The validator's operator address.
        validator: Address,
    },
    /// Tag 4: proof that a validator signed two different votes at one
    /// height and round; any sender may report it. The validator is
    /// slashed and jailed.
    ReportDoubleVote(Box<crate::DoubleVote>),
}

impl StakeOp {
    /// What the operation bonds (moved to [`STAKING_ADDRESS`] with the
    /// transaction).
    pub fn bonded(&self) -> u128 {
        match self {
            StakeOp::CreateValidator { amount, .. } | StakeOp::Delegate { amount, .. } => *amount,
            StakeOp::Undelegate { .. } | StakeOp::WithdrawRewards { .. } | StakeOp::ReportDoubleVote(_) => 0,
        }
    }
}

/// The transaction format version this code writes and reads.
pub const TX_VERSION: u8 = 1;
/// The largest encoded signed transaction.
pub const MAX_TX_BYTES: usize = 64 * 1024;

/// An unsigned transaction. Encoded as the version byte, then the fields in
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The chain it is for (replay protection across chains).
    pub chain_id: u64,
    /// The sender's ed25519 public key.
    pub sender: sig::PublicKey,
    /// Must equal the sender's nonce when it executes.
    pub nonce: u64,
    /// Most gas it may use.
    pub gas_limit: u64,
    /// Price per unit of gas.
    pub gas_price: u64,
    /// What it does.
    pub kind: TxKind,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct TxFields {
    chain_id: u64,
    sender: [u8; 32],
    nonce: u64,
    gas_limit: u64,
    gas_price: u64,
    kind: TxKind,
}

impl BorshSerialize for Transaction {
    fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
        write_version(w, TX_VERSION)?;
        TxFields {
            chain_id: self.chain_id,
            sender: self.sender.0,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            gas_price: self.gas_price,
            kind: self.kind.clone(),
        }
        .serialize(w)
    }
}

impl BorshDeserialize for Transaction {
    fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
        read_version(r, "transaction", TX_VERSION)?;
        let f = TxFields::deserialize_reader(r)?;
        Ok(Transaction {
            chain_id: f.chain_id,
            sender: sig::PublicKey(f.sender),
            nonce: f.nonce,
            gas_limit: f.gas_limit,
            gas_price: f.gas_price,
            kind: f.kind,
        })
    }
}

impl Limited for Transaction {
    const NAME: &'static str = "transaction";
    const MAX_BYTES: usize = MAX_TX_BYTES - 64;
}

impl Transaction {
    /// The transaction id: BLAKE3 of the unsigned encoding (a signature's
    /// encoding cannot change it).
    pub fn id(&self) -> Hash {
        Hash::of(&encode(self))
    }
    /// The bytes the sender signs: the id under the transaction domain.
    pub fn signing_message(&self) -> Vec<u8> {
        sig::signing_message(Domain::Tx, &self.id().0)
    }
    /// The sender's address.
    pub fn sender_address(&self) -> Address {
        Address::from_public_key(&self.sender)
    }
    /// The account the transaction pays and how much (besides the fee): a
    /// transfer's recipient, the staking account for what a staking
    /// operation bonds, the governance account for what a governance
    /// operation deposits, the contract for the value a deploy or a call
    /// moves (a deploy's new contract is at [`crate::contract_address`] of
    /// the sender and this nonce).
    pub fn payment(&self) -> (Address, u128) {
        match &self.kind {
            TxKind::Transfer { to, amount } => (*to, *amount),
            TxKind::Stake(op) => (STAKING_ADDRESS, op.bonded()),
            TxKind::Gov(op) => (crate::GOV_ADDRESS, op.deposited()),
            TxKind::Ibc(op) => (crate::IBC_ADDRESS, op.escrowed()),
            TxKind::Deploy(d) => (crate::contract_address(&self.sender_address(), self.nonce), d.value),
            TxKind::Call(c) => (c.contract, c.value),
            TxKind::Admin(op) => (op.contract(), 0),
        }
    }
    /// Signs with `key` (whose public key must be `sender`).
    pub fn sign(self, key: &sig::SecretKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_message());
        SignedTransaction { tx: self, signature }
    }
}

/// A transaction and its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// ed25519 over [`Transaction::signing_message`].
    pub signature: sig::Signature,
}

impl BorshSerialize for SignedTransaction {
    fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
        self.tx.serialize(w)?;
        self.signature.0.serialize(w)
    }
}

impl BorshDeserialize for SignedTransaction {
    fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
        let tx = Transaction::deserialize_reader(r)?;
        let signature = sig::Signature(<[u8; 64]>::deserialize_reader(r)?);
        Ok(SignedTransaction { tx, signature })
    }
}

impl Limited for SignedTransaction {
    const NAME: &'static str = "signed transaction";
    const MAX_BYTES: usize = MAX_TX_BYTES;
}

/// Why a transaction is invalid on its own (before any state).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxInvalid {
    /// Signed for another chain.
    #[error("chain id {got}, expected {expected}")]
    ChainId {
        /// In the transaction.
        got: u64,
        /// This chain's.
        expected: u64,
    },
    /// Encoded larger than [`MAX_TX_BYTES`].
    #[error("{0} bytes, at most {MAX_TX_BYTES}")]
    Oversized(usize),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

impl SignedTransaction {
    /// The transaction id (of the unsigned part).
    pub fn id(&self) -> Hash {
        self.tx.id()
    }
    /// The Merkle leaf of this transaction in a block: BLAKE3 of the full
    /// signed encoding.
    pub fn leaf(&self) -> Hash {
        Hash::of(&encode(self))
    }
    /// Chain id and size, without the signature (checked in batches).
    pub fn check_envelope(&self, chain_id: u64) -> Result<(), TxInvalid> {
        if self.tx.chain_id != chain_id {
            return Err(TxInvalid::ChainId { got: self.tx.chain_id, expected: chain_id });
        }
        let len = encode(self).len();
        if len > MAX_TX_BYTES {
            return Err(TxInvalid::Oversized(len));
        }
        Ok(())
    }
    /// Every stateless check, the signature verified alone.
    pub fn check_stateless(&self, chain_id: u64) -> Result<(), TxInvalid> {
        self.check_envelope(chain_id)?;
        sig::verify(&self.tx.sender.0, &self.tx.signing_message(), &self.signature.0)
            .map_err(|_| TxInvalid::BadSignature)
    }
}

/// Verifies the signatures of `txs` as one batch on all cores; the indices
/// of the bad ones otherwise (found by bisection).
pub fn verify_signatures(txs: &[SignedTransaction]) -> Result<(), Vec<usize>> {
    let mut batch = sig::BatchVerifier::with_capacity(txs.len(), 48);
    for t in txs {
        batch.add(&t.tx.sender.0, &t.tx.signing_message(), &t.signature.0);
    }
    batch.verify_cached(sig::Strategy::Parallel, sig::KeyCache::shared()).map_err(|bad| bad.indices)
}

/// How an executed transaction ended. In every failed case the nonce
/// moved, the gas used was paid, and nothing else of the transaction
/// applied (a contract's nested calls included).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ReceiptStatus {
    /// Tag 0: all its effects applied.
    Success,
    /// Tag 1: failed outside contract code (a transfer's insufficient
    /// balance or gas, a refused staking operation, a call to an address
    /// without a contract, code refused at deploy). The reason, at most
    /// 256 bytes.
    Failed(BoundedString<256>),
    /// Tag 2: the contract reverted, with its message.
    Reverted(BoundedString<256>),
    /// Tag 3: the contract ran out of gas (all of the limit is used).
    OutOfGas,
    /// Tag 4: the contract trapped: the kind of trap (unreachable, memory
    /// out of bounds, stack overflow, a bad pointer given to a host
    /// function, a limit passed, ...).
    Trapped(BoundedString<256>),
}

impl ReceiptStatus {
    /// Whether the transaction's effects applied.
    pub fn is_success(&self) -> bool {
        matches!(self, ReceiptStatus::Success)
    }
}

/// The outcome of a transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    /// The transaction.
    pub tx_id: Hash,
    /// How it ended.
    pub status: ReceiptStatus,
    /// Gas used.
    pub gas_used: u64,
    /// What a contract returned (a call's return data, a revert's data);
    /// empty otherwise.
    pub output: BoundedBytes<{ crate::MAX_RETURN_BYTES }>,
    /// The events its contract calls emitted, in order (none if it failed).
    pub events: Bounded<crate::Event, { crate::MAX_EVENTS }>,
    /// The contract a successful deploy created.
    pub created: Option<Address>,
}

impl Receipt {
    /// A receipt with no contract output: a transfer's or staking
    /// operation's.
    pub fn plain(tx_id: Hash, status: ReceiptStatus, gas_used: u64) -> Receipt {
        Receipt { tx_id, status, gas_used, output: BoundedBytes::default(), events: Bounded::default(), created: None }
    }
}

impl Limited for Receipt {
    const NAME: &'static str = "receipt";
    const MAX_BYTES: usize = 32
        + 1
        + 4
        + 256
        + 8
        + 4
        + crate::MAX_RETURN_BYTES
        + 4
        + crate::MAX_EVENTS * <crate::Event as Limited>::MAX_BYTES
        + 33;
}

impl Receipt {
    /// The receipt's Merkle leaf: BLAKE3 of its encoding.
    pub fn leaf(&self) -> Hash {
        Hash::of(&encode(self))
    }
}

/// Header fields committed to by the PoW header's commitment.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct HeaderFields {
    /// Height (genesis = 0).
    pub height: u64,
    /// Root of the state after this block.
    pub state_root: Hash,
    /// Merkle root of the transactions' leaves.
    pub transactions_root: Hash,
    /// Merkle root of the receipts' leaves.
    pub receipts_root: Hash,
    /// Who receives the block reward and the fees.
    pub coinbase: Address,
    /// Extra nonce space for miners.
    pub extra_nonce: u64,
    /// Consensus-specific data (at most 1 KiB; empty for PoW).
    pub consensus_data: BoundedBytes<1024>,
}

impl HeaderFields {
    /// The commitment the PoW header carries: BLAKE3 of these fields'
    /// encoding.
    pub fn commitment(&self) -> Hash {
        Hash::of(&encode(self))
    }
}

/// The header format version.
pub const HEADER_VERSION: u8 = 1;

/// A PoW block header: the 80-byte PoW header (version, previous block id,
/// commitment, time, bits, nonce, in Bitcoin's layout) and the fields it
/// commits to. Encoded as the format version byte, the 80 bytes, the fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The 80 bytes the miner hashes.
    pub pow: cinder_engine::pow::Header,
    /// Everything else.
    pub fields: HeaderFields,
}

impl BorshSerialize for Header {
    fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
        write_version(w, HEADER_VERSION)?;
        w.write_all(&self.pow.0)?;
        self.fields.serialize(w)
    }
}

impl BorshDeserialize for Header {
    fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
        read_version(r, "header", HEADER_VERSION)?;
        let mut pow = [0u8; 80];
        r.read_exact(&mut pow)?;
        let fields = HeaderFields::deserialize_reader(r)?;
        Ok(Header { pow: cinder_engine::pow::Header(pow), fields })
    }
}

impl Limited for Header {
    const NAME: &'static str = "header";
    const MAX_BYTES: usize = 1 + 80 + 8 + 4 * 32 + 8 + 4 + 1024;
}

impl Header {
    /// A header over `fields`, its PoW header committing to them.
    pub fn new(prev: Hash, time: u32, bits: u32, fields: HeaderFields) -> Header {
        let pow = cinder_engine::pow::Header::new(1, prev.0, fields.commitment().0, time, bits, 0);
        Header { pow, fields }
    }
    /// The block id: BLAKE3 of the header's encoding.
    pub fn id(&self) -> Hash {
        Hash::of(&encode(self))
    }
    /// The previous block's id.
    pub fn prev(&self) -> Hash {
        Hash(self.pow.prev())
    }
    /// The height.
    pub fn height(&self) -> u64 {
        self.fields.height
    }
    /// Whether the PoW header commits to the fields.
    pub fn commitment_matches(&self) -> bool {
        self.pow.commitment() == self.fields.commitment().0
    }
}

/// The most transactions in a block.
pub const MAX_BLOCK_TXS: usize = 1 << 16;

/// A block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, in execution order.
    pub transactions: Bounded<SignedTransaction, MAX_BLOCK_TXS>,
    /// Proof of stake: the certificate that finalized the parent (the
    /// header's consensus data commits to its hash); `None` under PoW and
    /// for the first block after genesis.
    pub last_commit: Option<crate::consensus::CommitCertificate>,
    /// A sharded chain's chunks, one per shard, in shard order; empty on a
    /// chain of one shard.
    pub chunks: Bounded<crate::shard::Chunk, { crate::shard::MAX_SHARDS as usize }>,
}

impl Limited for Block {
    const NAME: &'static str = "block";
    /// 32 MiB: the encoding limit; consensus sets a smaller block size.
    const MAX_BYTES: usize = 32 << 20;
}

impl Block {
    /// The block id (its header's).
    pub fn id(&self) -> Hash {
        self.header.id()
    }
    /// A sharded block's chunk headers (empty on a chain of one shard).
    pub fn chunk_headers(&self) -> Vec<crate::shard::ChunkHeader> {
        self.chunks.iter().map(|c| c.header.clone()).collect()
    }
    /// The Merkle root of the transactions' leaves (engine::merkle, all
    /// cores).
    pub fn transactions_root(&self) -> Hash {
        let leaves: Vec<[u8; 32]> = self.transactions.iter().map(|t| t.leaf().0).collect();
        Hash(cinder_engine::merkle::root(&leaves))
    }
}

/// The Merkle root of receipts.
pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    let leaves: Vec<[u8; 32]> = receipts.iter().map(|r| r.leaf().0).collect();
    Hash(cinder_engine::merkle::root(&leaves))
}
