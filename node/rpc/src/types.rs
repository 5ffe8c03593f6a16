//! The JSON objects of the API.

use cinder_primitives::{
    Address, AdminOp, Block, Event, GovOp, Hash, IbcOp, ProposalAction, Receipt, ReceiptStatus, SignedTransaction,
    StakeOp, TxKind,
};
use serde::{Deserialize, Serialize};

/// Serde for `u128` amounts as decimal strings.
pub mod amount {
    use serde::{Deserialize, Deserializer, Serializer};

    /// As a decimal string.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    /// From a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e| serde::de::Error::custom(format!("amount {s:?}: {e}")))
    }
}

/// Serde for optional `u128` amounts as decimal strings.
pub(crate) mod opt_amount {
    use serde::{Deserialize, Deserializer, Serializer};

    /// As a decimal string, or null.
    pub(crate) fn serialize<S: Serializer>(v: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }
    /// From a decimal string or null.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|e| serde::de::Error::custom(format!("amount {s:?}: {e}"))),
        }
    }
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

/// A transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxJson {
    /// Its id.
    pub hash: Hash,
    /// The chain it is signed for.
    pub chain_id: u64,
    /// The sender's address.
    pub from: Address,
    /// The sender's public key.
    pub public_key: String,
    /// The recipient (a staking operation: the staking account).
    pub to: Address,
    /// The amount (a staking operation: what it bonds).
    #[serde(with = "amount")]
    pub value: u128,
    /// A staking operation's fields (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stake: Option<StakeJson>,
    /// A governance operation's fields (absent otherwise); `to` is the
    /// governance account and `value` what it deposits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gov: Option<GovJson>,
    /// A contract transaction's fields (absent otherwise); `to` is the
    /// contract (a deploy's new address) and `value` what it moves there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractTxJson>,
    /// An inter-blockchain operation's main fields (absent otherwise); `to`
    /// is the escrow account and `value` what a native transfer escrows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ibc: Option<IbcJson>,
    /// The sender's nonce.
    pub nonce: u64,
    /// Most gas it may use.
    pub gas_limit: u64,
    /// Price per unit of gas.
    #[serde(with = "amount")]
    pub gas_price: u128,
    /// The signature.
    pub signature: String,
    /// The block holding it (null while pending).
    pub block_hash: Option<Hash>,
    /// That block's number.
    pub block_number: Option<u64>,
    /// Its index in the block.
    pub transaction_index: Option<u32>,
}

impl TxJson {
    /// `tx` at `(block, number, index)` if included.
    pub fn new(tx: &SignedTransaction, at: Option<(Hash, u64, u32)>) -> TxJson {
        let (to, value) = tx.tx.payment();
        let stake = match &tx.tx.kind {
            TxKind::Stake(op) => Some(StakeJson::new(op)),
            _ => None,
        };
        let gov = match &tx.tx.kind {
            TxKind::Gov(op) => Some(GovJson::new(op)),
            _ => None,
        };
        let contract = ContractTxJson::new(&tx.tx.kind);
        let ibc = match &tx.tx.kind {
            TxKind::Ibc(op) => Some(IbcJson::new(op)),
            _ => None,
        };
        TxJson {
            hash: tx.id(),
            chain_id: tx.tx.chain_id,
            from: tx.tx.sender_address(),
            public_key: hex0x(&tx.tx.sender.0),
            to,
            value,
            stake,
            gov,
            contract,
            ibc,
            nonce: tx.tx.nonce,
            gas_limit: tx.tx.gas_limit,
            gas_price: u128::from(tx.tx.gas_price),
            signature: hex0x(&tx.signature.0),
            block_hash: at.map(|a| a.0),
            block_number: at.map(|a| a.1),
            transaction_index: at.map(|a| a.2),
        }
    }
}

