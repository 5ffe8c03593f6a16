//! A typed JSON-RPC client over HTTP (jsonrpsee).

use std::time::Duration;

use cinder_primitives::{Address, Hash, SignedTransaction, encode};
use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::params::BatchRequestBuilder;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::methods as m;
use crate::types::{
    BlockJson, CommitJson, NetInfoJson, PeerJson, ReceiptJson, SubmitWorkResult, SyncingJson, TxJson, ValidatorsJson,
    Work,
};

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with a JSON-RPC error object.
    #[error("{message} (code {code})")]
    Rpc {
        /// Its code (crate::codes).
        code: i32,
        /// Its message.
        message: String,
    },
    /// No answer: connection, timeout, or a malformed response.
    #[error("{0}")]
    Transport(String),
}

impl ClientError {
    /// The JSON-RPC error code, if the node answered with one.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Rpc { code, .. } => Some(*code),
            ClientError::Transport(_) => None,
        }
    }
}

impl From<jsonrpsee_core::ClientError> for ClientError {
    fn from(e: jsonrpsee_core::ClientError) -> Self {
        match e {
            jsonrpsee_core::ClientError::Call(o) => {
                ClientError::Rpc { code: o.code(), message: o.message().to_string() }
            }
            other => ClientError::Transport(other.to_string()),
        }
    }
}

/// A client of one node's HTTP endpoint.
#[derive(Clone, Debug)]
pub struct Client {
    inner: HttpClient,
    url: String,
}

impl Client {
    /// A client of `url` (`http://127.0.0.1:8545`); requests time out after
    /// 30 s.
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let inner = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_request_size(64 << 20)
            .max_response_size(64 << 20)
            .build(url)
            .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
        Ok(Client { inner, url: url.to_string() })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with positional `params`.
    pub async fn call<R: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<R, ClientError> {
        Ok(self.inner.request(method, params).await?)
    }

