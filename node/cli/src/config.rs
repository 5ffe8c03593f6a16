//! Node settings: defaults, then a TOML file (`--config`), then
//! environment variables and flags (clap reads both; flags win).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cinder_consensus::{ChainSpec, ConsensusKind};
use cinder_primitives::Address;
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// How the node mines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MineMode {
    /// No own mining (external miners may still use the work API).
    Off,
    /// SIMD CPU search.
    Cpu,
    /// WGSL on a GPU; any adapter, software ones (lavapipe) included.
    Gpu,
    /// A hardware GPU if present, else the CPU.
    Auto,
}

/// Flags shared by `cinder node` and `cinder devnet`.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct NodeArgs {
    /// A TOML file with any of these settings (snake_case keys).
    #[arg(long, env = "CINDER_CONFIG")]
    pub config: Option<PathBuf>,
    /// The data directory (RocksDB under DIR/chain). Default: the user's
    /// data directory, cinder/<chain name>.
    #[arg(long, env = "CINDER_DATADIR")]
    pub datadir: Option<PathBuf>,
    /// The chain spec: a TOML file, or `devnet`.
    #[arg(long, env = "CINDER_CHAIN")]
    pub chain: Option<String>,
    /// The RPC listen address (default 127.0.0.1; anything else exposes
    /// the node).
    #[arg(long, env = "CINDER_RPC_ADDR")]
    pub rpc_addr: Option<IpAddr>,
    /// The RPC port (0: any free port; the `RPC:` line says which).
    #[arg(long, env = "CINDER_RPC_PORT")]
    pub rpc_port: Option<u16>,
    /// RPC calls per second per client IP (0: unlimited).
    #[arg(long, env = "CINDER_RPC_RATE_LIMIT")]
    pub rpc_rate_limit: Option<u32>,
    /// A file holding the token that admin RPC methods need (without it
    /// they are off).
    #[arg(long, env = "CINDER_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// The Prometheus metrics address (default 127.0.0.1:9615), or `off`.
    #[arg(long, env = "CINDER_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// The block explorer's address (IP:PORT), or `off`. Default: off for
    /// `node`; for `devnet` 127.0.0.1 on the RPC port + 1000 (any free
    /// port when the RPC's is 0).
    #[arg(long, env = "CINDER_EXPLORER_ADDR")]
    pub explorer_addr: Option<String>,
    /// Who the node's blocks pay (needed to mine or serve work).
    #[arg(long, env = "CINDER_COINBASE")]
    pub coinbase: Option<String>,
    /// Mine with the node's own engine.
    #[arg(long, env = "CINDER_MINE", value_enum)]
    pub mine: Option<MineMode>,
    /// CPU mining threads (default: all cores for `node`, 1 for `devnet`).
    #[arg(long, env = "CINDER_MINE_THREADS")]
    pub mine_threads: Option<usize>,
    /// Keep the state of this many blocks below the head (the deepest
    /// reorg accepted); 0 keeps every state (an archive node). Default 1000.
    #[arg(long, env = "CINDER_PRUNE_DEPTH")]
    pub prune_depth: Option<u64>,
    /// On a sharded chain: the shards whose state this node keeps and whose
    /// chunks it executes, `all` (the default) or a list such as `0,2`
    /// (shard 0 must be in it). Fixed when the data directory is created.
    #[arg(long, env = "CINDER_TRACK_SHARDS")]
    pub track_shards: Option<String>,
    /// Tests only: this binary also knows the software upgrade
    /// `cinder-test-upgrade` (it writes one state record), to prove the
    /// upgrade path (docs/design/governance.md).
    #[arg(long, hide = true)]
    pub test_upgrade: bool,
    /// Peer-to-peer listen addresses, comma-separated multiaddrs, or `off`.
    /// Default for `node`: TCP and QUIC on port 30333 of every interface;
    /// `devnet` runs without peers unless this is given.
    #[arg(long, env = "CINDER_P2P_ADDR")]
    pub p2p_addr: Option<String>,
    /// Addresses peers reach this node at (comma-separated multiaddrs);
    /// with one, Kademlia serves the DHT from the start.
    #[arg(long, env = "CINDER_EXTERNAL_ADDR")]
    pub external_addr: Option<String>,
    /// The node's libp2p key (created, mode 0600, if missing). Default:
    /// DATADIR/node.key.
    #[arg(long, env = "CINDER_NODE_KEY")]
    pub node_key: Option<PathBuf>,
    /// Peers to join through: `/ip4/.../tcp/.../p2p/<peer id>,...`.
    #[arg(long, env = "CINDER_BOOTNODES")]
    pub bootnodes: Option<String>,
    /// Relays to reserve a slot on, so peers behind NAT can reach this
    /// node through them: `.../p2p/<relay id>,...`.
    #[arg(long, env = "CINDER_RELAYS")]
    pub relays: Option<String>,
    /// Serve as a circuit relay for others.
    #[arg(long, env = "CINDER_RELAY_SERVER")]
    pub relay_server: bool,
    /// Serve the Kademlia DHT even without a confirmed external address
    /// (testnets on private networks or loopback).
    #[arg(long, env = "CINDER_KAD_SERVER")]
    pub kad_server: bool,
    /// The most peer connections (default 64).
    #[arg(long, env = "CINDER_MAX_PEERS")]
    pub max_peers: Option<u32>,
    /// Connect only to these peers (comma-separated peer ids).
    #[arg(long, env = "CINDER_PEER_ALLOWLIST")]
    pub peer_allowlist: Option<String>,
    /// Proof of stake: this validator's consensus key (32-byte ed25519
    /// seed, mode 0600; created if missing). Without it a PoS node follows
    /// consensus without voting. Default for `devnet --consensus pos`:
    /// DATADIR/validator.key.
    #[arg(long, env = "CINDER_VALIDATOR_KEY")]
    pub validator_key: Option<PathBuf>,
}

