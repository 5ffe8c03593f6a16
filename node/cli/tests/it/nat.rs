//! NAT traversal between real `cinder node` processes in network
//! namespaces the test builds itself (`scripts/netns-nat.sh`): a public
//! relay and two nodes, each behind its own MASQUERADE router that drops
//! unsolicited inbound packets, as home routers do.
//!
//! ```text
//! relay 10.77.3.2 --- wan --- 10.77.1.2 nata (NAT) --- a 192.168.71.2
//!                        \--- 10.77.2.2 natb (NAT) --- b 192.168.72.2
//! ```
//!
//! Per transport (TCP, then QUIC): AutoNAT finds both NATed nodes private
//! and the relay public; both reserve a slot on the relay; they find each
//! other through the relay's Kademlia (their private addresses fail,
//! their relay circuits work), DCUtR punches a direct connection between
//! the two NATs' public addresses (the only way one can exist: the NATs
//! drop anything unsolicited), and blocks mined by `a` reach `b`.
//!
//! Needs root, iproute2 and iptables (scripts/deps.sh installs them). On
//! CI (`CI` set) or with `CINDER_REQUIRE_NETNS=1` a lab that cannot be
//! built fails the test; elsewhere the test says why it did not run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cinder_rpc::{BlockJson, Client, NetInfoJson, PeerJson};
use serde::de::DeserializeOwned;

const BIN: &str = env!("CARGO_BIN_EXE_cinder");
/// Generous: a Kademlia walk every 30 s and AutoNAT probes every 20 s on a
/// loaded 2-core CI.
const WAIT: Duration = Duration::from_secs(240);
/// Devnet account 0 (its key is public): who `a`'s blocks pay.
const COINBASE: &str = "0x8f50f34b0645caf03f805982d6bc769855e3c6b1596da4cdfdf848ddd0aa1658";

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Quic,
}

impl Transport {
    fn addr(self, ip: &str) -> String {
        match self {
            Transport::Tcp => format!("/ip4/{ip}/tcp/4001"),
            Transport::Quic => format!("/ip4/{ip}/udp/4001/quic-v1"),
        }
    }
}

/// The namespaces, the node processes in them and their data; all removed
/// on drop, failed test or not.
struct Lab {
    prefix: String,
    dir: PathBuf,
    nodes: Vec<Child>,
}

