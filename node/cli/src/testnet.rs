//! `cinder testnet --nodes N`: N `cinder node` processes on loopback, each
//! with its own data directory, joined through node 0 as the bootnode,
//! some of them mining; Ctrl-C stops them all.
//!
//! Node i listens for RPC on `--rpc-port` + i, for peers on `--p2p-port` +
//! i (TCP and QUIC) and serves metrics on `--metrics-port` + i. Its folder
//! `DATADIR/node-i` holds its chain, its node key, its log (`node.log`)
//! and the exact command that runs it (`command`, one argument per line),
//! so a node killed like a crashed machine can be started again by hand.
//! Running the command again with the same `--datadir` continues the same
//! network.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::config::{DEVNET_ACCOUNTS, DEVNET_SEED, data_home, devnet_spec};

/// `cinder testnet` flags.
#[derive(Debug, Args)]
pub(crate) struct TestnetArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Which nodes mine (comma-separated indexes). Default: the even ones
    /// (0, 2, ...).
    #[arg(long)]
    miners: Option<String>,
    /// CPU threads per mining node.
    #[arg(long, default_value_t = 1)]
    mine_threads: usize,
    /// One folder per node under here. Default: the user's data
    /// directory, cinder/testnet.
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// RPC port of node 0 (node i: this + i).
    #[arg(long, default_value_t = 8545)]
    rpc_port: u16,
    /// P2P port of node 0, TCP and QUIC (node i: this + i).
    #[arg(long, default_value_t = 30333)]
    p2p_port: u16,
    /// Metrics port of node 0 (node i: this + i), or 0 for no metrics.
    #[arg(long, default_value_t = 9615)]
    metrics_port: u16,
    /// Wipe the nodes' chains first (keys and the spec stay).
    #[arg(long)]
    fresh: bool,
    /// `pow` (the --miners mine) or `pos` (every node a validator with
    /// equal stake; blocks final within the round).
    #[arg(long, value_enum, default_value_t = crate::run::DevnetConsensus::Pow)]
    consensus: crate::run::DevnetConsensus,
    /// Proof of stake: the least time between blocks (ms).
    #[arg(long, default_value_t = 500)]
    block_interval_ms: u64,
    /// Proof of stake: blocks per staking epoch (the validator set changes
    /// only between epochs).
    #[arg(long, default_value_t = crate::config::DEVNET_EPOCH_LENGTH)]
    epoch_length: u64,
    /// Proof of stake: blocks of a proposal's deposit period and of its
    /// voting period.
    #[arg(long, default_value_t = crate::config::DEVNET_VOTING_PERIOD)]
    voting_period: u64,
    /// Only prepare: write the spec, the admin token, each node's keys,
    /// its peer id (`node-i/peer-id`) and command line, then exit without
    /// starting a node. For nodes run elsewhere, e.g. deploy/compose.yaml.
    #[arg(long)]
    init: bool,
    /// Shards of a new testnet's chain (1 to 64; docs/design/sharding.md).
    #[arg(long, default_value_t = 1)]
    shards: u16,
    /// A node that keeps only some shards, `NODE=SHARDS` (e.g. `2=0,1`;
    /// shard 0 must be among them); repeatable. The others keep all.
    #[arg(long = "track")]
    track: Vec<String>,
}

struct Member {
    index: usize,
    child: Child,
    exited: bool,
}

