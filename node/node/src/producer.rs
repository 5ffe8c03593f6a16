//! The node's own block production: a template from the pool on the head,
//! sealed by the engine's PoW search on its own thread, imported. The
//! search is cancelled the moment the head moves; when transactions have
//! arrived and the template is a second old, a new template is built while
//! the old one keeps hashing, then swapped in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cinder_chain::{build_block_from, seal, unix_now};
use cinder_engine::pow::{Backend, SearchControl};
use cinder_primitives::{Address, Block, Header};
use cinder_state::{Overlay, State};

use crate::node::Node;

/// A template's age after which new pool transactions replace it.
pub const REFRESH_AFTER: Duration = Duration::from_secs(1);
/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(50);

/// The most transactions one template takes from the pool.
pub const MAX_TEMPLATE_TXS: usize = 50_000;

/// The search the hashrate is read from.
struct Current {
    ctl: Arc<SearchControl>,
}

/// A running producer; dropping it (or [`Producer::stop`]) stops it.
pub struct Producer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Producer {
    /// Starts producing on `backend`, paying `coinbase`.
    pub fn start(node: Arc<Node>, backend: Backend, coinbase: Address) -> Result<Producer> {
        let backend = Arc::new(backend);
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

/// A template being sealed on its own thread.
struct Sealing {
    block: Block,
    ctl: Arc<SearchControl>,
    handle: JoinHandle<Result<Option<Header>>>,
    head_gen: u64,
    pool_gen: u64,
    built: Instant,
    started: Instant,
}

impl Sealing {
    /// Cancels the search and waits for it: the sealed header if it found
    /// one first.
    fn finish(self, node: &Node) -> (Block, Option<Header>, Instant) {
        self.ctl.cancel();
        let r = self.handle.join();
        node.mining.hashes_done.fetch_add(self.ctl.hashes(), Ordering::Relaxed);
        let header = match r {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                tracing::error!("sealing: {e:#}");
                None
            }
            Err(_) => {
                tracing::error!("the sealing thread panicked");
                None
            }
        };
        (self.block, header, self.started)
    }
}

/// A template from the pool on the head, built on an overlay of the head
/// state (the pool verified the signatures).
pub(crate) fn template(node: &Node, coinbase: Address) -> Result<Block> {
    let chain = node.chain();
    let head = chain.head()?;
    let ctx = chain.context(&head.id)?.context("the head has no context")?;
    let (_, _, v) = node.head_version()?;
    let view = |a: &Address| chain.account_at(v, a);
    let candidates = node.mempool().select(&view, chain.params()?.block_gas_limit, MAX_TEMPLATE_TXS)?;
    if chain.shards() > 1 {
        return Ok(chain.build_sharded(&ctx, candidates, coinbase, unix_now(), true)?.block);
    }
    let overlay = State::new(Overlay::new(chain.db()));
    let built = build_block_from(
        chain.consensus(),
        chain.spec(),
        &overlay,
        &ctx,
        candidates,
        coinbase,
        unix_now(),
        chain.config().exec_threads,
        true,
    )?;
    Ok(built.block)
}

fn start_sealing(
    node: &Arc<Node>,
    backend: &Arc<Backend>,
    block: Block,
    head_gen: u64,
    pool_gen: u64,
    built: Instant,
    current: &Mutex<Option<Current>>,
) -> Result<Sealing> {
    let ctl = Arc::new(SearchControl::new());
    let (n, b, c, mut header) = (node.clone(), backend.clone(), ctl.clone(), block.header.clone());
    let handle = std::thread::Builder::new()
        .name("cinder-seal".into())
        .spawn(move || Ok(seal(n.chain().consensus(), &mut header, &b, &c)?.then_some(header)))
        .context("starting a sealing thread")?;
    *current.lock().unwrap_or_else(PoisonError::into_inner) = Some(Current { ctl: ctl.clone() });
    Ok(Sealing { block, ctl, handle, head_gen, pool_gen, built, started: Instant::now() })
}

/// Imports a sealed block and tells the node.
fn import(node: &Node, mut block: Block, header: Header, since: Instant) {
    block.header = header;
    match node.chain().import_own(&block) {
        Ok(r) => {
            node.mining.blocks_found.fetch_add(1, Ordering::Relaxed);
            node.metrics.produce_micros.fetch_add(crate::node::micros(since.elapsed()), Ordering::Relaxed);
            tracing::info!(
                height = r.height,
                id = %r.id,
                txs = block.transactions.len(),
                ms = since.elapsed().as_millis(),
                "sealed a block"
            );
            node.after_import(&r, Some(&block));
            node.announce(&block);
        }
        // The head moved under it (an external block at the same height
        // is fine: ours goes to a side chain); anything else is a bug.
        Err(e) => tracing::error!("our own block was not imported: {e}"),
    }
}

/// Keeps one template sealing at all times: a new template is built while
/// the old one is still being searched, then swapped in, so building does
/// not stop the hashing. A new head makes the old search moot at once.
fn run(
    node: &Arc<Node>,
    backend: &Arc<Backend>,
    coinbase: Address,
    stop: &AtomicBool,
    current: &Mutex<Option<Current>>,
) {
    let mut sealing: Option<Sealing> = None;
    let mut failures = 0u32;
    loop {
        if stop.load(Ordering::Acquire) || !node.mining_on.load(Ordering::Acquire) {
            if let Some(s) = sealing.take() {
                s.finish(node);
            }
            if stop.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(TICK);
            continue;
        }
        if sealing.as_ref().is_some_and(|s| s.handle.is_finished()) {
            if let Some(s) = sealing.take() {
                let head_gen = s.head_gen;
                let (block, header, since) = s.finish(node);
                if let Some(h) = header.filter(|_| node.head_generation() == head_gen) {
                    import(node, block, h, since);
                }
            }
            continue;
        }
        let head_gen = node.head_generation();
        let pool_gen = node.pool_generation();
        let head_moved = sealing.as_ref().is_none_or(|s| s.head_gen != head_gen);
        let refresh = sealing.as_ref().is_some_and(|s| s.pool_gen != pool_gen && s.built.elapsed() >= REFRESH_AFTER);
        if !(head_moved || refresh) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        if head_moved && let Some(s) = sealing.take() {
            s.finish(node);
        }
        let built = Instant::now();
        let block = match template(node, coinbase) {
            Ok(b) => {
                failures = 0;
                b
            }
            Err(e) => {
                failures += 1;
                tracing::error!("building a block: {e:#}");
                // Back off, up to 5 s, rather than spin on a persistent fault.
                std::thread::sleep(Duration::from_millis(100 * u64::from(failures.min(50))));
                continue;
            }
        };
        // The old template kept hashing while this one was built.
        if let Some(s) = sealing.take() {
            let (old, header, since) = s.finish(node);
            if let Some(h) = header.filter(|_| node.head_generation() == head_gen) {
                // It found a block meanwhile: that one goes in; the new
                // template is on a stale parent now.
                import(node, old, h, since);
                continue;
            }
        }
        if node.head_generation() != head_gen {
            continue;
        }
        match start_sealing(node, backend, block, head_gen, pool_gen, built, current) {
            Ok(s) => sealing = Some(s),
            Err(e) => {
                tracing::error!("{e:#}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

fn watchdog(node: &Node, stop: &AtomicBool, current: &Mutex<Option<Current>>) {
    let mut last = (Instant::now(), node.mining.hashes_done.load(Ordering::Relaxed));
    let mut rate = 0.0f64;
    while !stop.load(Ordering::Acquire) {
        // A cancelled search's hashes are in hashes_done (or about to be).
        let live = current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, |c| if c.ctl.is_cancelled() { 0 } else { c.ctl.hashes() });
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