/// The same settings in a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    datadir: Option<PathBuf>,
    chain: Option<String>,
    rpc_addr: Option<IpAddr>,
    rpc_port: Option<u16>,
    rpc_rate_limit: Option<u32>,
    admin_token_file: Option<PathBuf>,
    metrics_addr: Option<String>,
    explorer_addr: Option<String>,
    coinbase: Option<String>,
    mine: Option<MineMode>,
    mine_threads: Option<usize>,
    prune_depth: Option<u64>,
    track_shards: Option<String>,
    p2p_addr: Option<String>,
    external_addr: Option<String>,
    node_key: Option<PathBuf>,
    bootnodes: Option<String>,
    relays: Option<String>,
    relay_server: Option<bool>,
    kad_server: Option<bool>,
    max_peers: Option<u32>,
    peer_allowlist: Option<String>,
    validator_key: Option<PathBuf>,
}

/// Resolved settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub spec: ChainSpec,
    pub datadir: PathBuf,
    pub rpc: SocketAddr,
    pub rpc_rate_limit: u32,
    pub admin_token: Option<String>,
    pub metrics: Option<SocketAddr>,
    /// The explorer's address, and whether it was asked for (a default one
    /// that cannot be bound is a warning, not an error).
    pub explorer: Option<(SocketAddr, bool)>,
    pub coinbase: Option<Address>,
    pub mine: MineMode,
    pub mine_threads: Option<usize>,
    pub prune_depth: u64,
    /// The shards to track (`None`: all).
    pub track_shards: Option<Vec<u16>>,
    /// Whether the test upgrade's handler is on.
    pub test_upgrade: bool,
    /// The network, unless off.
    pub net: Option<NetSettings>,
    /// Proof of stake: the validator key file, if this node validates.
    pub validator_key: Option<PathBuf>,
}

/// Resolved network settings.
#[derive(Debug)]
pub(crate) struct NetSettings {
    pub config: cinder_net::NetConfig,
    pub node_key: PathBuf,
}

/// Parses a comma-separated list of multiaddrs.
fn multiaddrs(flag: &str, list: &str) -> Result<Vec<cinder_net::Multiaddr>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().with_context(|| format!("{flag}: {s:?} is not a multiaddr")))
        .collect()
}

