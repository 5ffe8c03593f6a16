//! `cinder-bench pos`: proof-of-stake finality on validators on loopback,
//! and finalized throughput next to the single-node import rate, in one
//! run.
//!
//! N validators (equal stake; each its own RocksDB, libp2p network on
//! 127.0.0.1 and consensus thread, all in this process) start with their
//! pools already holding the signed transfers (one per account, admitted
//! by every pool before consensus starts; not timed). Each
//! node's proposals are stamped as they are broadcast and its decisions
//! as they happen. Finality latency of a block = from its proposal's
//! broadcast to its decision on the third of four nodes (the quorum's
//! last member; in general the ceil(2N/3)-th). Throughput = transfers in
//! the loaded blocks over the time from the decision before the first
//! loaded block to the last one's. Then the same blocks are imported into
//! a fresh chain without a network: the single-node import rate (the
//! chain-core figure), measured in the same run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cinder_chain::workload::{self, Accounts};
use cinder_chain::{Chain, ChainConfig};
use cinder_engine::sig::SecretKey;
use cinder_mempool::MempoolConfig;
use cinder_net::{NetConfig, Network};
use cinder_node::{Finalized, Node, NodeConfig, Validator, now_ms};
use cinder_pos::message::ConsensusMessage;
use cinder_primitives::{Hash, SignedTransaction, Transaction, TxKind};

use crate::{Failure, percentile, wait};

/// Options of `cinder-bench pos`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Validators.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    validators: u32,
    /// Signed transfers (one per funded account).
    #[arg(long, default_value_t = 40_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    txs: u32,
    /// Empty blocks timed after the load (idle finality).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    idle_blocks: u32,
    /// The least time between blocks (ms).
    #[arg(long, default_value_t = 200)]
    block_interval_ms: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

struct Member {
    node: Arc<Node>,
    net: Network,
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cinder-bench-pos-{}-{name}", std::process::id()))
}

fn key(i: u32) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[4] = 0xb5;
    SecretKey::from_seed(&seed)
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    rt.block_on(bench(a)).map_err(Failure::Runtime)
}

