//! A proof-of-stake chain driven block by block in one process: each
//! block built by its round's proposer, imported through the full check,
//! and certified by the set (the staking and governance tests).

use std::sync::Arc;

use cinder_chain::Chain;
use cinder_chain::build_block_proposed;
use cinder_chain::vm::STAKE_GAS;
use cinder_chain::workload::Accounts;
use cinder_consensus::{Pos, Validators};
use cinder_engine::sig::SecretKey;
use cinder_primitives::{
    Address, Block, CONSENSUS_VERSION, CommitCertificate, Hash, ReceiptStatus, SignedTransaction, SignedVote, StakeOp,
    Transaction, TxKind, VoteData, VoteType,
};
use cinder_state::{Overlay, State};

pub(crate) const CHAIN: u64 = 6_363;
pub(crate) const BALANCE: u128 = 1_000_000_000_000;

pub(crate) fn key(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i + 60; 32])
}

pub(crate) fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

pub(crate) struct Net {
    pub(crate) chain: Chain,
    pub(crate) pos: Pos,
    pub(crate) accounts: Accounts,
    pub(crate) nonces: Vec<u64>,
    /// The head's certificate, for its child.
    pub(crate) cert: Option<CommitCertificate>,
    pub(crate) dir: std::path::PathBuf,
    /// The gas price of the transactions it signs.
    pub(crate) gas_price: u64,
}

impl Net {
    /// A staking transaction from account `from`.
    pub(crate) fn tx(&mut self, from: usize, op: StakeOp) -> SignedTransaction {
        self.tx_of(from, TxKind::Stake(op), STAKE_GAS)
    }

    /// A transaction of `kind` from account `from` with `gas_limit`, at
    /// [`Net::gas_price`].
    pub(crate) fn tx_of(&mut self, from: usize, kind: TxKind, gas_limit: u64) -> SignedTransaction {
        let k = &self.accounts.keys[from];
        let tx = Transaction {
            chain_id: CHAIN,
            sender: k.public_key(),
            nonce: self.nonces[from],
            gas_limit,
            gas_price: self.gas_price,
            kind,
        }
        .sign(k);
        self.nonces[from] += 1;
        tx
    }

    /// The next block with `txs`, proposed by the round-0 proposer of the
    /// head's set and imported; its certificate signed by every member
    /// but `absent`.
    pub(crate) fn block(&mut self, txs: Vec<SignedTransaction>, absent: &[Address]) -> Block {
        self.try_block_absent(txs, absent).unwrap()
    }

    /// [`Net::block`] with every member signing, or why it could not be
    /// built with all of `txs` (nothing changes then).
    pub(crate) fn try_block(&mut self, txs: Vec<SignedTransaction>) -> Result<Block, String> {
        self.try_block_absent(txs, &[])
    }

    fn try_block_absent(&mut self, txs: Vec<SignedTransaction>, absent: &[Address]) -> Result<Block, String> {
        let head = self.chain.head().unwrap().id;
        let ctx = self.chain.context(&head).unwrap().unwrap();
        let set = ctx.validators.clone().unwrap();
        let (seed, _) = self.pos.parent_seed_and_time(&ctx.parent, &head).unwrap();
        let proposer = Pos::proposer(&set, &seed, ctx.parent.height() + 1, 0);
        let k = secret_of(&set, proposer);
        let fields = cinder_pos::propose::proposal_fields(
            &self.pos,
            CHAIN,
            &k,
            proposer,
            &ctx.parent,
            &head,
            0,
            now_ms(),
            self.cert.as_ref(),
        )
        .unwrap();
        let coinbase = set.addresses[usize::from(proposer)];
        let state = State::new(Overlay::new(self.chain.db()));
        let built = build_block_proposed(
            self.chain.consensus(),
            self.chain.spec(),
            &state,
            &ctx,
            txs,
            coinbase,
            fields,
            self.cert.clone(),
            2,
        )
        .map_err(|e| format!("{e:#}"))?;
        if !built.dropped.is_empty() {
            return Err(format!("dropped: {:?}", built.dropped));
        }
        let block = built.block;
        self.chain.import(&block).map_err(|e| e.to_string())?;
        self.cert = Some(certify(&block, &set, absent));
        Ok(block)
    }

    pub(crate) fn receipts(&self, block: &Block) -> Vec<ReceiptStatus> {
        let r = self.chain.db().receipts(&block.id()).unwrap().unwrap();
        r.into_iter().map(|r| r.status).collect()
    }

    pub(crate) fn balance(&self, a: &Address) -> u128 {
        let head = self.chain.head().unwrap().id;
        let v = self.chain.db().block_meta(&head).unwrap().unwrap().version;
        self.chain.state().account(v, a).unwrap().map_or(0, |x| x.balance)
    }

    pub(crate) fn set_after_head(&self) -> Arc<Validators> {
        self.chain.validators_after(&self.chain.head().unwrap().id).unwrap().unwrap()
    }
}

/// The secret key of set member `i` (all test validators use [`key`]).
pub(crate) fn secret_of(set: &Validators, i: u16) -> SecretKey {
    (0..8).map(key).find(|k| k.public_key() == set.public_keys[usize::from(i)]).unwrap()
}

pub(crate) fn certify(block: &Block, set: &Validators, absent: &[Address]) -> CommitCertificate {
    let votes: Vec<SignedVote> = (0..set.public_keys.len())
        .filter(|i| !absent.contains(&set.addresses[*i]))
        .map(|i| {
            let i = u16::try_from(i).unwrap();
            VoteData {
                version: CONSENSUS_VERSION,
                chain_id: CHAIN,
                height: block.header.height(),
                round: 0,
                kind: VoteType::Precommit,
                block: Some(block.id()),
                validator: i,
            }
            .sign(&secret_of(set, i))
        })
        .collect();
    CommitCertificate::from_votes(&votes).unwrap()
}

pub(crate) fn prevote(height: u64, validator: u16, block: Option<Hash>, k: &SecretKey) -> SignedVote {
    VoteData {
        version: CONSENSUS_VERSION,
        chain_id: CHAIN,
        height,
        round: 0,
        kind: VoteType::Prevote,
        block,
        validator,
    }
    .sign(k)
}

pub(crate) fn failed(s: &ReceiptStatus) -> String {
    match s {
        ReceiptStatus::Failed(r) => r.as_str().to_string(),
        other => panic!("expected a failed receipt, got {other:?}"),
    }
}
