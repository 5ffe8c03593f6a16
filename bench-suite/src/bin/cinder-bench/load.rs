//! `cinder-bench load`: end-to-end throughput of a running node through
//! its JSON-RPC.
//!
//! 1. Funding (untimed): `--accounts` load accounts (keys from
//!    BLAKE3("cinder-load/<i>")) get coins from the devnet's funded
//!    accounts (keys from BLAKE3("cinder-devnet/<i>")), in waves that
//!    respect the pool's per-sender limit; the run waits for inclusion.
//! 2. Pre-signing (untimed): `--tps x --duration` transfers, round-robin
//!    over the load accounts, consecutive nonces per account.
//! 3. Sending: every 10 ms the transfers due by then go out as one
//!    JSON-RPC batch of `cinder_sendRawTransaction` calls (several batches
//!    in flight); a poller reads each new block's transaction hashes.
//! 4. Report: submitted, accepted, refused (by error), included; achieved
//!    TPS (included / from the first send to the last inclusion); the
//!    inclusion latency (send to the poller seeing the block) p50, p90,
//!    p99, max.

#![expect(clippy::cast_possible_truncation, reason = "counts and rates of one run: far below 2^52 and usize::MAX")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use cinder_chain::workload::Accounts;
use cinder_primitives::{Address, Hash, SignedTransaction, Transaction, TxKind};
use cinder_rpc::Client;
use rayon::prelude::*;

use crate::Failure;

/// The devnet's funded accounts.
const DEVNET_SEED: &str = "cinder-devnet";
const DEVNET_ACCOUNTS: u64 = 8;
/// Pooled transactions a sender may have (the node's default).
const PER_SENDER: u64 = 64;
const GAS: u64 = 21_000;

/// Options of `cinder-bench load`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The node's RPC URL.
    #[arg(long)]
    rpc: String,
    /// Transfers per second to send.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    tps: u32,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Load accounts (more accounts: fewer transactions per sender in the
    /// pool at once).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    accounts: u32,
    /// Gas price of the load's transfers.
    #[arg(long, default_value_t = 1)]
    gas_price: u64,
    /// Seconds to wait for stragglers after sending.
    #[arg(long, default_value_t = 60.0)]
    drain: f64,
    /// JSON-RPC batches in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn rpc_err(e: cinder_rpc::ClientError) -> anyhow::Error {
    anyhow!("{e}")
}