/// The devnet chain spec of the data directory `datadir`: its
/// `devnet.toml` if there is one, else the built-in spec
/// (node/chain/specs/devnet.toml) with genesis time now, written there so
/// a restart continues the same chain. A chain whose genesis lies months
/// back would otherwise mine at the easiest target until ASERT's schedule
/// caught up. With `pos` (the validators' keys), the built-in spec turns
/// proof of stake: no `[pow]` table, those validators with equal power.
/// With `chain_id`, a new spec takes that chain id (two devnets side by
/// side need two), and an existing one must have it.
pub(crate) fn devnet_spec(
    datadir: &Path,
    pos: Option<&PosDevnet>,
    chain_id: Option<u64>,
    shards: u16,
) -> Result<ChainSpec> {
    let path = datadir.join("devnet.toml");
    if path.exists() {
        let spec = ChainSpec::from_file(&path).with_context(|| format!("the devnet spec {}", path.display()))?;
        let want = if pos.is_some() { ConsensusKind::Pos } else { ConsensusKind::Pow };
        if pos.is_some() && spec.consensus != want {
            bail!(
                "{} holds a proof-of-work devnet: pass --fresh to start a proof-of-stake one, or another --datadir",
                datadir.display()
            );
        }
        if let Some(id) = chain_id
            && spec.chain_id != id
        {
            bail!(
                "{} holds a devnet of chain id {}, not {id}: pass --fresh to start a new one, or another --datadir",
                datadir.display(),
                spec.chain_id
            );
        }
        if spec.shards != shards {
            bail!(
                "{} holds a devnet of {} shards, not {shards}: use another --datadir",
                datadir.display(),
                spec.shards
            );
        }
        return Ok(spec);
    }
    let now = cinder_chain::unix_now();
    let mut in_pow = false;
    let mut lines = Vec::new();
    for l in cinder_chain::genesis::DEVNET_SPEC.lines() {
        if l.starts_with("genesis_time =") {
            lines.push(format!("genesis_time = {now}"));
            continue;
        }
        if let Some(id) = chain_id
            && l.starts_with("chain_id =")
        {
            lines.push(format!("chain_id = {id}"));
            continue;
        }
        if shards > 1 && l.starts_with("consensus =") {
            lines.push(format!("shards = {shards}"));
        }
        if pos.is_some() {
            if l.starts_with("consensus =") {
                lines.push("consensus = \"pos\"".into());
                continue;
            }
            if l.starts_with('[') {
                in_pow = l == "[pow]";
            }
            if in_pow {
                continue;
            }
        }
        lines.push(l.to_string());
    }
    if let Some(p) = pos {
        lines.push(String::new());
        lines.push("# Proof of stake: the validators and their timing.".into());
        lines.push("[pos]".into());
        lines.push(format!("min_block_interval_ms = {}", p.min_block_interval_ms));
        for k in &p.validators {
            lines.push(String::new());
            lines.push("[[pos.validators]]".into());
            lines.push(format!("key = \"0x{}\"", hex::encode(k.0)));
            lines.push("power = 100                   # 100 CIN of self-stake".into());
        }
        lines.push(String::new());
        lines.push("[pos.staking]".into());
        lines.push(format!("epoch_length = {}", p.epoch_length));
        lines.push(format!("power_unit = \"{COIN}\"   # 1 CIN bonded = 1 vote"));
        lines.push(format!("min_self_stake = \"{COIN}\""));
        lines.push(String::new());
        lines.push("# Governance: short periods and small deposits, for development.".into());
        lines.push("[pos.gov]".into());
        lines.push(format!("min_deposit = \"{}\"   # 10 CIN opens voting", 10 * COIN));
        lines.push(format!("min_initial_deposit = \"{COIN}\""));
        lines.push(format!("deposit_period = {}", p.voting_period));
        lines.push(format!("voting_period = {}", p.voting_period));
        lines.push(String::new());
        lines.push("# The validators' own accounts, for fees (reports of double votes).".into());
        for k in &p.validators {
            let a = cinder_primitives::Address::from_public_key(k);
            lines.push(String::new());
            lines.push("[[alloc]]".into());
            lines.push(format!("address = \"{a}\""));
            lines.push(format!("balance = \"{VALIDATOR_FUNDS}\""));
        }
    }
    let text = lines.join("\n");
    let spec = ChainSpec::from_toml(&text).context("the built-in devnet spec")?;
    std::fs::create_dir_all(datadir).with_context(|| format!("creating {}", datadir.display()))?;
    let tmp = datadir.join("devnet.toml.tmp");
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(spec)
}