impl Lab {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/netns-nat.sh")
    }

    fn up(prefix: &str) -> Result<Lab, String> {
        let _ = Command::new("bash").arg(Self::script()).args(["down", prefix]).status();
        let out = Command::new("bash")
            .arg(Self::script())
            .args(["up", prefix])
            .output()
            .map_err(|e| format!("running netns-nat.sh: {e}"))?;
        let dir = std::env::temp_dir().join(format!("cinder-cli-it-{}-{prefix}", std::process::id()));
        let lab = Lab { prefix: prefix.to_string(), dir, nodes: Vec::new() };
        if !out.status.success() {
            return Err(format!("netns-nat.sh up: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
        }
        let _ = std::fs::remove_dir_all(&lab.dir);
        std::fs::create_dir_all(&lab.dir).map_err(|e| e.to_string())?;
        Ok(lab)
    }

    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Starts `cinder node` in `host`'s namespace (RPC on its own
    /// loopback, port 8545) and returns the peer id it prints.
    fn node(&mut self, host: &str, args: &[String]) -> String {
        let log = std::fs::File::create(self.dir.join(format!("{host}.log"))).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host), BIN, "node", "--datadir"])
            .arg(self.dir.join(host))
            .args(["--rpc-port", "8545", "--metrics-addr", "off", "--kad-server"])
            .args(args)
            .env("RUST_LOG", "info,cinder_net=debug,libp2p_dcutr=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let lines = crate::stdout_lines(&mut child);
        self.nodes.push(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        let id = loop {
            let l = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|e| panic!("{host} did not print its peer id ({e}): {}", self.log(host)));
            if let Some(id) = l.strip_prefix("Peer id: ") {
                break id.to_string();
            }
        };
        // Keep reading: the node prints status lines as it runs.
        std::thread::spawn(move || for _ in lines {});
        id
    }

    fn log(&self, host: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{host}.log"))).unwrap_or_default()
    }

    /// One RPC call to `host`'s node, made from inside its namespace.
    fn rpc<T: DeserializeOwned + Send + 'static>(&self, host: &str, method: &'static str) -> Option<T> {
        self.rpc_with(host, method, vec![])
    }

    fn rpc_with<T: DeserializeOwned + Send + 'static>(
        &self,
        host: &str,
        method: &'static str,
        params: Vec<serde_json::Value>,
    ) -> Option<T> {
        let ns = self.ns(host);
        std::thread::spawn(move || {
            enter_netns(&ns);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let client = Client::new("http://127.0.0.1:8545").unwrap();
            rt.block_on(client.call::<T>(method, params)).ok()
        })
        .join()
        .unwrap()
    }

    fn wait(&self, what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            if start.elapsed() > WAIT {
                panic!(
                    "timed out waiting for {what}\n--- relay\n{}\n--- a\n{}\n--- b\n{}",
                    self.log("relay"),
                    self.log("a"),
                    self.log("b")
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("bash").arg(Self::script()).args(["down", &self.prefix]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Moves the calling thread into network namespace `ns` (sockets it opens
/// from then on live there).
fn enter_netns(ns: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    // SAFETY: setns on a namespace file descriptor we hold open; it changes
    // only this thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// The lab, or `None` (and why) where this machine cannot build one and
/// no one asked for it.
fn lab(prefix: &str) -> Option<Lab> {
    let required = std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("CINDER_REQUIRE_NETNS").is_ok_and(|v| v == "1");
    match Lab::up(prefix) {
        Ok(l) => Some(l),
        Err(e) if required => panic!("cannot build the network-namespace lab (needed on CI): {e}"),
        Err(e) => {
            eprintln!("NOT RUN: the NAT traversal test needs network namespaces (root, iproute2, iptables): {e}");
            None
        }
    }
}

/// The direct (not relayed) connection `host` has to `other`, if any.
fn direct(peers: &[PeerJson], other: &str) -> Option<String> {
    peers.iter().find(|p| p.id == other && !p.relayed).map(|p| p.address.clone())
}

fn hole_punch(t: Transport) {
    let prefix = format!("c{}{}", std::process::id() % 10_000, if matches!(t, Transport::Tcp) { "t" } else { "q" });
    let Some(mut lab) = lab(&prefix) else { return };

    // The relay: public, a relay server, the bootnode.
    let relay_addr = t.addr("10.77.3.2");
    let relay_id = lab.node(
        "relay",
        &[
            "--chain".into(),
            "devnet".into(),
            "--mine".into(),
            "off".into(),
            "--p2p-addr".into(),
            relay_addr.clone(),
            "--external-addr".into(),
            relay_addr.clone(),
            "--relay-server".into(),
        ],
    );
    let spec = lab.dir.join("relay/devnet.toml").display().to_string();
    let relay = format!("{relay_addr}/p2p/{relay_id}");
    let private = |mine: bool| {
        let mut v: Vec<String> = vec![
            "--chain".into(),
            spec.clone(),
            "--p2p-addr".into(),
            t.addr("0.0.0.0"),
            "--bootnodes".into(),
            relay.clone(),
            "--relays".into(),
            relay.clone(),
            "--coinbase".into(),
            COINBASE.into(),
        ];
        if mine {
            v.extend(["--mine".into(), "cpu".into(), "--mine-threads".into(), "1".into()]);
        } else {
            v.extend(["--mine".into(), "off".into()]);
        }
        v
    };
    let a_id = lab.node("a", &private(true));
    let b_id = lab.node("b", &private(false));

    // AutoNAT: the relay is reachable, the NATed nodes are not.
    let nat = |lab: &Lab, host: &str| lab.rpc::<NetInfoJson>(host, "cinder_netInfo").map(|i| i.nat).unwrap_or_default();
    lab.wait("AutoNAT: relay public", || nat(&lab, "relay").starts_with("public"));
    lab.wait("AutoNAT: a private", || nat(&lab, "a") == "private");
    lab.wait("AutoNAT: b private", || nat(&lab, "b") == "private");

    // Both hold a reservation on the relay and listen through it.
    for host in ["a", "b"] {
        lab.wait(&format!("{host}'s relay reservation"), || {
            lab.rpc::<NetInfoJson>(host, "cinder_netInfo")
                .is_some_and(|i| i.relay_reservations >= 1 && i.listen_addrs.iter().any(|a| a.contains("/p2p-circuit")))
        });
    }

    // A direct connection between the NATs' public addresses: a hole
    // punch, since both NATs drop unsolicited packets.
    let proto = if matches!(t, Transport::Tcp) { "/tcp/" } else { "/quic-v1" };
    let mut a_sees = None;
    lab.wait("a's direct connection to b", || {
        a_sees = lab.rpc::<Vec<PeerJson>>("a", "cinder_peers").and_then(|p| direct(&p, &b_id));
        a_sees.is_some()
    });
    let a_sees = a_sees.unwrap();
    assert!(a_sees.starts_with("/ip4/10.77.2.2/") && a_sees.contains(proto), "a reaches b at {a_sees}");
    let mut b_sees = None;
    lab.wait("b's direct connection to a", || {
        b_sees = lab.rpc::<Vec<PeerJson>>("b", "cinder_peers").and_then(|p| direct(&p, &a_id));
        b_sees.is_some()
    });
    let b_sees = b_sees.unwrap();
    assert!(b_sees.starts_with("/ip4/10.77.1.2/") && b_sees.contains(proto), "b reaches a at {b_sees}");
    let info = |host: &str| lab.rpc::<NetInfoJson>(host, "cinder_netInfo").unwrap();
    let (ia, ib) = (info("a"), info("b"));
    assert!(ia.hole_punches + ib.hole_punches >= 1, "a {ia:?}\nb {ib:?}");
    assert!(ia.relay_circuits + ib.relay_circuits >= 1, "the first connection ran through the relay: {ia:?} {ib:?}");

    // And the chain runs across the NATs: a's blocks reach b.
    let height = |host: &str| lab.rpc::<u64>(host, "cinder_blockNumber").unwrap_or(0);
    lab.wait("b importing a's blocks", || height("b") >= 3);
    let block3 = |host: &str| {
        lab.rpc_with::<Option<BlockJson>>(host, "cinder_getBlockByNumber", vec![3.into(), false.into()])
            .flatten()
            .map(|b| b.hash)
    };
    assert_eq!(block3("a"), block3("b"));
    assert!(block3("b").is_some());
}

#[test]
fn hole_punch_and_autonat_over_tcp() {
    let _s = crate::serial();
    hole_punch(Transport::Tcp);
}

#[test]
fn hole_punch_and_autonat_over_quic() {
    let _s = crate::serial();
    hole_punch(Transport::Quic);
}
