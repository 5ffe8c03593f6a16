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
