//! Governance through the chain on RocksDB: proposals submitted, funded
//! and voted on in blocks; each outcome (passed, no quorum, threshold,
//! veto, expired); a parameter change that alters block validity from the
//! block after its tally and not before; a slash during a vote changing
//! its tally; bad operations refused with a failed receipt and their
//! deposit back; an upgrade that stops a node without its handler at the
//! upgrade's height, and a node with the handler that goes on, with a
//! second node replaying the same chain to the same state root.

use cinder_chain::gov::{TEST_UPGRADE, TEST_UPGRADE_RECORD, Upgrades, record_key};
use cinder_chain::workload::{self, Accounts};
use cinder_chain::{Chain, ChainConfig, ImportError};
use cinder_consensus::{Alloc, Pos};
use cinder_gov::Status;
use cinder_primitives::{
    Address, Bounded, BoundedString, DoubleVote, GOV_ADDRESS, GovOp, Hash, Param, ProposalAction, ProposalContent,
    ReceiptStatus, STAKING_ADDRESS, SignedTransaction, StakeOp, TxKind, UpgradePlan, VoteOption,
};

use crate::posnet::{BALANCE, CHAIN, Net, failed, key, prevote};

const GAS: u64 = 200_000;

fn content(action: ProposalAction) -> Box<ProposalContent> {
    Box::new(ProposalContent {
        title: BoundedString::truncated("a proposal"),
        description: BoundedString::truncated("why it matters"),
        action,
    })
}

impl Net {
    fn gov(&mut self, from: usize, op: GovOp) -> SignedTransaction {
        self.tx_of(from, TxKind::Gov(op), GAS)
    }
    fn submit(&mut self, from: usize, action: ProposalAction, deposit: u128) -> SignedTransaction {
        self.gov(from, GovOp::Submit { proposal: content(action), deposit })
    }
    fn vote(&mut self, from: usize, proposal: u64, option: VoteOption) -> SignedTransaction {
        self.gov(from, GovOp::Vote { proposal, option })
    }
    fn status(&self, id: u64) -> Status {
        self.chain.proposal(id).unwrap().unwrap().status
    }
    /// The next block with `txs`, each of which must succeed.
    fn all_ok(&mut self, txs: Vec<SignedTransaction>) {
        let b = self.block(txs, &[]);
        ok(&self.receipts(&b));
    }
    fn height(&self) -> u64 {
        self.chain.head().unwrap().height
    }
}

fn ok(r: &[ReceiptStatus]) {
    for (i, s) in r.iter().enumerate() {
        assert_eq!(*s, ReceiptStatus::Success, "receipt {i}");
    }
}

fn open(dir: &std::path::Path, spec: cinder_consensus::ChainSpec, upgrades: Upgrades) -> Chain {
    Chain::open(dir, spec, ChainConfig { exec_threads: 2, upgrades, ..ChainConfig::default() }).unwrap()
}

