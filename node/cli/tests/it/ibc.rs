//! Two proof-of-stake devnets joined by a channel, driven as their users
//! and a relayer operator would: `cinder relay open` creates the clients
//! and runs the handshake, `cinder wallet ibc transfer` sends, `cinder
//! relay start` relays (killed mid-way and started again), and the chains
//! refuse what a dishonest relayer could try — each with its reason — and
//! freeze a client on evidence of a double signature.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cinder_primitives::{
    Address, BoundedBytes, CONSENSUS_VERSION, ClientUpdate, CommitCertificate, Header, IbcOp, Misbehaviour, Packet,
    Proof, Transaction, TxKind, VoteData, VoteType, decode,
};
use cinder_rpc::{Client, IbcChannelJson, IbcClientJson, IbcVoucherJson, ReceiptJson};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cinder");

use crate::contracts::Devnet;

/// A PoS devnet of chain `chain_id`.
fn devnet(datadir: &Path, chain_id: u64) -> Devnet {
    crate::contracts::start_with(datadir, &["--consensus", "pos", "--chain-id", &chain_id.to_string()])
}

/// `cinder <args>`: (exit code, stdout, stderr).
fn cinder(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn rpc<T: DeserializeOwned>(url: &str, method: &str, params: Vec<Value>) -> T {
    let c = Client::new(url).unwrap();
    rt().block_on(c.call(method, params)).unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

/// Signs `op` with `key` and waits for its receipt.
fn send(url: &str, key: &cinder_engine::sig::SecretKey, op: IbcOp) -> ReceiptJson {
    let c = Client::new(url).unwrap();
    rt().block_on(async {
        let me = Address::from_public_key(&key.public_key());
        let kind = TxKind::Ibc(op);
        let tx = Transaction {
            chain_id: c.chain_id().await.unwrap(),
            sender: key.public_key(),
            nonce: c.nonce(me).await.unwrap(),
            gas_limit: cinder_vm::plain_gas(&kind),
            gas_price: c.gas_price().await.unwrap(),
            kind,
        }
        .sign(key);
        let hash = c.send(&tx).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(r) = c.receipt(hash).await.unwrap() {
                return r;
            }
            assert!(Instant::now() < deadline, "not included within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn refused_with(r: &ReceiptJson, why: &str) {
    assert_eq!(r.status, "failed", "{r:?}");
    assert!(r.reason.as_deref().unwrap_or("").contains(why), "wanted {why:?}: {r:?}");
}

fn voucher(url: &str, denom: &str, owner: &str) -> IbcVoucherJson {
    rpc(url, "cinder_ibcVoucher", vec![json!(denom), json!(owner)])
}

fn channel(url: &str, id: u64) -> IbcChannelJson {
    rpc::<Option<IbcChannelJson>>(url, "cinder_ibcChannel", vec![json!(id)]).unwrap()
}

fn balance(url: &str, a: &str) -> u128 {
    rpc::<String>(url, "cinder_getBalance", vec![json!(a)]).parse().unwrap()
}

fn height(url: &str) -> u64 {
    rpc(url, "cinder_blockNumber", vec![])
}

#[test]
fn tokens_cross_between_two_devnets_and_back_through_a_relayer() {
    let _serial = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-ibc", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let a = devnet(&dir.join("a"), 7_001);
    let b = devnet(&dir.join("b"), 7_002);
    let pw = dir.join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let (ks, pw) = (dir.join("keystore").display().to_string(), pw.display().to_string());
    let wallet = |url: &str, args: &[&str]| -> (i32, String, String) {
        let mut v = vec!["wallet", "--keystore", &ks, "--password-file", &pw, "--rpc", url];
        v.extend(args);
        cinder(&v)
    };
    let import = |n: &str| {
        let (code, out, err) = wallet(&a.url, &["import", "--devnet", n, "--scrypt-log-n", "10"]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let (dev0, dev1, relayer) = (import("0"), import("1"), import("2"));
    let key_file = format!("{ks}/{relayer}.json");
    let relay = |args: &[&str]| -> (i32, String, String) {
        let mut v = vec!["relay"];
        v.extend(args);
        v.extend(["--a", &a.url, "--b", &b.url, "--key", &key_file, "--password-file", &pw, "--json"]);
        cinder(&v)
    };

    // Clients and a channel.
    let (code, out, err) = relay(&["open"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let opened: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(opened["event"], "open");
    let (ch_a, ch_b) = (opened["channelA"].as_u64().unwrap(), opened["channelB"].as_u64().unwrap());
    let (ch_a_s, ch_b_s) = (ch_a.to_string(), ch_b.to_string());
    assert_eq!(channel(&a.url, ch_a).state, "open");
    assert_eq!(channel(&b.url, ch_b).counterparty_channel, Some(ch_a));
    let voucher_b = format!("transfer/channel-{ch_b}/cin");
    // Bad input: one line, nothing sent.
    let (code, _, err) = wallet(
        &a.url,
        &[
            "ibc",
            "transfer",
            "--from",
            &dev0,
            "--channel",
            &ch_a_s,
            "--to",
            &dev1,
            "--amount",
            "1",
            "--denom",
            "Not/A/Denom",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, err) = cinder(&["relay", "open", "--a", &a.url, "--b", &b.url, "--key", "/nonexistent/key"]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/key") && err.lines().count() == 1, "{err}");
    let (code, _, err) = relay(&["start", "--channel", "9"]);
    assert_ne!(code, 0);
    assert!(err.contains("no channel 9"), "{err}");

    // A -> B: 1,000 escrowed on A.
    let (code, _, err) = wallet(
        &a.url,
        &["ibc", "transfer", "--from", &dev0, "--channel", &ch_a_s, "--to", &dev1, "--amount", "1000", "--wait", "30"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(channel(&a.url, ch_a).escrowed, 1_000);
    let in_flight: Vec<Value> = rpc(&a.url, "cinder_ibcPackets", vec![json!(ch_a)]);
    let first: Packet = decode(&unhex(in_flight[0]["raw"].as_str().unwrap())).unwrap();

    // The relayer, killed (SIGKILL) right after it sent the delivery.
    let mut child = Command::new(BIN)
        .args(["relay", "start", "--channel", &ch_a_s, "--interval-ms", "200", "--json"])
        .args(["--a", &a.url, "--b", &b.url, "--key", &key_file, "--password-file", &pw])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = crate::stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l =
            lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("the relayer sent nothing");
        if l.contains("\"sent\"") && l.contains("recv_packet") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Started again: it finishes, and the vouchers exist once.
    let finish = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while !done() {
            assert!(Instant::now() < deadline, "{what} did not finish: {last}");
            let (code, out, err) = relay(&["start", "--channel", &ch_a_s, "--once"]);
            assert_eq!(code, 0, "{err}\n{out}");
            last = out;
        }
        last
    };
    finish("the first transfer", &|| rpc::<Vec<Value>>(&a.url, "cinder_ibcPackets", vec![json!(ch_a)]).is_empty());
    let v = voucher(&b.url, &voucher_b, &dev1);
    assert_eq!((v.balance, v.supply), (1_000, 1_000), "delivered exactly once");

    // What a dishonest relayer could try, refused with the reason.
    let key = cinder_chain::workload::key("cinder-devnet", 2);
    let client_b: IbcClientJson = rpc::<Option<IbcClientJson>>(&b.url, "cinder_ibcClient", vec![json!(0)]).unwrap();
    let proof_at = |h: u64, key: &[u8]| -> Proof {
        let p: cinder_rpc::ProofJson = rpc(
            &a.url,
            "cinder_getProof",
            vec![json!(cinder_primitives::IBC_ADDRESS), json!(h), json!([format!("0x{}", hex::encode(key))])],
        );
        Proof { height: h, proof: BoundedBytes::new(unhex(&p.storage[0].proof)).unwrap() }
    };
    let commitment_key = |seq: u64| format!("commitments/{ch_a}/{seq}").into_bytes();
    // The packet again.
    let replay =
        IbcOp::RecvPacket { packet: Box::new(first.clone()), proof: proof_at(client_b.latest, &commitment_key(1)) };
    refused_with(&send(&b.url, &key, replay), "already received");
    // A packet A never sent (more tokens, a new sequence) under a real proof.
    let mut forged = first.clone();
    forged.sequence = 99;
    let mut data: cinder_primitives::TransferData = decode(forged.data.as_slice()).unwrap();
    data.amount = 1_000_000;
    forged.data = BoundedBytes::new(cinder_primitives::encode(&data)).unwrap();
    let op =
        IbcOp::RecvPacket { packet: Box::new(forged.clone()), proof: proof_at(client_b.latest, &commitment_key(99)) };
    refused_with(&send(&b.url, &key, op), "does not verify");
    // A proof against a height B's client never verified.
    let unverified = height(&a.url);
    let op = IbcOp::RecvPacket { packet: Box::new(forged), proof: proof_at(unverified, &commitment_key(99)) };
    refused_with(&send(&b.url, &key, op), &format!("no verified state at height {unverified}"));
    // A header with no signatures: a minority of the set's power.
    let fin: u64 = rpc(&a.url, "cinder_finalizedBlockNumber", vec![]);
    let block: cinder_rpc::BlockJson = rpc(&a.url, "cinder_getBlockByNumber", vec![json!(fin), json!(false)]);
    let header: Header = decode(&unhex(&block.raw_header)).unwrap();
    let commit: cinder_rpc::CommitJson =
        rpc::<Option<cinder_rpc::CommitJson>>(&a.url, "cinder_getCommit", vec![json!(fin)]).unwrap();
    let commit: CommitCertificate = decode(&unhex(&commit.raw)).unwrap();
    let mut bare = commit.clone();
    bare.signatures.clear();
    let op = IbcOp::UpdateClient {
        client: 0,
        update: Box::new(ClientUpdate::Pos { header: header.clone(), commit: bare, next_set: None }),
    };
    refused_with(&send(&b.url, &key, op), "not more than 2/3");
    assert_eq!(voucher(&b.url, &voucher_b, &dev1).supply, 1_000, "nothing refused changed anything");

    // B -> A: 400 vouchers burned on B, released from A's escrow.
    let before = balance(&a.url, &dev0);
    let (code, _, err) = wallet(
        &b.url,
        &[
            "ibc",
            "transfer",
            "--from",
            &dev1,
            "--channel",
            &ch_b_s,
            "--denom",
            &voucher_b,
            "--to",
            &dev0,
            "--amount",
            "400",
            "--wait",
            "30",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(voucher(&b.url, &voucher_b, &dev1).supply, 600);
    finish("the way back", &|| rpc::<Vec<Value>>(&b.url, "cinder_ibcPackets", vec![json!(ch_b)]).is_empty());
    assert_eq!(balance(&a.url, &dev0), before + 400);
    assert_eq!(channel(&a.url, ch_a).escrowed, 600, "escrow = vouchers outstanding");

    // A packet that times out at B's height is refunded on A.
    let deadline = (height(&b.url) + 2).to_string();
    let (code, _, err) = wallet(
        &a.url,
        &[
            "ibc",
            "transfer",
            "--from",
            &dev0,
            "--channel",
            &ch_a_s,
            "--to",
            &dev1,
            "--amount",
            "50",
            "--timeout-height",
            &deadline,
            "--wait",
            "30",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(channel(&a.url, ch_a).escrowed, 650);
    let t = Instant::now();
    while height(&b.url) < deadline.parse::<u64>().unwrap() + 1 {
        assert!(t.elapsed() < Duration::from_secs(30), "B stalled");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = finish("the timeout", &|| rpc::<Vec<Value>>(&a.url, "cinder_ibcPackets", vec![json!(ch_a)]).is_empty());
    assert!(out.contains("\"timedOut\":[2]"), "{out}");
    assert_eq!(channel(&a.url, ch_a).escrowed, 600, "the 50 went back to the sender");
    assert_eq!(voucher(&b.url, &voucher_b, &dev1).supply, 600);

    // A's validator signs a second block at a height B's client trusts
    // (the test holds its key): anyone may show B both; the client freezes.
    let validator = cinder_pos::validator::load_or_create_validator_key(&dir.join("a").join("validator.key")).unwrap();
    let mut fields = header.fields.clone();
    fields.extra_nonce = fields.extra_nonce.wrapping_add(1);
    let other = Header::new(header.prev(), header.pow.time(), header.pow.bits(), fields);
    let vote = VoteData {
        version: CONSENSUS_VERSION,
        chain_id: 7_001,
        height: header.height(),
        round: commit.round,
        kind: VoteType::Precommit,
        block: Some(other.id()),
        validator: 0,
    }
    .sign(&validator);
    let evidence = Misbehaviour::Pos {
        first: header.clone(),
        first_commit: commit.clone(),
        second: other,
        second_commit: CommitCertificate::from_votes(&[vote]).unwrap(),
    };
    let r = send(&b.url, &key, IbcOp::Misbehaviour { client: 0, evidence: Box::new(evidence) });
    assert_eq!(r.status, "success", "{r:?}");
    let frozen: IbcClientJson = rpc::<Option<IbcClientJson>>(&b.url, "cinder_ibcClient", vec![json!(0)]).unwrap();
    assert!(frozen.frozen.as_deref().unwrap_or("").contains("two certified blocks"), "{frozen:?}");
    let op = IbcOp::UpdateClient { client: 0, update: Box::new(ClientUpdate::Pos { header, commit, next_set: None }) };
    refused_with(&send(&b.url, &key, op), "frozen");
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Operations: `--log-format json` writes one JSON object a line, and the
/// admin RPC changes the log filter of a running node (a bad filter or
/// token is refused and changes nothing).
#[test]
fn json_logs_and_a_log_filter_changed_at_run_time() {
    let _serial = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-logs", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "a-token-of-sixteen-chars-or-more\n").unwrap();
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "devnet", "--consensus", "pos", "--rpc-port", "0", "--metrics-addr", "off"])
        .arg("--datadir")
        .arg(dir.join("d"))
        .arg("--admin-token-file")
        .arg(&token)
        .env("CINDER_HIDE_GPU", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::stdout_lines(&mut child);
    let err = crate::lines_of(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let l = out.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("no RPC: line");
        if let Some(u) = l.strip_prefix("RPC: ") {
            break u.to_string();
        }
    };
    let d = Devnet { child, url, lines: Vec::new() };
    // Every log line so far is a JSON object with a level and a message.
    let mut seen = 0;
    while let Ok(l) = err.recv_timeout(Duration::from_millis(500)) {
        let v: Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
        assert_ne!(v["level"], "DEBUG", "debug lines before the filter changed: {l}");
        seen += 1;
    }
    assert!(seen > 0, "no log lines");
    let c = Client::new(&d.url).unwrap();
    let set = |token: &str, filter: &str| {
        rt().block_on(c.call::<String>("cinder_adminSetLogLevel", vec![json!(token), json!(filter)]))
    };
    assert!(set("wrong-token-wrong-token", "debug").is_err());
    let e = set("a-token-of-sixteen-chars-or-more", "info,=[").unwrap_err();
    assert!(e.to_string().contains("log filter"), "{e}");
    assert_eq!(set("a-token-of-sixteen-chars-or-more", "debug").unwrap(), "debug");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = err
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("no debug line after the change");
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["level"] == "DEBUG" {
            break;
        }
    }
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
