//! Bad input from contracts and deployers: each ends the transaction with
//! its own receipt status, the sender pays for the gas used, nothing else
//! of the transaction is kept, and the chain goes on.

use cinder_primitives::ReceiptStatus;
use cinder_vm::harness::DEFAULT_GAS;

use crate::{chain, deploy, status, wat};

/// A module exporting `run` with `body`, importing `imports`.
fn module(imports: &str, body: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module {imports}
             (memory (export "memory") 1)
             (func (export "run") {body}))"#
    ))
}

#[test]
fn an_infinite_loop_runs_out_of_gas_and_the_chain_goes_on() {
    let (mut c, a) = chain();
    let code = module("", "(loop $l (br $l))");
    let x = deploy(&mut c, a, &code, &[]);
    let before = c.balance(&a);
    let r = c.execute(a, cinder_vm::harness::TestChain::call_kind(x, "run", &[], 0).unwrap(), 2_000_000).unwrap();
    assert_eq!(r.status, ReceiptStatus::OutOfGas);
    assert_eq!(r.gas_used, 2_000_000, "all of the limit");
    assert_eq!(c.balance(&a), before - 2_000_000, "the fee paid (price 1)");
    // The next transaction of the same sender runs normally.
    let counter = deploy(&mut c, a, cinder_contracts::COUNTER, &0u64.to_le_bytes());
    let r = c.call(a, counter, "increment", &5u64.to_le_bytes(), 0).unwrap();
    assert_eq!(r.output, 5u64.to_le_bytes());
}

#[test]
fn memory_stops_growing_at_the_limit_and_growth_costs_gas() {
    let (mut c, a) = chain();
    let imports = r#"(import "cinder_v1" "return_data" (func $ret (param i32 i32)))"#;
    // Grows by 300 pages (refused: -1), then by 255 (to the 256-page
    // limit), then 1 more (refused), and returns the three results.
    let body = r#"
        (i32.store (i32.const 0) (memory.grow (i32.const 300)))
        (i32.store (i32.const 4) (memory.grow (i32.const 255)))
        (i32.store (i32.const 8) (memory.grow (i32.const 1)))
        (call $ret (i32.const 0) (i32.const 12))"#;
    let x = deploy(&mut c, a, &module(imports, body), &[]);
    let r = c.call(a, x, "run", &[], 0).unwrap();
    assert_eq!(status(&r), "success");
    let words: Vec<i32> = r.output.chunks(4).map(|w| i32::from_le_bytes(w.try_into().unwrap())).collect();
    assert_eq!(words, vec![-1, 1, -1]);
    assert!(r.gas_used > 21_000 + 255 * 255, "growth is paid: {}", r.gas_used);
    // Growing forever: refused each time, until the gas runs out.
    let x = deploy(&mut c, a, &module("", "(loop $l (drop (memory.grow (i32.const 1))) (br $l))"), &[]);
    assert_eq!(c.call(a, x, "run", &[], 0).unwrap().status, ReceiptStatus::OutOfGas);
}

#[test]
fn deep_recursion_traps_with_a_stack_overflow() {
    let (mut c, a) = chain();
    let code = wat(r#"(module (memory (export "memory") 1)
        (func $f (param i64) (result i64) (call $f (i64.add (local.get 0) (i64.const 1))))
        (func (export "run") (drop (call $f (i64.const 0)))))"#);
    let x = deploy(&mut c, a, &code, &[]);
    let r = c.call(a, x, "run", &[], 0).unwrap();
    assert_eq!(status(&r), "trapped: stack overflow");
    assert!(r.gas_used < DEFAULT_GAS, "the trap ends it before the gas does");
    // Deterministic: the same call uses the same gas again.
    let again = c.call(a, x, "run", &[], 0).unwrap();
    assert_eq!(again.gas_used, r.gas_used);
}

