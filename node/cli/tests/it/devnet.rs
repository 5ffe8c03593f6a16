//! The devnet end to end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cinder_primitives::Address;
use cinder_rpc::Client;

const BIN: &str = env!("CARGO_BIN_EXE_cinder");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinder-cli-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

struct Devnet {
    child: Child,
    url: String,
    lines: mpsc::Receiver<String>,
}

impl Devnet {
    fn start(datadir: &Path) -> Devnet {
        Devnet::start_with(datadir, &[])
    }

    fn start_with(datadir: &Path, flags: &[&str]) -> Devnet {
        let mut child = Command::new(BIN)
            .args(["devnet", "--rpc-port", "0", "--metrics-addr", "off", "--datadir"])
            .arg(datadir)
            .args(flags)
            .env("CINDER_HIDE_GPU", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = crate::stdout_lines(&mut child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let Ok(l) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no RPC: line within 60 s");
            };
            if let Some(url) = l.strip_prefix("RPC: ") {
                return Devnet { child, url: url.to_string(), lines };
            }
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.url).unwrap()
    }

    /// SIGTERM, and the clean shutdown's last line.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
        self.lines.try_iter().filter(|l| l.starts_with("Stopped")).last().expect("no Stopped line")
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

pub(crate) fn wallet(keystore: &Path, pw: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("wallet")
        .args(args)
        .arg("--keystore")
        .arg(keystore)
        .arg("--password-file")
        .arg(pw)
        .args(["--rpc", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "wallet {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn wait_height(c: &Client, h: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while rt().block_on(c.block_number()).unwrap() < h {
        assert!(Instant::now() < deadline, "height {h} not reached");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn devnet_wallet_transfer_restarts_and_checkpoints() {
    let _serial = crate::serial();
    let dir = tmp("devnet");
    let data = dir.join("data");
    let keystore = dir.join("keystore");
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();

    let d = Devnet::start(&data);
    let url = d.url.clone();
    let me = wallet(&keystore, &pw, &url, &["new", "--scrypt-log-n", "12"]);
    let me_addr = Address::from_hex(&me).unwrap();
    let dev0 = wallet(&keystore, &pw, &url, &["import", "--devnet", "0", "--scrypt-log-n", "12"]);
    let listed = wallet(&keystore, &pw, &url, &["list"]);
    assert!(listed.contains(&me) && listed.contains(&dev0), "{listed}");
    let hash =
        wallet(&keystore, &pw, &url, &["send", "--from", &dev0, "--to", &me, "--amount", "1.5CIN", "--wait", "300"]);
    let c = d.client();
    let receipt = rt().block_on(c.receipt(cinder_primitives::Hash::from_hex(&hash).unwrap())).unwrap().unwrap();
    assert_eq!(receipt.status, "success");
    assert_eq!(rt().block_on(c.balance(me_addr)).unwrap(), 1_500_000_000_000_000_000);
    let shown = wallet(&keystore, &pw, &url, &["tx", &hash]);
    assert!(shown.contains("\"status\": \"success\""), "{shown}");

    // A clean restart keeps the chain.
    let height = rt().block_on(c.block_number()).unwrap();
    let stopped = d.stop();
    assert!(stopped.starts_with("Stopped at height"), "{stopped}");
    let d = Devnet::start(&data);
    let c = d.client();
    assert!(rt().block_on(c.block_number()).unwrap() >= height);
    assert_eq!(rt().block_on(c.balance(me_addr)).unwrap(), 1_500_000_000_000_000_000);

    // SIGKILL loses no block the RPC reported.
    wait_height(&c, height + 2);
    let reported = rt().block_on(c.block_number()).unwrap();
    let block = rt().block_on(c.block_by_number(reported, false)).unwrap().unwrap();
    d.kill();
    let d = Devnet::start(&data);
    let c = d.client();
    let again = rt().block_on(c.block_by_number(reported, false)).unwrap().unwrap();
    assert_eq!(again.hash, block.hash);
    let genesis = rt().block_on(c.block_by_number(0, false)).unwrap().unwrap().hash;
    d.stop();

    // A checkpoint restored elsewhere continues the chain.
    let cp = dir.join("checkpoint");
    let data2 = dir.join("data2");
    crate::db("checkpoint", &cp, &data);
    crate::db("restore", &cp, &data2);
    let d = Devnet::start(&data2);
    let c = d.client();
    assert_eq!(rt().block_on(c.block_by_number(0, false)).unwrap().unwrap().hash, genesis);
    assert_eq!(rt().block_on(c.block_by_number(reported, false)).unwrap().unwrap().hash, block.hash);
    wait_height(&c, reported + 2);
    assert_eq!(rt().block_on(c.balance(me_addr)).unwrap(), 1_500_000_000_000_000_000);
    d.stop();
    // A second restore over existing data needs --force.
    let out = Command::new(BIN).args(["db", "restore"]).arg(&cp).arg("--datadir").arg(&data2).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `devnet --consensus pos`: one validator, every block final as it is
/// made; a wallet transfer, its certificate, and the chain and the
/// double-sign guard surviving a clean stop and a SIGKILL.
#[test]
fn pos_devnet_finalizes_each_block_and_survives_restarts() {
    let _serial = crate::serial();
    let dir = tmp("pos-devnet");
    let data = dir.join("data");
    let keystore = dir.join("keystore");
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("pw");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let d = Devnet::start_with(&data, &["--consensus", "pos"]);
    let c = d.client();
    let me = wallet(&keystore, &pw, &d.url, &["new", "--scrypt-log-n", "12"]);
    let dev0 = wallet(&keystore, &pw, &d.url, &["import", "--devnet", "0", "--scrypt-log-n", "12"]);
    let hash =
        wallet(&keystore, &pw, &d.url, &["send", "--from", &dev0, "--to", &me, "--amount", "2CIN", "--wait", "120"]);
    let receipt = rt().block_on(c.receipt(cinder_primitives::Hash::from_hex(&hash).unwrap())).unwrap().unwrap();
    assert_eq!(receipt.status, "success");
    let fin = rt().block_on(c.finalized_block_number()).unwrap();
    assert!(fin >= receipt.block_number, "finalized {fin}, receipt in {}", receipt.block_number);
    let b = rt().block_on(c.block_by_number(receipt.block_number, false)).unwrap().unwrap();
    let pos = b.pos.expect("PoS fields in the block");
    assert_eq!(pos.timestamp_ms / 1000, b.timestamp);
    assert_eq!(pos.proposer, 0);
    assert_eq!(pos.has_last_commit, receipt.block_number > 1);
    let cert = rt().block_on(c.commit(receipt.block_number)).unwrap().expect("certificate");
    assert_eq!(cert.signatures.len(), 1);
    assert_eq!(cert.signed_power, cert.total_voting_power);
    let set = rt().block_on(c.validators(None)).unwrap();
    assert_eq!(set.validators.len(), 1);
    assert!(std::fs::metadata(data.join("validator.key")).is_ok());

    // Staking from the wallet: a delegation (`bond`), its stake shown, rewards
    // withdrawn, a refused undelegation (more than held) with its reason,
    // and a second validator created with a new key file.
    let op = set.validators[0].address.to_string();
    let w = |args: &[&str]| wallet(&keystore, &pw, &d.url, args);
    w(&["stake", "bond", "--from", &dev0, "--validator", &op, "--amount", "10CIN", "--wait", "120"]);
    let shown: serde_json::Value =
        serde_json::from_str(&w(&["stake", "show", "--validator", &op, "--delegator", &dev0])).unwrap();
    assert_eq!(shown["stake"], "10000000000000000000", "{shown}");
    assert_eq!(shown["active"], true);
    w(&["stake", "withdraw", "--from", &dev0, "--validator", &op, "--wait", "120"]);
    let out = Command::new(BIN)
        .args(["wallet", "--keystore"])
        .arg(&keystore)
        .arg("--password-file")
        .arg(&pw)
        .args(["--rpc", &d.url, "stake", "undelegate", "--from", &dev0, "--validator", &op])
        .args(["--amount", "11CIN", "--wait", "120"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("undelegating"), "{out:?}");
    let dev1 = wallet(&keystore, &pw, &d.url, &["import", "--devnet", "1", "--scrypt-log-n", "12"]);
    let vkey = dir.join("second-validator.key");
    let vkey_s = vkey.to_string_lossy().to_string();
    let create = ["stake", "create", "--from", &dev1, "--validator-key", &vkey_s, "--commission-bps", "500"];
    w(&[&create[..], &["--amount", "5CIN", "--wait", "120"]].concat());
    let second: serde_json::Value = serde_json::from_str(&w(&["stake", "show", "--validator", &dev1])).unwrap();
    assert_eq!(second["tokens"], "5000000000000000000", "{second}");
    assert_eq!(second["commissionBps"], 500);
    assert_eq!(second["active"], false, "not before the epoch ends");
    assert!(std::fs::metadata(&vkey).is_ok());

    let stopped = d.stop();
    assert!(stopped.starts_with("Stopped at height"), "{stopped}");
    let d = Devnet::start_with(&data, &["--consensus", "pos"]);
    let c = d.client();
    let h = rt().block_on(c.block_number()).unwrap();
    wait_height(&c, h + 2);
    d.kill();
    let d = Devnet::start_with(&data, &["--consensus", "pos"]);
    let c = d.client();
    let h = rt().block_on(c.block_number()).unwrap();
    wait_height(&c, h + 2);
    assert!(rt().block_on(c.finalized_block_number()).unwrap() >= h + 2);
    assert_eq!(rt().block_on(c.balance(Address::from_hex(&me).unwrap())).unwrap(), 2_000_000_000_000_000_000);
    let out = d.stop();
    assert!(out.starts_with("Stopped"), "{out}");
    // A PoW devnet's folder is not silently turned into a PoS one.
    let pow = dir.join("pow");
    let d = Devnet::start(&pow);
    d.stop();
    let out = Command::new(BIN).args(["devnet", "--consensus", "pos", "--datadir"]).arg(&pow).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("proof-of-work devnet"), "{out:?}");
    let out = Command::new(BIN)
        .args(["devnet", "--consensus", "pos", "--mine", "cpu", "--datadir"])
        .arg(dir.join("x"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not mined"), "{out:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_flags_and_files_get_clear_errors() {
    let _serial = crate::serial();
    let dir = tmp("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "rpc_prot = 1\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["node".into(), "--datadir".into(), dir.display().to_string()], "--chain"),
        (
            vec!["node".into(), "--chain".into(), "devnet".into(), "--config".into(), cfg.display().to_string()],
            "rpc_prot",
        ),
        (vec!["node".into(), "--chain".into(), dir.join("none.toml").display().to_string()], "none.toml"),
        (
            vec!["devnet".into(), "--coinbase".into(), "0x12".into(), "--datadir".into(), dir.display().to_string()],
            "--coinbase",
        ),
        (
            vec![
                "wallet".into(),
                "send".into(),
                "--from".into(),
                "0x00".into(),
                "--to".into(),
                "0x00".into(),
                "--amount".into(),
                "1".into(),
            ],
            "address",
        ),
        (
            vec![
                "db".into(),
                "checkpoint".into(),
                dir.join("cp").display().to_string(),
                "--datadir".into(),
                dir.join("none").display().to_string(),
            ],
            "no chain data",
        ),
    ];
    let mut cases = cases;
    let node = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["node", "--chain", "devnet", "--datadir"].iter().map(|s| s.to_string()).collect();
        v.push(dir.join("p2p").display().to_string());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    cases.push((node(&["--p2p-addr", "nonsense"]), "--p2p-addr"));
    cases.push((node(&["--bootnodes", "/ip4/127.0.0.1/tcp/1"]), "/p2p/<peer id>"));
    cases.push((node(&["--peer-allowlist", "not-a-peer"]), "--peer-allowlist"));
    cases.push((node(&["--max-peers", "0"]), "--max-peers"));
    cases.push((node(&["--explorer-addr", "nonsense"]), "--explorer-addr"));
    let loose = dir.join("loose.key");
    std::fs::write(&loose, [7u8; 32]).unwrap();
    cases.push((node(&["--node-key", &loose.display().to_string()]), "readable by others"));
    cases.push((
        vec!["testnet".into(), "--nodes".into(), "0".into(), "--datadir".into(), dir.display().to_string()],
        "--nodes",
    ));
    for (args, want) in cases {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A node whose stdout reader goes away (`cinder devnet | head -1`, a
/// supervisor that stopped reading) keeps running: what it prints after
/// that is dropped, not a panic.
#[test]
fn a_closed_stdout_does_not_stop_the_node() {
    use std::io::BufRead;
    let _s = crate::serial();
    let dir = tmp("closed-stdout");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(BIN)
        .args(["devnet", "--rpc-port", &port.to_string(), "--metrics-addr", "off", "--datadir"])
        .arg(&dir)
        .env("CINDER_HIDE_GPU", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read the first line only, then close the pipe: the rest of the
    // start-up lines and the status lines meet a closed pipe.
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    drop(out);
    // The status line comes every 10 s when stdout is not a terminal.
    std::thread::sleep(Duration::from_secs(12));
    let alive = matches!(child.try_wait(), Ok(None));
    let height = rt().block_on(Client::new(&format!("http://127.0.0.1:{port}")).unwrap().block_number());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(alive, "the node exited when its stdout closed (first line {first:?})");
    assert!(height.is_ok(), "{height:?}");
}
