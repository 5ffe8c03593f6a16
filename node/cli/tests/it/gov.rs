//! Governance on `cinder testnet --consensus pos`: a live vote from the
//! wallet changes a parameter on all four nodes at the same height; an
//! upgrade proposal passes, every node stops at the upgrade's height with
//! the message, and the nodes restarted with a binary that knows the
//! upgrade (`--test-upgrade`) go on from there.

use std::process::{Command, Stdio};

use cinder_rpc::{Client, ParamsJson, ProposalJson, methods as m};
use serde_json::json;

use crate::devnet::wallet;
use crate::testnet::{KillOnDrop, Testnet, agree, alive, free_ports, rt, wait};

const PERIOD: u64 = 20;

fn finalized(c: &Client) -> u64 {
    rt().block_on(c.finalized_block_number()).unwrap_or(0)
}

fn params(c: &Client) -> ParamsJson {
    rt().block_on(c.call(m::GET_PARAMS, vec![])).unwrap()
}

fn proposal(c: &Client, id: u64) -> Option<ProposalJson> {
    rt().block_on(c.call(m::GET_PROPOSAL, vec![json!(id)])).unwrap()
}

#[test]
fn pos_testnet_votes_a_parameter_change_and_stops_and_resumes_at_an_upgrade() {
    let _serial = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-gov", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rpc = free_ports(4, 21_400);
    let p2p = free_ports(4, 41_400);
    let period = PERIOD.to_string();
    let net = Testnet::start_with(
        &dir,
        rpc,
        p2p,
        &["--consensus", "pos", "--block-interval-ms", "300", "--voting-period", &period],
        &[],
    );
    let c: Vec<&Client> = net.nodes.iter().map(|m| &m.client).collect();
    let url = format!("http://127.0.0.1:{rpc}");
    wait("four validators to finalize block 1", || c.iter().all(|c| finalized(c) >= 1));

    // A keystore with devnet account 0 (the proposer) and the four
    // validators' keys (their operators hold stake and fees).
    let ks = dir.join("keystore");
    let pw = dir.join("password");
    std::fs::write(&pw, "gov-test\n").unwrap();
    let w = |args: &[&str]| wallet(&ks, &pw, &url, args);
    let proposer = w(&["import", "--devnet", "0", "--scrypt-log-n", "10"]);
    let validators: Vec<String> = (0..4)
        .map(|i| {
            let seed = std::fs::read(dir.join(format!("node-{i}/validator.key"))).unwrap();
            let hex_file = dir.join(format!("validator-{i}.hex"));
            std::fs::write(&hex_file, hex::encode(seed)).unwrap();
            w(&["import", "--secret-file", hex_file.to_str().unwrap(), "--scrypt-log-n", "10"])
        })
        .collect();

    // 1. Raise nothing, lower the block gas limit: proposal 0, voted by
    //    three validators for and one against.
    assert_eq!(params(c[0]).params["block_gas_limit"], "600000000");
    let out = w(&[
        "gov",
        "propose",
        "--from",
        &proposer,
        "--title",
        "lower the block gas limit",
        "--deposit",
        "10CIN",
        "--param",
        "block_gas_limit=50000000",
        "--wait",
        "120",
    ]);
    assert!(out.starts_with("0x"), "{out}");
    for (i, option) in ["yes", "yes", "yes", "no"].iter().enumerate() {
        w(&["gov", "vote", "--from", &validators[i], "--proposal", "0", "--option", option, "--wait", "120"]);
    }
    let p = proposal(c[1], 0).unwrap();
    assert_eq!(p.status, "voting_period");
    assert_eq!(p.voters, 4);
    let end = p.voting_end.unwrap();
    wait("the tally block to be final everywhere", || c.iter().all(|c| finalized(c) > end) && agree(&c, end + 1));
    for (i, n) in c.iter().enumerate() {
        let p = proposal(n, 0).unwrap();
        assert_eq!(p.status, "passed", "node {i}: {}", p.note);
        assert_eq!(params(n).params["block_gas_limit"], "50000000", "node {i}");
    }
    // The tally block is the same block (so the same state root) on all.
    let at_end: Vec<_> = c.iter().map(|n| crate::testnet::block_at(n, end).unwrap()).collect();
    assert!(at_end.iter().all(|b| *b == at_end[0]));
    // A bad vote is refused by the wallet before anything is sent.
    let out = Command::new(env!("CARGO_BIN_EXE_cinder"))
        .args(["wallet", "gov", "vote", "--from", &validators[0], "--proposal", "0", "--option", "maybe"])
        .arg("--keystore")
        .arg(&ks)
        .arg("--password-file")
        .arg(&pw)
        .args(["--rpc", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one of yes, no"));

    // 2. An upgrade: it passes, and every node stops at its height.
    let now = rt().block_on(c[0].block_number()).unwrap();
    let height = now + 2 * PERIOD + 10;
    let h = height.to_string();
    w(&[
        "gov",
        "propose",
        "--from",
        &proposer,
        "--title",
        "the test upgrade",
        "--deposit",
        "10CIN",
        "--upgrade",
        "cinder-test-upgrade",
        "--upgrade-height",
        &h,
        "--upgrade-info",
        "built with --test-upgrade",
        "--wait",
        "120",
    ]);
    for v in &validators[..3] {
        w(&["gov", "vote", "--from", v, "--proposal", "1", "--option", "yes", "--wait", "120"]);
    }
    wait("every node to stop at the upgrade", || net.nodes.iter().all(|m| !alive(m.pid)));
    for i in 0..4 {
        let log = std::fs::read_to_string(dir.join(format!("node-{i}/node.log"))).unwrap();
        let want = format!("UPGRADE \"cinder-test-upgrade\" NEEDED at height {height}");
        assert!(log.contains(&want), "node {i} did not say {want}");
    }

    // 3. Restarted with the upgrade's handler, they go on from there.
    let restarted: Vec<KillOnDrop> = (0..4)
        .map(|i| {
            let cmdline: Vec<String> = std::fs::read_to_string(dir.join(format!("node-{i}/command")))
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            KillOnDrop(
                Command::new(&cmdline[0])
                    .args(&cmdline[1..])
                    .arg("--test-upgrade")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    wait("the upgraded nodes to finalize past the upgrade", || {
        c.iter().all(|c| finalized(c) >= height + 2) && agree(&c, height + 2)
    });
    for n in &c {
        let p = params(n);
        assert_eq!(p.applied_upgrades.len(), 1);
        assert_eq!(
            (p.applied_upgrades[0].name.as_str(), p.applied_upgrades[0].height),
            ("cinder-test-upgrade", height)
        );
        assert_eq!(p.upgrade_plan, None);
    }
    net.stop();
    drop(restarted);
    let _ = std::fs::remove_dir_all(&dir);
}