/// A contract transaction, tagged by `op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum ContractTxJson {
    /// Deploys code.
    #[serde(rename_all = "camelCase")]
    Deploy {
        /// BLAKE3 of the code.
        code_hash: Hash,
        /// The code's size in bytes.
        code_size: u64,
        /// `init`'s input, hex.
        init_args: String,
        /// Who may migrate it (null: nobody).
        admin: Option<Address>,
    },
    /// Calls a method.
    #[serde(rename_all = "camelCase")]
    Call {
        /// The method.
        method: String,
        /// Its input, hex.
        args: String,
    },
    /// Moves a contract to new code.
    #[serde(rename_all = "camelCase")]
    Migrate {
        /// BLAKE3 of the new code.
        code_hash: Hash,
        /// The new code's size in bytes.
        code_size: u64,
        /// `migrate`'s input, hex.
        args: String,
    },
    /// Changes or clears the admin.
    #[serde(rename_all = "camelCase")]
    SetAdmin {
        /// The new admin (null: none, the code is immutable).
        admin: Option<Address>,
    },
}

impl ContractTxJson {
    /// The JSON of a contract transaction's kind (`None` for others).
    pub fn new(kind: &TxKind) -> Option<ContractTxJson> {
        Some(match kind {
            TxKind::Deploy(d) => ContractTxJson::Deploy {
                code_hash: Hash::of(d.code.as_slice()),
                code_size: d.code.as_slice().len() as u64,
                init_args: hex0x(d.init_args.as_slice()),
                admin: d.admin,
            },
            TxKind::Call(c) => {
                ContractTxJson::Call { method: c.method.as_str().to_string(), args: hex0x(c.args.as_slice()) }
            }
            TxKind::Admin(AdminOp::Migrate { code, args, .. }) => ContractTxJson::Migrate {
                code_hash: Hash::of(code.as_slice()),
                code_size: code.as_slice().len() as u64,
                args: hex0x(args.as_slice()),
            },
            TxKind::Admin(AdminOp::SetAdmin { admin, .. }) => ContractTxJson::SetAdmin { admin: *admin },
            TxKind::Transfer { .. } | TxKind::Stake(_) | TxKind::Gov(_) | TxKind::Ibc(_) => return None,
        })
    }
}

/// An inter-blockchain operation's main fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IbcJson {
    /// The operation: `create_client`, `update_client`, `misbehaviour`,
    /// `chan_open_init`, `chan_open_try`, `chan_open_ack`,
    /// `chan_open_confirm`, `transfer`, `recv_packet`, `acknowledge`,
    /// `timeout` or `send_voucher`.
    pub op: String,
    /// The client it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<u64>,
    /// The channel it names (a packet's: the sending channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u64>,
    /// A packet's sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// A transfer's or voucher's denomination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denom: Option<String>,
    /// A transfer's or voucher's amount.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_amount")]
    pub amount: Option<u128>,
    /// A transfer's receiver (on the counterparty) or a voucher's recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<Address>,
    /// A proof's counterparty height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_height: Option<u64>,
}

impl IbcJson {
    /// The JSON of `op`.
    pub fn new(op: &IbcOp) -> IbcJson {
        let mut j = IbcJson { op: op.name().to_string(), ..IbcJson::default() };
        match op {
            IbcOp::CreateClient(_) => {}
            IbcOp::UpdateClient { client, .. } | IbcOp::Misbehaviour { client, .. } => j.client = Some(*client),
            IbcOp::ChanOpenInit { client, .. } => j.client = Some(*client),
            IbcOp::ChanOpenTry { client, channel_proof, .. } => {
                j.client = Some(*client);
                j.proof_height = Some(channel_proof.height);
            }
            IbcOp::ChanOpenAck { channel, channel_proof, .. } | IbcOp::ChanOpenConfirm { channel, channel_proof } => {
                j.channel = Some(*channel);
                j.proof_height = Some(channel_proof.height);
            }
            IbcOp::Transfer { channel, denom, amount, receiver, .. } => {
                j.channel = Some(*channel);
                j.denom = Some(denom.as_str().to_string());
                j.amount = Some(*amount);
                j.receiver = Some(*receiver);
            }
            IbcOp::RecvPacket { packet, proof }
            | IbcOp::Acknowledge { packet, proof, .. }
            | IbcOp::Timeout { packet, proof, .. } => {
                j.channel = Some(packet.source_channel);
                j.sequence = Some(packet.sequence);
                j.proof_height = Some(proof.height);
            }
            IbcOp::SendVoucher { denom, to, amount } => {
                j.denom = Some(denom.as_str().to_string());
                j.amount = Some(*amount);
                j.receiver = Some(*to);
            }
        }
        j
    }
}

