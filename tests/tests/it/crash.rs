//! Crash safety: a child process importing blocks is killed with SIGKILL at
//! random moments; every reopen finds the last block the child reported
//! committed (and everything below it) whole, with the state that block's
//! header commits to, and the next child continues the chain.
//!
//! This covers process crashes (the WAL and RocksDB's atomic write batch),
//! not power loss: writes are not fsynced per block.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cinder_chain::workload::{Accounts, Rng};
use cinder_chain::{Chain, ChainConfig};
use cinder_tests::crash;

const KILLS: usize = 24;

/// Every canonical block from genesis to the head is stored whole, links
/// up, and the head's state is the one its header commits to, with the
/// supply the rewards account for. Returns the head height.
fn check_whole(chain: &Chain, accounts: &Accounts) -> u64 {
    let db = chain.db();
    let head = db.head().unwrap().expect("a head after genesis");
    let mut prev = None;
    for h in 0..=head.height {
        let (id, version) = db.canonical(h).unwrap().unwrap_or_else(|| panic!("no canonical block at {h}"));
        let block = db.block(&id).unwrap().unwrap_or_else(|| panic!("block {id} at {h} is not stored"));
        assert_eq!(block.id(), id);
        assert_eq!(block.header.height(), h);
        if let Some(p) = prev {
            assert_eq!(block.header.prev(), p, "height {h} does not link to {p}");
        }
        let receipts = db.receipts(&id).unwrap().unwrap_or_else(|| panic!("no receipts for {id}"));
        assert_eq!(receipts.len(), block.transactions.len());
        let meta = db.block_meta(&id).unwrap().expect("block metadata");
        assert_eq!((meta.height, meta.version), (h, version));
        for (i, tx) in block.transactions.iter().enumerate() {
            assert_eq!(db.transaction_location(&tx.id()).unwrap(), Some((id, i as u32)));
        }
        prev = Some(id);
    }
    let header = db.header(&head.id).unwrap().unwrap();
    let state = chain.state();
    assert_eq!(state.root(head.version).unwrap(), header.fields.state_root, "the head's state is not its header's");
    let total: u128 =
        accounts.addresses.iter().map(|a| state.account(head.version, a).unwrap().map_or(0, |x| x.balance)).sum();
    let supply =
        crash::BALANCE * u128::from(crash::ACCOUNTS as u32) + chain.spec().block_reward * u128::from(head.height);
    assert_eq!(total, supply, "value created or lost at height {}", head.height);
    head.height
}

fn open(dir: &Path, accounts: &Accounts) -> Chain {
    Chain::open(
        dir,
        crash::spec(accounts),
        ChainConfig { exec_threads: 2, max_reorg_depth: 4, prune: true, ..ChainConfig::default() },
    )
    .unwrap()
}

#[test]
fn sigkill_at_random_moments_never_loses_a_committed_block() {
    let dir = std::env::temp_dir().join(format!("cinder-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let accounts = Accounts::derive(crash::SEED, crash::ACCOUNTS);
    let mut rng = Rng(0x00c0_ffee);
    let mut reported = 0u64;
    let mut rounds_with_progress = 0;
    for round in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-child"))
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.split_whitespace().nth(1).and_then(|h| h.parse::<u64>().ok()))
                .max()
        });
        // Early rounds kill during startup and genesis too; later ones mostly mid-import.
        let delay = if round < 3 { 5 + rng.below(40) } else { 50 + rng.below(500) };
        std::thread::sleep(Duration::from_millis(delay as u64));
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("round {round}: the child exited by itself ({status}): {err}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let printed = reader.join().unwrap();
        if let Some(h) = printed {
            assert!(h >= reported, "heights go backwards: {h} after {reported}");
            if h > reported {
                rounds_with_progress += 1;
            }
            reported = h;
        }
        if !dir.exists() {
            continue;
        }
        let chain = open(&dir, &accounts);
        let height = check_whole(&chain, &accounts);
        assert!(
            height >= reported,
            "round {round}: the child reported height {reported}, the reopened head is {height}"
        );
        reported = height;
    }
    assert!(rounds_with_progress >= KILLS / 2, "only {rounds_with_progress} of {KILLS} rounds imported a block");
    let _ = std::fs::remove_dir_all(&dir);
}
