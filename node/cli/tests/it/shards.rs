//! A sharded proof-of-work chain across two `cinder node` processes: one
//! mines and keeps every shard, the other starts later from nothing,
//! tracks shards 0 and 1 only (`--track-shards 0,1`), syncs over libp2p
//! and follows; both agree on the blocks and on the accounts of the shards
//! they share, and cross-shard transfers arrive.

use std::path::Path;
use std::process::{Command, Stdio};

use cinder_chain::workload::Accounts;
use cinder_primitives::{Transaction, TxKind, shard_of};
use cinder_rpc::Client;

use crate::testnet::{KillOnDrop, free_ports, rt, wait};

const BIN: &str = env!("CARGO_BIN_EXE_cinder");

fn spawn(dir: &Path, spec: &Path, rpc: u16, p2p: u16, extra: &[String]) -> KillOnDrop {
    let child = Command::new(BIN)
        .args(["node", "--chain"])
        .arg(spec)
        .arg("--datadir")
        .arg(dir)
        .args(["--rpc-port", &rpc.to_string(), "--metrics-addr", "off", "--p2p-addr"])
        .arg(format!("/ip4/127.0.0.1/tcp/{p2p}"))
        .args(extra)
        .env("CINDER_HIDE_GPU", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

/// Each devnet account pays the next one 1,000,000 at nonce 0 (a gas
/// price of 1 gwei) through `c`: the transactions' ids.
fn pay_round(c: &Client, accounts: &Accounts) -> Vec<cinder_primitives::Hash> {
    (0..8usize)
        .map(|i| {
            let tx = Transaction {
                chain_id: 1337,
                sender: accounts.keys[i].public_key(),
                nonce: 0,
                gas_limit: 21_000,
                gas_price: 1_000_000_000,
                kind: TxKind::Transfer { to: accounts.addresses[(i + 1) % 8], amount: 1_000_000 },
            }
            .sign(&accounts.keys[i]);
            rt().block_on(c.send(&tx)).unwrap()
        })
        .collect()
}

#[test]
fn a_node_tracking_two_of_three_shards_syncs_from_scratch_and_follows_a_miner() {
    let _s = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-shards", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The devnet spec with three shards, the easiest target and a genesis
    // of now.
    let now = cinder_chain::unix_now();
    let spec = cinder_chain::genesis::DEVNET_SPEC
        .replace("consensus = \"pow\"", "consensus = \"pow\"\nshards = 3")
        .replace("initial_bits = \"0x1d7fffff\"", "initial_bits = \"0x207fffff\"")
        .replace("genesis_time = 1767225600", &format!("genesis_time = {now}"));
    assert!(spec.contains("shards = 3") && spec.contains("initial_bits = \"0x207fffff\""));
    let spec_path = dir.join("sharded.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let accounts = Accounts::derive("cinder-devnet", 8);
    let base = free_ports(4, 30_000);
    let coinbase = accounts.addresses[0].to_string();
    let _miner = spawn(
        &dir.join("a"),
        &spec_path,
        base,
        base + 1,
        &["--mine".into(), "cpu".into(), "--mine-threads".into(), "1".into(), "--coinbase".into(), coinbase],
    );
    let a = Client::new(&format!("http://127.0.0.1:{base}")).unwrap();
    wait("the miner's RPC", || rt().block_on(a.block_number()).is_ok_and(|h| h >= 2));
    // Cross-shard transfers: account i pays account i + 1.
    let ids = pay_round(&a, &accounts);
    let included = |c: &Client| ids.iter().all(|id| rt().block_on(c.receipt(*id)).is_ok_and(|r| r.is_some()));
    wait("the transfers included", || included(&a));
    let mined = rt().block_on(a.block_number()).unwrap();

    // The follower: no mining, shards 0 and 1, from nothing.
    let peer = rt().block_on(a.net_info()).unwrap().peer_id;
    let boot = format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer}", base + 1);
    let _follower = spawn(
        &dir.join("b"),
        &spec_path,
        base + 2,
        base + 3,
        &["--mine".into(), "off".into(), "--track-shards".into(), "0,1".into(), "--bootnodes".into(), boot],
    );
    let b = Client::new(&format!("http://127.0.0.1:{}", base + 2)).unwrap();
    wait("the follower to sync past the transfers", || rt().block_on(b.block_number()).is_ok_and(|h| h >= mined + 2));
    // It follows: the same block at a height both have.
    let h = rt().block_on(b.block_number()).unwrap();
    let hash = |c: &Client| rt().block_on(c.block_by_number(h, false)).unwrap().map(|b| b.hash);
    wait("the same block at the follower's height", || hash(&a).is_some() && hash(&a) == hash(&b));
    // Accounts of the shards both keep agree at the follower's head; the
    // third shard's are not kept there, and it says so.
    let mut untracked = 0;
    for (i, addr) in accounts.addresses.iter().enumerate().skip(1) {
        let on_b = rt().block_on(b.balance(*addr));
        if shard_of(addr, 3) == 2 {
            let e = on_b.expect_err("shard 2 is not tracked");
            assert!(e.to_string().contains("does not track shard 2"), "{e}");
            untracked += 1;
            continue;
        }
        // Paid one transfer and its fee, received one (a block later when
        // it crossed shards): final by now.
        let want = 1_000_000 * 10u128.pow(18) - 21_000 * 1_000_000_000;
        assert_eq!(on_b.unwrap(), want, "account {i}");
        assert_eq!(rt().block_on(a.balance(*addr)).unwrap(), want, "account {i} on the miner");
    }
    let s = rt().block_on(b.shard_of(accounts.addresses[3])).unwrap();
    assert_eq!((s.shard, s.shards), (shard_of(&accounts.addresses[3], 3), 3));
    eprintln!("{untracked} of the 7 checked accounts are on the untracked shard");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The testnet: four validator processes of a proof-of-stake chain
/// of four shards, two keeping every shard and two keeping fewer (node 2
/// shard 0 only, node 3 shards 0 and 1). They finalize the same blocks;
/// cross-shard transfers sent to node 0 arrive; each node answers for the
/// accounts of its shards and says it does not track the others.
#[test]
fn a_four_validator_testnet_of_four_shards_with_two_partial_nodes_agrees_on_every_block() {
    let _s = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-shards-pos", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rpc = free_ports(4, 20_000);
    let p2p = free_ports(4, rpc + 10);
    let flags = ["--consensus", "pos", "--shards", "4", "--track", "2=0", "--track", "3=0,1"];
    let net = crate::testnet::Testnet::start_with(&dir, rpc, p2p, &flags, &[("CINDER_HIDE_GPU", "1")]);
    let c: Vec<&Client> = net.nodes.iter().map(|m| &m.client).collect();
    wait("blocks", || rt().block_on(c[0].block_number()).is_ok_and(|h| h >= 2));
    let accounts = Accounts::derive("cinder-devnet", 8);
    let ids = pay_round(c[0], &accounts);
    wait("the transfers included", || ids.iter().all(|id| rt().block_on(c[0].receipt(*id)).is_ok_and(|r| r.is_some())));
    let included = rt().block_on(c[0].block_number()).unwrap();
    // Every node finalizes past the block after them (the receipts applied).
    for (i, n) in c.iter().enumerate() {
        wait(&format!("node {i} to finalize past the transfers"), || {
            rt().block_on(n.call::<u64>(cinder_rpc::methods::FINALIZED_BLOCK_NUMBER, vec![]))
                .is_ok_and(|f| f > included)
        });
    }
    let hash = |n: &Client, h: u64| rt().block_on(n.block_by_number(h, false)).unwrap().map(|b| b.hash);
    for h in 1..=included + 1 {
        let want = hash(c[0], h);
        assert!(want.is_some());
        for (i, n) in c.iter().enumerate().skip(1) {
            assert_eq!(hash(n, h), want, "node {i} at height {h}");
        }
    }
    // Balances, read at each node's head (the transfers are final by now).
    let tracked = [vec![0u16, 1, 2, 3], vec![0, 1, 2, 3], vec![0], vec![0, 1]];
    let want = 1_000_000 * 10u128.pow(18) - 21_000 * 1_000_000_000;
    for (i, n) in c.iter().enumerate() {
        for (j, a) in accounts.addresses.iter().enumerate() {
            let shard = shard_of(a, 4);
            let got = rt().block_on(n.balance(*a));
            if tracked[i].contains(&shard) {
                assert_eq!(got.unwrap(), want, "node {i}, account {j} on shard {shard}");
            } else {
                let e = got.expect_err("not tracked");
                assert!(e.to_string().contains(&format!("does not track shard {shard}")), "{e}");
            }
        }
    }
    net.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
