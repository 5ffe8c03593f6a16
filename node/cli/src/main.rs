//! `cinder`: run a node or a development chain, manage a wallet, checkpoint
//! and restore a database.

/// Prints a line on stdout. A stdout nobody reads any more (the pipe's
/// reader exited) must not take the node down, so write errors are
/// ignored (`println!` would panic).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod config;
mod contract;
mod db;
mod gov;
mod health;
mod ibc;
mod relay;
mod run;
mod testnet;
mod wallet;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cinder: a hardware-accelerated chain.
#[derive(Debug, Parser)]
#[command(name = "cinder", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More logging (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log lines as `text` or as `json` objects (one a line: timestamp,
    /// level, target, fields), on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// For people.
    Text,
    /// For log shippers.
    Json,
}

type FilterHandle = tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// The installed logger's filter, changeable at run time.
static LOG_FILTER: std::sync::OnceLock<FilterHandle> = std::sync::OnceLock::new();

/// What lets a node change the log filter (`cinder_adminSetLogLevel`).
pub(crate) fn log_control() -> Option<cinder_node::LogControl> {
    let handle = LOG_FILTER.get()?.clone();
    Some(Box::new(move |directive: &str| {
        let filter =
            tracing_subscriber::EnvFilter::try_new(directive).map_err(|e| format!("log filter {directive:?}: {e}"))?;
        handle.reload(filter).map_err(|e| format!("changing the log filter: {e}"))
    }))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node.
    Node(config::NodeArgs),
    /// Run a local development chain: funded accounts, mining, RPC.
    Devnet(run::DevnetArgs),
    /// Run N nodes on loopback, one process each, joined into one network.
    Testnet(testnet::TestnetArgs),
    /// Keys, balances, transfers, staking, contract deploys and calls.
    Wallet(wallet::WalletArgs),
    /// Contracts read-only: query a method, code, storage, events.
    Contract(contract::ContractArgs),
    /// Database checkpoints.
    Db(db::DbArgs),
    /// Whether a node answers on its RPC (exit status 0), for health checks.
    Health(health::HealthArgs),
    /// Relay between two chains: open a channel (clients and handshake),
    /// then deliver packets, acknowledgements and timeouts both ways.
    Relay(relay::RelayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},jsonrpsee=warn,hyper=warn")));
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
        let _ = LOG_FILTER.set(handle);
        let registry = tracing_subscriber::registry().with(filter);
        match cli.log_format {
            LogFormat::Text => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).init(),
            LogFormat::Json => {
                registry.with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)).init();
            }
        }
    }
    let r = match cli.command {
        Command::Node(a) => run::node(a),
        Command::Devnet(a) => run::devnet(a),
        Command::Testnet(a) => testnet::run(a),
        Command::Wallet(a) => wallet::run(a),
        Command::Contract(a) => contract::run(a),
        Command::Db(a) => db::run(a),
        Command::Health(a) => health::run(a),
        Command::Relay(a) => relay::run(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Bad input from the user (a missing or malformed file, bad hex, an
/// unknown method, a call that would fail): one line on stderr, exit 2.
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}