#[test]
fn code_outside_the_abi_or_the_rules_is_refused_at_deploy() {
    let (mut c, a) = chain();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not wasm at all".to_vec(), "not a valid WebAssembly module"),
        (vec![0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff], "not a valid WebAssembly module"),
        (module(r#"(import "env" "foo" (func))"#, ""), "imports env.foo"),
        (module(r#"(import "cinder_v1" "launch_missiles" (func))"#, ""), "imports cinder_v1.launch_missiles"),
        (
            module(r#"(import "cinder_v1" "caller" (func (param i64)))"#, ""),
            "imports cinder_v1.caller with the wrong signature",
        ),
        (wat(r#"(module (func (export "run")))"#), "exactly one memory"),
        (wat(r#"(module (memory 1) (func (export "run")))"#), "exactly one memory"),
        (wat(r#"(module (memory (export "memory") 300))"#), "at most 256 pages"),
        (wat(r#"(module (memory (export "memory") 1) (table 5000 funcref))"#), "at most one table"),
        (wat(r#"(module (memory (export "memory") 1) (func (export "init") (param i32)))"#), "export `init` must be"),
        (wat(r#"(module (import "env" "m" (memory 1)) (export "memory" (memory 0)))"#), "imports env.m"),
    ];
    for (code, want) in cases {
        let before = c.balance(&a);
        let r = c.deploy(a, &code, &[]).unwrap();
        let s = status(&r);
        assert!(s.starts_with("failed: code refused") && s.contains(want), "{want}: got {s}");
        assert_eq!(c.balance(&a), before - u128::from(r.gas_used), "the fee is paid, nothing else");
        assert!(r.created.is_none());
    }
}

#[test]
fn floats_are_allowed_and_nans_are_canonical() {
    let (mut c, a) = chain();
    // 0/0 as f32 and f64, and a NaN with payload bits through an add:
    // canonical NaNs on every node (cranelift NaN canonicalisation).
    let imports = r#"(import "cinder_v1" "return_data" (func $ret (param i32 i32)))"#;
    let body = r#"
        (f32.store (i32.const 0) (f32.div (f32.const 0) (f32.const 0)))
        (f64.store (i32.const 4) (f64.div (f64.const 0) (f64.const 0)))
        (f64.store (i32.const 12) (f64.add (f64.reinterpret_i64 (i64.const 0x7ff4000000000001)) (f64.const 1)))
        (call $ret (i32.const 0) (i32.const 20))"#;
    let x = deploy(&mut c, a, &module(imports, body), &[]);
    let r = c.call(a, x, "run", &[], 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(u32::from_le_bytes(r.output[0..4].try_into().unwrap()), 0x7fc0_0000);
    assert_eq!(u64::from_le_bytes(r.output[4..12].try_into().unwrap()), 0x7ff8_0000_0000_0000);
    assert_eq!(u64::from_le_bytes(r.output[12..20].try_into().unwrap()), 0x7ff8_0000_0000_0000);
}

/// Every host function that takes a pointer, called with one past the end
/// of memory: each traps its call with a reason naming it.
#[test]
fn out_of_bounds_pointers_trap_every_host_function() {
    let far = "(i32.const 65530)";
    let calls: Vec<(&str, &str, String)> = vec![
        ("input_read", "(param i32)", "(call $f (i32.const -1))".to_string()),
        ("result_read", "(param i32)", "(call $f (i32.const -1))".to_string()),
        ("return_data", "(param i32 i32)", format!("(call $f {far} (i32.const 100))")),
        ("revert", "(param i32 i32)", format!("(call $f {far} (i32.const 100))")),
        ("storage_read", "(param i32 i32) (result i32)", format!("(drop (call $f {far} (i32.const 100)))")),
        (
            "storage_write",
            "(param i32 i32 i32 i32)",
            format!("(call $f (i32.const 0) (i32.const 4) {far} (i32.const 100))"),
        ),
        ("storage_remove", "(param i32 i32)", format!("(call $f {far} (i32.const 100))")),
        (
            "storage_scan",
            "(param i32 i32 i32 i32 i32) (result i32)",
            format!("(drop (call $f {far} (i32.const 100) (i32.const 0) (i32.const 1) (i32.const 5)))"),
        ),
        ("caller", "(param i32)", format!("(call $f {far})")),
        ("origin", "(param i32)", format!("(call $f {far})")),
        ("self_address", "(param i32)", format!("(call $f {far})")),
        ("value", "(param i32)", format!("(call $f {far})")),
        ("balance", "(param i32 i32)", format!("(call $f {far} (i32.const 0))")),
        ("transfer", "(param i32 i32) (result i32)", format!("(drop (call $f {far} (i32.const 0)))")),
        ("emit", "(param i32 i32 i32 i32)", format!("(call $f {far} (i32.const 2) (i32.const 0) (i32.const 0))")),
        (
            "call",
            "(param i32 i32 i32 i32 i32 i32 i64) (result i32)",
            format!(
                "(drop (call $f {far} (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0)))"
            ),
        ),
        ("blake3", "(param i32 i32 i32)", format!("(call $f (i32.const 0) (i32.const 4) {far})")),
        ("sha256", "(param i32 i32 i32)", format!("(call $f {far} (i32.const 100) (i32.const 0))")),
        (
            "ed25519_verify",
            "(param i32 i32 i32 i32) (result i32)",
            format!("(drop (call $f {far} (i32.const 0) (i32.const 0) (i32.const 0)))"),
        ),
    ];
    let (mut c, a) = chain();
    for (name, sig, body) in calls {
        let code = module(&format!(r#"(import "cinder_v1" "{name}" (func $f {sig}))"#), &body);
        let x = deploy(&mut c, a, &code, &[]);
        let r = c.call(a, x, "run", &[], 0).unwrap();
        let s = status(&r);
        assert!(s.starts_with("trapped: ") && s.contains("outside the memory"), "{name}: {s}");
        assert!(c.storage_entries(&x).is_empty(), "{name}: nothing kept");
    }
    // A negative length is refused too.
    let code = module(
        r#"(import "cinder_v1" "storage_remove" (func $f (param i32 i32)))"#,
        "(call $f (i32.const 0) (i32.const -5))",
    );
    let x = deploy(&mut c, a, &code, &[]);
    assert_eq!(status(&c.call(a, x, "run", &[], 0).unwrap()), "trapped: negative length for storage key");
}

#[test]
fn storage_and_event_limits_trap() {
    let (mut c, a) = chain();
    let write = r#"(import "cinder_v1" "storage_write" (func $w (param i32 i32 i32 i32)))"#;
    let emit = r#"(import "cinder_v1" "emit" (func $e (param i32 i32 i32 i32)))"#;
    let cases = [
        (
            write,
            "(call $w (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 20000))",
            "trapped: a storage value of 20000 bytes, at most 16384",
        ),
        (
            write,
            "(call $w (i32.const 0) (i32.const 129) (i32.const 0) (i32.const 1))",
            "trapped: a storage key of 129 bytes, at most 128",
        ),
        (
            emit,
            "(call $e (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 2000))",
            "trapped: an event with 2000 bytes of data, at most 1024",
        ),
        (
            emit,
            "(call $e (i32.const 0) (i32.const 5) (i32.const 0) (i32.const 1))",
            "trapped: an event with 5 topics, at most 4",
        ),
        (
            emit,
            "(loop $l (call $e (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 8)) (br $l))",
            "trapped: more than 64 events in one transaction",
        ),
    ];
    for (imports, body, want) in cases {
        let code = module(&wat_imports(imports), body);
        let x = deploy(&mut c, a, &code, &[]);
        let r = c.call(a, x, "run", &[], 0).unwrap();
        assert_eq!(status(&r), want);
        assert!(r.events.is_empty() && c.storage_entries(&x).is_empty());
    }
    // Within the limits the same writes and events are kept.
    let code = module(
        &format!("{write} {emit}"),
        "(call $w (i32.const 0) (i32.const 128) (i32.const 0) (i32.const 16384)) (call $e (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 1024))",
    );
    let x = deploy(&mut c, a, &code, &[]);
    let r = c.call(a, x, "run", &[], 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(r.events.len(), 1);
    assert_eq!(c.storage_entries(&x)[0].1.len(), 16384);
}

fn wat_imports(s: &str) -> String {
    s.to_string()
}

#[test]
fn calls_to_what_is_not_a_contract_or_not_a_method_fail() {
    let (mut c, a) = chain();
    let nobody = c.account(5);
    let r = c.call(a, nobody, "run", &[], 0).unwrap();
    assert_eq!(status(&r), format!("failed: no contract at {nobody}"));
    let counter = deploy(&mut c, a, cinder_contracts::COUNTER, &0u64.to_le_bytes());
    let r = c.call(a, counter, "no_such_method", &[], 0).unwrap();
    assert_eq!(status(&r), "failed: the contract has no method `no_such_method`");
    for entry in ["init", "migrate", "memory", "__heap_base"] {
        let r = c.call(a, counter, entry, &[], 0).unwrap();
        assert!(status(&r).starts_with("failed: "), "{entry}: {}", status(&r));
    }
    // Bad arguments revert (the SDK's decoding).
    let r = c.call(a, counter, "increment", &[1, 2, 3], 0).unwrap();
    assert_eq!(status(&r), "reverted: bad arguments to increment");
    // A nested call to a non-contract reports "not callable" to its caller.
    let caller = deploy(&mut c, a, cinder_contracts::CALLER, &[]);
    let args = cinder_vm_test_args::try_call(nobody, "run", &[], 0);
    let r = c.call(a, caller, "try_call", &args, 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(r.output[0], 4, "status 4: not callable");
}

/// Encoders for the example contracts' arguments (borsh rules).
pub(crate) mod cinder_vm_test_args {
    use cinder_primitives::Address;

    /// `try_call(target, method, args, gas)`.
    pub(crate) fn try_call(target: Address, method: &str, args: &[u8], gas: u64) -> Vec<u8> {
        let mut v = target.0.to_vec();
        v.extend((method.len() as u32).to_le_bytes());
        v.extend(method.as_bytes());
        v.extend((args.len() as u32).to_le_bytes());
        v.extend(args);
        v.extend(gas.to_le_bytes());
        v
    }
}

#[test]
fn a_reentrant_chain_past_the_depth_limit_fails_and_undoes_everything() {
    let (mut c, a) = chain();
    let x = deploy(&mut c, a, cinder_contracts::CALLER, &[]);
    // Depth 8 in all: recurse(7) is 8 nested frames.
    let r = c.call(a, x, "recurse", &7u32.to_le_bytes(), 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(r.output, 7u32.to_le_bytes());
    let notes = c.storage(&x, b"notes").unwrap();
    assert_eq!(notes, 0u32.to_le_bytes(), "the innermost call wrote last");
    let r = c.call(a, x, "recurse", &8u32.to_le_bytes(), 0).unwrap();
    // Each level reverts with its callee's message inside (cut at 256 bytes).
    let s = status(&r);
    assert!(s.starts_with("reverted: the called contract reverted: "), "{s}");
    assert!(s.contains("the called contract trapped: the call depth"), "{s}");
    assert_eq!(c.storage(&x, b"notes").unwrap(), notes, "the failed chain changed nothing");
}

#[test]
fn a_callee_failure_rolls_back_only_the_callee() {
    let (mut c, a) = chain();
    let caller = deploy(&mut c, a, cinder_contracts::CALLER, &[]);
    let token = deploy(&mut c, a, cinder_contracts::TOKEN, &token_init("T", 1000));
    // The caller holds no tokens: the token's transfer reverts; the
    // caller's note stays, the token is untouched.
    let mut args = a.0.to_vec();
    args.extend(5u128.to_le_bytes());
    let r = c.call(a, caller, "try_call", &cinder_vm_test_args::try_call(token, "transfer", &args, 0), 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(r.output[0], 1, "the callee reverted");
    assert!(String::from_utf8_lossy(&r.output).contains("insufficient balance"));
    assert_eq!(c.storage(&caller, b"notes").unwrap(), 1u32.to_le_bytes());
    assert!(r.events.is_empty(), "the callee's events went with it");
    // Out of gas in the callee (a loop with 100k gas) does not end the caller.
    let spin = deploy(
        &mut c,
        a,
        &crate::wat(r#"(module (memory (export "memory") 1) (func (export "run") (loop $l (br $l))))"#),
        &[],
    );
    let r = c.call(a, caller, "try_call", &cinder_vm_test_args::try_call(spin, "run", &[], 100_000), 0).unwrap();
    assert_eq!(status(&r), "success");
    assert_eq!(r.output[0], 2, "out of gas");
    assert!(r.gas_used < 1_000_000, "only the gas given was burned: {}", r.gas_used);
}

/// `init(name, symbol, decimals, supply)` of the token.
pub(crate) fn token_init(symbol: &str, supply: u128) -> Vec<u8> {
    let mut v = Vec::new();
    for s in ["Test token", symbol] {
        v.extend((s.len() as u32).to_le_bytes());
        v.extend(s.as_bytes());
    }
    v.push(6);
    v.extend(supply.to_le_bytes());
    v.push(0); // no cap: minted up to u128::MAX
    v
}

#[test]
fn the_intrinsic_gas_and_the_value_must_be_payable() {
    let (mut c, a) = chain();
    let counter = deploy(&mut c, a, cinder_contracts::COUNTER, &0u64.to_le_bytes());
    let kind = cinder_vm::harness::TestChain::call_kind(counter, "get", &[], 0).unwrap();
    let r = c.execute(a, kind, 20_000).unwrap();
    assert_eq!(r.status, ReceiptStatus::OutOfGas);
    assert_eq!(r.gas_used, 20_000);
    let poor = c.account(100_000_000);
    let kind = cinder_vm::harness::TestChain::call_kind(counter, "get", &[], 99_000_001).unwrap();
    let r = c.execute(poor, kind, 1_000_000).unwrap();
    assert!(status(&r).starts_with("failed: insufficient balance"), "{}", status(&r));
    assert_eq!(c.balance(&counter), 0, "no value moved");
    // A gas limit the balance cannot pay is invalid: not in any block.
    assert!(
        c.execute(poor, cinder_vm::harness::TestChain::call_kind(counter, "get", &[], 0).unwrap(), 200_000_000)
            .is_err()
    );
}
