//! `cinder-bench sig`.

use std::path::PathBuf;

use cinder_bench_suite::{signed_messages, time_median};
use cinder_engine::sig::{self, BatchVerifier, KeyCache, Strategy, VerifyingKey};
use rayon::prelude::*;

use crate::{Failure, control_scaling, pool, table};

/// Options of `cinder-bench sig`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Threads for the "all" rows (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// Batch size (default: 64, 256 and 1024).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch: Option<u32>,
    /// Seed of the keys and messages.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Signatures per measurement.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    count: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Verify a JSON array of {message, pub_key, signature} (hex) singly and
    /// as one batch; print [{index, single, batch}].
    #[arg(long, value_name = "FILE")]
    vectors: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Row {
    mode: String,
    keys: &'static str,
    threads: usize,
    batch: usize,
    us_per_sig: f64,
    sigs_per_s: f64,
    vs_single: f64,
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    if let Some(path) = &a.vectors {
        return vectors(path);
    }
    let threads = a.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
    let sizes: Vec<usize> = match a.batch {
        Some(b) => vec![b as usize],
        None => vec![64, 256, 1024],
    };
    let count = (a.count as usize).max(sizes.iter().copied().max().unwrap_or(1));
    eprintln!("signing {count} messages (seed {})...", a.seed);
    let items = signed_messages(a.seed, count);
    let decoded: Vec<VerifyingKey> = items
        .iter()
        .map(|(pk, _, _)| VerifyingKey::from_bytes(&pk.0))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("{e}")))?;
    let one = pool(1)?;
    let all = pool(threads)?;
    let per_sig = |secs: f64| secs / count as f64 * 1e6;
    let mut rows = Vec::new();

    // Single verification.
    let single_bytes = per_sig(time_median(1.0, || {
        one.install(|| items.iter().for_each(|(pk, m, s)| assert!(sig::verify(&pk.0, m, &s.0).is_ok())))
    }));
    let single_decoded = per_sig(time_median(1.0, || {
        one.install(|| items.iter().zip(&decoded).for_each(|((_, m, s), vk)| assert!(vk.verify(m, &s.0).is_ok())))
    }));
    let single_all = per_sig(time_median(1.0, || {
        all.install(|| items.par_iter().for_each(|(pk, m, s)| assert!(sig::verify(&pk.0, m, &s.0).is_ok())))
    }));
    let mk = |mode: &str, keys, threads, batch, us: f64, base: f64| Row {
        mode: mode.to_string(),
        keys,
        threads,
        batch,
        us_per_sig: us,
        sigs_per_s: 1e6 / us,
        vs_single: base / us,
    };
    rows.push(mk("single", "bytes", 1, 1, single_bytes, single_bytes));
    rows.push(mk("single", "decoded", 1, 1, single_decoded, single_decoded));
    rows.push(mk("single", "bytes", threads, 1, single_all, single_bytes));

    // Batches of each size: one thread (sequential), then all threads
    // (batches in parallel). Keys as bytes; decoded beforehand; or as
    // bytes through a warm `KeyCache` (chain traffic: senders seen before).
    let cache = KeyCache::new(2 * count);
    let verify_batches = |n: usize, keys: Keys, parallel: bool| {
        let run_one = |c: &[(sig::PublicKey, Vec<u8>, sig::Signature)], k: &[VerifyingKey]| {
            let mut b = BatchVerifier::with_capacity(c.len(), c.len() * 112).with_chunk_size(n);
            for (j, (pk, m, s)) in c.iter().enumerate() {
                if keys == Keys::Decoded {
                    b.add_with_key(&k[j], m, &s.0);
                } else {
                    b.add(&pk.0, m, &s.0);
                }
            }
            let r = match keys {
                Keys::Cached => b.verify_cached(Strategy::Sequential, &cache),
                _ => b.verify(Strategy::Sequential),
            };
            assert!(r.is_ok());
        };
        if parallel {
            items.par_chunks(n).zip(decoded.par_chunks(n)).for_each(|(c, k)| run_one(c, k));
        } else {
            items.chunks(n).zip(decoded.chunks(n)).for_each(|(c, k)| run_one(c, k));
        }
    };
    let mut scaling = None;
    for &n in &sizes {
        let b1 = per_sig(time_median(1.0, || one.install(|| verify_batches(n, Keys::Bytes, false))));
        let d1 = per_sig(time_median(1.0, || one.install(|| verify_batches(n, Keys::Decoded, false))));
        // Warm: the first pass decodes into the cache, the timed ones hit.
        one.install(|| verify_batches(n, Keys::Cached, false));
        let c1 = per_sig(time_median(1.0, || one.install(|| verify_batches(n, Keys::Cached, false))));
        let ball = per_sig(time_median(1.0, || all.install(|| verify_batches(n, Keys::Bytes, true))));
        rows.push(mk("batch", "bytes", 1, n, b1, single_bytes));
        rows.push(mk("batch", "decoded", 1, n, d1, single_decoded));
        rows.push(mk("batch", "cached", 1, n, c1, single_bytes));
        rows.push(mk("batch", "bytes", threads, n, ball, single_bytes));
        if n == 256 || sizes.len() == 1 {
            scaling = Some(b1 / ball);
        }
    }
    let control = control_scaling(threads)?;
    let ours = scaling.unwrap_or(f64::NAN);
    if a.json {
        let v = serde_json::json!({
            "threads": threads, "count": count, "seed": a.seed, "rows": rows,
            "batch_scaling": ours, "control_scaling": control, "scaling_vs_control": ours / control,
        });
        println!("{v}");
    } else {
        let t: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.mode.clone(),
                    r.keys.to_string(),
                    r.threads.to_string(),
                    r.batch.to_string(),
                    format!("{:.1}", r.us_per_sig),
                    format!("{:.0}", r.sigs_per_s),
                    format!("{:.2}x", r.vs_single),
                ]
            })
            .collect();
        table(&["mode", "keys", "threads", "batch", "us/sig", "sig/s", "vs single (same keys)"], &t);
        println!(
            "scaling 1 -> {threads} threads (batch {}): {ours:.2}x; control (rayon + sha2): {control:.2}x; ratio {:.0}%",
            if sizes.len() == 1 { sizes[0] } else { 256 },
            100.0 * ours / control
        );
    }
    Ok(())
}

