//! `cinder testnet`: four `cinder node` processes on loopback converge,
//! spread a transaction, split 2|2 and heal onto the heaviest chain,
//! survive a SIGKILL, stop cleanly and continue from their data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cinder_chain::workload::Accounts;
use cinder_primitives::{Hash, Transaction, TxKind};
use cinder_rpc::Client;

const BIN: &str = env!("CARGO_BIN_EXE_cinder");
/// Every wait allows far more than it takes (a few blocks of ~5 s) so a
/// loaded 2-core CI does not flake.
const WAIT: Duration = Duration::from_secs(600);

pub(crate) struct Member {
    pub(crate) pid: u32,
    pub(crate) client: Client,
    pub(crate) peer_id: String,
}

pub(crate) struct Testnet {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub(crate) nodes: Vec<Member>,
    stopped: bool,
}

impl Drop for Testnet {
    /// A failed test still stops its processes: the nodes run in their own
    /// process groups and would outlive the test, mining.
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for m in &self.nodes {
            let _ = Command::new("kill").args(["-KILL", &m.pid.to_string()]).status();
        }
    }
}

/// `n` consecutive ports free for TCP and UDP on loopback, from `lo` up.
pub(crate) fn free_ports(n: u16, lo: u16) -> u16 {
    let seed = u16::try_from(std::process::id() % 1000).unwrap();
    (0..200u16)
        .map(|k| lo + (seed * 7 + k * 37) % 10_000)
        .find(|&base| {
            (base..base + n).all(|p| {
                std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                    && std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
            })
        })
        .expect("no free port range")
}

/// One runtime for every call: the clients' pooled connections live on it
/// (a runtime per call would strand them).
pub(crate) fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap())
}

impl Testnet {
    fn start(dir: &Path, rpc: u16, p2p: u16) -> Testnet {
        Testnet::start_with(dir, rpc, p2p, &[], &[])
    }

    /// [`Testnet::start`] with more `cinder testnet` flags and environment.
    pub(crate) fn start_with(dir: &Path, rpc: u16, p2p: u16, flags: &[&str], env: &[(&str, &str)]) -> Testnet {
        let mut child = Command::new(BIN)
            .args(["testnet", "--nodes", "4", "--metrics-port", "0"])
            .args(["--rpc-port", &rpc.to_string(), "--p2p-port", &p2p.to_string(), "--datadir"])
            .arg(dir)
            .args(flags)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = crate::stdout_lines(&mut child);
        let mut nodes = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while nodes.len() < 4 {
            let l = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("node lines");
            // node 0: pid 123 | RPC http://127.0.0.1:8545 | p2p /ip4/.../p2p/<id> | mining
            let Some(rest) = l.strip_prefix(&format!("node {}: pid ", nodes.len())) else { continue };
            let parts: Vec<&str> = rest.split(" | ").collect();
            let pid = parts[0].parse().unwrap();
            let url = parts[1].strip_prefix("RPC ").unwrap();
            let peer_id = parts[2].rsplit('/').next().unwrap().to_string();
            nodes.push(Member { pid, client: Client::new(url).unwrap(), peer_id });
        }
        Testnet { child, lines, nodes, stopped: false }
    }

    /// SIGTERM; every node stops and the command exits cleanly.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        self.stopped = true;
        assert!(status.success(), "{status}");
        let lines: Vec<String> = self.lines.try_iter().collect();
        assert!(lines.iter().any(|l| l == "Stopped."), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("did not stop")), "{lines:?}");
        for m in &self.nodes {
            assert!(!alive(m.pid), "node pid {} still runs", m.pid);
        }
    }
}

/// A process killed if the test fails before it is stopped.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub(crate) fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

pub(crate) fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn height(c: &Client) -> u64 {
    rt().block_on(c.block_number()).unwrap_or(0)
}

/// (hash, state root) of block `h` on `c`, if it has one.
pub(crate) fn block_at(c: &Client, h: u64) -> Option<(Hash, Hash)> {
    rt().block_on(c.block_by_number(h, false)).ok().flatten().map(|b| (b.hash, b.state_root))
}

/// Whether all of `clients` hold the same block (and state root) at the
/// lowest of their heights, and it is at least `min`.
pub(crate) fn agree(clients: &[&Client], min: u64) -> bool {
    let h = clients.iter().map(|c| height(c)).min().unwrap_or(0);
    if h < min {
        return false;
    }
    let first = block_at(clients[0], h);
    first.is_some() && clients.iter().all(|c| block_at(c, h) == first)
}

fn peer_ids(c: &Client) -> Vec<String> {
    let mut v: Vec<String> = rt().block_on(c.peers()).unwrap_or_default().into_iter().map(|p| p.id).collect();
    v.sort();
    v
}