/// A governance operation, tagged by `op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum GovJson {
    /// Submits a proposal.
    Submit {
        /// Its title.
        title: String,
        /// Its action: `text`, `param_change`, `upgrade`, `cancel_upgrade`
        /// or `pool_spend`.
        action: String,
        /// The initial deposit.
        #[serde(with = "amount")]
        deposit: u128,
    },
    /// Adds to a proposal's deposit.
    Deposit {
        /// The proposal's id.
        proposal: u64,
        /// Deposited.
        #[serde(with = "amount")]
        amount: u128,
    },
    /// Votes.
    Vote {
        /// The proposal's id.
        proposal: u64,
        /// `yes`, `no`, `no_with_veto` or `abstain`.
        option: String,
    },
}

/// The name of a proposal's action in JSON.
pub fn action_name(a: &ProposalAction) -> &'static str {
    match a {
        ProposalAction::Text => "text",
        ProposalAction::ParamChange(_) => "param_change",
        ProposalAction::Upgrade(_) => "upgrade",
        ProposalAction::CancelUpgrade { .. } => "cancel_upgrade",
        ProposalAction::PoolSpend { .. } => "pool_spend",
    }
}

impl GovJson {
    /// The JSON of `op`.
    pub fn new(op: &GovOp) -> GovJson {
        match op {
            GovOp::Submit { proposal, deposit } => GovJson::Submit {
                title: proposal.title.as_str().to_string(),
                action: action_name(&proposal.action).to_string(),
                deposit: *deposit,
            },
            GovOp::Deposit { proposal, amount } => GovJson::Deposit { proposal: *proposal, amount: *amount },
            GovOp::Vote { proposal, option } => {
                GovJson::Vote { proposal: *proposal, option: option.name().to_string() }
            }
        }
    }
}

/// A staking operation, tagged by `op`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum StakeJson {
    /// Becomes a validator.
    #[serde(rename_all = "camelCase")]
    CreateValidator {
        /// Its consensus key, hex.
        key: String,
        /// Commission, basis points.
        commission_bps: u16,
        /// Self-stake bonded.
        #[serde(with = "amount")]
        amount: u128,
    },
    /// Bonds to a validator.
    Delegate {
        /// The operator address.
        validator: Address,
        /// Bonded.
        #[serde(with = "amount")]
        amount: u128,
    },
    /// Starts unbonding.
    Undelegate {
        /// The operator address.
        validator: Address,
        /// Unbonded.
        #[serde(with = "amount")]
        amount: u128,
    },
    /// Pays out rewards.
    WithdrawRewards {
        /// The operator address.
        validator: Address,
    },
    /// Reports a double vote.
    #[serde(rename_all = "camelCase")]
    ReportDoubleVote {
        /// The height of the votes.
        height: u64,
        /// The round.
        round: u32,
        /// The validator's index in that height's set.
        validator_index: u16,
    },
}

impl StakeJson {
    /// The JSON of `op`.
    pub fn new(op: &StakeOp) -> StakeJson {
        match op {
            StakeOp::CreateValidator { key, commission_bps, amount } => {
                StakeJson::CreateValidator { key: hex0x(key), commission_bps: *commission_bps, amount: *amount }
            }
            StakeOp::Delegate { validator, amount } => StakeJson::Delegate { validator: *validator, amount: *amount },
            StakeOp::Undelegate { validator, amount } => {
                StakeJson::Undelegate { validator: *validator, amount: *amount }
            }
            StakeOp::WithdrawRewards { validator } => StakeJson::WithdrawRewards { validator: *validator },
            StakeOp::ReportDoubleVote(dv) => StakeJson::ReportDoubleVote {
                height: dv.first.data.height,
                round: dv.first.data.round,
                validator_index: dv.first.data.validator,
            },
        }
    }
}

