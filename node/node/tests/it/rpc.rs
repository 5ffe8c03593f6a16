//! JSON-RPC over loopback.

use std::time::Duration;

use cinder_node::RpcConfig;
use cinder_primitives::{Address, Hash, encode};
use cinder_rpc::{Client, codes, methods as m};
use cinder_state::AccountProof;
use jsonrpsee_core::client::SubscriptionClientT;
use jsonrpsee_ws_client::WsClientBuilder;
use serde_json::json;

use crate::common::{BALANCE, CHAIN_ID, TestNode, code, post};

fn raw(t: &cinder_primitives::SignedTransaction) -> String {
    format!("0x{}", hex::encode(encode(t)))
}

fn call(method: &str, params: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_is_pooled_mined_and_readable_with_a_proof() {
    let n = TestNode::start("read", RpcConfig::default()).await;
    let c = Client::new(&n.url()).unwrap();
    assert_eq!(c.chain_id().await.unwrap(), CHAIN_ID);
    assert_eq!(c.block_number().await.unwrap(), 0);
    let to = Address([9; 32]);
    let tx = n.tx(0, 0, to, 1234);
    let id = c.send(&tx).await.unwrap();
    assert_eq!(id, tx.id());
    assert_eq!(c.pending_count().await.unwrap(), 1);
    let pending = c.transaction(id).await.unwrap().unwrap();
    assert_eq!((pending.block_hash, pending.value, pending.to), (None, 1234, to));
    assert!(c.receipt(id).await.unwrap().is_none());

    let block = tokio::task::block_in_place(|| n.mine());
    assert_eq!(c.block_number().await.unwrap(), 1);
    assert_eq!(c.pending_count().await.unwrap(), 0);
    let r = c.receipt(id).await.unwrap().unwrap();
    assert_eq!((r.block_number, r.block_hash, r.status.as_str(), r.gas_used), (1, block.id(), "success", 21_000));
    let t = c.transaction(id).await.unwrap().unwrap();
    assert_eq!((t.block_number, t.transaction_index), (Some(1), Some(0)));
    let b = c.block_by_number(1, false).await.unwrap().unwrap();
    assert_eq!((b.hash, b.parent_hash, b.transactions.clone()), (block.id(), block.header.prev(), json!([id])));
    assert_eq!(c.block_by_hash(block.id(), true).await.unwrap().unwrap().transactions[0]["hash"], json!(id));
    assert!(c.block_by_number(2, false).await.unwrap().is_none());
    assert_eq!(c.balance(to).await.unwrap(), 1234);
    assert_eq!(c.balance(n.accounts.addresses[0]).await.unwrap(), BALANCE - 1234 - 21_000);
    assert_eq!(c.nonce(n.accounts.addresses[0]).await.unwrap(), 1);
    assert_eq!(c.gas_price().await.unwrap(), 1);

    // The proof verifies against the block's state root; at genesis the
    // recipient did not exist.
    for (number, exists) in [(1u64, true), (0, false)] {
        let p: cinder_rpc::ProofJson = c.call(m::GET_PROOF, vec![json!(to), json!(number)]).await.unwrap();
        assert_eq!(p.exists, exists);
        let proof = AccountProof::from_bytes(&hex::decode(p.proof.trim_start_matches("0x")).unwrap()).unwrap();
        let account = exists.then_some(cinder_primitives::Account { balance: 1234, nonce: 0 });
        proof.verify(&p.state_root, &to, account.as_ref()).unwrap();
        assert!(proof.verify(&p.state_root, &to, Some(&cinder_primitives::Account { balance: 1, nonce: 0 })).is_err());
    }
    let e = c.call::<serde_json::Value>(m::GET_PROOF, vec![json!(to), json!(99)]).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::UNKNOWN_BLOCK));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_documented_error_and_changes_nothing() {
    let cfg = RpcConfig { max_request_bytes: 64 * 1024, max_batch: 10, ..RpcConfig::default() };
    let n = TestNode::start("bad", cfg).await;
    let addr = n.rpc.addr;
    let c = Client::new(&n.url()).unwrap();
    // One valid pooled transaction and one mined, to replay.
    let mined = n.tx(1, 0, Address([1; 32]), 5);
    c.send(&mined).await.unwrap();
    tokio::task::block_in_place(|| n.mine());
    let pooled = n.tx(2, 0, Address([2; 32]), 5);
    c.send(&pooled).await.unwrap();
    let head = n.node.chain().head().unwrap();
    let pool = || n.node.mempool().len();
    assert_eq!(pool(), 1);

    let mut bad_sig = n.tx(3, 0, Address([3; 32]), 5);
    bad_sig.signature.0[0] ^= 1;
    let mut wrong_chain = n.tx(3, 0, Address([3; 32]), 5).tx;
    wrong_chain.chain_id = CHAIN_ID + 1;
    let wrong_chain = wrong_chain.sign(&n.accounts.keys[3]);
    // Its fee, 21,000 x 10^9, is more than the balance (10^12).
    let mut broke = n.tx(4, 0, Address([4; 32]), 1).tx;
    broke.gas_price = 1_000_000_000;
    let broke = broke.sign(&n.accounts.keys[4]);
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        ("malformed JSON", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ".to_vec(), -32700),
        ("JSON that is no request", br#""hello""#.to_vec(), -32700),
        ("a method that is no string", br#"{"jsonrpc": "2.0", "id": 1, "method": 5}"#.to_vec(), -32600),
        ("JSON-RPC 1.0", br#"{"jsonrpc": "1.0", "id": 1, "method": "cinder_chainId"}"#.to_vec(), -32600),
        ("an empty batch", b"[]".to_vec(), -32600),
        ("unknown method", call("cinder_noSuchThing", json!([])), -32601),
        ("a number for an address", call(m::GET_BALANCE, json!([12])), -32602),
        ("short hex address", call(m::GET_BALANCE, json!(["0x1234"])), -32602),
        ("a string for a height", call(m::GET_BLOCK_BY_NUMBER, json!(["one"])), -32602),
        ("missing params", call(m::GET_NONCE, json!([])), -32602),
        ("hex without 0x", call(m::SEND_RAW_TRANSACTION, json!([hex::encode(encode(&pooled))])), -32602),
        ("not hex", call(m::SEND_RAW_TRANSACTION, json!(["0xzz"])), -32602),
        (
            "undecodable transaction",
            call(m::SEND_RAW_TRANSACTION, json!(["0x0102"])),
            codes::INVALID_TRANSACTION as i64,
        ),
        ("bad signature", call(m::SEND_RAW_TRANSACTION, json!([raw(&bad_sig)])), codes::INVALID_SIGNATURE as i64),
        ("wrong chain id", call(m::SEND_RAW_TRANSACTION, json!([raw(&wrong_chain)])), codes::WRONG_CHAIN as i64),
        ("replayed nonce", call(m::SEND_RAW_TRANSACTION, json!([raw(&mined)])), codes::NONCE_TOO_LOW as i64),
        ("already pooled", call(m::SEND_RAW_TRANSACTION, json!([raw(&pooled)])), codes::ALREADY_KNOWN as i64),
        ("cannot pay", call(m::SEND_RAW_TRANSACTION, json!([raw(&broke)])), codes::INSUFFICIENT_FUNDS as i64),
        (
            "nonce far ahead",
            call(m::SEND_RAW_TRANSACTION, json!([raw(&n.tx(3, 500, Address([3; 32]), 1))])),
            codes::NONCE_TOO_HIGH as i64,
        ),
        (
            "unknown work job",
            call(m::SUBMIT_WORK, json!([{"jobId": "ffff", "header": "00".repeat(80)}])),
            codes::UNKNOWN_JOB as i64,
        ),
        (
            "a work object with extra keys",
            call(m::SUBMIT_WORK, json!([{"jobId": "1", "header": "00", "x": 1}])),
            -32602,
        ),
        ("admin without a token", call(m::SET_MINING, json!(["0123456789abcdef", "off"])), codes::UNAUTHORIZED as i64),
    ];
    for (what, body, want) in cases {
        let (status, rsp) = post(addr, &body).await;
        assert_eq!(code(&rsp), want, "{what}: HTTP {status} {rsp}");
    }
    // Oversized: refused before parsing.
    let big = call(m::SEND_RAW_TRANSACTION, json!([format!("0x{}", "00".repeat(100 * 1024))]));
    let (status, rsp) = post(addr, &big).await;
    assert_eq!(status, 413, "oversized: {rsp}");
    // A batch over the limit.
    let batch: Vec<serde_json::Value> =
        (0..11).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": m::CHAIN_ID, "params": []})).collect();
    let (_, rsp) = post(addr, &serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!(code(&rsp), -32010, "batch over the limit: {rsp}");
    // Nothing changed.
    assert_eq!(n.node.chain().head().unwrap(), head);
    assert_eq!(pool(), 1);
    assert!(n.node.mempool().contains(&pooled.id()));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_is_refused_not_served() {
    let n = TestNode::start("rate", RpcConfig { rate_per_sec: 5, ..RpcConfig::default() }).await;
    let c = Client::new(&n.url()).unwrap();
    let mut limited = 0;
    for _ in 0..40 {
        if let Err(e) = c.chain_id().await {
            assert_eq!(e.code(), Some(codes::RATE_LIMITED), "{e}");
            limited += 1;
        }
    }
    // A burst of 2 x 5 passes, then about 5 a second.
    assert!(limited >= 25, "only {limited} of 40 limited");
    assert!(n.node.metrics.rpc_rate_limited.load(std::sync::atomic::Ordering::Relaxed) >= 25);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribers_hear_of_heads_and_pending_transactions() {
    let n = TestNode::start("ws", RpcConfig::default()).await;
    let ws = WsClientBuilder::default().build(format!("ws://{}", n.rpc.addr)).await.unwrap();
    let mut heads =
        ws.subscribe::<cinder_rpc::HeadEvent, _>(m::SUBSCRIBE, vec!["newHeads"], m::UNSUBSCRIBE).await.unwrap();
    let mut pending =
        ws.subscribe::<Hash, _>(m::SUBSCRIBE, vec!["newPendingTransactions"], m::UNSUBSCRIBE).await.unwrap();
    let bad = ws.subscribe::<Hash, _>(m::SUBSCRIBE, vec!["everything"], m::UNSUBSCRIBE).await;
    assert!(bad.is_err());
    let tx = n.tx(0, 0, Address([5; 32]), 1);
    Client::new(&n.url()).unwrap().send(&tx).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), pending.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(got, tx.id());
    let block = tokio::task::block_in_place(|| n.mine());
    let head = tokio::time::timeout(Duration::from_secs(10), heads.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((head.number, head.hash, head.transaction_count, head.reorg_depth), (1, block.id(), 1, 0));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pow_chain_shows_its_params_and_refuses_governance() {
    let n = TestNode::start("gov-pow", RpcConfig::default()).await;
    let c = Client::new(&n.url()).unwrap();
    let p: cinder_rpc::ParamsJson = c.call(m::GET_PARAMS, Vec::<serde_json::Value>::new()).await.unwrap();
    assert_eq!(p.params["block_gas_limit"], cinder_consensus::DEFAULT_BLOCK_GAS_LIMIT.to_string());
    assert_eq!(p.params["min_gas_price"], "0");
    assert_eq!((p.height, p.community_pool, p.upgrade_plan), (0, 0, None));
    for method in [m::GET_PROPOSAL, m::GET_VOTES, m::GET_TALLY] {
        let e = c.call::<serde_json::Value>(method, vec![json!(0)]).await.unwrap_err();
        assert_eq!(e.code(), Some(codes::NOT_POS), "{method}");
    }
    let e = c.call::<serde_json::Value>(m::GET_PROPOSAL, vec![json!("zero")]).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_PARAMS));
    // A governance transaction is refused at the door with the reason.
    let k = &n.accounts.keys[0];
    let vote = cinder_primitives::Transaction {
        chain_id: CHAIN_ID,
        sender: k.public_key(),
        nonce: 0,
        gas_limit: 100_000,
        gas_price: 1,
        kind: cinder_primitives::TxKind::Gov(cinder_primitives::GovOp::Vote {
            proposal: 0,
            option: cinder_primitives::VoteOption::Yes,
        }),
    }
    .sign(k);
    let e = c.send(&vote).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_TRANSACTION));
    assert!(e.to_string().contains("proof-of-stake chains only"), "{e}");
    // An unknown proposal kind does not decode: refused with the reason.
    let submit = cinder_primitives::Transaction {
        kind: cinder_primitives::TxKind::Gov(cinder_primitives::GovOp::Submit {
            proposal: Box::new(cinder_primitives::ProposalContent {
                title: cinder_primitives::BoundedString::truncated("t"),
                description: cinder_primitives::BoundedString::truncated(""),
                action: cinder_primitives::ProposalAction::Text,
            }),
            deposit: 1,
        }),
        ..vote.tx.clone()
    }
    .sign(k);
    let mut bytes = encode(&submit);
    // version, chain id, sender, nonce, gas limit, gas price, the kind's
    // and the operation's tags, the title (4 + 1), the description (4):
    // then the action's tag.
    let at = 1 + 8 + 32 + 8 + 8 + 8 + 1 + 1 + 5 + 4;
    assert_eq!(bytes[at], 0, "the text action's tag");
    bytes[at] = 9;
    let e = c
        .call::<serde_json::Value>(m::SEND_RAW_TRANSACTION, vec![json!(format!("0x{}", hex::encode(&bytes)))])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_TRANSACTION));
    assert!(e.to_string().contains("transaction"), "{e}");
    assert_eq!(c.pending_count().await.unwrap(), 0);
    n.stop().await;
}

/// The JSON-RPC request parser and every method's parameter parsing,
/// fuzzed in process (`cinder_node::rpc::module`): random methods with
/// random parameters of every JSON shape, and random bytes as requests,
/// for `CINDER_FUZZ_MS` (default 1,500 ms). Each request gets an answer;
/// no handler panics (a panic hook counts them: the server would turn a
/// panic into an internal error and hide it); the node still serves after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_to_every_method_get_answers_not_panics() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let n = TestNode::start("fuzz", RpcConfig::default()).await;
    let module = cinder_node::rpc::module(n.node.clone(), Some("secret".into())).unwrap();
    let mut methods: Vec<String> = module.method_names().map(str::to_string).collect();
    methods.sort();
    assert!(methods.len() > 40, "{methods:?}");
    let budget =
        Duration::from_millis(std::env::var("CINDER_FUZZ_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_500));
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::Relaxed);
    }));
    let mut state = 0x5eed_u64;
    let mut rnd = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    fn pick(x: u64, n: usize) -> usize {
        usize::try_from(x % u64::try_from(n).unwrap()).unwrap()
    }
    fn value(r: &mut dyn FnMut() -> u64, depth: u32) -> serde_json::Value {
        let strings = [
            "0x",
            "0x00",
            "0xzz",
            "latest",
            "",
            "newHeads",
            "logs",
            "secret",
            "on",
            "off",
            "transfer/channel-0/cin",
            "1.5CIN",
            "-1",
            "340282366920938463463374607431768211456",
        ];
        match r() % 10 {
            0 => serde_json::Value::Null,
            1 => json!(r().is_multiple_of(3)),
            2 => json!(r() % 1000),
            3 => json!(u64::MAX - r() % 3),
            4 => json!(-i64::try_from(r() % 1000).unwrap()),
            5 => json!(1.5e300),
            6 => json!(strings[pick(r(), strings.len())]),
            7 => json!(format!("0x{}", hex::encode((0..r() % 70).map(|_| r().to_le_bytes()[0]).collect::<Vec<u8>>()))),
            8 if depth < 3 => serde_json::Value::Array((0..r() % 4).map(|_| value(r, depth + 1)).collect()),
            _ if depth < 3 => {
                let keys = [
                    "from",
                    "to",
                    "fromBlock",
                    "toBlock",
                    "address",
                    "topics",
                    "method",
                    "args",
                    "value",
                    "gas",
                    "code",
                    "jobId",
                    "header",
                ];
                serde_json::Value::Object(
                    (0..r() % 4).map(|_| (keys[pick(r(), keys.len())].to_string(), value(r, depth + 1))).collect(),
                )
            }
            _ => json!("x"),
        }
    }
    let start = std::time::Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        let request = if rnd() % 8 == 0 {
            // Bytes that are hardly JSON.
            let mut b: Vec<u8> = call(&methods[pick(rnd(), methods.len())], json!([]));
            for _ in 0..1 + rnd() % 4 {
                let i = pick(rnd(), b.len());
                b[i] = rnd().to_le_bytes()[0];
            }
            String::from_utf8_lossy(&b).into_owned()
        } else {
            let method = &methods[pick(rnd(), methods.len())];
            let params: Vec<serde_json::Value> = (0..rnd() % 5).map(|_| value(&mut rnd, 0)).collect();
            let params = if rnd() % 6 == 0 { value(&mut rnd, 1) } else { json!(params) };
            json!({"jsonrpc": "2.0", "id": count, "method": method, "params": params}).to_string()
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), module.raw_json_request(&request, 1)).await;
        assert!(answer.is_ok(), "no answer within 10 s to {request}");
        count += 1;
    }
    std::panic::set_hook(previous);
    assert_eq!(PANICS.load(Ordering::Relaxed), 0, "a method panicked (of {count} requests)");
    eprintln!("{count} random requests to {} methods", methods.len());
    let c = Client::new(&n.url()).unwrap();
    assert_eq!(c.chain_id().await.unwrap(), CHAIN_ID, "the node still serves");
}

