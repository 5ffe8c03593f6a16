//! Staking through the chain on RocksDB: staking transactions run in
//! blocks (refused ones refunded with a failed receipt), the validator set
//! changes at epoch boundaries from the stake in state, rewards reach
//! delegators, double-vote evidence slashes and jails (once), absent
//! signers are counted, and unbonded stake is paid after its period. Every
//! block is built by the round's proposer and imported through the full
//! check, so builder and importer agree on each ledger change.

use cinder_chain::vm::STAKE_GAS;
use cinder_chain::workload::{self, Accounts};
use cinder_chain::{Chain, ChainConfig};
use cinder_consensus::Pos;
use cinder_primitives::{Address, DoubleVote, Hash, ReceiptStatus, STAKING_ADDRESS, StakeOp};

use crate::posnet::{BALANCE, CHAIN, Net, certify, failed, key, prevote};

#[test]
fn staking_moves_the_set_pays_rewards_slashes_and_unbonds() {
    let dir = std::env::temp_dir().join(format!("cinder-chain-it-{}-staking", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let accounts = Accounts::derive("chain-staking", 4);
    let keys: Vec<_> = (0..4).map(|i| key(i).public_key()).collect();
    let mut spec = workload::pos_spec("chain-staking", CHAIN, &accounts.addresses, BALANCE, &keys);
    let st = &mut spec.pos.as_mut().unwrap().staking;
    (st.epoch_length, st.unbonding_epochs, st.min_self_stake, st.max_validators, st.jail_epochs) = (3, 1, 50, 5, 1);
    let pos = Pos::new(&spec).unwrap();
    let chain = Chain::open(&dir, spec, ChainConfig::default()).unwrap();
    let ops: Vec<Address> = keys.iter().map(Address::from_public_key).collect();
    let mut net = Net { chain, pos, accounts, nonces: vec![0; 4], cert: None, dir, gas_price: 1 };
    let (a0, a1, a2) = (net.accounts.addresses[0], net.accounts.addresses[1], net.accounts.addresses[2]);
    // Genesis: the four validators' stake sits in the staking account.
    assert_eq!(net.balance(&STAKING_ADDRESS), 400);
    assert_eq!(net.set_after_head().public_keys.len(), 4);

    // Block 1: a new validator (operator a0, consensus key 4), a
    // delegation to validator 0, and two refused creations.
    let txs = vec![
        net.tx(0, StakeOp::CreateValidator { key: key(4).public_key().0, commission_bps: 1_000, amount: 1_000 }),
        net.tx(1, StakeOp::Delegate { validator: ops[0], amount: 300 }),
        net.tx(2, StakeOp::CreateValidator { key: key(5).public_key().0, commission_bps: 0, amount: 10 }),
        net.tx(3, StakeOp::CreateValidator { key: key(0).public_key().0, commission_bps: 0, amount: 200 }),
    ];
    let b1 = net.block(txs, &[]);
    let r = net.receipts(&b1);
    assert_eq!(r[0], ReceiptStatus::Success);
    assert_eq!(r[1], ReceiptStatus::Success);
    assert!(failed(&r[2]).contains("below the minimum"), "{:?}", r[2]);
    assert!(failed(&r[3]).contains("another validator"), "{:?}", r[3]);
    // The refused ones got their bond back and paid only the fee.
    let fee = u128::from(STAKE_GAS);
    assert_eq!(net.balance(&a2), BALANCE - fee);
    assert_eq!(net.balance(&a0), BALANCE - fee - 1_000);
    // The set holds until the epoch ends (block 3).
    net.block(Vec::new(), &[]);
    assert_eq!(net.set_after_head().public_keys.len(), 4);
    net.block(Vec::new(), &[]);
    let set = net.set_after_head();
    // Ties at equal stake go by operator address.
    let mut tied = vec![ops[1], ops[2], ops[3]];
    tied.sort();
    assert_eq!(set.addresses, [vec![a0, ops[0]], tied].concat(), "the top five by stake");
    assert_eq!(set.powers(), vec![1_000, 400, 100, 100, 100]);
    assert_eq!(set.public_keys[0], key(4).public_key());

    // Block 4 (epoch 1): rewards withdrawn, validator 1's double vote at
    // height 2 reported (slashed and jailed), the same report again
    // refused, evidence with a forged vote refused.
    let v1 = key(1);
    let dv =
        DoubleVote { first: prevote(2, 1, Some(Hash([1; 32])), &v1), second: prevote(2, 1, Some(Hash([2; 32])), &v1) };
    let mut forged = dv.clone();
    forged.second.signature.0[3] ^= 1;
    let before = net.balance(&a1);
    let txs = vec![
        net.tx(1, StakeOp::WithdrawRewards { validator: ops[0] }),
        net.tx(2, StakeOp::ReportDoubleVote(Box::new(dv.clone()))),
        net.tx(3, StakeOp::ReportDoubleVote(Box::new(dv))),
        net.tx(3, StakeOp::ReportDoubleVote(Box::new(forged))),
    ];
    let b4 = net.block(txs, &[]);
    let r = net.receipts(&b4);
    assert_eq!(r[0], ReceiptStatus::Success);
    assert_eq!(r[1], ReceiptStatus::Success);
    assert!(failed(&r[2]).contains("already"), "{:?}", r[2]);
    assert!(failed(&r[3]).contains("signature"), "{:?}", r[3]);
    let reward = net.balance(&a1) + fee - before;
    assert!(reward > 0, "the delegator earned nothing");
    let ledger = net.chain.staking_ledger(&[(a1, ops[0])]).unwrap().unwrap();
    let v = &ledger.staking.validators[&ops[1]];
    assert_eq!(v.tokens, 95, "5 % of 100 burned");
    assert!(v.jailed_until.is_some());
    // Still in this epoch's set, out of the next one.
    assert_eq!(net.set_after_head().public_keys.len(), 5);

    // Block 5: a1 unbonds its delegation; the parent's certificate misses
    // validator 3 (counted absent).
    let txs = vec![net.tx(1, StakeOp::Undelegate { validator: ops[0], amount: 300 })];
    net.cert = Some(certify(&b4, &net.set_after_head(), &[ops[3]]));
    let b5 = net.block(txs, &[]);
    assert_eq!(net.receipts(&b5), vec![ReceiptStatus::Success]);
    let ledger = net.chain.staking_ledger(&[]).unwrap().unwrap();
    assert_eq!(ledger.staking.missed.get(&ops[3]), Some(&1));
    assert_eq!(ledger.staking.unbonding.len(), 1);
    let held = net.balance(&a1);
    net.block(Vec::new(), &[]);
    let set = net.set_after_head();
    let mut tied = vec![ops[0], ops[2], ops[3]];
    tied.sort();
    assert_eq!(set.addresses, [vec![a0], tied].concat(), "the slashed validator left the set");
    assert_eq!(set.powers(), vec![1_000, 100, 100, 100]);
    // Paid when epoch 2 ends (block 9), not before.
    net.block(Vec::new(), &[]);
    net.block(Vec::new(), &[]);
    assert_eq!(net.balance(&a1), held);
    // In epoch 2, evidence from epoch 0 is past the unbonding period (1
    // epoch): refused, validator 2 keeps its stake.
    let v2 = key(2);
    let old = DoubleVote { first: prevote(1, 2, Some(Hash([1; 32])), &v2), second: prevote(1, 2, None, &v2) };
    let txs = vec![net.tx(3, StakeOp::ReportDoubleVote(Box::new(old)))];
    let b9 = net.block(txs, &[]);
    assert!(failed(&net.receipts(&b9)[0]).contains("older than the unbonding period"));
    let ledger = net.chain.staking_ledger(&[]).unwrap().unwrap();
    assert_eq!(ledger.staking.validators[&ops[2]].tokens, 100);
    assert!(ledger.staking.validators[&ops[2]].jailed_until.is_none());
    assert_eq!(net.balance(&a1), held + 300);
    assert_eq!(net.chain.head().unwrap().height, 9);

    // The staking account covers every bonded and unbonding token.
    let ledger = net.chain.staking_ledger(&[]).unwrap().unwrap();
    let bonded: u128 = ledger.staking.validators.values().map(|v| v.tokens).sum();
    let unbonding: u128 = ledger.staking.unbonding.iter().map(|u| u.amount).sum();
    assert!(net.balance(&STAKING_ADDRESS) >= bonded + unbonding);

    // A syncing node imports the nine blocks pipelined (each verified on
    // its parent's uncommitted state while the parent is written): across
    // the set changes, the slashing and the payout it reaches the same head
    // and state, in one run and in runs split at every height.
    let blocks: Vec<_> = (1..=9)
        .map(|h| {
            let (id, _) = net.chain.db().canonical(h).unwrap().unwrap();
            net.chain.db().block(&id).unwrap().unwrap()
        })
        .collect();
    let head = net.chain.head().unwrap();
    let root = |c: &Chain| c.state().root(c.db().head().unwrap().unwrap().version).unwrap();
    for split in [9, 1, 4] {
        let sync_dir = net.dir.with_extension(format!("sync-{split}"));
        let _ = std::fs::remove_dir_all(&sync_dir);
        let sync = Chain::open(&sync_dir, net.chain.spec().clone(), ChainConfig::default()).unwrap();
        for part in blocks.chunks(split) {
            let (done, err) = sync.import_chain(part, cinder_chain::unix_now());
            assert!(err.is_none(), "{err:?}");
            assert_eq!(done.len(), part.len());
            assert!(done.iter().all(|r| r.status == cinder_chain::ImportStatus::Head));
        }
        assert_eq!(sync.head().unwrap(), head);
        assert_eq!(root(&sync), root(&net.chain));
        let keys = |c: &Chain| c.validators_after(&head.id).unwrap().unwrap().public_keys.clone();
        assert_eq!(keys(&sync), keys(&net.chain));
        let _ = std::fs::remove_dir_all(&sync_dir);
    }
    let _ = std::fs::remove_dir_all(&net.dir);
}
