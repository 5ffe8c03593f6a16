//! Contracts through the whole import pipeline on RocksDB: deploys and
//! calls in blocks, receipts and events, storage proven against the
//! header's root, the event index and log queries, read-only calls and gas
//! estimates, pipelined import, the same roots on 1 and 2 threads, and a
//! reorg that takes contract state and events back.

use cinder_chain::workload::build_chain;
use cinder_chain::{Chain, ChainConfig, ImportStatus, LogQuery, StateAt};
use cinder_primitives::{
    Address, BoundedBytes, BoundedString, Call, Deploy, Hash, ReceiptStatus, SignedTransaction, Transaction, TxKind,
    contract_address,
};
use cinder_vm::{Query, Status};

use crate::common::{Fixture, dir};

fn deploy(code: &[u8], args: Vec<u8>) -> TxKind {
    TxKind::Deploy(Deploy {
        code: BoundedBytes::new(code.to_vec()).unwrap(),
        init_args: BoundedBytes::new(args).unwrap(),
        value: 0,
        admin: None,
    })
}

fn call(contract: Address, method: &str, args: Vec<u8>) -> TxKind {
    TxKind::Call(Call {
        contract,
        method: BoundedString::truncated(method),
        args: BoundedBytes::new(args).unwrap(),
        value: 0,
    })
}

fn token_init(supply: u128) -> Vec<u8> {
    let mut v = Vec::new();
    for s in ["Chain token", "CHT"] {
        v.extend(u32::try_from(s.len()).unwrap().to_le_bytes());
        v.extend(s.as_bytes());
    }
    v.push(6);
    v.extend(supply.to_le_bytes());
    v.push(0); // no cap: minted up to u128::MAX
    v
}

fn to_amount(to: Address, amount: u128) -> Vec<u8> {
    [to.0.to_vec(), amount.to_le_bytes().to_vec()].concat()
}

/// Signs `kind` from account `i` of the fixture with `nonce`.
fn tx(f: &Fixture, i: usize, nonce: u64, kind: TxKind) -> SignedTransaction {
    Transaction {
        chain_id: f.spec.chain_id,
        sender: f.accounts.keys[i].public_key(),
        nonce,
        gas_limit: 5_000_000,
        gas_price: 1,
        kind,
    }
    .sign(&f.accounts.keys[i])
}

/// Blocks 1-3: a token deployed by account 0, transfers to accounts 1-3,
/// a counter, a transfer that reverts, a call to nobody.
fn script(f: &Fixture) -> (Vec<Vec<SignedTransaction>>, Address, Address) {
    let a = &f.accounts.addresses;
    let token = contract_address(&a[0], 0);
    let counter = contract_address(&a[5], 0);
    let blocks = vec![
        vec![
            tx(f, 0, 0, deploy(cinder_contracts::TOKEN, token_init(1_000))),
            tx(f, 5, 0, deploy(cinder_contracts::COUNTER, 1u64.to_le_bytes().to_vec())),
        ],
        vec![
            tx(f, 0, 1, call(token, "transfer", to_amount(a[1], 100))),
            tx(f, 0, 2, call(token, "transfer", to_amount(a[2], 200))),
            tx(f, 6, 0, call(counter, "increment", 5u64.to_le_bytes().to_vec())),
            tx(f, 3, 0, call(token, "transfer", to_amount(a[4], 1))),
        ],
        vec![
            tx(f, 1, 0, call(token, "transfer", to_amount(a[3], 40))),
            tx(f, 7, 0, call(Address([0x77; 32]), "anything", Vec::new())),
            tx(f, 7, 1, TxKind::Transfer { to: a[8], amount: 5 }),
        ],
    ];
    (blocks, token, counter)
}

fn at(chain: &Chain) -> StateAt {
    chain.state_at(None).unwrap().unwrap()
}

fn balance_of(chain: &Chain, token: Address, who: Address) -> u128 {
    let q = Query {
        from: Address::default(),
        contract: token,
        method: "balance_of",
        args: &who.0,
        value: 0,
        gas: 10_000_000,
    };
    let r = chain.call_contract(&at(chain), &q).unwrap();
    assert_eq!(r.status, Status::Success);
    u128::from_le_bytes(r.output.try_into().unwrap())
}

