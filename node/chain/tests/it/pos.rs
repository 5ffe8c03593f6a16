//! Proof-of-stake blocks through the chain: each block proves its parent
//! final, an unproven block of the same height loses to the decided one
//! (`adopt_finalized`), and nothing below the finalized height reorgs.

use cinder_chain::workload::{self, Accounts};
use cinder_chain::{Chain, ChainConfig, ImportError, ImportStatus, build_block_proposed};
use cinder_consensus::Pos;
use cinder_engine::sig::SecretKey;
use cinder_primitives::{
    Block, CONSENSUS_VERSION, CommitCertificate, Hash, STAKING_ADDRESS, SignedTransaction, SignedVote, Transaction,
    TxKind, VoteData, VoteType,
};
use cinder_state::{Overlay, State};

const CHAIN: u64 = 6_262;

fn key(i: u16) -> SecretKey {
    SecretKey::from_seed(&[u8::try_from(i).unwrap() + 40; 32])
}

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// A block on `parent` at `round` by that round's proposer, carrying
/// `last_commit`.
fn propose(chain: &Chain, pos: &Pos, parent: &Hash, round: u32, last_commit: Option<CommitCertificate>) -> Block {
    propose_with(chain, pos, parent, round, last_commit, Vec::new())
}

/// [`propose`] with transactions (a sharded chain's blocks split them into
/// chunks).
fn propose_with(
    chain: &Chain,
    pos: &Pos,
    parent: &Hash,
    round: u32,
    last_commit: Option<CommitCertificate>,
    txs: Vec<SignedTransaction>,
) -> Block {
    let ctx = chain.context(parent).unwrap().unwrap();
    let (seed, _) = pos.parent_seed_and_time(&ctx.parent, parent).unwrap();
    let proposer = Pos::proposer(ctx.validators.as_ref().unwrap(), &seed, ctx.parent.height() + 1, round);
    let k = key(proposer);
    let fields = cinder_pos::propose::proposal_fields(
        pos,
        CHAIN,
        &k,
        proposer,
        &ctx.parent,
        parent,
        round,
        now_ms(),
        last_commit.as_ref(),
    )
    .unwrap();
    let coinbase = cinder_primitives::Address::from_public_key(&k.public_key());
    if chain.shards() > 1 {
        return chain.build_sharded_proposed(&ctx, txs, coinbase, fields, last_commit, false).unwrap().block;
    }
    let state = State::new(Overlay::new(chain.db()));
    build_block_proposed(chain.consensus(), chain.spec(), &state, &ctx, txs, coinbase, fields, last_commit, 2)
        .unwrap()
        .block
}

/// Precommits of validators 0, 1 and 2 for `block`.
fn certify(block: &Block) -> CommitCertificate {
    let votes: Vec<SignedVote> = (0..3)
        .map(|i| {
            VoteData {
                version: CONSENSUS_VERSION,
                chain_id: CHAIN,
                height: block.header.height(),
                round: 0,
                kind: VoteType::Precommit,
                block: Some(block.id()),
                validator: i,
            }
            .sign(&key(i))
        })
        .collect();
    CommitCertificate::from_votes(&votes).unwrap()
}

