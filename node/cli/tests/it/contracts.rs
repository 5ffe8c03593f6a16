//! Contracts on a devnet, as a user drives them: the example contracts the
//! devnet writes out, deployed with `cinder wallet deploy`, called with
//! `cinder wallet call`, read with `cinder contract query|logs|code|
//! storage`, and every bad input refused with one line and exit 2.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cinder_primitives::Address;

const BIN: &str = env!("CARGO_BIN_EXE_cinder");

/// A devnet process; stopped (SIGTERM) on drop.
pub(crate) struct Devnet {
    pub(crate) child: std::process::Child,
    pub(crate) url: String,
    pub(crate) lines: Vec<String>,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn start(datadir: &Path) -> Devnet {
    start_with(datadir, &[])
}

/// A devnet with extra arguments (`--consensus pos`: a block a second, no
/// mining on the test machine's cores).
pub(crate) fn start_with(datadir: &Path, extra: &[&str]) -> Devnet {
    let mut child = Command::new(BIN)
        .args(["devnet", "--rpc-port", "0", "--metrics-addr", "off", "--datadir"])
        .arg(datadir)
        .args(extra)
        .env("CINDER_HIDE_GPU", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = crate::stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            panic!("no RPC: line within 60 s: {lines:?}");
        };
        if let Some(url) = l.strip_prefix("RPC: ") {
            return Devnet { url: url.to_string(), child, lines };
        }
        lines.push(l);
    }
}

/// Runs `cinder <args>`: (exit code, stdout, stderr).
fn cinder(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// `cinder wallet <args>` with the test's keystore and node; must succeed.
fn wallet(ctx: &Ctx, args: &[&str]) -> String {
    let (code, out, err) = cinder(&ctx.wallet_args(args));
    assert_eq!(code, 0, "wallet {args:?}: {err}");
    out
}

/// `cinder contract <args> --rpc URL`.
fn contract(ctx: &Ctx, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["contract"];
    a.extend(args);
    a.extend(["--rpc", &ctx.url]);
    cinder(&a)
}

struct Ctx {
    url: String,
    keystore: String,
    pw: String,
}

impl Ctx {
    fn wallet_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["wallet"];
        a.extend(args);
        a.extend(["--keystore", &self.keystore, "--password-file", &self.pw, "--rpc", &self.url]);
        a
    }
}

/// Deploys `wasm` with typed `args`, waiting for it; the contract address.
fn deploy(ctx: &Ctx, from: &str, wasm: &Path, args: &[&str]) -> Address {
    let w = wasm.display().to_string();
    let mut a = vec!["deploy", "--from", from, "--wasm", &w, "--wait", "300"];
    for x in args {
        a.extend(["--arg", x]);
    }
    let out = wallet(ctx, &a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "deploy prints the hash and the contract: {out}");
    Address::from_hex(lines[1]).unwrap()
}

fn call(ctx: &Ctx, from: &str, at: &Address, method: &str, args: &[&str]) {
    let c = at.to_string();
    let mut a = vec!["call", "--from", from, "--contract", &c, "--method", method, "--wait", "300"];
    for x in args {
        a.extend(["--arg", x]);
    }
    wallet(ctx, &a);
}

