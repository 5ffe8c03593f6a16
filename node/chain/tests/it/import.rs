//! Valid blocks: the head moves, balances and receipts are right, state
//! proofs verify against the header's root.

use cinder_chain::vm::TRANSFER_GAS;
use cinder_chain::{Chain, ChainConfig, ImportStatus, genesis};
use cinder_primitives::{Account, ReceiptStatus};

use crate::common::{BALANCE, Fixture, dir};

#[test]
fn a_chain_of_blocks_imports_and_survives_a_reopen() {
    let mut f = Fixture::new("happy");
    let genesis_id = f.chain.genesis_id();
    assert_eq!(genesis_id, genesis::block(&f.spec).unwrap().id(), "genesis on disk = genesis from the spec");
    let blocks = f.blocks(5, 40);
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b.transactions.len(), 40);
        let r = f.chain.import(b).unwrap();
        assert_eq!((r.status, r.height), (ImportStatus::Head, i as u64 + 1));
        assert_eq!(f.chain.import(b).unwrap().status, ImportStatus::Known);
    }
    let head = f.chain.head().unwrap();
    assert_eq!(head.id, blocks[4].id());
    let f = f.reopen();
    assert_eq!(f.chain.head().unwrap(), head);
    // Receipts stored, every transfer succeeded, the coinbase got the reward and the fees.
    let db = f.chain.db();
    for b in &blocks {
        let receipts = db.receipts(&b.id()).unwrap().unwrap();
        assert!(receipts.iter().all(|r| r.status == ReceiptStatus::Success && r.gas_used == TRANSFER_GAS));
    }
    // Conservation: the supply grew by exactly the rewards.
    let version = db.canonical(5).unwrap().unwrap().1;
    let state = f.chain.state();
    let total: u128 = f.accounts.addresses.iter().map(|a| state.account(version, a).unwrap().unwrap().balance).sum();
    assert_eq!(total, BALANCE * f.accounts.addresses.len() as u128 + 5 * f.spec.block_reward);
    // A sender's nonce counts its transactions.
    let b0 = &blocks[0].transactions[0];
    let sender = b0.tx.sender_address();
    let sent = blocks.iter().flat_map(|b| b.transactions.iter()).filter(|t| t.tx.sender_address() == sender).count();
    assert_eq!(state.account(version, &sender).unwrap().unwrap().nonce, sent as u64);
    // The location index.
    assert_eq!(db.transaction_location(&b0.id()).unwrap(), Some((blocks[0].id(), 0)));
}

#[test]
fn proofs_verify_against_the_header_root_and_tampering_fails() {
    let mut f = Fixture::new("proofs");
    let blocks = f.blocks(2, 10);
    for b in &blocks {
        f.chain.import(b).unwrap();
    }
    let head = &blocks[1].header;
    let version = f.chain.db().canonical(2).unwrap().unwrap().1;
    let state = f.chain.state();
    let (to, _) = blocks[1].transactions[0].tx.payment();
    let (acct, proof) = state.prove(version, &to).unwrap();
    let acct = acct.unwrap();
    proof.verify(&head.fields.state_root, &to, Some(&acct)).unwrap();
    let tampered = Account { balance: acct.balance + 1, ..acct };
    assert!(proof.verify(&head.fields.state_root, &to, Some(&tampered)).is_err(), "a changed balance");
    assert!(proof.verify(&blocks[0].header.fields.state_root, &to, Some(&acct)).is_err(), "another root");
    // Absence.
    let nobody = cinder_primitives::Address([0xee; 32]);
    let (none, proof) = state.prove(version, &nobody).unwrap();
    assert!(none.is_none());
    proof.verify(&head.fields.state_root, &nobody, None).unwrap();
    assert!(proof.verify(&head.fields.state_root, &nobody, Some(&acct)).is_err());
}

#[test]
fn a_data_directory_of_another_chain_is_refused() {
    let f = Fixture::new("other-chain");
    let path = f.dir.clone();
    let f_spec = f.spec.clone();
    drop(f);
    let mut other = f_spec.clone();
    other.alloc[3].balance += 1;
    let e = Chain::open(&path, other, ChainConfig::default()).err().unwrap().to_string();
    assert!(e.contains("holds a chain with genesis"), "{e}");
    let other = cinder_consensus::ChainSpec { block_reward: f_spec.block_reward + 1, ..f_spec.clone() };
    assert!(Chain::open(&path, other, ChainConfig::default()).is_err(), "another reward is another chain");
    Chain::open(&path, f_spec, ChainConfig::default()).unwrap();
    let _ = dir("other-chain");
}

#[test]
fn pipelined_import_equals_one_by_one_and_stops_at_an_invalid_block() {
    let mut f = Fixture::new("pipelined");
    let blocks = f.blocks(6, 60);
    let one_by_one = Chain::open(&dir("pipelined-single"), f.spec.clone(), ChainConfig::default()).unwrap();
    for b in &blocks {
        one_by_one.import(b).unwrap();
    }
    let (done, err) = f.chain.import_chain(&blocks[..3], cinder_chain::unix_now());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(done.len(), 3);
    // A bad state root in the fifth block: the fourth commits, the fifth and sixth do not.
    let mut bad = blocks[4].clone();
    bad.header.fields.state_root = cinder_primitives::Hash([7; 32]);
    let mut header = cinder_primitives::Header::new(
        bad.header.prev(),
        bad.header.pow.time(),
        bad.header.pow.bits(),
        bad.header.fields.clone(),
    );
    cinder_chain::seal_cpu(f.chain.consensus(), &mut header, 1 << 20).unwrap();
    bad.header = header;
    let (done, err) = f.chain.import_chain(&[blocks[3].clone(), bad, blocks[5].clone()], cinder_chain::unix_now());
    assert_eq!(done.len(), 1);
    assert!(
        matches!(err.as_ref().and_then(|e| e.invalid()), Some(cinder_chain::BlockInvalid::StateRoot { .. })),
        "{err:?}"
    );
    assert_eq!(f.chain.head().unwrap().id, blocks[3].id());
    // The rest, pipelined, reaches the same head and state as one by one.
    let (done, err) = f.chain.import_chain(&blocks[4..], cinder_chain::unix_now());
    assert!(err.is_none() && done.len() == 2, "{err:?}");
    assert_eq!(f.chain.head().unwrap(), one_by_one.head().unwrap());
    let (a, b) = (f.chain.db().head().unwrap().unwrap(), one_by_one.db().head().unwrap().unwrap());
    assert_eq!(f.chain.state().root(a.version).unwrap(), one_by_one.state().root(b.version).unwrap());
    // Known blocks and a block off the head go one at a time.
    let (done, err) = f.chain.import_chain(&blocks[..2], cinder_chain::unix_now());
    assert!(err.is_none());
    assert!(done.iter().all(|r| r.status == ImportStatus::Known));
}