/// A block; `transactions` holds hashes, or objects when asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockJson {
    /// Height.
    pub number: u64,
    /// Block id.
    pub hash: Hash,
    /// Parent's id.
    pub parent_hash: Hash,
    /// State root after the block.
    pub state_root: Hash,
    /// Transactions root.
    pub transactions_root: Hash,
    /// Receipts root.
    pub receipts_root: Hash,
    /// Unix seconds.
    pub timestamp: u64,
    /// Who was paid.
    pub coinbase: Address,
    /// Compact target (`0x1f00ffff`).
    pub bits: String,
    /// The PoW header's nonce.
    pub nonce: u32,
    /// The PoW header's version.
    pub version: u32,
    /// The extra nonce.
    pub extra_nonce: u64,
    /// The 80-byte PoW header.
    pub pow_header: String,
    /// The whole header's encoding (hex): what a light client verifies.
    #[serde(default)]
    pub raw_header: String,
    /// Encoded size in bytes.
    pub size: u64,
    /// Transaction hashes (or objects).
    pub transactions: serde_json::Value,
    /// Proof of stake: the header's consensus fields (absent under PoW).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<PosBlockJson>,
}

/// A PoS block's consensus fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PosBlockJson {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The round it was proposed in.
    pub round: u32,
    /// The proposer's validator index.
    pub proposer: u16,
    /// The randomness seed after it.
    pub seed: Hash,
    /// Whether the body carries the parent's certificate.
    pub has_last_commit: bool,
}

impl BlockJson {
    /// `block`, with full transaction objects if `full`.
    pub fn new(block: &Block, full: bool) -> BlockJson {
        let h = &block.header;
        let id = block.id();
        let transactions = if full {
            let txs: Vec<TxJson> = block
                .transactions
                .iter()
                .enumerate()
                .map(|(i, t)| TxJson::new(t, Some((id, h.height(), u32::try_from(i).unwrap_or(u32::MAX)))))
                .collect();
            serde_json::to_value(txs).unwrap_or_default()
        } else {
            serde_json::Value::Array(
                block.transactions.iter().map(|t| serde_json::Value::String(t.id().to_hex())).collect(),
            )
        };
        BlockJson {
            number: h.height(),
            hash: id,
            parent_hash: h.prev(),
            state_root: h.fields.state_root,
            transactions_root: h.fields.transactions_root,
            receipts_root: h.fields.receipts_root,
            timestamp: u64::from(h.pow.time()),
            coinbase: h.fields.coinbase,
            bits: format!("{:#010x}", h.pow.bits()),
            nonce: h.pow.nonce(),
            version: h.pow.version(),
            extra_nonce: h.fields.extra_nonce,
            pow_header: hex0x(&h.pow.0),
            raw_header: hex0x(&cinder_primitives::encode(h)),
            size: cinder_primitives::encode(block).len() as u64,
            transactions,
            pos: (!h.fields.consensus_data.as_slice().is_empty())
                .then(|| cinder_primitives::PosHeaderData::from_bytes(h.fields.consensus_data.as_slice()).ok())
                .flatten()
                .map(|d| PosBlockJson {
                    timestamp_ms: d.time_ms,
                    round: d.round,
                    proposer: d.proposer,
                    seed: d.seed,
                    has_last_commit: block.last_commit.is_some(),
                }),
        }
    }
}

/// A receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptJson {
    /// The transaction.
    pub transaction_hash: Hash,
    /// The block holding it.
    pub block_hash: Hash,
    /// That block's number.
    pub block_number: u64,
    /// Index in the block.
    pub transaction_index: u32,
    /// `"success"`, `"failed"`, `"reverted"`, `"outOfGas"` or `"trapped"`.
    pub status: String,
    /// Why it failed: the reason, the revert message or the trap's kind.
    pub reason: Option<String>,
    /// Gas used.
    pub gas_used: u64,
    /// What a contract returned, hex (`0x` if nothing).
    #[serde(default)]
    pub output: String,
    /// The events its contract calls emitted.
    #[serde(default)]
    pub logs: Vec<LogJson>,
    /// The contract a deploy created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_address: Option<Address>,
}