/// What a proof-of-stake devnet spec is made from.
#[derive(Clone, Debug)]
pub(crate) struct PosDevnet {
    /// The validators' consensus keys.
    pub validators: Vec<cinder_engine::sig::PublicKey>,
    /// The least time between blocks.
    pub min_block_interval_ms: u64,
    /// Blocks per staking epoch.
    pub epoch_length: u64,
    /// Blocks of a proposal's deposit period and of its voting period.
    pub voting_period: u64,
}

/// Blocks per staking epoch of a PoS devnet unless given.
pub(crate) const DEVNET_EPOCH_LENGTH: u64 = 100;
/// Blocks of a PoS devnet's governance deposit and voting periods unless
/// given.
pub(crate) const DEVNET_VOTING_PERIOD: u64 = 100;
/// One coin (18 decimals): a devnet validator's voting power unit and
/// least self-stake.
const COIN: u128 = 1_000_000_000_000_000_000;
/// What each devnet validator's own account holds (for fees: reporting
/// double votes, staking transactions): 1,000 CIN.
const VALIDATOR_FUNDS: u128 = 1_000 * COIN;

/// The user's data directory for cinder.
pub(crate) fn data_home() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("cinder"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).context("neither XDG_DATA_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/cinder"))
}

impl NodeArgs {
    /// Merges flags and env over the config file over the defaults of
    /// `devnet` or `node`.
    pub(crate) fn resolve(self, devnet: bool) -> Result<Settings> {
        self.resolve_with(devnet, None, None)
    }