    /// `cinder_chainId`.
    pub async fn chain_id(&self) -> Result<u64, ClientError> {
        self.call(m::CHAIN_ID, vec![]).await
    }
    /// `cinder_blockNumber`.
    pub async fn block_number(&self) -> Result<u64, ClientError> {
        self.call(m::BLOCK_NUMBER, vec![]).await
    }
    /// `cinder_getBlockByNumber`.
    pub async fn block_by_number(&self, number: u64, full: bool) -> Result<Option<BlockJson>, ClientError> {
        self.call(m::GET_BLOCK_BY_NUMBER, vec![json!(number), json!(full)]).await
    }
    /// `cinder_getBlockByHash`.
    pub async fn block_by_hash(&self, hash: Hash, full: bool) -> Result<Option<BlockJson>, ClientError> {
        self.call(m::GET_BLOCK_BY_HASH, vec![json!(hash), json!(full)]).await
    }
    /// `cinder_getTransactionByHash`.
    pub async fn transaction(&self, hash: Hash) -> Result<Option<TxJson>, ClientError> {
        self.call(m::GET_TRANSACTION_BY_HASH, vec![json!(hash)]).await
    }
    /// `cinder_getTransactionReceipt`.
    pub async fn receipt(&self, hash: Hash) -> Result<Option<ReceiptJson>, ClientError> {
        self.call(m::GET_TRANSACTION_RECEIPT, vec![json!(hash)]).await
    }
    /// `cinder_getBalance`.
    pub async fn balance(&self, address: Address) -> Result<u128, ClientError> {
        let s: String = self.call(m::GET_BALANCE, vec![json!(address)]).await?;
        s.parse().map_err(|e| ClientError::Transport(format!("balance {s:?}: {e}")))
    }
    /// `cinder_getNonce`.
    pub async fn nonce(&self, address: Address) -> Result<u64, ClientError> {
        self.call(m::GET_NONCE, vec![json!(address)]).await
    }
    /// `cinder_gasPrice`.
    pub async fn gas_price(&self) -> Result<u64, ClientError> {
        let s: String = self.call(m::GAS_PRICE, vec![]).await?;
        s.parse().map_err(|e| ClientError::Transport(format!("gas price {s:?}: {e}")))
    }
    /// `cinder_sendRawTransaction`.
    pub async fn send(&self, tx: &SignedTransaction) -> Result<Hash, ClientError> {
        self.call(m::SEND_RAW_TRANSACTION, vec![json!(format!("0x{}", hex::encode(encode(tx))))]).await
    }
    /// `cinder_sendRawTransaction` for each of `txs`, as one JSON-RPC batch.
    pub async fn send_batch(&self, txs: &[SignedTransaction]) -> Result<Vec<Result<Hash, ClientError>>, ClientError> {
        let mut batch = BatchRequestBuilder::new();
        for t in txs {
            batch
                .insert(m::SEND_RAW_TRANSACTION, vec![format!("0x{}", hex::encode(encode(t)))])
                .map_err(|e| ClientError::Transport(e.to_string()))?;
        }
        let rsp = self.inner.batch_request::<Hash>(batch).await?;
        Ok(rsp
            .into_iter()
            .map(|r| r.map_err(|o| ClientError::Rpc { code: o.code(), message: o.message().to_string() }))
            .collect())
    }
    /// `cinder_getWork`.
    pub async fn get_work(&self) -> Result<Work, ClientError> {
        self.call(m::GET_WORK, vec![]).await
    }
    /// `cinder_submitWork`.
    pub async fn submit_work(&self, job_id: &str, header: &str) -> Result<SubmitWorkResult, ClientError> {
        self.call(m::SUBMIT_WORK, vec![json!({ "jobId": job_id, "header": header })]).await
    }
    /// `cinder_pendingTransactionCount`.
    pub async fn pending_count(&self) -> Result<u64, ClientError> {
        self.call(m::PENDING_COUNT, vec![]).await
    }
    /// `cinder_peers`.
    pub async fn peers(&self) -> Result<Vec<PeerJson>, ClientError> {
        self.call(m::PEERS, vec![]).await
    }
    /// `cinder_netInfo`.
    pub async fn net_info(&self) -> Result<NetInfoJson, ClientError> {
        self.call(m::NET_INFO, vec![]).await
    }
    /// `cinder_syncing`: `None` when not syncing.
    pub async fn syncing(&self) -> Result<Option<SyncingJson>, ClientError> {
        let v: Value = self.call(m::SYNCING, vec![]).await?;
        if v == Value::Bool(false) {
            return Ok(None);
        }
        serde_json::from_value(v)
            .map(Some)
            .map_err(|e| ClientError::Transport(format!("a malformed cinder_syncing answer: {e}")))
    }
    /// `cinder_adminSetPeerFilter`: connect only to `allow` (peer ids), or
    /// to anyone (`None`).
    pub async fn set_peer_filter(&self, token: &str, allow: Option<Vec<String>>) -> Result<usize, ClientError> {
        self.call(m::ADMIN_SET_PEER_FILTER, vec![json!(token), json!(allow)]).await
    }
    /// `cinder_finalizedBlockNumber` (proof of stake).
    pub async fn finalized_block_number(&self) -> Result<u64, ClientError> {
        self.call(m::FINALIZED_BLOCK_NUMBER, vec![]).await
    }
    /// `cinder_getValidators` of `number` (default: the next height).
    pub async fn validators(&self, number: Option<u64>) -> Result<ValidatorsJson, ClientError> {
        let params = number.map(|n| vec![json!(n)]).unwrap_or_default();
        self.call(m::GET_VALIDATORS, params).await
    }
    /// `cinder_getStake`: `validator`'s pool and `delegator`'s stake in it.
    pub async fn stake(
        &self,
        validator: Address,
        delegator: Option<Address>,
    ) -> Result<Option<crate::StakeInfoJson>, ClientError> {
        let mut params = vec![json!(validator)];
        if let Some(d) = delegator {
            params.push(json!(d));
        }
        self.call(m::GET_STAKE, params).await
    }
    /// `cinder_getCommit`: the certificate that finalized block `number`.
    pub async fn commit(&self, number: u64) -> Result<Option<CommitJson>, ClientError> {
        self.call(m::GET_COMMIT, vec![json!(number)]).await
    }
    /// `cinder_call`.
    pub async fn call_contract(
        &self,
        req: &crate::CallRequest,
        number: Option<u64>,
    ) -> Result<crate::CallResultJson, ClientError> {
        let mut p = vec![json!(req)];
        p.extend(number.map(|n| json!(n)));
        self.call(m::CALL, p).await
    }
    /// `cinder_estimateGas`.
    pub async fn estimate_gas(&self, req: &crate::CallRequest) -> Result<u64, ClientError> {
        self.call(m::ESTIMATE_GAS, vec![json!(req)]).await
    }
    /// `cinder_getCode`.
    pub async fn code(&self, address: Address) -> Result<Option<crate::CodeJson>, ClientError> {
        self.call(m::GET_CODE, vec![json!(address)]).await
    }
    /// `cinder_getStorageAt` (hex in and out).
    pub async fn storage_at(&self, address: Address, key: &[u8]) -> Result<Option<String>, ClientError> {
        self.call(m::GET_STORAGE_AT, vec![json!(address), json!(format!("0x{}", hex::encode(key)))]).await
    }
    /// `cinder_getLogs`.
    pub async fn logs(&self, filter: &crate::LogFilter) -> Result<Vec<crate::LogJson>, ClientError> {
        self.call(m::GET_LOGS, vec![json!(filter)]).await
    }
    /// `cinder_shardOf`.
    pub async fn shard_of(&self, address: Address) -> Result<crate::ShardOfJson, ClientError> {
        self.call(m::SHARD_OF, vec![json!(address)]).await
    }
    /// `cinder_getChunk`.
    pub async fn chunk(&self, number: u64, shard: u16) -> Result<Option<crate::ChunkJson>, ClientError> {
        self.call(m::GET_CHUNK, vec![json!(number), json!(shard)]).await
    }
    /// `cinder_receiptsInFlight`.
    pub async fn receipts_in_flight(&self, shard: Option<u16>) -> Result<Vec<crate::ShardReceiptJson>, ClientError> {
        self.call(m::RECEIPTS_IN_FLIGHT, vec![json!(shard)]).await
    }
    /// `cinder_getProof` with record keys (raw bytes).
    pub async fn proof(
        &self,
        address: Address,
        number: Option<u64>,
        keys: &[Vec<u8>],
    ) -> Result<crate::ProofJson, ClientError> {
        let keys: Vec<String> = keys.iter().map(|k| format!("0x{}", hex::encode(k))).collect();
        self.call(m::GET_PROOF, vec![json!(address), json!(number), json!(keys)]).await
    }
    /// `cinder_ibcInfo`.
    pub async fn ibc_info(&self) -> Result<crate::IbcInfoJson, ClientError> {
        self.call(m::IBC_INFO, vec![]).await
    }
    /// `cinder_ibcClient`.
    pub async fn ibc_client(&self, id: u64, number: Option<u64>) -> Result<Option<crate::IbcClientJson>, ClientError> {
        let mut p = vec![json!(id)];
        p.extend(number.map(|n| json!(n)));
        self.call(m::IBC_CLIENT, p).await
    }
    /// `cinder_ibcConsensusState`.
    pub async fn ibc_consensus(
        &self,
        client: u64,
        height: u64,
    ) -> Result<Option<crate::IbcConsensusJson>, ClientError> {
        self.call(m::IBC_CONSENSUS_STATE, vec![json!(client), json!(height)]).await
    }
    /// `cinder_ibcChannel`.
    pub async fn ibc_channel(&self, id: u64) -> Result<Option<crate::IbcChannelJson>, ClientError> {
        self.call(m::IBC_CHANNEL, vec![json!(id)]).await
    }
    /// `cinder_ibcPackets`.
    pub async fn ibc_packets(
        &self,
        channel: u64,
        from: u64,
        limit: u64,
    ) -> Result<Vec<crate::IbcPacketJson>, ClientError> {
        self.call(m::IBC_PACKETS, vec![json!(channel), json!(from), json!(limit)]).await
    }
    /// `cinder_ibcReceipt`.
    pub async fn ibc_receipt(&self, channel: u64, sequence: u64) -> Result<crate::IbcReceiptJson, ClientError> {
        self.call(m::IBC_RECEIPT, vec![json!(channel), json!(sequence)]).await
    }
    /// `cinder_ibcVoucher`.
    pub async fn ibc_voucher(&self, denom: &str, owner: Address) -> Result<crate::IbcVoucherJson, ClientError> {
        self.call(m::IBC_VOUCHER, vec![json!(denom), json!(owner)]).await
    }
}