/// The status word and reason of a receipt status.
pub fn status_json(s: &ReceiptStatus) -> (&'static str, Option<String>) {
    match s {
        ReceiptStatus::Success => ("success", None),
        ReceiptStatus::Failed(why) => ("failed", Some(why.as_str().to_string())),
        ReceiptStatus::Reverted(why) => ("reverted", Some(why.as_str().to_string())),
        ReceiptStatus::OutOfGas => ("outOfGas", Some("out of gas".to_string())),
        ReceiptStatus::Trapped(why) => ("trapped", Some(why.as_str().to_string())),
    }
}

impl ReceiptJson {
    /// `r` at `(block, number, index)`; `first_log` is the block-wide
    /// index of its first event.
    pub fn new(r: &Receipt, block: Hash, number: u64, index: u32, first_log: u32) -> ReceiptJson {
        let (status, reason) = status_json(&r.status);
        let at =
            LogPlace { block_hash: block, block_number: number, transaction_hash: r.tx_id, transaction_index: index };
        ReceiptJson {
            transaction_hash: r.tx_id,
            block_hash: block,
            block_number: number,
            transaction_index: index,
            status: status.into(),
            reason,
            gas_used: r.gas_used,
            output: hex0x(r.output.as_slice()),
            logs: r
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| LogJson::new(e, &at, first_log.saturating_add(u32::try_from(i).unwrap_or(u32::MAX))))
                .collect(),
            contract_address: r.created,
        }
    }
}

/// Where a log was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogPlace {
    /// The block.
    pub block_hash: Hash,
    /// Its number.
    pub block_number: u64,
    /// The transaction.
    pub transaction_hash: Hash,
    /// Its index in the block.
    pub transaction_index: u32,
}

/// A contract event with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogJson {
    /// The contract that emitted it.
    pub address: Address,
    /// Its topics.
    pub topics: Vec<Hash>,
    /// Its data, hex.
    pub data: String,
    /// The block.
    pub block_hash: Hash,
    /// Its number.
    pub block_number: u64,
    /// The transaction.
    pub transaction_hash: Hash,
    /// Its index in the block.
    pub transaction_index: u32,
    /// The event's index among the block's events.
    pub log_index: u32,
}

impl LogJson {
    /// `e` at `at`, the block's `log_index`-th event.
    pub fn new(e: &Event, at: &LogPlace, log_index: u32) -> LogJson {
        LogJson {
            address: e.contract,
            topics: e.topics.to_vec(),
            data: hex0x(e.data.as_slice()),
            block_hash: at.block_hash,
            block_number: at.block_number,
            transaction_hash: at.transaction_hash,
            transaction_index: at.transaction_index,
            log_index,
        }
    }
}

/// An account and its proof against a block's state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofJson {
    /// The account.
    pub address: Address,
    /// The block.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// Its state root, which the proof verifies against.
    pub state_root: Hash,
    /// Whether the account exists.
    pub exists: bool,
    /// Balance (0 if absent).
    #[serde(with = "amount")]
    pub balance: u128,
    /// Nonce (0 if absent).
    pub nonce: u64,
    /// The sparse Merkle proof, borsh-encoded (jmt's `SparseMerkleProof`).
    pub proof: String,
    /// Contract storage entries asked for, each proven against the same
    /// root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<StorageProofJson>,
    /// On a sharded chain: `state_root` is the account's shard's chunk
    /// state root, and this links it to the block header's state root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<crate::ChunkProofJson>,
}

/// A connected peer, as `cinder_peers` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerJson {
    /// Its libp2p peer id.
    pub id: String,
    /// The address of its connection.
    pub address: String,
    /// Its reputation (0 neutral; banned below the ban threshold).
    pub score: f64,
    /// "inbound" or "outbound".
    pub direction: String,
    /// The head height it last reported.
    pub height: u64,
    /// Its agent (from identify), if known.
    pub agent: Option<String>,
    /// Whether every connection to it runs through a relay circuit (no
    /// direct one yet: hole punching upgrades it when it can).
    #[serde(default)]
    pub relayed: bool,
}