#[test]
fn testnet_converges_partitions_heals_survives_sigkill_and_continues() {
    let _serial = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-testnet", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rpc = free_ports(4, 20_000);
    let p2p = free_ports(4, 40_000);
    let net = Testnet::start(&dir, rpc, p2p);
    let c: Vec<&Client> = net.nodes.iter().map(|m| &m.client).collect();
    let id = |i: usize| net.nodes[i].peer_id.clone();

    // 1. A full mesh (nodes 2 and 3 only knew the bootnode: Kademlia) on
    //    one chain.
    wait("a full mesh", || c.iter().all(|c| peer_ids(c).len() == 3));
    wait("one chain of at least 2 blocks", || agree(&c, 2));

    // 2. A transaction sent to node 3 is included and seen by all.
    let keys = Accounts::derive("cinder-devnet", 8);
    let tx = Transaction {
        chain_id: rt().block_on(c[3].chain_id()).unwrap(),
        sender: keys.keys[5].public_key(),
        nonce: 0,
        gas_limit: 21_000,
        gas_price: rt().block_on(c[3].gas_price()).unwrap(),
        kind: TxKind::Transfer { to: keys.addresses[6], amount: 12_345 },
    }
    .sign(&keys.keys[5]);
    let txid = rt().block_on(c[3].send(&tx)).unwrap();
    wait("the transaction's receipt on every node", || {
        c.iter().all(|c| rt().block_on(c.receipt(txid)).ok().flatten().is_some_and(|r| r.status == "success"))
    });

    // 3. Partition {0, 1} | {2, 3}: nodes 0 and 2 mine on either side.
    let token = std::fs::read_to_string(dir.join("admin.token")).unwrap().trim().to_string();
    let sides = [(0, 1), (1, 0), (2, 3), (3, 2)];
    for (me, other) in sides {
        rt().block_on(c[me].set_peer_filter(&token, Some(vec![id(other)]))).unwrap();
    }
    wait("the partition", || sides.iter().all(|(me, other)| peer_ids(c[*me]) == vec![id(*other)]));
    let split = c.iter().map(|c| height(c)).max().unwrap();
    wait("both sides to mine their own blocks", || {
        height(c[0]) >= split + 2 && height(c[2]) >= split + 2 && block_at(c[0], split + 1) != block_at(c[2], split + 1)
    });
    let left = block_at(c[0], split + 1);
    let right = block_at(c[2], split + 1);

    // 4. Heal: everyone ends on one chain, so one side reorganised.
    for cl in &c {
        rt().block_on(cl.set_peer_filter(&token, None)).unwrap();
    }
    let top = c.iter().map(|c| height(c)).max().unwrap();
    wait("all to agree past the partition", || agree(&c, top));
    let now = block_at(c[0], split + 1);
    assert!(now == left || now == right, "the winning chain is one of the two sides");
    assert!(c.iter().all(|cl| block_at(cl, split + 1) == now));

    // 5. SIGKILL node 3, let the others move on, start it again with its
    //    own command line: it catches up.
    let pid = net.nodes[3].pid.to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let at = height(c[0]);
    wait("the others to mine on", || height(c[0]) >= at + 2);
    let cmdline: Vec<String> =
        std::fs::read_to_string(dir.join("node-3/command")).unwrap().lines().map(String::from).collect();
    let mut again = KillOnDrop(
        Command::new(&cmdline[0]).args(&cmdline[1..]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let target = height(c[0]);
    wait("the restarted node to catch up", || agree(&c, target));
    assert!(Command::new("kill").args(["-TERM", &again.0.id().to_string()]).status().unwrap().success());
    assert!(again.0.wait().unwrap().success());

    // 6. A backup of node 3's stopped data restored into a new data
    //    directory: node 3 runs from it, continues the chain and holds the
    //    same blocks and state roots as node 0, which never stopped.
    let home = dir.join("node-3");
    let backup = dir.join("node-3-backup");
    let restored = dir.join("node-3-restored");
    crate::db("backup", &backup, &home);
    crate::db("restore", &backup, &restored);
    let cmdline: Vec<String> = cmdline
        .iter()
        .map(|a| if *a == home.display().to_string() { restored.display().to_string() } else { a.clone() })
        .collect();
    assert!(cmdline.contains(&restored.display().to_string()), "{cmdline:?}");
    let mut from_backup = KillOnDrop(
        Command::new(&cmdline[0]).args(&cmdline[1..]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let target = height(c[0]) + 2;
    wait("the restored node to continue the chain with the others", || agree(&c, target));
    let h = height(c[3]).min(height(c[0]));
    assert_eq!(block_at(c[3], h), block_at(c[0], h), "same block and state root at {h}");
    assert!(Command::new("kill").args(["-TERM", &from_backup.0.id().to_string()]).status().unwrap().success());
    assert!(from_backup.0.wait().unwrap().success());

    // 7. Ctrl-C (SIGTERM) stops all; the same data directory continues.
    net.stop();
    let before = block_at_dir(&dir);
    let net = Testnet::start(&dir, rpc, p2p);
    let c0 = &net.nodes[0].client;
    wait("the network to continue its chain", || height(c0) > before);
    net.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Node 0's height as its last log line says.
fn block_at_dir(dir: &Path) -> u64 {
    let log = std::fs::read_to_string(PathBuf::from(dir).join("node-0/node.log")).unwrap();
    log.lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("Stopped at height ").and_then(|r| r.split(' ').next()).and_then(|h| h.parse().ok())
        })
        .expect("node 0 logged where it stopped")
}

/// What deploy/compose.yaml runs, outside containers: `cinder testnet
/// --init` prepares a four-validator network (twice: the second run keeps
/// the keys), deploy/testnet/validator.sh starts each validator from it
/// with the node's environment variables, the network finalizes, and
/// `cinder health` (the image's health check) says so — and says when a
/// node is down.
#[test]
fn the_compose_validator_script_runs_a_finalizing_testnet() {
    let _serial = crate::serial();
    let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-compose", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/testnet/validator.sh");
    let init = || {
        let out = Command::new(BIN)
            .args(["testnet", "--consensus", "pos", "--nodes", "4", "--init", "--datadir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(text.matches("| validator").count(), 4, "{text}");
        (0..4).map(|i| std::fs::read_to_string(dir.join(format!("node-{i}/peer-id"))).unwrap()).collect::<Vec<_>>()
    };
    let ids = init();
    let spec = std::fs::read(dir.join("devnet.toml")).unwrap();
    assert_eq!(init(), ids, "a second --init keeps the keys");
    assert_eq!(std::fs::read(dir.join("devnet.toml")).unwrap(), spec, "and the spec");

    let rpc = free_ports(4, 21_000);
    let p2p = free_ports(4, 41_000);
    let validator = |i: u16| {
        let mut c = Command::new("sh");
        c.arg(&script)
            .env("CINDER_BIN", BIN)
            .env("CINDER_NET", &dir)
            .env("CINDER_INDEX", i.to_string())
            .env("CINDER_BOOTNODE", format!("/ip4/127.0.0.1/tcp/{p2p}"))
            .env("CINDER_RPC_PORT", (rpc + i).to_string())
            .env("CINDER_P2P_ADDR", format!("/ip4/127.0.0.1/tcp/{}", p2p + i))
            .env("CINDER_EXTERNAL_ADDR", format!("/ip4/127.0.0.1/tcp/{}", p2p + i))
            .env("CINDER_METRICS_ADDR", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // A node the preparation does not know is refused with the reason.
    let out = validator(7).stderr(Stdio::piped()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("node-7/node.key"), "{out:?}");

    let mut nodes: Vec<KillOnDrop> = (0..4).map(|i| KillOnDrop(validator(i).spawn().unwrap())).collect();
    let clients: Vec<Client> = (0..4).map(|i| Client::new(&format!("http://127.0.0.1:{}", rpc + i)).unwrap()).collect();
    let c: Vec<&Client> = clients.iter().collect();
    wait("every validator to finalize height 3", || {
        c.iter().all(|c| rt().block_on(c.finalized_block_number()).unwrap_or(0) >= 3)
    });
    wait("one chain", || agree(&c, 3));
    let health = |i: u16, synced: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["health", "--timeout", "3", "--rpc", &format!("http://127.0.0.1:{}", rpc + i)]);
        if synced {
            cmd.arg("--synced");
        }
        cmd.output().unwrap()
    };
    let out = health(3, true);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("healthy: height") && said.contains("3 peers"), "{said}");

    // The exec'd node is the script's process: SIGTERM stops it cleanly.
    let last = nodes.pop().unwrap();
    let mut last = last;
    assert!(Command::new("kill").args(["-TERM", &last.0.id().to_string()]).status().unwrap().success());
    assert!(last.0.wait().unwrap().success());
    let out = health(3, false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not answer"), "{out:?}");
    // Three of four validators (3/4 of the stake) still finalize.
    let f = rt().block_on(c[0].finalized_block_number()).unwrap();
    wait("finality without node 3", || rt().block_on(c[0].finalized_block_number()).unwrap_or(0) >= f + 2);
    for mut n in nodes {
        assert!(Command::new("kill").args(["-TERM", &n.0.id().to_string()]).status().unwrap().success());
        assert!(n.0.wait().unwrap().success());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
