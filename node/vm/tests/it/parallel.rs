//! Contracts under Block-STM: random blocks mixing transfers, deploys and
//! calls (storage reads, writes, removals and prefix scans over a small
//! shared key space, cross-contract calls, reverts) give the same outputs,
//! receipts and writes on 1, 2 and 4 threads as sequential execution.

use std::collections::HashMap;

use cinder_engine::exec::{self, Mode, Strategy};
use cinder_engine::sig::SecretKey;
use cinder_primitives::{Address, Hash, SignedTransaction, Transaction, TxKind, contract_address};
use cinder_vm::harness::TestChain;
use cinder_vm::{BlockEnv, Runner, StateKey, TxTask, Val};
use proptest::prelude::*;

use crate::abuse::token_init;

fn bytes(b: &[u8]) -> Vec<u8> {
    [(b.len() as u32).to_le_bytes().to_vec(), b.to_vec()].concat()
}

struct Setup {
    state: HashMap<StateKey, Val>,
    keys: Vec<SecretKey>,
    kv: [Address; 2],
    token: Address,
    caller: Address,
}

/// Funded senders, two registries, a token held by sender 0, a caller.
fn setup() -> Setup {
    let mut c = TestChain::new().unwrap();
    let keys: Vec<SecretKey> = (0..8u8).map(|i| SecretKey::from_seed(&[i + 1; 32])).collect();
    let deployer = c.account(u128::MAX / 4);
    let kv = [
        crate::deploy(&mut c, deployer, cinder_contracts::KV, &[]),
        crate::deploy(&mut c, deployer, cinder_contracts::KV, &[]),
    ];
    let caller = crate::deploy(&mut c, deployer, cinder_contracts::CALLER, &[]);
    let mut state = c.state().clone();
    let token_owner = Address::from_public_key(&keys[0].public_key());
    for k in &keys {
        state.insert(StateKey::Balance(Address::from_public_key(&k.public_key())), Val::Num(10u128.pow(24)));
    }
    // The token, deployed by sender 0 in a chain of its own, copied in.
    let mut t = TestChain::new().unwrap();
    t.fund(token_owner, 10u128.pow(24));
    let token = t.deploy(token_owner, cinder_contracts::TOKEN, &token_init("T", 1_000_000)).unwrap().created.unwrap();
    for (k, v) in t.state() {
        if !matches!(k, StateKey::Balance(_) | StateKey::Nonce(_)) {
            state.insert(k.clone(), v.clone());
        }
    }
    state.insert(StateKey::Nonce(token_owner), Val::Num(1));
    Setup { state, keys, kv, token, caller }
}