fn query(ctx: &Ctx, at: &Address, method: &str, args: &[&str], returns: &str) -> serde_json::Value {
    let c = at.to_string();
    let mut a = vec!["query", "--contract", &c, "--method", method, "--returns", returns, "--json"];
    for x in args {
        a.extend(["--arg", x]);
    }
    let (code, out, err) = contract(ctx, &a);
    assert_eq!(code, 0, "query {method}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "success");
    v["decoded"].clone()
}

#[test]
fn the_example_contracts_deploy_and_run_on_a_devnet_and_bad_input_exits_2() {
    let _serial = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-contracts", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let d = start(&data);
    let pw = dir.join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let ctx =
        Ctx { url: d.url.clone(), keystore: dir.join("keystore").display().to_string(), pw: pw.display().to_string() };
    // The devnet wrote the examples and said where.
    let examples = data.join("contracts");
    for name in ["token", "counter", "caller", "kv"] {
        let path = examples.join(format!("{name}.wasm"));
        assert!(std::fs::read(&path).unwrap().starts_with(b"\0asm"), "{name}");
        assert!(d.lines.iter().any(|l| l.contains(&path.display().to_string())), "{name} not announced: {:?}", d.lines);
    }
    let dev0 = wallet(&ctx, &["import", "--devnet", "0", "--scrypt-log-n", "12"]);
    let dev1 = wallet(&ctx, &["import", "--devnet", "1", "--scrypt-log-n", "12"]);

    // The token: two commands from the README (import, deploy), then a transfer.
    let token = deploy(
        &ctx,
        &dev0,
        &examples.join("token.wasm"),
        &["string:Devnet token", "string:DEV", "u8:6", "u128:1000000", "none"],
    );
    let addr1 = format!("address:{dev1}");
    call(&ctx, &dev0, &token, "transfer", &[&addr1, "u128:250"]);
    assert_eq!(query(&ctx, &token, "balance_of", &[&addr1], "u128"), serde_json::json!(["250"]));
    assert_eq!(query(&ctx, &token, "info", &[], "string,string,u8"), serde_json::json!(["Devnet token", "DEV", 6]));
    let holders = query(&ctx, &token, "holders", &["none", "u32:10"], "vec<(address;u128)>");
    assert_eq!(holders[0].as_array().unwrap().len(), 2);
    let (code, out, err) = contract(
        &ctx,
        &["logs", "--contract", &token.to_string(), "--topic", "name:Transfer", "--from-block", "0", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let logs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(logs.as_array().unwrap().len(), 2, "the mint and the transfer: {logs}");
    let (code, out, _) = contract(&ctx, &["code", "--contract", &token.to_string()]);
    assert_eq!(code, 0);
    assert!(out.contains("admin none (immutable)"), "{out}");
    let mut key = b"bal/".to_vec();
    key.extend(Address::from_hex(&dev1).unwrap().0);
    let (code, out, _) = contract(&ctx, &["storage", "--contract", &token.to_string(), "--key", &hex::encode(&key)]);
    assert_eq!((code, out.as_str()), (0, format!("0x{}", hex::encode(250u128.to_le_bytes())).as_str()));

    // The counter, and the contract that calls it.
    let counter = deploy(&ctx, &dev1, &examples.join("counter.wasm"), &["u64:5"]);
    let caller = deploy(&ctx, &dev0, &examples.join("caller.wasm"), &[]);
    call(&ctx, &dev0, &counter, "increment", &["u64:3"]);
    call(&ctx, &dev0, &caller, "bump", &[&format!("address:{counter}"), "u64:2"]);
    assert_eq!(query(&ctx, &counter, "get", &[], "u64"), serde_json::json!([10]));
    // The registry lists by prefix.
    let kv = deploy(&ctx, &dev1, &examples.join("kv.wasm"), &[]);
    call(&ctx, &dev1, &kv, "set", &["bytes:0x612f31", "bytes:0x01"]);
    let list = query(&ctx, &kv, "list", &["bytes:0x612f", "none", "u32:10"], "vec<(bytes;bytes)>");
    assert_eq!(list, serde_json::json!([[["0x612f31", "0x01"]]]));

    // Bad input: one line on stderr, exit 2, nothing sent.
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm").unwrap();
    let missing = dir.join("missing.wasm").display().to_string();
    let g = garbage.display().to_string();
    let (t, c) = (token.to_string(), counter.to_string());
    let bad: Vec<Vec<&str>> = vec![
        ctx.wallet_args(&["deploy", "--from", &dev0, "--wasm", &missing]),
        ctx.wallet_args(&["deploy", "--from", &dev0, "--wasm", &g]),
        ctx.wallet_args(&["call", "--from", &dev0, "--contract", &t, "--method", "no_such_method"]),
        ctx.wallet_args(&["call", "--from", &dev0, "--contract", &t, "--method", "transfer", "--args", "zz"]),
        ctx.wallet_args(&["call", "--from", &dev0, "--contract", &t, "--method", "transfer", "--arg", "u999:1"]),
        ctx.wallet_args(&["call", "--from", &dev0, "--contract", "0x12", "--method", "transfer"]),
        ctx.wallet_args(&["call", "--from", &dev0, "--contract", &c, "--method", "reset"]),
        vec!["contract", "query", "--contract", &c, "--method", "nope", "--rpc", &ctx.url],
        vec!["contract", "query", "--contract", &c, "--method", "get", "--returns", "u128", "--rpc", &ctx.url],
        vec!["contract", "code", "--contract", &dev0, "--rpc", &ctx.url],
    ];
    for args in bad {
        let (code, out, err) = cinder(&args);
        assert_eq!(code, 2, "{args:?}: stdout {out}, stderr {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}

/// `cinder wallet call` with raw encoded arguments; (exit code, stderr).
fn try_call_raw(ctx: &Ctx, from: &str, at: &Address, method: &str, args: &[u8]) -> (i32, String) {
    let c = at.to_string();
    let h = hex::encode(args);
    let a = ["call", "--from", from, "--contract", &c, "--method", method, "--args", &h, "--wait", "300"];
    let (code, _, err) = cinder(&ctx.wallet_args(&a));
    (code, err)
}

fn query_raw(ctx: &Ctx, at: &Address, method: &str, args: &[u8], returns: &str) -> serde_json::Value {
    let c = at.to_string();
    let h = hex::encode(args);
    let a = ["query", "--contract", &c, "--method", method, "--args", &h, "--returns", returns, "--json"];
    let (code, out, err) = contract(ctx, &a);
    assert_eq!(code, 0, "query {method}: {err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["decoded"].clone()
}

fn enc<T: borsh::BorshSerialize>(v: &T) -> Vec<u8> {
    borsh::to_vec(v).unwrap()
}

/// The use-case contracts the devnet ships, driven as their users would:
/// every transaction through `cinder wallet`, every read through
/// `cinder contract query`, on a proof-of-stake devnet (a block a second).
#[test]
fn the_use_case_contracts_run_on_a_devnet_through_the_wallet() {
    let _serial = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-usecases", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let d = start_with(&data, &["--consensus", "pos"]);
    let pw = dir.join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let ctx =
        Ctx { url: d.url.clone(), keystore: dir.join("keystore").display().to_string(), pw: pw.display().to_string() };
    let ex = data.join("contracts");
    let dev0 = wallet(&ctx, &["import", "--devnet", "0", "--scrypt-log-n", "12"]);
    let dev1 = wallet(&ctx, &["import", "--devnet", "1", "--scrypt-log-n", "12"]);
    let (a0, a1) = (format!("address:{dev0}"), format!("address:{dev1}"));
    let addr1 = Address::from_hex(&dev1).unwrap();

    // Tokens with a cap; the minter mints.
    let cap = "some:u128:2000000000000";
    let ta =
        deploy(&ctx, &dev0, &ex.join("token.wasm"), &["string:Alpha", "string:ALP", "u8:6", "u128:1000000000000", cap]);
    let tb = deploy(
        &ctx,
        &dev0,
        &ex.join("token.wasm"),
        &["string:Beta", "string:BET", "u8:6", "u128:1000000000000", "none"],
    );
    call(&ctx, &dev0, &ta, "mint", &[&a1, "u128:1000"]);
    assert_eq!(query(&ctx, &ta, "total_supply", &[], "u128"), serde_json::json!(["1000000001000"]));

    // The DAO of ALP holders, which will own the pool's fee.
    let dao = deploy(
        &ctx,
        &dev0,
        &ex.join("dao.wasm"),
        &[&format!("address:{ta}"), "u32:4000", "u32:5000", "u64:3", "u64:1"],
    );
    // The AMM: liquidity, then a swap by dev1 with its slippage bound.
    let pool = deploy(
        &ctx,
        &dev0,
        &ex.join("swap.wasm"),
        &[&format!("address:{ta}"), &format!("address:{tb}"), "u32:30", &format!("some:address:{dao}")],
    );
    let p = format!("address:{pool}");
    call(&ctx, &dev0, &ta, "approve", &[&p, "u128:100000000000"]);
    call(&ctx, &dev0, &tb, "approve", &[&p, "u128:100000000000"]);
    call(&ctx, &dev0, &pool, "add_liquidity", &["u128:1000000", "u128:4000000", "u128:0"]);
    let expect: u128 = 1_000 * 9_970 * 4_000_000 / (1_000_000 * 10_000 + 1_000 * 9_970);
    call(&ctx, &dev1, &ta, "approve", &[&p, "u128:1000"]);
    let (code, err) = try_call_raw(&ctx, &dev1, &pool, "swap", &enc(&(ta.0, 1_000u128, expect + 1)));
    assert_eq!(code, 2, "a swap under its minimum is refused before it is sent");
    assert!(err.contains("slippage"), "{err}");
    call(&ctx, &dev1, &pool, "swap", &[&format!("address:{ta}"), "u128:1000", &format!("u128:{expect}")]);
    assert_eq!(query(&ctx, &tb, "balance_of", &[&a1], "u128"), serde_json::json!([expect.to_string()]));

    // dev0 deposits ALP in the DAO, proposes to lower the pool's fee,
    // votes; the proposal runs once the vote and the timelock are over.
    call(&ctx, &dev0, &ta, "approve", &[&format!("address:{dao}"), "u128:5000"]);
    call(&ctx, &dev0, &dao, "deposit", &["u128:5000"]);
    let actions: Vec<([u8; 32], String, Vec<u8>, u128)> = vec![(pool.0, "set_fee".into(), enc(&(10u32,)), 0)];
    let (code, err) = try_call_raw(&ctx, &dev0, &dao, "propose", &enc(&("Fee to 0.1 %".to_string(), actions)));
    assert_eq!(code, 0, "{err}");
    call(&ctx, &dev0, &dao, "vote", &["u64:0", "u8:1"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (code, err) = try_call_raw(&ctx, &dev1, &dao, "execute", &enc(&0u64));
        if code == 0 {
            break;
        }
        // Refused (exit 2) while voting or in the timelock.
        assert!(err.contains("has not passed"), "{err}");
        assert!(Instant::now() < deadline, "the proposal never became executable: {err}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let view = query(&ctx, &pool, "pool", &[], "address,address,u128,u128,u128,u32");
    assert_eq!(view[5], 10, "the DAO set the pool's fee");

    // Identity: an issuer registers a commitment; dev1 proves age.
    let keys = cinder_zk::setup([0x61; 32]).unwrap();
    let vk = hex::encode(cinder_zk::to_bytes(&keys.vk));
    let id = deploy(&ctx, &dev0, &ex.join("identity.wasm"), &[&format!("bytes:{vk}")]);
    call(&ctx, &dev0, &id, "add_issuer", &[&a0, "string:Registry office"]);
    let salt = cinder_zk::salt_from_seed([0x62; 32]);
    let commitment = hex::encode(cinder_zk::field_bytes(&cinder_zk::commit(1995, salt)));
    call(&ctx, &dev0, &id, "issue", &[&a1, "string:birth-year", &format!("bytes32:{commitment}")]);
    let proof = hex::encode(cinder_zk::to_bytes(&cinder_zk::prove(&keys.pk, 1995, salt, 2008, [0x63; 32]).unwrap()));
    let (code, err) = try_call_raw(
        &ctx,
        &dev1,
        &id,
        "prove_at_most",
        &[enc(&(0u64, 2007u32)), enc(&hex::decode(&proof).unwrap())].concat(),
    );
    assert_eq!(code, 2, "a proof of another bound is refused");
    assert!(err.contains("the proof does not verify"), "{err}");
    call(&ctx, &dev1, &id, "prove_at_most", &["u64:0", "u32:2008", &format!("bytes:{proof}")]);
    assert_eq!(query(&ctx, &id, "proven", &[&a1, "string:birth-year", "u32:2008"], "bool"), serde_json::json!([true]));
    call(&ctx, &dev0, &id, "revoke", &["u64:0"]);
    assert_eq!(query(&ctx, &id, "proven", &[&a1, "string:birth-year", "u32:2008"], "bool"), serde_json::json!([false]));

    // Asset tokenization: allowlist, mint, fractions to dev1, redeem.
    let assets = deploy(&ctx, &dev0, &ex.join("asset.wasm"), &["string:Harbour buildings"]);
    let deed = hex::encode(blake3_of(b"deed"));
    call(&ctx, &dev0, &assets, "mint", &[&a0, &format!("bytes32:{deed}")]);
    let shares =
        deploy(&ctx, &dev0, &ex.join("token.wasm"), &["string:Harbour 12", "string:H12", "u8:0", "u128:0", "none"]);
    call(&ctx, &dev0, &shares, "set_minter", &[&format!("some:address:{assets}")]);
    call(&ctx, &dev0, &assets, "fractionalize", &["u64:0", &format!("address:{shares}"), "u128:100"]);
    call(&ctx, &dev0, &shares, "transfer", &[&a1, "u128:100"]);
    call(&ctx, &dev0, &assets, "set_allowed", &[&a1, "bool:true"]);
    call(&ctx, &dev1, &shares, "approve", &[&format!("address:{assets}"), "u128:100"]);
    call(&ctx, &dev1, &assets, "redeem", &["u64:0"]);
    let owner = query(&ctx, &assets, "asset", &["u64:0"], "address,bytes32,option<address>,option<(address;u128)>");
    assert_eq!(owner[0], format!("0x{}", hex::encode(addr1.0)));

    // Supply chain: a handover in two signed steps and an anchored batch.
    let sc = deploy(&ctx, &dev0, &ex.join("supply.wasm"), &[]);
    call(&ctx, &dev0, &sc, "set_role", &[&a0, "u8:1"]);
    call(&ctx, &dev0, &sc, "set_role", &[&a1, "u8:3"]);
    let item = format!("bytes32:{}", hex::encode(blake3_of(b"pallet 7")));
    let note = format!("bytes32:{}", hex::encode(blake3_of(b"papers")));
    call(&ctx, &dev0, &sc, "create", &[&item, &note]);
    call(&ctx, &dev0, &sc, "hand_over", &[&item, &a1, &note]);
    call(&ctx, &dev1, &sc, "receive", &[&item, &note]);
    call(&ctx, &dev1, &sc, "inspect", &[&item, "bool:true", &note]);
    let history = query(&ctx, &sc, "history", &[&item, "u32:0", "u32:10"], "vec<(u8;address;address;u64;bytes32)>");
    let kinds: Vec<u64> = history[0].as_array().unwrap().iter().map(|s| s[0].as_u64().unwrap()).collect();
    assert_eq!(kinds, vec![0, 1, 2, 3]);
    let records: Vec<Vec<u8>> = (0..5).map(|i| format!("scan {i}").into_bytes()).collect();
    let tree = cinder_engine::merkle::Tree::new(records.iter().map(|r| cinder_engine::merkle::leaf_hash(r)).collect());
    call(&ctx, &dev0, &sc, "anchor", &[&format!("bytes32:{}", hex::encode(tree.root())), "u64:5"]);
    let proof = tree.proof(2).unwrap();
    let args = enc(&(0u64, records[2].clone(), 2u64, proof.siblings.clone()));
    assert_eq!(query_raw(&ctx, &sc, "verify_record", &args, "bool"), serde_json::json!([true]));
    let args = enc(&(0u64, b"forged".to_vec(), 2u64, proof.siblings));
    assert_eq!(query_raw(&ctx, &sc, "verify_record", &args, "bool"), serde_json::json!([false]));
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}

fn blake3_of(b: &[u8]) -> [u8; 32] {
    cinder_primitives::Hash::of(b).0
}
