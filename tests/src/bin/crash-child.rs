//! The child of the crash test (`tests/it/crash.rs`): opens the chain in
//! the data directory given as the only argument (writing genesis if it is
//! new), then builds and imports blocks of transfers on the head forever,
//! printing `imported HEIGHT ID` after each import returns. The test kills
//! it with SIGKILL at random moments.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use cinder_chain::workload::{Accounts, Rng, extend};
use cinder_chain::{Chain, ChainConfig};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: crash-child DATADIR");
        return ExitCode::from(2);
    };
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash-child: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path) -> anyhow::Result<()> {
    let accounts = Accounts::derive(cinder_tests::crash::SEED, cinder_tests::crash::ACCOUNTS);
    let chain = Chain::open(
        dir,
        cinder_tests::crash::spec(&accounts),
        ChainConfig { exec_threads: 2, max_reorg_depth: 4, prune: true, ..ChainConfig::default() },
    )?;
    let mut rng = Rng(chain.head()?.height);
    let mut out = std::io::stdout().lock();
    loop {
        for b in extend(&chain, &accounts, 1, cinder_tests::crash::TXS_PER_BLOCK, &mut rng)? {
            let r = chain.import(&b)?;
            writeln!(out, "imported {} {}", r.height, r.id)?;
            out.flush()?;
        }
    }
}