    /// [`NodeArgs::resolve`]; `pos`: the devnet runs proof of stake with
    /// this node as its one validator (`devnet --consensus pos`);
    /// `chain_id`: a new devnet's chain id instead of the spec's.
    pub(crate) fn resolve_with(self, devnet: bool, pos: Option<u64>, chain_id: Option<u64>) -> Result<Settings> {
        let file = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| format!("the config file {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let chain = self.chain.or(file.chain);
        let datadir = self.datadir.or(file.datadir);
        let (spec, datadir) = match (devnet, chain.as_deref()) {
            (true, None | Some("devnet")) | (false, Some("devnet")) => {
                let d = match datadir {
                    Some(d) => d,
                    None if pos.is_some() => data_home()?.join("devnet-pos"),
                    None => data_home()?.join("devnet"),
                };
                let p = match pos {
                    Some(interval) => {
                        let path = self.validator_key.clone().unwrap_or_else(|| d.join("validator.key"));
                        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
                        let key = cinder_pos::validator::load_or_create_validator_key(&path)?;
                        Some(PosDevnet {
                            validators: vec![key.public_key()],
                            min_block_interval_ms: interval,
                            epoch_length: DEVNET_EPOCH_LENGTH,
                            voting_period: DEVNET_VOTING_PERIOD,
                        })
                    }
                    None => None,
                };
                (devnet_spec(&d, p.as_ref(), chain_id, 1)?, d)
            }
            (true, Some(other)) => bail!("`cinder devnet` runs the devnet chain; use `cinder node --chain {other}`"),
            (false, Some(c)) => {
                let spec = ChainSpec::from_file(Path::new(c)).with_context(|| format!("the chain spec {c}"))?;
                let d = match datadir {
                    Some(d) => d,
                    None => data_home()?.join(&spec.name),
                };
                (spec, d)
            }
            (false, None) => bail!("which chain? pass --chain FILE (or --chain devnet)"),
        };
        let ip = self.rpc_addr.or(file.rpc_addr).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let port = self.rpc_port.or(file.rpc_port).unwrap_or(8545);
        let metrics = match self.metrics_addr.or(file.metrics_addr).as_deref() {
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9615))),
            Some("off") => None,
            Some(a) => Some(a.parse().with_context(|| format!("--metrics-addr {a:?}: expected IP:PORT or off"))?),
        };
        let explorer = match self.explorer_addr.or(file.explorer_addr).as_deref() {
            Some("off") => None,
            Some(a) => {
                Some((a.parse().with_context(|| format!("--explorer-addr {a:?}: expected IP:PORT or off"))?, true))
            }
            None if devnet => {
                let port = if port == 0 { 0 } else { port.checked_add(1000).unwrap_or(0) };
                Some((SocketAddr::from(([127, 0, 0, 1], port)), false))
            }
            None => None,
        };
        let is_pos = spec.consensus == ConsensusKind::Pos;
        let coinbase = match self.coinbase.or(file.coinbase) {
            Some(_) if is_pos => bail!("--coinbase: a proof-of-stake block pays its proposer's address"),
            Some(c) => Some(Address::from_hex(&c).map_err(|e| anyhow::anyhow!("--coinbase {c:?}: {e}"))?),
            None if devnet && !is_pos => Some(cinder_chain::workload::Accounts::derive(DEVNET_SEED, 1).addresses[0]),
            None => None,
        };
        let mine = match self.mine.or(file.mine) {
            Some(m) if is_pos && m != MineMode::Off => bail!("--mine: a proof-of-stake chain is not mined"),
            Some(m) => m,
            None if devnet && !is_pos => MineMode::Auto,
            None => MineMode::Off,
        };
        let validator_key = match self.validator_key.or(file.validator_key) {
            Some(_) if !is_pos => bail!("--validator-key: {} is a proof-of-work chain", spec.name),
            Some(k) => Some(k),
            None if devnet && is_pos => Some(datadir.join("validator.key")),
            None => None,
        };
        if mine != MineMode::Off && coinbase.is_none() {
            bail!("--mine {mine:?} needs --coinbase ADDRESS (who the blocks pay)");
        }
        let mine_threads = self.mine_threads.or(file.mine_threads).or(devnet.then_some(1));
        if mine_threads == Some(0) {
            bail!("--mine-threads must be at least 1");
        }
        let admin_token = match self.admin_token_file.or(file.admin_token_file) {
            Some(p) => {
                let t = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
                let t = t.trim().to_string();
                if t.len() < 16 {
                    bail!("the admin token in {} is shorter than 16 characters", p.display());
                }
                Some(t)
            }
            None => None,
        };
        let p2p = self.p2p_addr.or(file.p2p_addr);
        let net = match p2p.as_deref() {
            Some("off") => None,
            None if devnet => None,
            p2p => {
                let mut config = cinder_net::NetConfig::default();
                if let Some(list) = p2p {
                    config.listen = multiaddrs("--p2p-addr", list)?;
                    if config.listen.is_empty() {
                        bail!("--p2p-addr: no address given (use `off` to run without peers)");
                    }
                }
                if let Some(list) = self.external_addr.or(file.external_addr) {
                    config.external = multiaddrs("--external-addr", &list)?;
                }
                if let Some(list) = self.bootnodes.or(file.bootnodes) {
                    config.bootnodes = cinder_net::parse_peer_addrs(&list).context("--bootnodes")?;
                }
                if let Some(list) = self.relays.or(file.relays) {
                    config.relays = cinder_net::parse_peer_addrs(&list).context("--relays")?;
                }
                config.relay_server = self.relay_server || file.relay_server.unwrap_or(false);
                config.kad_server = self.kad_server || file.kad_server.unwrap_or(false) || !config.external.is_empty();
                if let Some(n) = self.max_peers.or(file.max_peers) {
                    if n == 0 {
                        bail!("--max-peers must be at least 1 (use --p2p-addr off to run without peers)");
                    }
                    config.max_connections = n;
                    config.target_peers = config.target_peers.min(n as usize);
                }
                if let Some(list) = self.peer_allowlist.or(file.peer_allowlist) {
                    let ids = list
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| s.parse().with_context(|| format!("--peer-allowlist: {s:?} is not a peer id")))
                        .collect::<Result<Vec<cinder_net::PeerId>>>()?;
                    config.allowlist = Some(ids);
                }
                // On private and loopback networks (where --kad-server is
                // for), AutoNAT may use servers at private addresses too.
                config.autonat_only_global = !(self.kad_server || file.kad_server.unwrap_or(false));
                let node_key = self.node_key.or(file.node_key).unwrap_or_else(|| datadir.join("node.key"));
                Some(NetSettings { config, node_key })
            }
        };
        Ok(Settings {
            spec,
            datadir,
            rpc: SocketAddr::new(ip, port),
            rpc_rate_limit: self.rpc_rate_limit.or(file.rpc_rate_limit).unwrap_or(50_000),
            admin_token,
            metrics,
            explorer,
            coinbase,
            mine,
            mine_threads,
            prune_depth: self.prune_depth.or(file.prune_depth).unwrap_or(1_000),
            track_shards: parse_track_shards(self.track_shards.or(file.track_shards).as_deref())?,
            test_upgrade: self.test_upgrade,
            net,
            validator_key,
        })
    }
}