#[test]
fn the_decided_block_wins_its_height_and_finality_holds() {
    let dir = std::env::temp_dir().join(format!("cinder-chain-it-{}-pos", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let accounts = Accounts::derive("chain-pos", 4);
    let keys: Vec<_> = (0..4).map(|i| key(i).public_key()).collect();
    let spec = workload::pos_spec("chain-pos", CHAIN, &accounts.addresses, 1_000_000, &keys);
    let pos = Pos::new(&spec).unwrap();
    let chain = Chain::open(&dir, spec, ChainConfig::default()).unwrap();
    let genesis = chain.genesis_id();

    // Two valid proposals for height 1 from two rounds' proposers: the one
    // that lost its round (unproven) arrives first.
    let lost = propose(&chain, &pos, &genesis, 0, None);
    let round = (1..64).find(|r| propose(&chain, &pos, &genesis, *r, None).id() != lost.id()).unwrap();
    let decided = propose(&chain, &pos, &genesis, round, None);
    assert_eq!(chain.import(&lost).unwrap().status, ImportStatus::Head);
    assert_eq!(chain.import(&decided).unwrap().status, ImportStatus::Side, "equal length: the first seen stays");
    let r = chain.adopt_finalized(&decided.id()).unwrap();
    assert!(matches!(r.status, ImportStatus::Reorg { depth: 1, .. }), "{:?}", r.status);
    assert_eq!(chain.head().unwrap().id, decided.id());
    assert_eq!(chain.adopt_finalized(&decided.id()).unwrap().status, ImportStatus::Known);

    // Its child carries its certificate; a child of the lost block would
    // have to revert a finalized block and is refused.
    let child = propose(&chain, &pos, &decided.id(), 0, Some(certify(&decided)));
    assert_eq!(chain.import(&child).unwrap().status, ImportStatus::Head);
    assert_eq!(chain.consensus().finalized_height(&chain.head().unwrap()), Some(1));
    let rival = propose(&chain, &pos, &lost.id(), 0, Some(certify(&lost)));
    let e = chain.import(&rival).unwrap_err();
    assert!(matches!(e, ImportError::ReorgTooDeep { .. }), "{e}");
    assert!(matches!(chain.adopt_finalized(&lost.id()), Err(ImportError::ReorgTooDeep { .. })));
    // A child without the parent's certificate, or with too few signers.
    let bare = propose(&chain, &pos, &child.id(), 0, None);
    assert!(chain.import(&bare).unwrap_err().to_string().contains("last commit"));
    let mut weak = certify(&child);
    weak.signatures.truncate(2);
    let weak_block = propose(&chain, &pos, &child.id(), 0, Some(weak));
    assert!(chain.import(&weak_block).unwrap_err().to_string().contains("2/3"));
    assert_eq!(chain.head().unwrap().id, child.id());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Proof of stake over three shards: validators propose sharded blocks
/// (each carrying the parent's certificate), the proposal check and its
/// commit (`check`, `import_checked`) and a plain import on a second node
/// agree, the head's parent is final, and the fees of every shard's chunk
/// reach the staking account on shard 0 (a block later from shards 1 and
/// 2, as receipts).
#[test]
fn a_sharded_proof_of_stake_chain_finalizes_and_collects_fees_from_every_shard() {
    let dirs: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| std::env::temp_dir().join(format!("cinder-chain-it-{}-pos-shards-{n}", std::process::id())))
        .collect();
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    let accounts = Accounts::derive("chain-pos-shards", 24);
    let keys: Vec<_> = (0..4).map(|i| key(i).public_key()).collect();
    let balance = 1_000_000_000_000u128;
    let spec = cinder_consensus::ChainSpec {
        shards: 3,
        ..workload::pos_spec("chain-pos-shards", CHAIN, &accounts.addresses, balance, &keys)
    };
    let pos = Pos::new(&spec).unwrap();
    let a = Chain::open(&dirs[0], spec.clone(), ChainConfig::default()).unwrap();
    let b = Chain::open(&dirs[1], spec.clone(), ChainConfig::default()).unwrap();
    let staked = a.account_at(0, &STAKING_ADDRESS).unwrap().unwrap_or_default().balance;
    let (mut parent, mut last) = (a.genesis_id(), None);
    let mut fees = 0u128;
    for h in 0..4u64 {
        let txs: Vec<SignedTransaction> = if h < 3 {
            (0..24)
                .map(|i| {
                    Transaction {
                        chain_id: CHAIN,
                        sender: accounts.keys[i].public_key(),
                        nonce: h,
                        gas_limit: 21_000,
                        gas_price: 1,
                        kind: TxKind::Transfer { to: accounts.addresses[(i + 5) % 24], amount: 1_000 },
                    }
                    .sign(&accounts.keys[i])
                })
                .collect()
        } else {
            Vec::new()
        };
        let n = txs.len();
        let block = propose_with(&a, &pos, &parent, 0, last.clone(), txs);
        assert_eq!((block.transactions.len(), block.chunks.len()), (n, 3), "block {}", h + 1);
        fees += 21_000 * n as u128;
        let checked = a.check(&block, &[]).unwrap();
        assert_eq!(a.import_checked(&block, checked).unwrap().status, ImportStatus::Head);
        assert_eq!(b.import(&block).unwrap().status, ImportStatus::Head);
        last = Some(certify(&block));
        parent = block.id();
    }
    let head = a.head().unwrap();
    assert_eq!(head, b.head().unwrap());
    assert_eq!(a.consensus().finalized_height(&head), Some(3));
    let v = a.db().head().unwrap().unwrap().version;
    for addr in &accounts.addresses {
        let got = a.account_at(v, addr).unwrap().unwrap();
        assert_eq!(Some(got), b.account_at(v, addr).unwrap());
        // Three transfers out and three in, three fees.
        assert_eq!((got.balance, got.nonce), (balance - 3 * 21_000, 3));
    }
    // Every fee has arrived (the last block has none in flight).
    assert!(a.incoming_after(&head.id).unwrap().iter().all(Vec::is_empty));
    let now = a.account_at(v, &STAKING_ADDRESS).unwrap().unwrap_or_default().balance;
    // The fees and each block's reward, exactly.
    assert_eq!(now, staked + fees + 4 * spec.block_reward, "genesis {staked} + fees {fees}");
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}
