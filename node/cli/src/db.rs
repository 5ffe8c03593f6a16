//! `cinder db checkpoint DIR` (alias `backup`) and `cinder db restore DIR`:
//! RocksDB checkpoints of a stopped node's chain data, and putting one back.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::config::data_home;

/// `cinder db`.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    #[command(subcommand)]
    cmd: DbCmd,
    /// The node's data directory (the chain data is DIR/chain).
    #[arg(long, global = true, env = "CINDER_DATADIR")]
    datadir: Option<PathBuf>,
    /// The chain name, for the default data directory.
    #[arg(long, global = true, default_value = "devnet")]
    chain_name: String,
}

#[derive(Debug, Subcommand)]
enum DbCmd {
    /// Write a consistent checkpoint of the chain data to DIR/chain (DIR
    /// new; on the same filesystem the table files are hard links), with
    /// the data directory's devnet.toml if it has one. The node must be
    /// stopped. `cinder db backup` is the same command.
    #[command(alias = "backup")]
    Checkpoint {
        /// Where (must not exist).
        dir: PathBuf,
    },
    /// Make the checkpoint in DIR the node's chain data. The node must be
    /// stopped; existing chain data is refused unless --force.
    Restore {
        /// The checkpoint.
        dir: PathBuf,
        /// Replace existing chain data.
        #[arg(long)]
        force: bool,
    },
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target).with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// `cinder db ...`.
pub(crate) fn run(a: DbArgs) -> Result<()> {
    let datadir = match a.datadir {
        Some(d) => d,
        None => data_home()?.join(&a.chain_name),
    };
    let chain = datadir.join("chain");
    match a.cmd {
        DbCmd::Checkpoint { dir } => {
            if !chain.exists() {
                bail!("no chain data in {}", chain.display());
            }
            let db = cinder_storage::Db::open(&chain)
                .with_context(|| format!("opening {} (is the node still running?)", chain.display()))?;
            if dir.exists() {
                bail!("{} exists: a checkpoint goes into a new directory", dir.display());
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            db.checkpoint(&dir.join("chain"))?;
            let spec = datadir.join("devnet.toml");
            if spec.exists() {
                std::fs::copy(&spec, dir.join("devnet.toml")).context("copying devnet.toml")?;
            }
            let head = db.head()?.context("the database has no head")?;
            println!("Checkpoint of height {} ({}) in {}", head.height, head.id, dir.display());
        }
        DbCmd::Restore { dir, force } => {
            let from = dir.join("chain");
            let check = cinder_storage::Db::open(&from)
                .with_context(|| format!("{} is not a readable checkpoint", dir.display()))?;
            let head = check.head()?.context("the checkpoint has no head")?;
            drop(check);
            if chain.exists() {
                if !force {
                    bail!("{} already holds chain data: pass --force to replace it", chain.display());
                }
                // Fails while a node holds the database's lock.
                drop(
                    cinder_storage::Db::open(&chain)
                        .with_context(|| format!("opening {} (is the node still running?)", chain.display()))?,
                );
            }
            std::fs::create_dir_all(&datadir)?;
            // Copy beside it, then swap in with renames: a failure leaves
            // the old data or the new, never a mix.
            let staging = datadir.join("chain.restoring");
            let old = datadir.join("chain.old");
            let _ = std::fs::remove_dir_all(&staging);
            copy_dir(&from, &staging)?;
            if chain.exists() {
                let _ = std::fs::remove_dir_all(&old);
                std::fs::rename(&chain, &old)?;
            }
            std::fs::rename(&staging, &chain)?;
            let _ = std::fs::remove_dir_all(&old);
            if dir.join("devnet.toml").exists() {
                let tmp = datadir.join("devnet.toml.tmp");
                std::fs::copy(dir.join("devnet.toml"), &tmp).context("copying devnet.toml")?;
                std::fs::rename(&tmp, datadir.join("devnet.toml"))?;
            }
            println!("Restored height {} ({}) into {}", head.height, head.id, chain.display());
        }
    }
    Ok(())
}
