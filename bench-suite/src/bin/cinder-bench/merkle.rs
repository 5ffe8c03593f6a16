//! `cinder-bench merkle`.

use cinder_bench_suite::{leaf_hashes, time_median};
use cinder_engine::gpu::{GpuBackend, GpuOptions};
use cinder_engine::merkle;

use crate::{Failure, control_scaling, pool, table};

/// Options of `cinder-bench merkle`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Leaves (default 2^20).
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=(1 << 28)))]
    leaves: u64,
    /// Threads for the "all" row (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// Also measure this backend: cpu (default) or gpu (any adapter, lavapipe included).
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// Seed of the leaves.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    Cpu,
    Gpu,
}

#[derive(serde::Serialize)]
struct Row {
    root: String,
    threads: usize,
    ms: f64,
    mleaves_per_s: f64,
    vs_naive: f64,
}

pub(crate) fn run(a: Args) -> Result<(), Failure> {
    let threads = a.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
    let n = usize::try_from(a.leaves).map_err(|_| Failure::Usage("--leaves too large".into()))?;
    let leaves = leaf_hashes(a.seed, n);
    let mut rows = Vec::new();
    let mut roots = Vec::new();
    let row = |name: &str, threads: usize, secs: f64, naive: f64| Row {
        root: name.to_string(),
        threads,
        ms: secs * 1e3,
        mleaves_per_s: n as f64 / secs / 1e6,
        vs_naive: naive / secs,
    };
    let naive = time_median(1.0, || roots.push(merkle::naive_root(&leaves)));
    rows.push(row("naive (recursive, blake3 crate)", 1, naive, naive));
    let one = pool(1)?;
    let all = pool(threads)?;
    let t1 = time_median(1.0, || roots.push(one.install(|| merkle::root(&leaves))));
    rows.push(row("fast (SIMD)", 1, t1, naive));
    let tn = time_median(1.0, || roots.push(all.install(|| merkle::root(&leaves))));
    rows.push(row("fast (SIMD)", threads, tn, naive));
    if a.backend == Backend::Gpu {
        let g = GpuBackend::new(&GpuOptions::default(), false).map_err(|e| Failure::Usage(e.to_string()))?;
        let dev = &g.devices()[0];
        // Warm up: pipeline build.
        dev.merkle_root(&leaves[..n.min(1024)]).map_err(|e| Failure::Runtime(e.into()))?;
        let mut err = None;
        let tg = time_median(1.0, || match dev.merkle_root(&leaves) {
            Ok(r) => roots.push(r),
            Err(e) => err = Some(e),
        });
        if let Some(e) = err {
            return Err(Failure::Runtime(e.into()));
        }
        rows.push(row(&format!("gpu, upload included ({})", dev.summary().name), 0, tg, naive));
    }
    let equal = roots.windows(2).all(|w| w[0] == w[1]);
    if !equal {
        return Err(Failure::Runtime(anyhow::anyhow!("the roots differ between implementations")));
    }
    let control = control_scaling(threads)?;
    let ours = t1 / tn;
    if a.json {
        let v = serde_json::json!({
            "leaves": n, "threads": threads, "seed": a.seed, "root": hex::encode(roots[0]), "roots_equal": equal,
            "rows": rows, "scaling": ours, "control_scaling": control, "scaling_vs_control": ours / control,
        });
        println!("{v}");
    } else {
        let t: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.root.clone(),
                    if r.threads == 0 { "-".into() } else { r.threads.to_string() },
                    format!("{:.2}", r.ms),
                    format!("{:.1}", r.mleaves_per_s),
                    format!("{:.2}x", r.vs_naive),
                ]
            })
            .collect();
        println!("{n} leaves, root {} (all implementations agree)", hex::encode(roots[0]));
        table(&["root", "threads", "ms", "Mleaves/s", "vs naive"], &t);
        println!(
            "scaling 1 -> {threads} threads: {ours:.2}x; control (rayon + sha2): {control:.2}x; ratio {:.0}%",
            100.0 * ours / control
        );
    }
    Ok(())
}
