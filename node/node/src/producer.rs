//! The node's own block production: a template from the pool on the head,
//! sealed by the engine's PoW search, imported. A watchdog cancels the
//! search the moment the head moves, and within a second of new
//! transactions arriving so the next template takes them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cinder_chain::{produce, unix_now};
use cinder_engine::pow::{Backend, SearchControl};
use cinder_primitives::Address;

use crate::node::Node;

/// A template's age after which new pool transactions replace it.
pub const REFRESH_AFTER: Duration = Duration::from_secs(1);
/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(50);

/// The most transactions one template takes from the pool.
pub const MAX_TEMPLATE_TXS: usize = 50_000;

struct Current {
    ctl: Arc<SearchControl>,
    head_gen: u64,
    pool_gen: u64,
    built: Instant,
}

/// A running producer; dropping it (or [`Producer::stop`]) stops it.
pub struct Producer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Producer {
    /// Starts producing on `backend`, paying `coinbase`.
    pub fn start(node: Arc<Node>, backend: Backend, coinbase: Address) -> Result<Producer> {
        let stop = Arc::new(AtomicBool::new(false));
        let current: Arc<Mutex<Option<Current>>> = Arc::new(Mutex::new(None));
        let seal = {
            let (node, stop, current) = (node.clone(), stop.clone(), current.clone());
            std::thread::Builder::new()
                .name("cinder-producer".into())
                .spawn(move || run(&node, &backend, coinbase, &stop, &current))
                .context("starting the producer")?
        };
        let watch = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cinder-producer-watch".into())
                .spawn(move || watchdog(&node, &stop, &current))
                .context("starting the producer's watchdog")?
        };
        Ok(Producer { stop, threads: vec![seal, watch] })
    }

    /// Stops and waits for the threads (an import in progress finishes).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(node: &Node, backend: &Backend, coinbase: Address, stop: &AtomicBool, current: &Mutex<Option<Current>>) {
    let chain = node.chain();
    let mut failures = 0u32;
    while !stop.load(Ordering::Acquire) {
        if !node.mining_on.load(Ordering::Acquire) {
            std::thread::sleep(TICK);
            continue;
        }
        let head_gen = node.head_generation();
        let pool_gen = node.pool_generation();
        let t = Instant::now();
        let candidates = match node.head_version() {
            Ok((_, _, v)) => {
                let state = chain.state();
                let view = |a: &Address| state.account(v, a);
                node.mempool().select(&view, chain.spec().block_gas_limit, MAX_TEMPLATE_TXS)
            }
            Err(e) => Err(e),
        };
        let ctl = Arc::new(SearchControl::new());
        *current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Current { ctl: ctl.clone(), head_gen, pool_gen, built: Instant::now() });
        let r = candidates.and_then(|c| produce(chain, c, coinbase, backend, &ctl, unix_now()));
        current.lock().unwrap_or_else(PoisonError::into_inner).take();
        node.mining.hashes_done.fetch_add(ctl.hashes(), Ordering::Relaxed);
        match r {
            Ok(Some((imported, block))) => {
                failures = 0;
                node.mining.blocks_found.fetch_add(1, Ordering::Relaxed);
                node.metrics.produce_micros.fetch_add(crate::node::micros(t.elapsed()), Ordering::Relaxed);
                tracing::info!(
                    height = imported.height,
                    id = %imported.id,
                    txs = block.transactions.len(),
                    ms = t.elapsed().as_millis(),
                    "sealed a block"
                );
                node.after_import(&imported, Some(&block));
            }
            Ok(None) => {}
            Err(e) => {
                failures += 1;
                tracing::error!("producing a block: {e:#}");
                // Back off, up to 5 s, rather than spin on a persistent fault.
                std::thread::sleep(Duration::from_millis(100 * u64::from(failures.min(50))));
            }
        }
    }
}

fn watchdog(node: &Node, stop: &AtomicBool, current: &Mutex<Option<Current>>) {
    let mut last = (Instant::now(), node.mining.hashes_done.load(Ordering::Relaxed));
    let mut rate = 0.0f64;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let live = {
            let cur = current.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = cur.as_ref() {
                let moot = node.head_generation() != c.head_gen
                    || (node.pool_generation() != c.pool_gen && c.built.elapsed() >= REFRESH_AFTER)
                    || !node.mining_on.load(Ordering::Acquire);
                if stopping || moot {
                    c.ctl.cancel();
                }
                c.ctl.hashes()
            } else {
                0
            }
        };
        if stopping {
            return;
        }
        let elapsed = last.0.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let total = node.mining.hashes_done.load(Ordering::Relaxed) + live;
            let inst = total.saturating_sub(last.1) as f64 / elapsed.as_secs_f64();
            rate = if rate == 0.0 { inst } else { 0.7 * rate + 0.3 * inst };
            node.mining.hashrate_bits.store(rate.to_bits(), Ordering::Relaxed);
            last = (Instant::now(), total);
        }
        std::thread::sleep(TICK);
    }
}