#[expect(clippy::too_many_lines, reason = "one measurement, start to end")]
async fn bench(a: Args) -> Result<()> {
    let say = |m: String| {
        if !a.json {
            eprintln!("{m}");
        }
    };
    let n = a.validators as usize;
    let accounts = Accounts::derive("cinder-bench-pos", u64::from(a.txs.max(2)));
    let keys: Vec<SecretKey> = (0..a.validators).map(key).collect();
    let mut spec = workload::pos_spec(
        "cinder-bench-pos",
        9_200,
        &accounts.addresses,
        1_000_000_000_000,
        &keys.iter().map(SecretKey::public_key).collect::<Vec<_>>(),
    );
    if let Some(p) = spec.pos.as_mut() {
        p.min_block_interval_ms = a.block_interval_ms;
    }
    let chain_id = spec.chain_id;

    // One transfer per account (no nonce chains), signed up front.
    let t = Instant::now();
    let count = accounts.keys.len();
    let txs: Vec<SignedTransaction> = {
        use rayon::prelude::*;
        (0..a.txs as usize)
            .into_par_iter()
            .map(|i| {
                Transaction {
                    chain_id,
                    sender: accounts.keys[i].public_key(),
                    nonce: 0,
                    gas_limit: cinder_chain::vm::TRANSFER_GAS,
                    gas_price: 1,
                    kind: TxKind::Transfer { to: accounts.addresses[(i * 7 + 1) % count], amount: 1 },
                }
                .sign(&accounts.keys[i])
            })
            .collect()
    };
    say(format!("{} transfers signed in {:.1} s (not timed)", txs.len(), t.elapsed().as_secs_f64()));

    // The network, without consensus yet.
    let mut members: Vec<Member> = Vec::with_capacity(n);
    for i in 0..n {
        let dir = temp(&format!("v{i}"));
        let _ = std::fs::remove_dir_all(&dir);
        let node = Node::open(NodeConfig {
            datadir: dir,
            spec: spec.clone(),
            chain: ChainConfig::default(),
            mempool: MempoolConfig { max_txs: (a.txs as usize).max(1) * 2, ..MempoolConfig::default() },
            coinbase: None,
        })?;
        let cfg = NetConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().context("listen address")?],
            kad_server: true,
            autonat_only_global: false,
            status_interval: Duration::from_secs(1),
            bootnodes: members.first().and_then(|m| m.net.dial_addr(false)).into_iter().collect(),
            ..NetConfig::default()
        };
        let net = Network::start(node.clone(), cinder_net::Keypair::generate_ed25519(), cfg).await?;
        members.push(Member { node, net });
    }
    let want = n - 1;
    wait("a full mesh", Duration::from_secs(120), || {
        members.iter().all(|m| m.node.network().is_some_and(|x| x.peer_count() >= want))
    })
    .await?;
    say(format!("{n} validators in a full mesh"));

    // The transfers into every pool, as gossip would deliver them (each
    // node verifies their signatures itself).
    let t = Instant::now();
    for m in &members {
        for chunk in txs.chunks(4_096) {
            let node = m.node.clone();
            let c = chunk.to_vec();
            let results = tokio::task::spawn_blocking(move || node.submit_all(c)).await?;
            if let Some(Err(e)) = results.into_iter().find(|r| matches!(r, Err(cinder_mempool::Rejected::Invalid(_)))) {
                bail!("a pool refused a transfer: {e}");
            }
        }
    }
    wait("every pool to hold the transfers", Duration::from_secs(600), || {
        members.iter().all(|m| m.node.mempool().len() >= txs.len())
    })
    .await?;
    say(format!("{} transfers in all {n} pools in {:.1} s (not timed)", txs.len(), t.elapsed().as_secs_f64()));

    // Stamps: proposals as broadcast, decisions as made.
    let (stamp_tx, mut stamps) = tokio::sync::mpsc::unbounded_channel::<Stamp>();
    for (i, m) in members.iter().enumerate() {
        let mut out = m.node.subscribe_consensus();
        let tx = stamp_tx.clone();
        tokio::spawn(async move {
            loop {
                match out.recv().await {
                    Ok(msg) => {
                        if let ConsensusMessage::Proposal { proposal, .. } = msg.as_ref()
                            && tx.send(Stamp::Proposed(proposal.data.block, now_ms())).is_err()
                        {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        let mut fin = m.node.subscribe_finalized();
        let tx = stamp_tx.clone();
        tokio::spawn(async move {
            loop {
                match fin.recv().await {
                    Ok(f) => {
                        if tx.send(Stamp::Decided(i, f)).is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
    }
    drop(stamp_tx);

    // Consensus on.
    let mut validators = Vec::with_capacity(n);
    for (i, m) in members.iter().enumerate() {
        let state = temp(&format!("v{i}")).join("validator_state.json");
        let k = SecretKey::from_seed(&keys[i].to_seed());
        validators.push(Validator::start(m.node.clone(), Some(k), state)?);
    }
    let quorum_rank = (2 * n).div_ceil(3).max(1); // the 3rd of 4
    let mut proposed: HashMap<Hash, u64> = HashMap::new();
    let mut decided: HashMap<Hash, Vec<u64>> = HashMap::new();
    let mut blocks: HashMap<Hash, (u64, usize)> = HashMap::new(); // id -> (height, txs)
    let mut finalized_txs = 0usize;
    let mut idle_after = None;
    let deadline = Instant::now() + Duration::from_secs(3_600);
    loop {
        let Ok(Some(s)) = tokio::time::timeout(Duration::from_secs(60), stamps.recv()).await else {
            bail!("no consensus progress for 60 s");
        };
        match s {
            Stamp::Proposed(id, at) => {
                proposed.entry(id).or_insert(at);
            }
            Stamp::Decided(i, f) => {
                let v = decided.entry(f.id).or_default();
                v.push(f.decided_ms);
                blocks.insert(f.id, (f.height, f.txs));
                if i == 0 {
                    finalized_txs += f.txs;
                    if finalized_txs >= txs.len() && idle_after.is_none() {
                        idle_after = Some(f.height);
                    }
                    if let Some(h) = idle_after
                        && f.height > h + u64::from(a.idle_blocks)
                    {
                        break;
                    }
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the run took over an hour");
        }
    }
    let last_loaded = idle_after.unwrap_or(0);
    // Per block: latency to the quorum's last decision, and that time.
    let mut rows: Vec<(u64, usize, f64, u64)> = Vec::new(); // (height, txs, latency ms, quorum decided ms)
    for (id, times) in &decided {
        let mut t = times.clone();
        t.sort_unstable();
        let (Some(p), Some(q)) = (proposed.get(id), t.get(quorum_rank - 1)) else { continue };
        let (h, k) = blocks[id];
        rows.push((h, k, q.saturating_sub(*p) as f64, *q));
    }
    rows.sort_by_key(|r| r.0);
    let loaded: Vec<&(u64, usize, f64, u64)> = rows.iter().filter(|r| r.1 > 0).collect();
    let idle: Vec<&(u64, usize, f64, u64)> = rows.iter().filter(|r| r.1 == 0 && r.0 > last_loaded).collect();
    let lat = |v: &[&(u64, usize, f64, u64)]| {
        let mut x: Vec<f64> = v.iter().map(|r| r.2).collect();
        x.sort_by(f64::total_cmp);
        (percentile(&x, 50), percentile(&x, 95), x.last().copied().unwrap_or(f64::NAN), x.len())
    };
    let (i50, i95, imax, icount) = lat(&idle);
    say(format!(
        "idle finality ({icount} empty blocks, proposal broadcast to decision on {quorum_rank} of {n}): p50 {i50:.1} ms, p95 {i95:.1} ms, max {imax:.1} ms"
    ));
    let (l50, l95, lmax, lcount) = lat(&loaded);
    let loaded_txs: usize = loaded.iter().map(|r| r.1).sum();
    let first = loaded.first().map_or(0, |r| r.0);
    let start_ms = rows.iter().find(|r| r.0 + 1 == first).map_or_else(|| loaded.first().map_or(0, |r| r.3), |r| r.3);
    let end_ms = loaded.last().map_or(0, |r| r.3);
    let secs = (end_ms.saturating_sub(start_ms) as f64 / 1e3).max(1e-3);
    let tps = loaded_txs as f64 / secs;
    say(format!(
        "loaded finality ({lcount} blocks, {:.0} transfers each on average): p50 {l50:.1} ms, p95 {l95:.1} ms, max {lmax:.1} ms",
        loaded_txs as f64 / lcount.max(1) as f64
    ));
    say(format!("finalized throughput: {loaded_txs} transfers in {secs:.2} s = {tps:.0} tx/s"));

    for v in validators {
        tokio::task::spawn_blocking(move || v.stop()).await?;
    }

    // The same blocks into a fresh chain, no network: the import rate.
    let chain0 = members[0].node.chain();
    let head = chain0.head()?.height;
    let mut same = Vec::with_capacity(usize::try_from(head).unwrap_or(0));
    for h in 1..=head {
        let (id, _) = chain0.db().canonical(h)?.context("a canonical block")?;
        same.push(chain0.db().block(&id)?.context("a stored block")?);
    }
    let solo_dir = temp("solo");
    let _ = std::fs::remove_dir_all(&solo_dir);
    let solo = Chain::open(&solo_dir, spec.clone(), ChainConfig::default())?;
    let loaded_blocks = same.iter().filter(|b| !b.transactions.is_empty()).count();
    let t = Instant::now();
    let (done, err) = tokio::task::block_in_place(|| solo.import_chain(&same, cinder_chain::unix_now()));
    if let Some(e) = err {
        bail!("single-node import: {e}");
    }
    let solo_s = t.elapsed().as_secs_f64();
    let all_txs: usize = same.iter().map(|b| b.transactions.len()).sum();
    let import_tps = all_txs as f64 / solo_s;
    say(format!(
        "single-node import of the same {} blocks ({loaded_blocks} loaded): {all_txs} transfers in {solo_s:.2} s = {import_tps:.0} tx/s; finalized throughput = {:.3}x of it",
        done.len(),
        tps / import_tps
    ));
    drop(solo);
    let _ = std::fs::remove_dir_all(&solo_dir);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "validators": n, "txs": txs.len(), "block_interval_ms": a.block_interval_ms,
                "quorum_rank": quorum_rank,
                "idle_finality_ms": { "blocks": icount, "p50": i50, "p95": i95, "max": imax },
                "loaded_finality_ms": { "blocks": lcount, "p50": l50, "p95": l95, "max": lmax },
                "finalized": { "txs": loaded_txs, "seconds": secs, "tx_per_s": tps },
                "single_node_import": { "blocks": done.len(), "txs": all_txs, "seconds": solo_s, "tx_per_s": import_tps },
                "finalized_vs_import": tps / import_tps,
            })
        );
    }
    for m in members {
        m.net.stop().await;
        drop(m.node);
    }
    for i in 0..n {
        let _ = std::fs::remove_dir_all(temp(&format!("v{i}")));
    }
    Ok(())
}

enum Stamp {
    Proposed(Hash, u64),
    Decided(usize, Finalized),
}