/// A random block of `n` transactions.
fn block(s: &Setup, seed: u64, n: usize) -> Vec<SignedTransaction> {
    let mut x = seed | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m.max(1)
    };
    let mut nonces: Vec<u64> = (0..s.keys.len()).map(|i| u64::from(i == 0)).collect();
    let addrs: Vec<Address> = s.keys.iter().map(|k| Address::from_public_key(&k.public_key())).collect();
    let mut deployed: Vec<Address> = Vec::new();
    let mut txs = Vec::with_capacity(n);
    for _ in 0..n {
        let who = next(s.keys.len() as u64) as usize;
        let key = format!("x{}", next(6));
        let kv = s.kv[next(2) as usize];
        let call = |contract, method: &str, args: Vec<u8>, value| {
            TestChain::call_kind(contract, method, &args, value).unwrap()
        };
        let kind = match next(11) {
            0 => TxKind::Transfer { to: addrs[next(8) as usize], amount: u128::from(next(1000)) },
            1 => call(kv, "set", [bytes(key.as_bytes()), bytes(&next(1000).to_le_bytes())].concat(), 0),
            2 => call(kv, "remove", bytes(key.as_bytes()), 0),
            3 | 4 => call(kv, "add", [bytes(key.as_bytes()), next(50).to_le_bytes().to_vec()].concat(), 0),
            5 | 6 => call(
                kv,
                "fold",
                [
                    bytes(key.as_bytes()),
                    next(9).to_le_bytes().to_vec(),
                    bytes(b"x"),
                    (1 + next(4) as u32).to_le_bytes().to_vec(),
                ]
                .concat(),
                0,
            ),
            7 => {
                let mut a = addrs[next(8) as usize].0.to_vec();
                a.extend(u128::from(next(3000)).to_le_bytes());
                call(s.token, "transfer", a, 0)
            }
            8 => {
                deployed.push(contract_address(&addrs[who], nonces[who]));
                TestChain::deploy_kind(cinder_contracts::COUNTER, &next(10).to_le_bytes(), u128::from(next(5)), None)
                    .unwrap()
            }
            9 => match deployed.get(next(deployed.len() as u64 + 1) as usize) {
                Some(c) => {
                    let mut args = c.0.to_vec();
                    args.extend(next(4).to_le_bytes());
                    call(s.caller, "bump", args, 0)
                }
                None => call(Address(Hash::of(b"nothing here").0), "get", vec![], 0),
            },
            _ => call(kv, "set", [bytes(b"y"), bytes(&[0u8; 300])].concat(), u128::from(next(3))),
        };
        let tx = Transaction {
            chain_id: 1,
            sender: s.keys[who].public_key(),
            nonce: nonces[who],
            gas_limit: 3_000_000,
            gas_price: 1 + next(3),
            kind,
        };
        nonces[who] += 1;
        txs.push(tx.sign(&s.keys[who]));
    }
    txs
}

fn run(
    s: &Setup,
    txs: &[SignedTransaction],
    strategy: Strategy,
) -> exec::BlockOutput<StateKey, Val, cinder_vm::Outcome> {
    let vm = cinder_vm::Vm::shared().unwrap();
    let runner = Runner::new(vm, BlockEnv { height: 5, time_ms: 1_000_000, coinbase: Address([0xcb; 32]) });
    let senders: Vec<Address> = txs.iter().map(|t| t.tx.sender_address()).collect();
    let tasks: Vec<TxTask<'_>> = txs.iter().zip(&senders).map(|(t, a)| TxTask::new(t, *a, &runner)).collect();
    let out = exec::execute(&tasks, &s.state, strategy, Mode::Build, u64::MAX).unwrap();
    assert_eq!(runner.internal_error(), None);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn contract_blocks_execute_the_same_on_any_number_of_threads(seed in any::<u64>(), n in 20usize..160) {
        let s = setup();
        let txs = block(&s, seed, n);
        let seq = run(&s, &txs, Strategy::Sequential);
        for threads in [1, 2, 4] {
            let par = run(&s, &txs, Strategy::Parallel { threads });
            prop_assert_eq!(&par.per_tx, &seq.per_tx, "{} threads: per-transaction outputs", threads);
            prop_assert_eq!(&par.writes, &seq.writes, "{} threads: final writes", threads);
            prop_assert_eq!(par.gas_used, seq.gas_used);
        }
        let receipts: Vec<_> = seq.included.iter().map(|&i| cinder_vm::receipt(txs[i].id(), &seq.per_tx[i])).collect();
        prop_assert!(receipts.iter().any(|r| r.status.is_success()));
    }
}

#[test]
fn contention_on_contract_storage_reexecutes_and_still_agrees() {
    let s = setup();
    let mut re = 0;
    for seed in 1..=4u64 {
        let txs = block(&s, seed * 7919, 200);
        let seq = run(&s, &txs, Strategy::Sequential);
        let par = run(&s, &txs, Strategy::Parallel { threads: 4 });
        assert_eq!(par.per_tx, seq.per_tx);
        assert_eq!(par.writes, seq.writes);
        re += par.stats.reexecutions + par.stats.suspensions;
    }
    assert!(re > 0, "six keys, two contracts: some transaction must have waited or run again");
}