/// `cinder testnet`.
pub(crate) fn run(args: TestnetArgs) -> Result<()> {
    if args.nodes == 0 || args.nodes > 64 {
        bail!("--nodes must be between 1 and 64");
    }
    let last = u16::try_from(args.nodes - 1).context("--nodes")?;
    for (flag, base) in
        [("--rpc-port", args.rpc_port), ("--p2p-port", args.p2p_port), ("--metrics-port", args.metrics_port)]
    {
        if base != 0 && base.checked_add(last).is_none() {
            bail!("{flag} {base} + {} nodes runs past port 65535", args.nodes);
        }
        if base == 0 && flag != "--metrics-port" {
            bail!("{flag} must be a fixed port (node i uses it + i)");
        }
    }
    let miners: Vec<usize> = match &args.miners {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>().with_context(|| format!("--miners: {s:?} is not a node index")))
            .collect::<Result<_>>()?,
        None => (0..args.nodes).step_by(2).collect(),
    };
    if let Some(m) = miners.iter().find(|m| **m >= args.nodes) {
        bail!("--miners: node {m} does not exist (nodes 0..{})", args.nodes - 1);
    }
    if args.mine_threads == 0 {
        bail!("--mine-threads must be at least 1");
    }
    if !(1..=cinder_primitives::MAX_SHARDS).contains(&args.shards) {
        bail!("--shards must be between 1 and {}", cinder_primitives::MAX_SHARDS);
    }
    let mut tracks: Vec<Option<String>> = vec![None; args.nodes];
    for t in &args.track {
        let (node, list) = t.split_once('=').with_context(|| format!("--track {t:?}: give NODE=SHARDS, e.g. 2=0,1"))?;
        let node: usize =
            node.trim().parse().with_context(|| format!("--track {t:?}: {node:?} is not a node index"))?;
        let slot = tracks.get_mut(node).with_context(|| format!("--track {t:?}: node {node} does not exist"))?;
        *slot = Some(list.trim().to_string());
    }
    let dir = match &args.datadir {
        Some(d) => d.clone(),
        None => data_home()?.join("testnet"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let pos = args.consensus == crate::run::DevnetConsensus::Pos;
    // Proof of stake: every node's validator key first, all in the spec.
    let pos_spec = if pos {
        let mut validators = Vec::with_capacity(args.nodes);
        for i in 0..args.nodes {
            let home = dir.join(format!("node-{i}"));
            std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
            let key = cinder_pos::validator::load_or_create_validator_key(&home.join("validator.key"))?;
            validators.push(key.public_key());
        }
        if args.epoch_length == 0 {
            bail!("--epoch-length must be at least 1");
        }
        if args.voting_period == 0 || args.voting_period > cinder_gov::bounds::PERIOD.1 {
            bail!("--voting-period must be 1 to {}", cinder_gov::bounds::PERIOD.1);
        }
        Some(crate::config::PosDevnet {
            validators,
            min_block_interval_ms: args.block_interval_ms,
            epoch_length: args.epoch_length,
            voting_period: args.voting_period,
        })
    } else {
        None
    };
    // One spec for all (genesis time = the network's first start).
    let spec = devnet_spec(&dir, pos_spec.as_ref(), None, args.shards)?;
    if let Some(p) = &pos_spec
        && spec.pos.as_ref().map(|s| s.validators.iter().map(|v| v.key).collect::<Vec<_>>())
            != Some(p.validators.clone())
    {
        bail!(
            "{} holds a spec with other validators than these {} nodes' keys: pass another --datadir",
            dir.display(),
            args.nodes
        );
    }
    if !pos && spec.consensus != cinder_consensus::ConsensusKind::Pow {
        bail!("{} holds a proof-of-stake testnet: pass --consensus pos", dir.display());
    }
    let spec_path = dir.join("devnet.toml");
    let token_path = dir.join("admin.token");
    ensure_token(&token_path)?;
    let exe = std::env::current_exe().context("finding the cinder executable")?;

    // Node 0's key first: everyone else joins through it.
    let boot_key = cinder_net::load_or_create_key(&dir.join("node-0").join("node.key"))?;
    let boot_id = boot_key.public().to_peer_id();
    let boot = format!("/ip4/127.0.0.1/tcp/{}/p2p/{boot_id}", args.p2p_port);
    let accounts = cinder_chain::workload::Accounts::derive(DEVNET_SEED, DEVNET_ACCOUNTS);

    say!("Testnet: {} nodes in {}", args.nodes, dir.display());
    say!("Admin token: {}", token_path.display());
    let mut members = Vec::with_capacity(args.nodes);
    for i in 0..args.nodes {
        let off = u16::try_from(i).context("node index")?;
        let home = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        if args.fresh {
            let chain = home.join("chain");
            if chain.exists() {
                std::fs::remove_dir_all(&chain).with_context(|| format!("wiping {}", chain.display()))?;
            }
            let state = home.join("validator_state.json");
            if state.exists() {
                std::fs::remove_file(&state).with_context(|| format!("wiping {}", state.display()))?;
            }
        }
        let key = cinder_net::load_or_create_key(&home.join("node.key"))?;
        let id = key.public().to_peer_id();
        let p2p = args.p2p_port + off;
        let coinbase = accounts.addresses[i % accounts.addresses.len()];
        let mut cmd: Vec<String> = vec![
            exe.display().to_string(),
            "node".into(),
            "--chain".into(),
            spec_path.display().to_string(),
            "--datadir".into(),
            home.display().to_string(),
            "--node-key".into(),
            home.join("node.key").display().to_string(),
            "--rpc-port".into(),
            (args.rpc_port + off).to_string(),
            "--p2p-addr".into(),
            format!("/ip4/127.0.0.1/tcp/{p2p},/ip4/127.0.0.1/udp/{p2p}/quic-v1"),
            "--kad-server".into(),
            "--admin-token-file".into(),
            token_path.display().to_string(),
            "--metrics-addr".into(),
            if args.metrics_port == 0 { "off".into() } else { format!("127.0.0.1:{}", args.metrics_port + off) },
        ];
        if i > 0 {
            cmd.extend(["--bootnodes".into(), boot.clone()]);
        }
        if let Some(list) = tracks.get(i).and_then(Option::as_ref) {
            cmd.extend(["--track-shards".into(), list.clone()]);
        }
        if pos {
            cmd.extend(["--validator-key".into(), home.join("validator.key").display().to_string()]);
        } else {
            cmd.extend(["--coinbase".into(), coinbase.to_string()]);
            if miners.contains(&i) {
                cmd.extend(["--mine".into(), "cpu".into(), "--mine-threads".into(), args.mine_threads.to_string()]);
            } else {
                cmd.extend(["--mine".into(), "off".into()]);
            }
        }
        std::fs::write(home.join("command"), cmd.join("\n") + "\n")
            .with_context(|| format!("writing {}", home.join("command").display()))?;
        let role = if pos {
            "validator"
        } else if miners.contains(&i) {
            "mining"
        } else {
            "not mining"
        };
        if args.init {
            std::fs::write(home.join("peer-id"), format!("{id}\n"))
                .with_context(|| format!("writing {}", home.join("peer-id").display()))?;
            say!("node {i}: peer id {id} | {role}");
            continue;
        }
        let log_path = home.join("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..]).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        #[cfg(unix)]
        {
            // Its own process group: a terminal's Ctrl-C reaches only us,
            // and we stop the nodes in order.
            use std::os::unix::process::CommandExt;
            c.process_group(0);
        }
        let child = match c.spawn() {
            Ok(c) => c,
            Err(e) => {
                stop_all(&mut members);
                return Err(e).with_context(|| format!("starting node {i}"));
            }
        };
        say!(
            "node {i}: pid {} | RPC http://127.0.0.1:{} | p2p /ip4/127.0.0.1/tcp/{p2p}/p2p/{id} | {}{}",
            child.id(),
            args.rpc_port + off,
            role,
            if args.metrics_port == 0 {
                String::new()
            } else {
                format!(" | metrics http://127.0.0.1:{}/metrics", args.metrics_port + off)
            },
        );
        members.push(Member { index: i, child, exited: false });
    }
    if args.init {
        say!(
            "Prepared: the spec {}; each node's keys, peer id and command line in {}/node-<i>",
            spec_path.display(),
            dir.display()
        );
        return Ok(());
    }
    say!("Logs: {}/node-<i>/node.log; each node's command line: {}/node-<i>/command", dir.display(), dir.display());
    say!("Ctrl-C stops all nodes.");
    std::io::stdout().flush().ok();

    let stop = signal_flag()?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(200));
        for m in members.iter_mut().filter(|m| !m.exited) {
            if let Ok(Some(status)) = m.child.try_wait() {
                m.exited = true;
                say!("node {} exited ({status}); restart it with the lines of node-{}/command", m.index, m.index);
            }
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            say!("{}", heights_line(&args, started));
        }
        std::io::stdout().flush().ok();
    }
    say!("Stopping {} nodes...", members.iter().filter(|m| !m.exited).count());
    stop_all(&mut members);
    say!("Stopped.");
    Ok(())
}