#[test]
fn proposals_pass_fail_and_apply_at_exact_heights() {
    let dir = std::env::temp_dir().join(format!("cinder-chain-it-{}-gov", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Accounts 0-3 are the validators' operators, 4 a delegator, 5 holds
    // no stake, 6 proposes.
    let mut accounts = Accounts::derive("chain-gov", 3);
    for i in (0..4).rev() {
        accounts.keys.insert(0, key(i));
        accounts.addresses.insert(0, Address::from_public_key(&key(i).public_key()));
    }
    let validator_keys: Vec<_> = (0..4).map(|i| key(i).public_key()).collect();
    let mut spec = workload::pos_spec("chain-gov", CHAIN, &accounts.addresses[4..], BALANCE, &validator_keys);
    spec.alloc.extend(accounts.addresses[..4].iter().map(|a| Alloc { address: *a, balance: BALANCE }));
    let pos_spec = spec.pos.as_mut().unwrap();
    pos_spec.staking.epoch_length = 1_000;
    let g = &mut pos_spec.gov;
    (g.min_deposit, g.min_initial_deposit, g.deposit_period, g.voting_period) = (1_000, 100, 4, 4);
    g.community_tax_bps = 5_000;
    let pos = Pos::new(&spec).unwrap();
    let chain = open(&dir, spec.clone(), Upgrades::release());
    let mut net = Net { chain, pos, accounts, nonces: vec![0; 7], cert: None, dir: dir.clone(), gas_price: 1 };
    let ops: Vec<Address> = net.accounts.addresses[..4].to_vec();
    let (delegator, outsider, proposer) = (net.accounts.addresses[4], net.accounts.addresses[5], 6);
    assert_eq!(net.chain.params().unwrap().min_gas_price, 0);

    // Block 1: a delegation to validator 0; proposal 0 (min gas price 2)
    // opens voting at once; proposal 1 (text) waits for its deposit; and
    // the refused ones.
    let raise = ProposalAction::ParamChange(Bounded::new(vec![Param::MinGasPrice(2)]).unwrap());
    let bad = ProposalAction::ParamChange(Bounded::new(vec![Param::QuorumBps(0)]).unwrap());
    let txs = vec![
        net.tx(4, StakeOp::Delegate { validator: ops[0], amount: 200 }),
        net.submit(proposer, raise, 1_000),
        net.submit(proposer, ProposalAction::Text, 100),
        net.submit(proposer, ProposalAction::Text, 50),
        net.submit(proposer, bad, 1_000),
        net.vote(5, 0, VoteOption::Yes),
        net.vote(0, 99, VoteOption::Yes),
        net.gov(proposer, GovOp::Deposit { proposal: 1, amount: 0 }),
    ];
    let before = net.balance(&net.accounts.addresses[proposer]);
    let b1 = net.block(txs, &[]);
    let r = net.receipts(&b1);
    ok(&r[..3]);
    assert!(failed(&r[3]).contains("below the minimum 100"), "{:?}", r[3]);
    assert!(failed(&r[4]).contains("quorum_bps = 0"), "{:?}", r[4]);
    assert!(failed(&r[5]).contains("no bonded stake"), "{:?}", r[5]);
    assert!(failed(&r[6]).contains("no proposal 99"), "{:?}", r[6]);
    assert!(failed(&r[7]).contains("positive"), "{:?}", r[7]);
    // Refused deposits came back: the proposer paid 1,100 and five fees.
    let fees: u128 = net.chain.db().receipts(&b1.id()).unwrap().unwrap()[1..]
        .iter()
        .zip(&b1.transactions[1..])
        .filter(|(_, t)| t.tx.sender_address() == net.accounts.addresses[proposer])
        .map(|(r, _)| u128::from(r.gas_used))
        .sum();
    assert_eq!(net.balance(&net.accounts.addresses[proposer]), before - 1_100 - fees);
    assert_eq!(net.status(0), Status::VotingPeriod);
    assert_eq!(net.status(1), Status::DepositPeriod);

    // Block 2: votes on 0, with the delegator first voting no; proposal
    // 1's deposit reaches the minimum (voting from 2 to 6).
    let txs = vec![
        net.vote(0, 0, VoteOption::Yes),
        net.vote(1, 0, VoteOption::Yes),
        net.vote(2, 0, VoteOption::No),
        net.vote(4, 0, VoteOption::No),
        net.gov(proposer, GovOp::Deposit { proposal: 1, amount: 900 }),
    ];
    net.all_ok(txs);
    assert_eq!(net.status(1), Status::VotingPeriod);
    // As it stands: v0's 300 less the delegator's 200, v1 100 yes; v2 100
    // and the delegator 200 no.
    let t = net.chain.tally_now(0).unwrap().unwrap();
    assert_eq!((t.yes, t.no, t.bonded), (200, 300, 600));
    // Block 3: the delegator changes its vote (the last one counts); one
    // vote on proposal 1, short of the quorum.
    let txs = vec![net.vote(4, 0, VoteOption::Yes), net.vote(3, 1, VoteOption::Yes)];
    net.all_ok(txs);
    assert_eq!(net.chain.votes(0).unwrap().len(), 4);
    // Block 4: a gas-price-1 transfer is still valid.
    let t4 = net.tx_of(6, TxKind::Transfer { to: outsider, amount: 1 }, 21_000);
    net.all_ok(vec![t4]);
    // Block 5 ends proposal 0's vote: passed; the parameter applies from
    // block 6.
    net.block(Vec::new(), &[]);
    let p0 = net.chain.proposal(0).unwrap().unwrap();
    assert_eq!(p0.status, Status::Passed, "{}", p0.note);
    assert_eq!((p0.tally.as_ref().unwrap().yes, p0.tally.as_ref().unwrap().no), (400, 100));
    assert_eq!(net.chain.params().unwrap().min_gas_price, 2);
    assert!(net.chain.votes(0).unwrap().is_empty(), "an ended proposal's votes are deleted");

    // Block 6: a gas-price-1 transaction is left out by the builder (and
    // refused by import), and proposal 1 fails its quorum (refunded).
    let before = net.balance(&net.accounts.addresses[proposer]);
    let cheap = net.tx_of(5, TxKind::Transfer { to: delegator, amount: 1 }, 21_000);
    net.nonces[5] -= 1;
    let err = net.try_block(vec![cheap]).unwrap_err();
    assert_eq!(net.height(), 5);
    assert!(err.contains("below the chain's minimum 2"), "{err}");
    net.block(Vec::new(), &[]);
    assert_eq!(net.height(), 6);
    let p1 = net.chain.proposal(1).unwrap().unwrap();
    assert_eq!(p1.status, Status::Rejected);
    assert!(p1.note.contains("no quorum"), "{}", p1.note);
    assert_eq!(net.balance(&net.accounts.addresses[proposer]), before + 1_000);

    // Blocks 7-11: a vetoed proposal (deposit burned) and a pool spend
    // that a slash turns from rejected to passed.
    net.gas_price = 2;
    let pool = net.chain.gov_meta().unwrap().unwrap().pool;
    assert!(pool > 10_000, "the pool holds half the fees: {pool}");
    let txs = vec![
        net.submit(proposer, ProposalAction::Text, 1_000),
        net.submit(proposer, ProposalAction::PoolSpend { recipient: outsider, amount: 10_000 }, 1_000),
    ];
    net.all_ok(txs);
    let txs = vec![
        net.vote(0, 2, VoteOption::NoWithVeto),
        net.vote(1, 2, VoteOption::NoWithVeto),
        net.vote(2, 2, VoteOption::Yes),
        net.vote(0, 3, VoteOption::No),
        net.vote(1, 3, VoteOption::Yes),
        net.vote(2, 3, VoteOption::Yes),
        net.vote(3, 3, VoteOption::No),
    ];
    net.all_ok(txs);
    let t = net.chain.tally_now(3).unwrap().unwrap();
    assert_eq!((t.yes, t.no), (200, 400), "the delegator inherits validator 0's no");
    // Validator 0 double-signed at height 3: slashed and jailed, its pool
    // (and its delegator's inherited vote) leaves the tally.
    let set = net.set_after_head();
    let index = u16::try_from(set.public_keys.iter().position(|k| *k == key(0).public_key()).unwrap()).unwrap();
    let dv = DoubleVote {
        first: prevote(3, index, Some(Hash([1; 32])), &key(0)),
        second: prevote(3, index, Some(Hash([2; 32])), &key(0)),
    };
    let report = net.tx(5, StakeOp::ReportDoubleVote(Box::new(dv)));
    net.all_ok(vec![report]);
    let t = net.chain.tally_now(3).unwrap().unwrap();
    assert_eq!((t.yes, t.no, t.bonded), (200, 100, 300));
    let (gov_before, outsider_before) = (net.balance(&GOV_ADDRESS), net.balance(&outsider));
    net.block(Vec::new(), &[]);
    net.block(Vec::new(), &[]);
    assert_eq!(net.height(), 11);
    let (p2, p3) = (net.chain.proposal(2).unwrap().unwrap(), net.chain.proposal(3).unwrap().unwrap());
    assert_eq!(p2.status, Status::Vetoed, "{}", p2.note);
    assert_eq!(p3.status, Status::Passed, "{}", p3.note);
    assert_eq!(net.balance(&outsider), outsider_before + 10_000);
    // The governance account paid the spend and the refund, burned the
    // veto's deposit, and took the pool's share of two blocks' fees.
    let meta = net.chain.gov_meta().unwrap().unwrap();
    let held: u128 = (0..4)
        .map(|i| net.chain.proposal(i).unwrap().unwrap())
        .filter(|p| p.status.is_live())
        .map(|p| p.total_deposit)
        .sum();
    assert_eq!(net.balance(&GOV_ADDRESS), meta.pool + held);
    assert!(net.balance(&GOV_ADDRESS) < gov_before);

    // Blocks 12-16: an upgrade at height 21 passes.
    let plan = UpgradePlan {
        name: BoundedString::truncated(TEST_UPGRADE),
        height: 21,
        info: BoundedString::truncated("https://example.org/cinder/v2"),
    };
    let submit = net.submit(proposer, ProposalAction::Upgrade(plan.clone()), 1_000);
    net.all_ok(vec![submit]);
    let votes = (1..4).map(|i| net.vote(i, 4, VoteOption::Yes)).collect();
    net.all_ok(votes);
    while net.height() < 20 {
        net.block(Vec::new(), &[]);
    }
    assert_eq!(net.status(4), Status::Passed);
    assert_eq!(net.chain.gov_meta().unwrap().unwrap().plan, Some(plan));
    // Height 21: this node has no handler and stops.
    let err = net.try_block(Vec::new()).unwrap_err();
    assert!(err.contains("UPGRADE \"cinder-test-upgrade\" NEEDED at height 21"), "{err}");
    assert_eq!(net.height(), 20);
    // Restarted with the handler, it goes on.
    let spec_again = net.chain.spec().clone();
    let scratch = dir.with_extension("scratch");
    net.chain = open(&scratch, spec_again.clone(), Upgrades::release());
    net.chain = open(&dir, spec_again.clone(), Upgrades::release().with_test_upgrade());
    let b21 = net.block(Vec::new(), &[]);
    let version = net.chain.db().block_meta(&b21.id()).unwrap().unwrap().version;
    let record = net.chain.state().data(version, record_key(TEST_UPGRADE_RECORD)).unwrap();
    assert_eq!(record, Some(21u64.to_le_bytes().to_vec()));
    let meta = net.chain.gov_meta().unwrap().unwrap();
    assert_eq!((meta.plan, meta.applied.len()), (None, 1));
    net.block(Vec::new(), &[]);

    // A second node replays the chain: it stops at 21 without the handler,
    // and with it reaches the same state root.
    let replay_dir = dir.with_extension("replay");
    let replay = open(&replay_dir, spec_again.clone(), Upgrades::release());
    let blocks: Vec<_> = (1..=22)
        .map(|h| {
            let (id, _) = net.chain.db().canonical(h).unwrap().unwrap();
            net.chain.db().block(&id).unwrap().unwrap()
        })
        .collect();
    for b in &blocks[..20] {
        replay.import(b).unwrap();
    }
    match replay.import(&blocks[20]) {
        Err(ImportError::UpgradeNeeded { needed, .. }) => assert_eq!(needed.height, 21),
        other => panic!("expected UpgradeNeeded, got {other:?}"),
    }
    drop(replay);
    let replay = open(&replay_dir, spec_again, Upgrades::release().with_test_upgrade());
    for b in &blocks[20..] {
        replay.import(b).unwrap();
    }
    // Same head, so the same state root.
    assert_eq!(replay.head().unwrap().id, net.chain.head().unwrap().id);
    drop(replay);

    // The parameters record is proven against the head's state root.
    let head = net.chain.head().unwrap().id;
    let version = net.chain.db().block_meta(&head).unwrap().unwrap().version;
    let root = net.chain.db().header(&head).unwrap().unwrap().fields.state_root;
    let (value, proof) = net.chain.storage_proof(version, &GOV_ADDRESS, b"params").unwrap();
    assert_eq!(value, Some(borsh::to_vec(&net.chain.params().unwrap()).unwrap()));
    proof.verify(&root, cinder_chain::contracts::record_tree_key(&GOV_ADDRESS, b"params"), value.as_deref()).unwrap();

    // Blocks 23-27: a text proposal passes, one fails its threshold, an
    // upgrade is scheduled; a vote on an ended proposal is refused.
    let later =
        UpgradePlan { name: BoundedString::truncated("v-next"), height: 1_000, info: BoundedString::truncated("") };
    let txs = vec![
        net.submit(proposer, ProposalAction::Text, 1_000),
        net.submit(proposer, ProposalAction::Text, 1_000),
        net.submit(proposer, ProposalAction::Upgrade(later), 1_000),
        net.vote(1, 0, VoteOption::Yes),
    ];
    let b = net.block(txs, &[]);
    let r = net.receipts(&b);
    ok(&r[..3]);
    assert!(failed(&r[3]).contains("not in its voting period"), "{:?}", r[3]);
    let txs = vec![
        net.vote(1, 5, VoteOption::Yes),
        net.vote(2, 5, VoteOption::Yes),
        net.vote(3, 5, VoteOption::Yes),
        net.vote(1, 6, VoteOption::Yes),
        net.vote(2, 6, VoteOption::No),
        net.vote(3, 6, VoteOption::Abstain),
        net.vote(1, 7, VoteOption::Yes),
        net.vote(2, 7, VoteOption::Yes),
    ];
    net.all_ok(txs);
    while net.height() < 27 {
        net.block(Vec::new(), &[]);
    }
    assert_eq!(net.status(5), Status::Passed);
    let p6 = net.chain.proposal(6).unwrap().unwrap();
    assert_eq!(p6.status, Status::Rejected);
    assert!(p6.note.contains("more than 5000 bps needed"), "{}", p6.note);
    assert_eq!(net.status(7), Status::Passed);
    assert_eq!(net.chain.gov_meta().unwrap().unwrap().plan.map(|p| p.height), Some(1_000));
    // Blocks 28-32: its cancellation passes.
    let cancel =
        net.submit(proposer, ProposalAction::CancelUpgrade { name: BoundedString::truncated("v-next") }, 1_000);
    net.all_ok(vec![cancel]);
    let votes = (1..4).map(|i| net.vote(i, 8, VoteOption::Yes)).collect();
    net.all_ok(votes);
    while net.height() < 32 {
        net.block(Vec::new(), &[]);
    }
    assert_eq!(net.status(8), Status::Passed);
    assert_eq!(net.chain.gov_meta().unwrap().unwrap().plan, None);
    for d in [&dir, &scratch, &replay_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_pow_chain_refuses_governance_and_staking_with_a_failed_receipt() {
    use cinder_chain::{build_block, seal_cpu};
    let dir = std::env::temp_dir().join(format!("cinder-chain-it-{}-gov-pow", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let accounts = Accounts::derive("chain-gov-pow", 1);
    let spec = workload::spec("gov-pow", 9, &accounts.addresses, BALANCE);
    let chain = Chain::open(&dir, spec, ChainConfig::default()).unwrap();
    let k = &accounts.keys[0];
    let txs: Vec<SignedTransaction> = [
        TxKind::Gov(GovOp::Submit { proposal: content(ProposalAction::Text), deposit: 1_000 }),
        TxKind::Stake(StakeOp::Delegate { validator: Address([1; 32]), amount: 500 }),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, kind)| {
        cinder_primitives::Transaction {
            chain_id: 9,
            sender: k.public_key(),
            nonce: n as u64,
            gas_limit: GAS,
            gas_price: 1,
            kind,
        }
        .sign(k)
    })
    .collect();
    let head = chain.head().unwrap().id;
    let ctx = chain.context(&head).unwrap().unwrap();
    let state = cinder_state::State::new(cinder_state::Overlay::new(chain.db()));
    let coinbase = Address([7; 32]);
    let mut built =
        build_block(chain.consensus(), chain.spec(), &state, &ctx, txs, coinbase, 1_700_000_100, 1).unwrap();
    seal_cpu(chain.consensus(), &mut built.block.header, 1 << 20).unwrap();
    chain.import_at(&built.block, 1_700_000_100).unwrap();
    let receipts = chain.db().receipts(&built.block.id()).unwrap().unwrap();
    for r in &receipts {
        assert!(failed(&r.status).contains("proof-of-stake chains only"), "{:?}", r.status);
    }
    // Only the fees left the account; nothing reached the system accounts.
    let v = chain.db().block_meta(&built.block.id()).unwrap().unwrap().version;
    let fees: u128 = receipts.iter().map(|r| u128::from(r.gas_used)).sum();
    assert_eq!(chain.state().account(v, &accounts.addresses[0]).unwrap().unwrap().balance, BALANCE - fees);
    for a in [GOV_ADDRESS, STAKING_ADDRESS] {
        assert_eq!(chain.state().account(v, &a).unwrap(), None);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