/// The node's own place in the network, as `cinder_netInfo` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetInfoJson {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// The addresses it listens on (relay circuits included once reserved).
    pub listen_addrs: Vec<String>,
    /// The external addresses confirmed (given, or found by AutoNAT).
    pub external_addrs: Vec<String>,
    /// AutoNAT's verdict: "unknown", "private" or "public <address>".
    pub nat: String,
    /// Relay reservations accepted so far.
    pub relay_reservations: u64,
    /// Relay circuits opened so far, either way.
    pub relay_circuits: u64,
    /// Relayed connections upgraded to direct ones (DCUtR).
    pub hole_punches: u64,
    /// Hole punches that failed.
    pub hole_punch_failures: u64,
}

/// `cinder_syncing` while catching up (it returns `false` otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncingJson {
    /// Height at start.
    pub starting_block: u64,
    /// Head height.
    pub current_block: u64,
    /// Best known height.
    pub highest_block: u64,
}

/// A PoW job for an external miner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    /// Names the job in `cinder_submitWork`.
    pub job_id: String,
    /// The 80-byte PoW header, 160 hex digits in serialization order.
    pub header: String,
    /// The block target, 64 hex digits, big-endian.
    pub target: String,
    /// The share target (easier), 64 hex digits, big-endian.
    pub share_target: String,
    /// The block's height.
    pub height: u64,
    /// The PoW algorithm (`sha256d` or `blake3`).
    pub algorithm: String,
    /// The version bits the miner may roll.
    pub version_mask: String,
}

/// The answer to `cinder_submitWork`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitWorkResult {
    /// True for a block or a share.
    pub accepted: bool,
    /// `"block"`, `"share"`, or why it was rejected.
    pub reason: String,
    /// The new block's id, if it made one.
    pub block_hash: Option<Hash>,
}

/// A `newHeads` notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadEvent {
    /// Height.
    pub number: u64,
    /// Block id.
    pub hash: Hash,
    /// Parent.
    pub parent_hash: Hash,
    /// Unix seconds.
    pub timestamp: u64,
    /// Transactions in it.
    pub transaction_count: usize,
    /// Blocks of the old chain this head reverted (0: none).
    pub reorg_depth: u64,
}

/// A `newPendingTransactions` notification: the hash.
pub type PendingEvent = Hash;

/// One validator of a height's set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorJson {
    /// Its index (what votes and certificates name).
    pub index: u16,
    /// Its consensus key (ed25519, hex).
    pub public_key: String,
    /// The address its blocks pay.
    pub address: Address,
    /// Its bonded stake (decimal string).
    #[serde(with = "amount")]
    pub stake: u128,
    /// Its voting power.
    pub voting_power: u64,
}

/// A validator's pool and one delegation to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StakeInfoJson {
    /// The current epoch.
    pub epoch: u64,
    /// The validator's operator address.
    pub validator: Address,
    /// Its consensus key (hex).
    pub public_key: String,
    /// Its commission, basis points.
    pub commission_bps: u16,
    /// Tokens bonded to its pool.
    #[serde(with = "amount")]
    pub tokens: u128,
    /// Whether it is in this epoch's set.
    pub active: bool,
    /// Jailed until this epoch (exclusive), if jailed.
    pub jailed_until_epoch: Option<u64>,
    /// The delegator asked about.
    pub delegator: Option<Address>,
    /// Its stake in the pool.
    #[serde(with = "amount")]
    pub stake: u128,
    /// What it could withdraw now (the operator: with the commission).
    #[serde(with = "amount")]
    pub pending_rewards: u128,
    /// Its tokens on their way out of this pool.
    pub unbonding: Vec<UnbondingJson>,
}

/// Tokens unbonding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnbondingJson {
    /// How many.
    #[serde(with = "amount")]
    pub amount: u128,
    /// Paid when this epoch ends.
    pub matures_epoch: u64,
}

/// A height's validator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorsJson {
    /// The height the set votes on.
    pub number: u64,
    /// The sum of the voting power.
    pub total_voting_power: u64,
    /// More than this much power finalizes a block (2/3 of the total).
    pub quorum_above: u64,
    /// The validators, by index.
    pub validators: Vec<ValidatorJson>,
}