/// How a benchmark batch gets its keys.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// As bytes, decoded by the batch.
    Bytes,
    /// Decoded beforehand ([`VerifyingKey`]).
    Decoded,
    /// As bytes, through a warm [`KeyCache`].
    Cached,
}

#[derive(serde::Deserialize)]
struct Case {
    message: String,
    pub_key: String,
    signature: String,
}

fn vectors(path: &PathBuf) -> Result<(), Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("reading {}: {e}", path.display())))?;
    let cases: Vec<Case> = serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!("{}: expected a JSON array of {{message, pub_key, signature}}: {e}", path.display()))
    })?;
    let mut parsed = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let h = |field: &str, s: &str| {
            hex::decode(s).map_err(|e| Failure::Usage(format!("{}: case {i}: {field} is not hex: {e}", path.display())))
        };
        parsed.push((h("pub_key", &c.pub_key)?, h("message", &c.message)?, h("signature", &c.signature)?));
    }
    let mut batch = BatchVerifier::new();
    for (k, m, s) in &parsed {
        batch.add(k, m, s);
    }
    let bad = match batch.verify(Strategy::Parallel) {
        Ok(()) => Vec::new(),
        Err(e) => e.indices,
    };
    let out: Vec<serde_json::Value> = parsed
        .iter()
        .enumerate()
        .map(|(i, (k, m, s))| {
            serde_json::json!({"index": i, "single": sig::verify(k, m, s).is_ok(), "batch": bad.binary_search(&i).is_err()})
        })
        .collect();
    println!("{}", serde_json::Value::Array(out));
    Ok(())
}