/// Whether the server closes `s` within `limit` (a read returns end of
/// stream or an error).
async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// The connection limits: one address holds at most
/// `max_connections_per_ip` connections (the next is closed at once and
/// counted); a client that sends its headers too slowly, or idles on a
/// kept-alive connection, loses it after `header_timeout` (slow-loris);
/// a WebSocket holds at most `max_subscriptions_per_connection`
/// subscriptions. After all that, the server serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_greedy_clients_hit_the_connection_limits() {
    use tokio::io::AsyncWriteExt;
    let cfg = RpcConfig {
        max_connections_per_ip: 4,
        max_subscriptions_per_connection: 3,
        header_timeout: Duration::from_millis(800),
        ..RpcConfig::default()
    };
    let n = TestNode::start("limits", cfg).await;
    let addr = n.rpc.addr;
    // Four slow clients: half a request's headers, then nothing.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: appl").await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A fifth from the same address is closed at once.
    let mut fifth = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut fifth, Duration::from_millis(500)).await, "a fifth connection was served");
    assert!(n.node.metrics.rpc_connections_refused.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // The slow ones are cut off after the header timeout.
    for s in &mut slow {
        assert!(closed_within(s, Duration::from_secs(3)).await, "a slow client kept its connection");
    }
    // A kept-alive connection that idles after its request is closed too.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = call(m::CHAIN_ID, json!([]));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    idle.write_all(head.as_bytes()).await.unwrap();
    idle.write_all(&body).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await, "an idle kept-alive connection stayed open");
    // Slots are free again: a normal client is served.
    let c = Client::new(&n.url()).unwrap();
    assert_eq!(c.chain_id().await.unwrap(), CHAIN_ID);
    // Subscriptions per WebSocket.
    let ws = WsClientBuilder::default().build(format!("ws://{addr}")).await.unwrap();
    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(
            ws.subscribe::<cinder_rpc::HeadEvent, _>(m::SUBSCRIBE, vec!["newHeads"], m::UNSUBSCRIBE).await.unwrap(),
        );
    }
    let e = ws.subscribe::<cinder_rpc::HeadEvent, _>(m::SUBSCRIBE, vec!["newHeads"], m::UNSUBSCRIBE).await;
    let e = match e {
        Ok(_) => panic!("a fourth subscription on one connection was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.to_lowercase().contains("subscription"), "{e}");
    drop(subs);
    n.stop().await;
}
