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
struct Devnet {
    child: std::process::Child,
    url: String,
    lines: Vec<String>,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn start(datadir: &Path) -> Devnet {
    let mut child = Command::new(BIN)
        .args(["devnet", "--rpc-port", "0", "--metrics-addr", "off", "--datadir"])
        .arg(datadir)
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
