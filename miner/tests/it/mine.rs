//! `cinder-miner mine --rpc`: an external miner produces blocks for a node
//! (real RocksDB, the work API over loopback), and comes back to a node
//! that restarts.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cinder_chain::ChainConfig;
use cinder_chain::workload::{self, Accounts};
use cinder_mempool::MempoolConfig;
use cinder_node::{Node, NodeConfig, RpcConfig, RpcServer};

fn start(dir: &std::path::Path, genesis_time: u32, port: u16, rt: &tokio::runtime::Runtime) -> (Arc<Node>, RpcServer) {
    let accounts = Accounts::derive("miner-it", 2);
    let mut spec = workload::spec("miner-it", 99, &accounts.addresses, 1_000_000);
    if let Some(p) = spec.pow.as_mut() {
        // About 2^20 hashes a block: some real searching per block.
        p.initial_bits = 0x1f0f_ffff;
        p.target_block_time = 1;
    }
    spec.genesis_time = genesis_time;
    let cfg = NodeConfig {
        datadir: dir.to_path_buf(),
        spec,
        chain: ChainConfig { exec_threads: 1, max_reorg_depth: 16, prune: true, ..ChainConfig::default() },
        mempool: MempoolConfig::default(),
        coinbase: Some(accounts.addresses[1]),
    };
    let node = Node::open(cfg).unwrap();
    let rpc = rt
        .block_on(cinder_node::rpc::serve(
            node.clone(),
            &RpcConfig { addr: SocketAddr::from(([127, 0, 0, 1], port)), ..RpcConfig::default() },
        ))
        .unwrap();
    (node, rpc)
}

#[test]
fn an_external_miner_produces_blocks_and_survives_a_node_restart() {
    let dir = std::env::temp_dir().join(format!("cinder-miner-it-{}-mine", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let genesis_time = u32::try_from(cinder_chain::unix_now()).unwrap();
    let (node, rpc) = start(&dir, genesis_time, 0, &rt);
    let port = rpc.addr.port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cinder-miner"))
        .args(["mine", "--rpc", &format!("http://{}", rpc.addr), "--backend", "cpu", "--threads", "1"])
        .args(["--poll-ms", "200", "--report-secs", "1", "--duration", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait = |node: &Node, h: u64| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while node.chain().head().unwrap().height < h {
            assert!(Instant::now() < deadline, "the miner did not reach height {h}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait(&node, 3);
    let l = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert!(l(&node.mining.external_blocks) >= 3);
    assert!(l(&node.mining.shares_accepted) > l(&node.mining.external_blocks), "shares are counted too");
    // The node goes away and comes back on the same port.
    rt.block_on(rpc.stop());
    drop(node);
    std::thread::sleep(Duration::from_secs(2));
    let (node, rpc) = start(&dir, genesis_time, port, &rt);
    let h = node.chain().head().unwrap().height;
    wait(&node, h + 2);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("accepted") && text.contains("node unreachable") && text.contains("reachable again"),
        "{text}"
    );
    rt.block_on(rpc.stop());
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}
