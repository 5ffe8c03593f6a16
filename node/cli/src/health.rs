//! `cinder health`: whether a node answers on its RPC, for container health
//! checks (the Dockerfile's HEALTHCHECK) and scripts. Exit status 0 when it
//! does (and, with `--synced`, when it is not syncing and has peers), 1 with
//! the reason on stderr otherwise.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use cinder_rpc::Client;
use clap::Args;

/// `cinder health` flags.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The node's RPC endpoint.
    #[arg(long, env = "CINDER_RPC", default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// Also unhealthy while the node is syncing or has no peers.
    #[arg(long)]
    synced: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// `cinder health`.
pub(crate) fn run(a: HealthArgs) -> Result<()> {
    if a.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    let c = Client::new(&a.rpc)?;
    let rt = crate::wallet::rt()?;
    let line = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(a.timeout), async {
            let height = c.block_number().await.with_context(|| format!("{} does not answer", a.rpc))?;
            let syncing = c.syncing().await.context("cinder_syncing")?;
            let peers = c.peers().await.context("cinder_peers")?.len();
            let finalized = c.finalized_block_number().await.ok();
            if a.synced {
                if let Some(s) = &syncing {
                    bail!("syncing: at {} of {}", s.current_block, s.highest_block);
                }
                if peers == 0 {
                    bail!("no peers");
                }
            }
            let mut line = format!("healthy: height {height}");
            if let Some(f) = finalized {
                line += &format!(", finalized {f}");
            }
            line += &format!(", {peers} peers");
            if let Some(s) = syncing {
                line += &format!(", syncing to {}", s.highest_block);
            }
            Ok(line)
        })
        .await
        .map_err(|_| anyhow::anyhow!("{} did not answer within {} s", a.rpc, a.timeout))?
    })?;
    println!("{line}");
    Ok(())
}
