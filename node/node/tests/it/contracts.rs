//! Contracts over JSON-RPC: deploy and call through cinder_sendRawTransaction,
//! receipts with output, logs and the created contract; cinder_call,
//! cinder_estimateGas, cinder_getCode, cinder_getStorageAt, cinder_getLogs,
//! storage proofs verified against the header's root, the `logs`
//! subscription, and every bad request with its error code.

use std::time::Duration;

use cinder_node::RpcConfig;
use cinder_primitives::{
    Address, BoundedBytes, BoundedString, Call, Deploy, Hash, Transaction, TxKind, contract_address,
};
use cinder_rpc::{CallRequest, Client, LogFilter, OneOrMany, codes, methods as m};
use cinder_state::DataProof;
use jsonrpsee_core::client::SubscriptionClientT;
use jsonrpsee_ws_client::WsClientBuilder;
use serde_json::json;

use crate::common::{CHAIN_ID, TestNode, code, post};

fn token_init(supply: u128) -> Vec<u8> {
    let mut v = Vec::new();
    for s in ["RPC token", "RPT"] {
        v.extend(u32::try_from(s.len()).unwrap().to_le_bytes());
        v.extend(s.as_bytes());
    }
    v.push(6);
    v.extend(supply.to_le_bytes());
    v.push(0); // no cap: minted up to u128::MAX
    v
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

impl TestNode {
    fn contract_tx(&self, from: usize, nonce: u64, kind: TxKind) -> cinder_primitives::SignedTransaction {
        Transaction {
            chain_id: CHAIN_ID,
            sender: self.accounts.keys[from].public_key(),
            nonce,
            gas_limit: 3_000_000,
            gas_price: 1,
            kind,
        }
        .sign(&self.accounts.keys[from])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_deploy_call_query_estimate_prove_and_log_over_rpc() {
    let n = TestNode::start("contracts", RpcConfig::default()).await;
    let c = Client::new(&n.url()).unwrap();
    let a = n.accounts.addresses.clone();
    let ws = WsClientBuilder::default().build(format!("ws://{}", n.rpc.addr)).await.unwrap();
    let token = contract_address(&a[0], 0);
    let filter = json!({ "address": token, "topics": [Hash::of(b"Transfer")] });
    let mut logs = ws
        .subscribe::<cinder_rpc::LogJson, _>(m::SUBSCRIBE, vec![json!("logs"), filter], m::UNSUBSCRIBE)
        .await
        .unwrap();

    // Estimate the deploy, send it, mine it.
    let deploy = TxKind::Deploy(Deploy {
        code: BoundedBytes::new(cinder_contracts::TOKEN.to_vec()).unwrap(),
        init_args: BoundedBytes::new(token_init(1_000_000)).unwrap(),
        value: 0,
        admin: None,
    });
    let req = CallRequest {
        from: Some(a[0]),
        code: Some(hex0x(cinder_contracts::TOKEN)),
        args: Some(hex0x(&token_init(1_000_000))),
        ..CallRequest::default()
    };
    let gas = c.estimate_gas(&req).await.unwrap();
    assert!(gas > 50_000 + 100 * cinder_contracts::TOKEN.len() as u64, "{gas}");
    let tx = n.contract_tx(0, 0, deploy);
    c.send(&tx).await.unwrap();
    let b1 = tokio::task::block_in_place(|| n.mine());
    let r = c.receipt(tx.id()).await.unwrap().unwrap();
    assert_eq!((r.status.as_str(), r.contract_address), ("success", Some(token)));
    assert_eq!(r.gas_used, gas, "the estimate is exactly what the deploy used");
    assert_eq!(r.logs.len(), 1);
    let shown = c.transaction(tx.id()).await.unwrap().unwrap();
    assert_eq!(shown.to, token);
    assert!(
        matches!(shown.contract, Some(cinder_rpc::ContractTxJson::Deploy { code_size, .. }) if code_size == cinder_contracts::TOKEN.len() as u64)
    );

    // A transfer call, its receipt, logs and the subscription.
    let transfer_args = [a[1].0.to_vec(), 40u128.to_le_bytes().to_vec()].concat();
    let call = TxKind::Call(Call {
        contract: token,
        method: BoundedString::truncated("transfer"),
        args: BoundedBytes::new(transfer_args.clone()).unwrap(),
        value: 0,
    });
    let tx2 = n.contract_tx(0, 1, call);
    c.send(&tx2).await.unwrap();
    let b2 = tokio::task::block_in_place(|| n.mine());
    let r2 = c.receipt(tx2.id()).await.unwrap().unwrap();
    assert_eq!(r2.status, "success");
    assert_eq!(r2.logs[0].topics, vec![Hash::of(b"Transfer"), Hash(a[0].0), Hash(a[1].0)]);
    assert_eq!(r2.logs[0].data, hex0x(&40u128.to_le_bytes()));
    let heard: Vec<cinder_rpc::LogJson> = vec![
        tokio::time::timeout(Duration::from_secs(10), logs.next()).await.unwrap().unwrap().unwrap(),
        tokio::time::timeout(Duration::from_secs(10), logs.next()).await.unwrap().unwrap().unwrap(),
    ];
    assert_eq!((heard[0].block_hash, heard[1].block_hash), (b1.id(), b2.id()));
    assert_eq!(heard[1], r2.logs[0]);

    // cinder_call: read-only, nothing kept.
    let bal = |who: Address| CallRequest {
        to: Some(token),
        method: Some("balance_of".into()),
        args: Some(hex0x(&who.0)),
        ..CallRequest::default()
    };
    let q = c.call_contract(&bal(a[1]), None).await.unwrap();
    assert_eq!((q.status.as_str(), q.output.clone(), q.block_number), ("success", hex0x(&40u128.to_le_bytes()), 2));
    let at1 = c.call_contract(&bal(a[1]), Some(1)).await.unwrap();
    assert_eq!(at1.output, hex0x(&0u128.to_le_bytes()), "the state of block 1");
    let sim = CallRequest {
        from: Some(a[1]),
        to: Some(token),
        method: Some("transfer".into()),
        args: Some(hex0x(&transfer_args)),
        ..CallRequest::default()
    };
    let sim_r = c.call_contract(&sim, None).await.unwrap();
    assert_eq!((sim_r.status.as_str(), sim_r.events.len()), ("success", 1));
    let too_much =
        CallRequest { args: Some(hex0x(&[a[2].0.to_vec(), 41u128.to_le_bytes().to_vec()].concat())), ..sim.clone() };
    let failed = c.call_contract(&too_much, None).await.unwrap();
    assert_eq!((failed.status.as_str(), failed.reason.as_deref()), ("reverted", Some("insufficient balance")));
    assert_eq!(c.call_contract(&bal(a[1]), None).await.unwrap().output, q.output, "nothing was kept");
    let e = c.estimate_gas(&too_much).await.unwrap_err();
    assert_eq!(e.code(), Some(codes::CALL_FAILED), "{e}");
    assert!(e.to_string().contains("insufficient balance"), "{e}");

    // Code, storage, and a storage proof against the header's root.
    let code_json = c.code(token).await.unwrap().unwrap();
    assert_eq!(
        (code_json.code_hash, code_json.admin, code_json.creator),
        (Hash::of(cinder_contracts::TOKEN), None, a[0])
    );
    assert_eq!(code_json.code, hex0x(cinder_contracts::TOKEN));
    assert!(c.code(a[3]).await.unwrap().is_none());
    let key = [b"bal/".to_vec(), a[1].0.to_vec()].concat();
    assert_eq!(c.storage_at(token, &key).await.unwrap(), Some(hex0x(&40u128.to_le_bytes())));
    assert_eq!(c.storage_at(token, b"bal/nobody").await.unwrap(), None);
    let proof: cinder_rpc::ProofJson =
        c.call(m::GET_PROOF, vec![json!(token), json!(2), json!([hex0x(&key), "0x00"])]).await.unwrap();
    let root = b2.header.fields.state_root;
    assert_eq!(proof.state_root, root);
    assert_eq!(proof.storage.len(), 2);
    let p0 = DataProof::from_bytes(&hex::decode(&proof.storage[0].proof[2..]).unwrap()).unwrap();
    p0.verify(&root, cinder_state::KeyHash(proof.storage[0].tree_key.0), Some(&40u128.to_le_bytes())).unwrap();
    assert!(p0.verify(&root, cinder_state::KeyHash(proof.storage[0].tree_key.0), Some(&41u128.to_le_bytes())).is_err());
    assert_eq!(proof.storage[1].value, None);
    let p1 = DataProof::from_bytes(&hex::decode(&proof.storage[1].proof[2..]).unwrap()).unwrap();
    p1.verify(&root, cinder_state::KeyHash(proof.storage[1].tree_key.0), None).unwrap();

    // cinder_getLogs by contract, topic and range.
    let f = |from, to, topics: Vec<Option<OneOrMany<Hash>>>| LogFilter {
        from_block: Some(from),
        to_block: Some(to),
        address: Some(OneOrMany::One(token)),
        topics,
    };
    assert_eq!(c.logs(&f(0, 2, vec![])).await.unwrap().len(), 2);
    assert_eq!(c.logs(&f(2, 2, vec![])).await.unwrap(), r2.logs);
    let to_a1 = vec![None, None, Some(OneOrMany::Many(vec![Hash(a[1].0), Hash(a[5].0)]))];
    assert_eq!(c.logs(&f(0, 2, to_a1)).await.unwrap(), r2.logs);
    let by_topic = LogFilter {
        from_block: Some(0),
        to_block: Some(2),
        address: None,
        topics: vec![Some(OneOrMany::One(Hash::of(b"Transfer")))],
    };
    assert_eq!(c.logs(&by_topic).await.unwrap().len(), 2);

    // Bad requests: their codes, nothing changed.
    let bad: Vec<(&str, serde_json::Value, i32)> = vec![
        (m::CALL, json!([{ "to": token }]), codes::INVALID_PARAMS),
        (m::CALL, json!([{ "to": token, "method": "x", "args": "zz" }]), codes::INVALID_PARAMS),
        (m::CALL, json!([{ "to": token, "method": "x", "bogus": 1 }]), codes::INVALID_PARAMS),
        (m::CALL, json!([{ "to": token, "method": "balance_of" }, 99]), codes::UNKNOWN_BLOCK),
        (m::ESTIMATE_GAS, json!([{ "to": token, "method": "get" }]), codes::INVALID_PARAMS),
        (m::ESTIMATE_GAS, json!([{ "from": a[0], "code": "0x00", "to": token }]), codes::INVALID_PARAMS),
        (m::ESTIMATE_GAS, json!([{ "from": a[0], "code": "0x0061736d" }]), codes::CALL_FAILED),
        (m::GET_STORAGE_AT, json!([token, format!("0x{}", "00".repeat(129))]), codes::INVALID_PARAMS),
        (m::GET_LOGS, json!([{ "fromBlock": 2, "toBlock": 1 }]), codes::INVALID_PARAMS),
        // toBlock is clamped to the head: a range that starts past it is empty and refused.
        (m::GET_LOGS, json!([{ "fromBlock": 10, "toBlock": 5000 }]), codes::INVALID_PARAMS),
        (m::GET_LOGS, json!([{ "topics": [null, null, null, null, null] }]), codes::INVALID_PARAMS),
        (m::GET_PROOF, json!([token, 2, ["0xzz"]]), codes::INVALID_PARAMS),
    ];
    for (method, params, want) in bad {
        let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).unwrap();
        let (status, resp) = post(n.rpc.addr, &body).await;
        assert_eq!(status, 200);
        assert_eq!(code(&resp), i64::from(want), "{method} {params}: {resp}");
    }
    let bad_sub = ws
        .subscribe::<cinder_rpc::LogJson, _>(
            m::SUBSCRIBE,
            vec![json!("logs"), json!({ "fromBlock": 1 })],
            m::UNSUBSCRIBE,
        )
        .await;
    assert!(bad_sub.is_err());
    assert_eq!(c.block_number().await.unwrap(), 2);
    n.stop().await;
}