/// Waits until each `(address, nonce)` has its nonce reached.
async fn wait_nonces(c: &Client, want: &[(Address, u64)], timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    for (a, n) in want {
        loop {
            if c.nonce(*a).await.map_err(rpc_err)? >= *n {
                break;
            }
            if Instant::now() > deadline {
                bail!("funding transactions of {a} not included within {} s", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

fn transfer(
    chain_id: u64,
    key: &cinder_engine::sig::SecretKey,
    nonce: u64,
    to: Address,
    amount: u128,
    price: u64,
) -> SignedTransaction {
    Transaction {
        chain_id,
        sender: key.public_key(),
        nonce,
        gas_limit: GAS,
        gas_price: price,
        kind: TxKind::Transfer { to, amount },
    }
    .sign(key)
}

async fn fund(c: &Client, chain_id: u64, load: &Accounts, need: u128, quiet: bool) -> anyhow::Result<()> {
    let dev = Accounts::derive(DEVNET_SEED, DEVNET_ACCOUNTS);
    let mut todo = Vec::new();
    for (i, a) in load.addresses.iter().enumerate() {
        if c.balance(*a).await.map_err(rpc_err)? < need {
            todo.push(i);
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    if !quiet {
        eprintln!("funding {} load accounts from the devnet accounts ...", todo.len());
    }
    let mut nonces = Vec::new();
    for a in &dev.addresses {
        nonces.push(c.nonce(*a).await.map_err(rpc_err)?);
    }
    let per_wave = (PER_SENDER as usize) * dev.addresses.len();
    for wave in todo.chunks(per_wave) {
        let mut txs = Vec::with_capacity(wave.len());
        for (j, &i) in wave.iter().enumerate() {
            let s = j % dev.addresses.len();
            txs.push(transfer(chain_id, &dev.keys[s], nonces[s], load.addresses[i], need * 2, 1));
            nonces[s] += 1;
        }
        for chunk in txs.chunks(500) {
            for (k, r) in c.send_batch(chunk).await.map_err(rpc_err)?.into_iter().enumerate() {
                if let Err(e) = r {
                    bail!("funding transfer {} refused: {e}", chunk[k].id());
                }
            }
        }
        let want: Vec<(Address, u64)> = dev.addresses.iter().copied().zip(nonces.iter().copied()).collect();
        wait_nonces(c, &want, Duration::from_secs(120)).await?;
    }
    Ok(())
}

#[derive(Default)]
struct Track {
    sent: HashMap<Hash, Instant>,
    latencies: Vec<Duration>,
    last_inclusion: Option<Instant>,
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64()
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    if !(a.duration > 0.0 && a.duration <= 3600.0) {
        return Err(Failure::Usage("--duration must be in (0, 3600] seconds".into()));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("runtime")?;
    rt.block_on(load(a)).map_err(Failure::Runtime)
}

async fn load(a: Args) -> anyhow::Result<()> {
    let c = Client::new(&a.rpc).map_err(rpc_err)?;
    let chain_id = c.chain_id().await.map_err(rpc_err).with_context(|| format!("reaching {}", a.rpc))?;
    let total = (f64::from(a.tps) * a.duration).round() as u64;
    let load = Accounts::derive("cinder-load", u64::from(a.accounts));
    let per_account = total.div_ceil(u64::from(a.accounts)) as u128;
    let need = (per_account + 1) * (1 + u128::from(GAS) * u128::from(a.gas_price));
    fund(&c, chain_id, &load, need, a.json).await?;
    // Pre-sign, round-robin over the accounts.
    let mut nonces = Vec::with_capacity(load.addresses.len());
    for addr in &load.addresses {
        nonces.push(c.nonce(*addr).await.map_err(rpc_err)?);
    }
    let k = load.addresses.len() as u64;
    let txs: Vec<SignedTransaction> = (0..total)
        .into_par_iter()
        .map(|i| {
            let s = (i % k) as usize;
            let to = load.addresses[((i + 1) % k) as usize];
            transfer(chain_id, &load.keys[s], nonces[s] + i / k, to, 1, a.gas_price)
        })
        .collect();
    if !a.json {
        eprintln!("sending {total} transfers at {} tx/s for {} s from {k} accounts ...", a.tps, a.duration);
    }
    let start_height = c.block_number().await.map_err(rpc_err)?;
    let track = Arc::new(Mutex::new(Track::default()));
    let refused: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let stop_poll = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (c, track, stop) = (c.clone(), track.clone(), stop_poll.clone());
        tokio::spawn(async move {
            let mut next = start_height + 1;
            let mut blocks = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let head = c.block_number().await.unwrap_or(next.saturating_sub(1));
                while next <= head {
                    let Ok(Some(b)) = c.block_by_number(next, false).await else { break };
                    let seen = Instant::now();
                    let mut t = track.lock().unwrap_or_else(PoisonError::into_inner);
                    for h in b.transactions.as_array().into_iter().flatten() {
                        if let Some(sent) =
                            h.as_str().and_then(|s| Hash::from_hex(s).ok()).and_then(|h| t.sent.remove(&h))
                        {
                            t.latencies.push(seen - sent);
                            t.last_inclusion = Some(seen);
                        }
                    }
                    next += 1;
                    blocks += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            blocks
        })
    };
    let started = Instant::now();
    let tick = Duration::from_millis(10);
    let mut sent = 0usize;
    let mut accepted = 0u64;
    let limit = Arc::new(tokio::sync::Semaphore::new(a.concurrency.max(1)));
    let mut tasks = Vec::new();
    let txs = Arc::new(txs);
    while sent < txs.len() {
        let due = ((started.elapsed().as_secs_f64() * f64::from(a.tps)) as usize).min(txs.len());
        if due > sent {
            for (lo, hi) in (sent..due).step_by(1000).map(|lo| (lo, (lo + 1000).min(due))) {
                let permit = limit.clone().acquire_owned().await.context("semaphore")?;
                let (c, txs, track, refused) = (c.clone(), txs.clone(), track.clone(), refused.clone());
                tasks.push(tokio::spawn(async move {
                    let batch = &txs[lo..hi];
                    let at = Instant::now();
                    let ids: Vec<Hash> = batch.iter().map(SignedTransaction::id).collect();
                    {
                        let mut t = track.lock().unwrap_or_else(PoisonError::into_inner);
                        for id in &ids {
                            t.sent.insert(*id, at);
                        }
                    }
                    let mut ok = 0u64;
                    match c.send_batch(batch).await {
                        Ok(rs) => {
                            for (r, id) in rs.into_iter().zip(&ids) {
                                match r {
                                    Ok(_) => ok += 1,
                                    Err(e) => {
                                        track.lock().unwrap_or_else(PoisonError::into_inner).sent.remove(id);
                                        let key = e.code().map_or_else(|| "transport".to_string(), |c| c.to_string());
                                        *refused
                                            .lock()
                                            .unwrap_or_else(PoisonError::into_inner)
                                            .entry(key)
                                            .or_default() += 1;
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            let mut t = track.lock().unwrap_or_else(PoisonError::into_inner);
                            for id in &ids {
                                t.sent.remove(id);
                            }
                            *refused
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .entry(format!("batch: {e}"))
                                .or_default() += ids.len() as u64;
                        }
                    }
                    drop(permit);
                    ok
                }));
            }
            sent = due;
        }
        tokio::time::sleep(tick).await;
    }
    for t in tasks {
        accepted += t.await.unwrap_or(0);
    }
    let send_secs = started.elapsed().as_secs_f64();
    let drain_until = Instant::now() + Duration::from_secs_f64(a.drain);
    while Instant::now() < drain_until && !track.lock().unwrap_or_else(PoisonError::into_inner).sent.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_poll.store(true, std::sync::atomic::Ordering::Release);
    let blocks = poller.await.unwrap_or(0);
    let t = track.lock().unwrap_or_else(PoisonError::into_inner);
    let mut lat = t.latencies.clone();
    lat.sort_unstable();
    let included = lat.len() as u64;
    let span = t.last_inclusion.map_or(send_secs, |l| (l - started).as_secs_f64());
    let tps = included as f64 / span;
    let refused = refused.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let refused_total: u64 = refused.values().sum();
    if a.json {
        let v = serde_json::json!({
            "rpc": a.rpc, "target_tps": a.tps, "duration_s": a.duration, "accounts": a.accounts,
            "submitted": total, "accepted": accepted, "refused": refused_total, "refused_by_code": refused,
            "included": included, "not_included": accepted.saturating_sub(included), "blocks": blocks,
            "send_seconds": send_secs, "span_seconds": span, "achieved_tps": tps,
            "latency_s": { "p50": pct(&lat, 0.5), "p90": pct(&lat, 0.9), "p99": pct(&lat, 0.99), "max": pct(&lat, 1.0) },
        });
        println!("{v}");
    } else {
        println!(
            "submitted {total} in {send_secs:.1} s ({:.0}/s), accepted {accepted}, refused {refused_total} {refused:?}",
            total as f64 / send_secs
        );
        println!("included {included} in {blocks} blocks over {span:.1} s: {tps:.0} tx/s end to end");
        println!(
            "inclusion latency: p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, max {:.2} s",
            pct(&lat, 0.5),
            pct(&lat, 0.9),
            pct(&lat, 0.99),
            pct(&lat, 1.0)
        );
    }
    Ok(())
}