#[test]
fn contract_blocks_import_with_receipts_proofs_events_and_queries() {
    let f = Fixture::new("contracts");
    let (script, token, counter) = script(&f);
    let a = f.accounts.addresses.clone();
    let mut ctx = f.chain.context(&f.chain.head().unwrap().id).unwrap().unwrap();
    let built = build_chain(&f.chain, &mut ctx, script, a[0]).unwrap();
    for b in &built {
        assert_eq!(f.chain.import(&b.block).unwrap().status, ImportStatus::Head);
    }
    let db = f.chain.db();
    let receipts: Vec<_> = built.iter().map(|b| db.receipts(&b.block.id()).unwrap().unwrap()).collect();
    assert_eq!(receipts.to_vec(), built.iter().map(|b| b.receipts.clone()).collect::<Vec<_>>(), "import = build");
    assert_eq!(receipts[0][0].created, Some(token));
    assert_eq!(receipts[0][1].created, Some(counter));
    assert_eq!(receipts[1][2].output.as_slice(), 6u64.to_le_bytes());
    assert_eq!(receipts[1][3].status, ReceiptStatus::Reverted(BoundedString::truncated("insufficient balance")));
    assert_eq!(
        receipts[2][1].status,
        ReceiptStatus::Failed(BoundedString::truncated(&format!("no contract at {}", Address([0x77; 32]))))
    );
    assert_eq!(receipts[2][2].status, ReceiptStatus::Success, "a transfer after a failed call");
    let transfer_topic = Hash::of(b"Transfer");
    assert_eq!(receipts[1][0].events[0].topics[0], transfer_topic);

    // Read-only calls see the state; nothing they do is kept.
    assert_eq!(balance_of(&f.chain, token, a[0]), 700);
    assert_eq!(balance_of(&f.chain, token, a[3]), 40);
    let q =
        Query { from: a[0], contract: token, method: "transfer", args: &to_amount(a[9], 1), value: 0, gas: 10_000_000 };
    let r = f.chain.call_contract(&at(&f.chain), &q).unwrap();
    assert_eq!((r.status, r.events.len()), (Status::Success, 1));
    assert_eq!(balance_of(&f.chain, token, a[9]), 0, "a query writes nothing");
    // Estimates: enough for the call to succeed, and it does with that.
    let kind = call(token, "transfer", to_amount(a[9], 1));
    let est = f.chain.estimate_gas(&at(&f.chain), a[0], &kind, 10_000_000).unwrap().unwrap();
    assert!(est.gas > 21_000 && est.gas < 1_000_000, "{}", est.gas);
    let fail = f.chain.estimate_gas(&at(&f.chain), a[9], &kind, 10_000_000).unwrap().unwrap_err();
    assert_eq!(fail.status, Status::Reverted("insufficient balance".into()));

    // A storage entry proven against the header's state root.
    let head = f.chain.state_at(None).unwrap().unwrap();
    let mut key = b"bal/".to_vec();
    key.extend(a[3].0);
    let (value, proof) = f.chain.storage_proof(head.version, &token, &key).unwrap();
    assert_eq!(value.as_deref(), Some(&40u128.to_le_bytes()[..]));
    let tree_key = cinder_chain::contracts::storage_key(&token, &key);
    proof.verify(&head.state_root, tree_key, Some(&40u128.to_le_bytes())).unwrap();
    assert!(proof.verify(&head.state_root, tree_key, Some(&41u128.to_le_bytes())).is_err());
    let (info, code) = f.chain.contract_code(head.version, &token).unwrap().unwrap();
    assert_eq!((info.code_hash, code.as_slice()), (Hash::of(cinder_contracts::TOKEN), cinder_contracts::TOKEN));

    // Events: by contract, by topic, by range, with block-wide indexes.
    let logs = |q: LogQuery| f.chain.logs(&q).unwrap().unwrap();
    let all = logs(LogQuery { from: 0, to: 3, contracts: vec![token], topics: vec![] });
    assert_eq!(all.iter().map(|l| (l.height, l.tx_index)).collect::<Vec<_>>(), vec![(1, 0), (2, 0), (2, 1), (3, 0)]);
    assert_eq!(all[2].log_index, 1);
    let to3 = logs(LogQuery {
        from: 0,
        to: 3,
        contracts: vec![],
        topics: vec![Some(vec![transfer_topic]), None, Some(vec![Hash(a[3].0)])],
    });
    assert_eq!(to3.len(), 1);
    assert_eq!(to3[0].tx, built[2].block.transactions[0].id());
    assert!(logs(LogQuery { from: 3, to: 3, contracts: vec![counter], topics: vec![] }).is_empty());
    assert!(f.chain.logs(&LogQuery { from: 0, to: 50_000, contracts: vec![token], topics: vec![] }).unwrap().is_err());
}

