//! The example contracts on the host harness: what their READMEs promise.

use cinder_primitives::{Address, Hash, ReceiptStatus};

use crate::abuse::{cinder_vm_test_args, token_init};
use crate::{chain, deploy, status};

fn addr_amount(a: Address, amount: u128) -> Vec<u8> {
    let mut v = a.0.to_vec();
    v.extend(amount.to_le_bytes());
    v
}

fn u128_of(b: &[u8]) -> u128 {
    u128::from_le_bytes(b.try_into().expect("16 bytes"))
}

#[test]
fn the_token_moves_balances_with_allowances_and_events() {
    let (mut c, alice) = chain();
    let bob = c.account(1_000_000_000_000);
    let carol = c.account(1_000_000_000_000);
    let token = deploy(&mut c, alice, cinder_contracts::TOKEN, &token_init("TKN", 1_000_000));
    let balance =
        |c: &cinder_vm::harness::TestChain, who: Address| u128_of(&c.query(token, "balance_of", &who.0).unwrap());
    assert_eq!(balance(&c, alice), 1_000_000);
    assert_eq!(u128_of(&c.query(token, "total_supply", &[]).unwrap()), 1_000_000);

    let r = c.call(alice, token, "transfer", &addr_amount(bob, 250), 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!((balance(&c, alice), balance(&c, bob)), (999_750, 250));
    // The Transfer event: topics [BLAKE3("Transfer"), from, to], data amount.
    assert_eq!(r.events.len(), 1);
    let e = &r.events[0];
    assert_eq!(e.contract, token);
    assert_eq!(e.topics.as_slice(), &[Hash::of(b"Transfer"), Hash(alice.0), Hash(bob.0)]);
    assert_eq!(u128_of(e.data.as_slice()), 250);

    // Too much: reverted, nothing moved, the fee paid.
    let before = c.balance(&bob);
    let r = c.call(bob, token, "transfer", &addr_amount(carol, 251), 0).unwrap();
    assert_eq!(status(&r), "reverted: insufficient balance");
    assert_eq!(c.balance(&bob), before - u128::from(r.gas_used));
    assert_eq!(balance(&c, bob), 250);

    // Allowances: bob may move 100 of alice's.
    let r = c.call(alice, token, "approve", &addr_amount(bob, 100), 0).unwrap();
    assert_eq!(r.events[0].topics[0], Hash::of(b"Approval"));
    let mut args = alice.0.to_vec();
    args.extend(addr_amount(carol, 60));
    assert_eq!(status(&c.call(bob, token, "transfer_from", &args, 0).unwrap()), "success");
    let mut q = alice.0.to_vec();
    q.extend(bob.0);
    assert_eq!(u128_of(&c.query(token, "allowance", &q).unwrap()), 40);
    let mut args = alice.0.to_vec();
    args.extend(addr_amount(carol, 41));
    assert_eq!(status(&c.call(bob, token, "transfer_from", &args, 0).unwrap()), "reverted: the allowance is too small");
    assert_eq!(balance(&c, carol), 60);

    // Holders, a page at a time, in address order.
    let mut holders = Vec::new();
    let mut after: Option<Address> = None;
    loop {
        let mut args = match after {
            None => vec![0],
            Some(a) => [vec![1], a.0.to_vec()].concat(),
        };
        args.extend(2u32.to_le_bytes());
        let out = c.query(token, "holders", &args).unwrap();
        let n = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
        if n == 0 {
            break;
        }
        for i in 0..n {
            let at = 4 + i * 48;
            let who = Address(out[at..at + 32].try_into().unwrap());
            holders.push((who, u128_of(&out[at + 32..at + 48])));
            after = Some(who);
        }
    }
    let mut want = vec![(alice, 999_690), (bob, 250), (carol, 60)];
    want.sort();
    assert_eq!(holders, want);
    assert_eq!(holders.iter().map(|h| h.1).sum::<u128>(), 1_000_000, "supply conserved");
}

#[test]
fn the_counter_counts_and_only_its_owner_resets_it() {
    let (mut c, a) = chain();
    let other = c.account(1_000_000_000);
    let x = deploy(&mut c, a, cinder_contracts::COUNTER, &10u64.to_le_bytes());
    assert_eq!(c.call(other, x, "increment", &5u64.to_le_bytes(), 0).unwrap().output, 15u64.to_le_bytes());
    assert_eq!(status(&c.call(other, x, "reset", &[], 0).unwrap()), "reverted: only the owner resets the counter");
    assert_eq!(status(&c.call(a, x, "reset", &[], 0).unwrap()), "success");
    assert_eq!(c.query(x, "get", &[]).unwrap(), 0u64.to_le_bytes());
    assert_eq!(status(&c.call(a, x, "increment", &u64::MAX.to_le_bytes(), 0).unwrap()), "success");
    assert_eq!(status(&c.call(a, x, "increment", &1u64.to_le_bytes(), 0).unwrap()), "reverted: the counter overflows");
}

#[test]
fn a_contract_calls_another() {
    let (mut c, a) = chain();
    let counter = deploy(&mut c, a, cinder_contracts::COUNTER, &0u64.to_le_bytes());
    let caller = deploy(&mut c, a, cinder_contracts::CALLER, &[]);
    let mut args = counter.0.to_vec();
    args.extend(7u64.to_le_bytes());
    let r = c.call(a, caller, "bump", &args, 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(r.output, 7u64.to_le_bytes());
    assert_eq!(c.query(counter, "get", &[]).unwrap(), 7u64.to_le_bytes());
    // The counter saw the caller contract as its caller: resetting through
    // try_call is refused (not the owner), and reported, not fatal.
    let r = c.call(a, caller, "try_call", &cinder_vm_test_args::try_call(counter, "reset", &[], 0), 0).unwrap();
    assert_eq!(r.output[0], 1);
    assert_eq!(c.query(counter, "get", &[]).unwrap(), 7u64.to_le_bytes());
}

#[test]
fn the_registry_lists_by_prefix_in_key_order() {
    let (mut c, a) = chain();
    let kv = deploy(&mut c, a, cinder_contracts::KV, &[]);
    let bytes = |b: &[u8]| [(b.len() as u32).to_le_bytes().to_vec(), b.to_vec()].concat();
    for k in ["b/2", "a/1", "b/1", "b/10", "c"] {
        let args = [bytes(k.as_bytes()), bytes(k.to_uppercase().as_bytes())].concat();
        assert_eq!(status(&c.call(a, kv, "set", &args, 0).unwrap()), "success");
    }
    assert_eq!(status(&c.call(a, kv, "remove", &bytes(b"b/2"), 0).unwrap()), "success");
    let list = |c: &cinder_vm::harness::TestChain, prefix: &[u8], limit: u32| {
        let args = [bytes(prefix), vec![0], limit.to_le_bytes().to_vec()].concat();
        let out = c.query(kv, "list", &args).unwrap();
        let n = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
        let mut at = 4;
        let mut keys = Vec::new();
        for _ in 0..n {
            let kl = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
            keys.push(String::from_utf8(out[at + 4..at + 4 + kl].to_vec()).unwrap());
            at += 4 + kl;
            let vl = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + vl;
        }
        keys
    };
    assert_eq!(list(&c, b"b/", 10), vec!["b/1", "b/10"]);
    assert_eq!(list(&c, b"", 10), vec!["a/1", "b/1", "b/10", "c"]);
    assert_eq!(list(&c, b"", 2), vec!["a/1", "b/1"]);
    // fold: add to counters and sum the ones under a prefix, in one call.
    let fold = |c: &mut cinder_vm::harness::TestChain, key: &str, by: u64| {
        let args =
            [bytes(key.as_bytes()), by.to_le_bytes().to_vec(), bytes(b"x"), 100u32.to_le_bytes().to_vec()].concat();
        let r = c.call(a, kv, "fold", &args, 0).unwrap();
        assert_eq!(r.status, ReceiptStatus::Success);
        u64::from_le_bytes(r.output.try_into().unwrap())
    };
    assert_eq!(fold(&mut c, "x1", 5), 5);
    assert_eq!(fold(&mut c, "x2", 7), 12);
    assert_eq!(fold(&mut c, "y", 100), 12, "y is not under x");
}

#[test]
fn an_admin_migrates_and_without_one_code_is_immutable() {
    let (mut c, a) = chain();
    let mallory = c.account(1_000_000_000_000);
    // A contract with a `migrate` that records it ran.
    let v2 = crate::wat(
        r#"(module
            (import "cinder_v1" "storage_write" (func $w (param i32 i32 i32 i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "migrated")
            (func (export "migrate") (call $w (i32.const 0) (i32.const 8) (i32.const 0) (i32.const 8))))"#,
    );
    let kind =
        cinder_vm::harness::TestChain::deploy_kind(cinder_contracts::COUNTER, &3u64.to_le_bytes(), 0, Some(a)).unwrap();
    let x = c.execute(a, kind, cinder_vm::harness::DEFAULT_GAS).unwrap().created.unwrap();
    let (old_hash, admin) = c.contract(&x).unwrap();
    assert_eq!(admin, Some(a));
    assert!(status(&c.migrate(mallory, x, &v2, &[]).unwrap()).contains("only the admin"));
    // New code without `migrate` is refused, the old code stays.
    let r = c.migrate(a, x, cinder_contracts::TOKEN, &[]).unwrap();
    assert_eq!(status(&r), "failed: the new code has no method `migrate`");
    assert_eq!(c.contract(&x).unwrap().0, old_hash);
    let r = c.migrate(a, x, &v2, &[]).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(c.contract(&x).unwrap().0, Hash::of(&v2));
    assert_eq!(c.storage(&x, b"migrated").unwrap(), b"migrated", "migrate ran on the old storage");
    assert_eq!(c.storage(&x, b"count").unwrap(), 3u64.to_le_bytes(), "the old storage is kept");
    // Clear the admin: immutable from then on.
    let op = cinder_primitives::AdminOp::SetAdmin { contract: x, admin: None };
    assert_eq!(status(&c.execute(a, cinder_primitives::TxKind::Admin(op), 1_000_000).unwrap()), "success");
    assert!(status(&c.migrate(a, x, &v2, &[]).unwrap()).contains("has no admin"));
    // A contract deployed without an admin can never change.
    let y = deploy(&mut c, a, cinder_contracts::COUNTER, &0u64.to_le_bytes());
    assert!(status(&c.migrate(a, y, &v2, &[]).unwrap()).contains("has no admin"));
}

#[test]
fn value_moves_with_calls_and_contracts_pay_out() {
    let (mut c, a) = chain();
    let bob = c.account(0);
    // A contract that sends what it holds to the address in its input.
    let code = crate::wat(
        r#"(module
            (import "cinder_v1" "input_read" (func $in (param i32)))
            (import "cinder_v1" "self_address" (func $me (param i32)))
            (import "cinder_v1" "balance" (func $bal (param i32 i32)))
            (import "cinder_v1" "transfer" (func $tr (param i32 i32) (result i32)))
            (import "cinder_v1" "return_data" (func $ret (param i32 i32)))
            (memory (export "memory") 1)
            (func (export "pay")
                (call $in (i32.const 0))
                (call $me (i32.const 32))
                (call $bal (i32.const 32) (i32.const 64))
                (i32.store (i32.const 80) (call $tr (i32.const 0) (i32.const 64)))
                (call $ret (i32.const 64) (i32.const 20))))"#,
    );
    let kind = cinder_vm::harness::TestChain::deploy_kind(&code, &[], 500, None).unwrap();
    let x = c.execute(a, kind, 10_000_000).unwrap().created.unwrap();
    assert_eq!(c.balance(&x), 500, "the deploy's value");
    let r = c.call(a, x, "pay", &bob.0, 250).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(u128_of(&r.output[..16]), 750, "the contract saw the call's value in its balance");
    assert_eq!(&r.output[16..20], &0i32.to_le_bytes(), "the transfer succeeded");
    assert_eq!((c.balance(&x), c.balance(&bob)), (0, 750));
}