/// One precommit signature of a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitSignatureJson {
    /// The signer's index.
    pub validator: u16,
    /// Its precommit signature (hex).
    pub signature: String,
}

/// A commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitJson {
    /// The finalized height.
    pub number: u64,
    /// The finalized block.
    pub hash: Hash,
    /// The round it was decided in.
    pub round: u32,
    /// The chain.
    pub chain_id: u64,
    /// The voting power that signed.
    pub signed_power: u64,
    /// The total voting power of the height.
    pub total_voting_power: u64,
    /// The signers, by increasing index.
    pub signatures: Vec<CommitSignatureJson>,
    /// The certificate's canonical encoding (hex), for light clients.
    pub raw: String,
}

/// What `cinder_call` and `cinder_estimateGas` run: a call (`to` and
/// `method`), a deploy (`code`), or a transfer (`to` alone).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallRequest {
    /// The sender (the caller a contract sees); the zero address if absent
    /// (`cinder_call` only).
    #[serde(default)]
    pub from: Option<Address>,
    /// The contract, or a transfer's recipient.
    #[serde(default)]
    pub to: Option<Address>,
    /// The method to call.
    #[serde(default)]
    pub method: Option<String>,
    /// The input, hex (`init`'s for a deploy).
    #[serde(default)]
    pub args: Option<String>,
    /// Value moved, a decimal string.
    #[serde(default)]
    pub value: Option<String>,
    /// Most gas (capped by the node).
    #[serde(default)]
    pub gas: Option<u64>,
    /// Code to deploy, hex.
    #[serde(default)]
    pub code: Option<String>,
    /// A deploy's admin.
    #[serde(default)]
    pub admin: Option<Address>,
}

/// An event without a place (what a read-only call would emit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventJson {
    /// The contract that emitted it.
    pub address: Address,
    /// Its topics.
    pub topics: Vec<Hash>,
    /// Its data, hex.
    pub data: String,
}

impl EventJson {
    /// The JSON of `e`.
    pub fn new(e: &Event) -> EventJson {
        EventJson { address: e.contract, topics: e.topics.to_vec(), data: hex0x(e.data.as_slice()) }
    }
}

/// What `cinder_call` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallResultJson {
    /// The block whose state it ran on.
    pub block_number: u64,
    /// `"success"`, `"failed"`, `"reverted"`, `"outOfGas"` or `"trapped"`.
    pub status: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// What it returned, hex.
    pub output: String,
    /// Gas it used.
    pub gas_used: u64,
    /// The events it would emit.
    pub events: Vec<EventJson>,
}

/// A contract's code and record (`cinder_getCode`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeJson {
    /// The contract.
    pub address: Address,
    /// The block whose state was read.
    pub block_number: u64,
    /// BLAKE3 of the code.
    pub code_hash: Hash,
    /// The WebAssembly, hex.
    pub code: String,
    /// Who may migrate it (null: immutable).
    pub admin: Option<Address>,
    /// Who deployed it.
    pub creator: Address,
}

/// A contract storage entry and its proof against the state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageProofJson {
    /// The storage key, hex.
    pub key: String,
    /// Its value, hex (null: absent).
    pub value: Option<String>,
    /// The tree key proven: `ordered_key(contract ‖ key)` (docs/rpc.md).
    pub tree_key: Hash,
    /// The sparse Merkle proof, borsh-encoded.
    pub proof: String,
}

/// A `cinder_getLogs` filter (and the `logs` subscription's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogFilter {
    /// First block (default: the head).
    #[serde(default)]
    pub from_block: Option<u64>,
    /// Last block (default: the head).
    #[serde(default)]
    pub to_block: Option<u64>,
    /// The contract, or any of a list.
    #[serde(default)]
    pub address: Option<OneOrMany<Address>>,
    /// Per position (at most 4): null for any topic, a topic, or any of a
    /// list.
    #[serde(default)]
    pub topics: Vec<Option<OneOrMany<Hash>>>,
}

/// One value or a list of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One.
    One(T),
    /// Any of these.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// As a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(x) => vec![x.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}