/// `--track-shards`: `all` (or unset) keeps every shard; otherwise a
/// comma-separated list of shard numbers. The chain checks the numbers
/// against its spec when it opens.
fn parse_track_shards(v: Option<&str>) -> anyhow::Result<Option<Vec<u16>>> {
    let Some(v) = v.map(str::trim).filter(|v| *v != "all") else { return Ok(None) };
    let mut out = Vec::new();
    for part in v.split(',') {
        let s: u16 = part.trim().parse().map_err(|_| {
            anyhow::anyhow!("--track-shards: {part:?} is not a shard number (give `all` or a list such as 0,2)")
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(Some(out))
}

/// The devnet accounts' key seed: account i's ed25519 seed is
/// BLAKE3("cinder-devnet/<i>").
pub(crate) const DEVNET_SEED: &str = "cinder-devnet";
/// Funded devnet accounts.
pub(crate) const DEVNET_ACCOUNTS: u64 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("cinder-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("node.toml");
        let toml = format!(
            "chain = \"devnet\"\ndatadir = {:?}\nrpc_port = 9000\nmine_threads = 3\nmetrics_addr = \"off\"\n",
            dir.join("data")
        );
        std::fs::write(&file, toml).unwrap();
        let a = NodeArgs { config: Some(file.clone()), rpc_port: Some(9100), ..NodeArgs::default() };
        let s = a.resolve(false).unwrap();
        assert_eq!(s.rpc.port(), 9100);
        assert_eq!(s.mine_threads, Some(3));
        assert_eq!(s.metrics, None);
        assert_eq!(s.mine, MineMode::Off);
        assert_eq!(s.rpc.ip(), IpAddr::from([127, 0, 0, 1]));
        // The devnet spec was written with genesis time now, and is read back.
        let again = NodeArgs { datadir: Some(dir.join("data")), chain: Some("devnet".into()), ..NodeArgs::default() };
        assert_eq!(again.resolve(false).unwrap().spec.digest(), s.spec.digest());
        assert!(s.spec.genesis_time > 1_767_225_600);

        std::fs::write(&file, "chain = \"devnet\"\nrpc_prot = 9000\n").unwrap();
        let e = NodeArgs { config: Some(file), ..NodeArgs::default() }.resolve(false).unwrap_err();
        assert!(format!("{e:#}").contains("rpc_prot"), "{e:#}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mining_needs_a_coinbase_and_devnet_has_one() {
        let dir = std::env::temp_dir().join(format!("cinder-cfg2-{}", std::process::id()));
        let e = NodeArgs {
            chain: Some("devnet".into()),
            datadir: Some(dir.clone()),
            mine: Some(MineMode::Cpu),
            ..NodeArgs::default()
        }
        .resolve(false)
        .unwrap_err();
        assert!(e.to_string().contains("--coinbase"), "{e}");
        let s = NodeArgs { datadir: Some(dir.clone()), ..NodeArgs::default() }.resolve(true).unwrap();
        assert_eq!(s.mine, MineMode::Auto);
        assert_eq!(s.mine_threads, Some(1));
        assert!(s.coinbase.is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn track_shards_takes_all_or_a_list_and_names_a_bad_entry() {
        assert_eq!(parse_track_shards(None).unwrap(), None);
        assert_eq!(parse_track_shards(Some("all")).unwrap(), None);
        assert_eq!(parse_track_shards(Some("0, 2,2")).unwrap(), Some(vec![0, 2]));
        let e = parse_track_shards(Some("0,x")).unwrap_err().to_string();
        assert!(e.contains("\"x\" is not a shard number"), "{e}");
        assert!(parse_track_shards(Some("70000")).is_err());
    }
}
