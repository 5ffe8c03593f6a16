//! `cinder` as a user runs it: a devnet process with real RocksDB and RPC
//! on loopback, the wallet commands, clean and hard restarts, database
//! checkpoints, a four-process testnet (staking, governance), and NAT
//! traversal between processes in network namespaces, and two devnets
//! joined by a channel and a relayer.
//!
//! Each test runs whole node processes; they take turns ([`serial`]) so
//! they never compete for the two cores of CI.

mod contracts;
mod devnet;
mod explorer;
mod gov;
mod ibc;
mod nat;
mod pos;
mod shards;
mod testnet;

/// `cinder db ACTION DIR --datadir DATADIR` (checkpoint, backup, restore),
/// which must succeed.
pub(crate) fn db(action: &str, dir: &std::path::Path, datadir: &std::path::Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cinder"))
        .args(["db", action])
        .arg(dir)
        .arg("--datadir")
        .arg(datadir)
        .output()
        .unwrap();
    assert!(out.status.success(), "db {action}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Held for the whole of a multi-process test.
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lines `child` prints on its (piped) stdout, as they come.
pub(crate) fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    lines_of(child.stdout.take().expect("stdout is piped"))
}

/// The lines read from `out` (a child's pipe), as they come.
pub(crate) fn lines_of(out: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    lines
}