/// Creates the shared admin token (0600) if missing.
fn ensure_token(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random token: {e}"))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{}", hex::encode(bytes)).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Heights of the nodes, from their RPC (a dash for one that does not
/// answer).
fn heights_line(args: &TestnetArgs, started: Instant) -> String {
    let mut parts = Vec::new();
    for i in 0..args.nodes {
        let port = args.rpc_port + u16::try_from(i).unwrap_or(0);
        let h = rpc_u64(port, "cinder_blockNumber").map_or("-".to_string(), |h| h.to_string());
        match rpc_u64(port, "cinder_finalizedBlockNumber") {
            Some(f) if args.consensus == crate::run::DevnetConsensus::Pos => parts.push(format!("{h} (final {f})")),
            _ => parts.push(h),
        }
    }
    format!("heights [{}] | up {}s", parts.join(", "), started.elapsed().as_secs())
}

/// A number-returning RPC `method` with no parameters, over a bare
/// HTTP/1.1 request (no runtime needed).
fn rpc_u64(port: u16, method: &str) -> Option<u64> {
    use std::io::Read;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[]}}"#);
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let json = out.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    v.get("result")?.as_u64()
}

/// Set on SIGINT or SIGTERM.
fn signal_flag() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    std::thread::Builder::new()
        .name("cinder-signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(crate::run::shutdown_signal());
            f.store(true, std::sync::atomic::Ordering::Release);
        })
        .context("starting the signal thread")?;
    Ok(flag)
}

/// SIGTERM to every running node, then waits (SIGKILL after 60 s).
fn stop_all(members: &mut [Member]) {
    for m in members.iter_mut().filter(|m| !m.exited) {
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(m.child.id()) {
            // SAFETY: kill(2) with a pid we spawned and still own (not
            // reaped), and a valid signal number.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        #[cfg(not(unix))]
        let _ = m.child.kill();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for m in members.iter_mut().filter(|m| !m.exited) {
        loop {
            match m.child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        say!("node {} exited with {status}", m.index);
                    }
                    break;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                _ => {
                    say!("node {} did not stop within 60 s: killing it", m.index);
                    let _ = m.child.kill();
                    let _ = m.child.wait();
                    break;
                }
            }
        }
        m.exited = true;
    }
}