#[test]
fn pipelined_import_one_by_one_and_threads_agree_on_contract_blocks() {
    let f = Fixture::new("contracts-pipeline");
    let (script, _, _) = script(&f);
    let mut ctx = f.chain.context(&f.chain.head().unwrap().id).unwrap().unwrap();
    let blocks: Vec<_> = build_chain(&f.chain, &mut ctx, script, f.accounts.addresses[0])
        .unwrap()
        .into_iter()
        .map(|b| b.block)
        .collect();
    let (done, err) = f.chain.import_chain(&blocks, cinder_chain::unix_now());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(done.len(), 3);
    for threads in [1, 2, 4] {
        let other = Chain::open(
            &dir(&format!("contracts-threads-{threads}")),
            f.spec.clone(),
            ChainConfig { exec_threads: threads, max_reorg_depth: 8, prune: true, ..ChainConfig::default() },
        )
        .unwrap();
        for b in &blocks {
            assert_eq!(other.import(b).unwrap().status, ImportStatus::Head, "{threads} threads");
        }
        assert_eq!(other.head().unwrap(), f.chain.head().unwrap());
    }
}

#[test]
fn a_reorg_takes_contract_state_and_events_back() {
    let f = Fixture::new("contracts-reorg");
    let a = f.accounts.addresses.clone();
    let genesis = f.chain.head().unwrap().id;
    let token = contract_address(&a[0], 0);
    // Branch A: the token, then a transfer to a[1].
    let mut ctx = f.chain.context(&genesis).unwrap().unwrap();
    let branch_a = build_chain(
        &f.chain,
        &mut ctx,
        vec![
            vec![tx(&f, 0, 0, deploy(cinder_contracts::TOKEN, token_init(1_000)))],
            vec![tx(&f, 0, 1, call(token, "transfer", to_amount(a[1], 10)))],
        ],
        a[0],
    )
    .unwrap();
    for b in &branch_a {
        f.chain.import(&b.block).unwrap();
    }
    assert_eq!(balance_of(&f.chain, token, a[1]), 10);
    // Branch B, heavier: the same token, a transfer to a[2] instead.
    let mut ctx = f.chain.context(&genesis).unwrap().unwrap();
    let branch_b = build_chain(
        &f.chain,
        &mut ctx,
        vec![
            vec![tx(&f, 0, 0, deploy(cinder_contracts::TOKEN, token_init(1_000)))],
            vec![tx(&f, 0, 1, call(token, "transfer", to_amount(a[2], 20)))],
            vec![tx(&f, 4, 0, TxKind::Transfer { to: a[5], amount: 1 })],
        ],
        a[1],
    )
    .unwrap();
    let mut last = ImportStatus::Side;
    for b in &branch_b {
        last = f.chain.import(&b.block).unwrap().status;
    }
    assert!(matches!(last, ImportStatus::Reorg { depth: 2, .. }), "{last:?}");
    assert_eq!(balance_of(&f.chain, token, a[1]), 0, "A's transfer is gone");
    assert_eq!(balance_of(&f.chain, token, a[2]), 20);
    let logs = f.chain.logs(&LogQuery { from: 0, to: 3, contracts: vec![token], topics: vec![] }).unwrap().unwrap();
    assert_eq!(logs.len(), 2);
    assert!(logs.iter().all(|l| branch_b.iter().any(|b| b.block.id() == l.block)), "only B's events are indexed");
    // A holder listing (a storage scan) reads B's state.
    let q = Query {
        from: Address::default(),
        contract: token,
        method: "holders",
        args: &[vec![0u8], 10u32.to_le_bytes().to_vec()].concat(),
        value: 0,
        gas: 10_000_000,
    };
    let r = f.chain.call_contract(&at(&f.chain), &q).unwrap();
    assert_eq!(u32::from_le_bytes(r.output[..4].try_into().unwrap()), 2, "a[0] and a[2]");
}
