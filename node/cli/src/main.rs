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
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let r = match cli.command {
        Command::Node(a) => run::node(a),
        Command::Devnet(a) => run::devnet(a),
        Command::Testnet(a) => testnet::run(a),
        Command::Wallet(a) => wallet::run(a),
        Command::Contract(a) => contract::run(a),
        Command::Db(a) => db::run(a),
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
