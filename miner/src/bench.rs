//! `cinder-miner bench`: steady hashrate per backend, side by side, with
//! ratios against the CPU and reference backends, and job-switch latency.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cinder_engine::pow::{Algo, Backend, BackendKind, BackendOptions, NonceRange, SearchControl};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{BenchArgs, BenchBackendArg};
use crate::jobs::{self, MinerStats, SyntheticJobs};
use crate::{CmdResult, Failure};

/// One measured backend and algorithm.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Row {
    algo: &'static str,
    backend: &'static str,
    device: String,
    mhs: f64,
    hashes: u64,
    seconds: f64,
    vs_cpu: Option<f64>,
    vs_reference: Option<f64>,
    /// Job switch: time from "new job" to the new job's first completed work.
    switch_ms_median: Option<f64>,
    switch_ms_max: Option<f64>,
}

pub(crate) fn run(a: BenchArgs) -> CmdResult {
    if !(a.seconds.is_finite() && a.seconds > 0.0 && a.seconds <= 86_400.0) {
        return Err(Failure::Usage(format!("--seconds must be in (0, 86400], got {}", a.seconds)));
    }
    let algos: Vec<Algo> = match a.algo {
        Some(x) => vec![x.into()],
        None => Algo::ALL.to_vec(),
    };
    let kinds: Vec<BackendKind> = match a.backend {
        BenchBackendArg::Reference => vec![BackendKind::Reference],
        BenchBackendArg::Cpu => vec![BackendKind::Cpu],
        BenchBackendArg::Gpu => vec![BackendKind::Gpu],
        BenchBackendArg::All => vec![BackendKind::Reference, BackendKind::Cpu, BackendKind::Gpu],
    };
    let mut backends = Vec::new();
    for kind in kinds {
        let mut opts = BackendOptions::new(kind);
        crate::cpu_options(&a.cpu, &mut opts)?;
        opts.gpu = crate::gpu_options(&a.gpu)?;
        match Backend::from_options(&opts) {
            Ok(b) => backends.push(b),
            // `all` measures what the machine has; asking for gpu alone without one is an error.
            Err(cinder_engine::Error::NoGpu(why)) if a.backend == BenchBackendArg::All => {
                tracing::warn!("skipping the GPU backend: {why}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut rows = Vec::new();
    for &algo in &algos {
        for backend in &backends {
            if let Backend::Gpu(g) = backend {
                g.prepare(algo)?;
            }
            let (hashes, seconds) = measure(backend, algo, a.seconds, a.json)?;
            let (median, max) = if backend.kind() != BackendKind::Reference && a.switches > 0 {
                let s = switch_latency(backend, algo, a.switches)?;
                (Some(s.0), Some(s.1))
            } else {
                (None, None)
            };
            rows.push(Row {
                algo: algo.name(),
                backend: backend.kind().name(),
                device: backend.describe(algo),
                mhs: hashes as f64 / seconds / 1e6,
                hashes,
                seconds,
                vs_cpu: None,
                vs_reference: None,
                switch_ms_median: median,
                switch_ms_max: max,
            });
        }
    }
    for i in 0..rows.len() {
        let find = |b: &str| rows.iter().find(|r| r.algo == rows[i].algo && r.backend == b).map(|r| r.mhs);
        let (cpu, reference) = (find("cpu"), find("reference"));
        rows[i].vs_cpu = cpu.filter(|c| *c > 0.0).map(|c| rows[i].mhs / c);
        rows[i].vs_reference = reference.filter(|r| *r > 0.0).map(|r| rows[i].mhs / r);
    }
    print(&rows, a.json)
}

/// Mines synthetic jobs for `seconds` with a live display; returns hashes and
/// the exact elapsed time.
fn measure(backend: &Backend, algo: Algo, seconds: f64, quiet: bool) -> CmdResult<(u64, f64)> {
    let stats = Arc::new(MinerStats::default());
    let bar =
        if quiet { ProgressBar::hidden() } else { ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()) };
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    let label = format!("{algo} {}", backend.kind());
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let result = std::thread::scope(|s| {
        let watcher = {
            let stats = stats.clone();
            let bar = bar.clone();
            let label = label.clone();
            s.spawn(move || {
                loop {
                    let el = start.elapsed();
                    let rate = stats.hashes() as f64 / el.as_secs_f64().max(1e-9) / 1e6;
                    bar.set_message(format!("{label}: {rate:.2} MH/s ({:.1}/{seconds:.0} s)", el.as_secs_f64()));
                    bar.tick();
                    if el >= budget {
                        stats.stop();
                        break;
                    }
                    std::thread::sleep(
                        Duration::from_millis(100).min(budget.saturating_sub(el)).max(Duration::from_millis(1)),
                    );
                }
            })
        };
        let mut source = SyntheticJobs::new(algo, 7);
        let r = jobs::mine(backend, &mut source, &stats);
        if r.is_err() {
            stats.stop();
        }
        let _ = watcher.join();
        r
    });
    let elapsed = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    result.map_err(Failure::Runtime)?;
    Ok((stats.hashes(), elapsed))
}

/// Times `n` job switches: a search of job A runs, then "a new job arrives"
/// (A is cancelled and B started); the latency is from the cancel to B's
/// first completed work. Returns (median, max) in ms.
fn switch_latency(backend: &Backend, algo: Algo, n: u32) -> CmdResult<(f64, f64)> {
    let jobs = SyntheticJobs::new(algo, 11);
    let mut samples = Vec::new();
    for k in 0..n {
        let job_a = jobs.job(2 * u64::from(k));
        let job_b = jobs.job(2 * u64::from(k) + 1);
        let ctl_a = SearchControl::new();
        let ctl_b = SearchControl::new();
        let latency = std::thread::scope(|s| -> anyhow::Result<Duration> {
            let a = s.spawn(|| backend.search(&job_a, NonceRange::FULL, &ctl_a));
            // Let A reach steady state.
            while ctl_a.hashes() == 0 && !a.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(50));
            let t0 = Instant::now();
            ctl_a.cancel();
            let b = s.spawn(|| -> anyhow::Result<()> {
                a.join().map_err(|_| anyhow::anyhow!("search thread panicked"))??;
                backend.search(&job_b, NonceRange::FULL, &ctl_b)?;
                Ok(())
            });
            while ctl_b.hashes() == 0 && !b.is_finished() {
                std::thread::sleep(Duration::from_micros(200));
            }
            let latency = t0.elapsed();
            ctl_b.cancel();
            b.join().map_err(|_| anyhow::anyhow!("search thread panicked"))??;
            Ok(latency)
        });
        samples.push(latency.map_err(Failure::Runtime)?.as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    Ok((median, max))
}

fn print(rows: &[Row], json: bool) -> CmdResult {
    let out = std::io::stdout();
    let mut out = out.lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(rows).context("encoding JSON")?).context("writing to stdout")?;
        return Ok(());
    }
    let ratio = |r: Option<f64>| r.map_or("-".to_string(), |v| format!("{v:.2}x"));
    let ms = |r: Option<f64>| r.map_or("-".to_string(), |v| format!("{v:.1}"));
    writeln!(
        out,
        "{:<8} {:<10} {:>12} {:>8} {:>10} {:>13}  device",
        "algo", "backend", "MH/s", "vs cpu", "vs ref", "switch ms"
    )
    .context("writing to stdout")?;
    for r in rows {
        writeln!(
            out,
            "{:<8} {:<10} {:>12.2} {:>8} {:>10} {:>13}  {}",
            r.algo,
            r.backend,
            r.mhs,
            ratio(r.vs_cpu),
            ratio(r.vs_reference),
            format!("{}/{}", ms(r.switch_ms_median), ms(r.switch_ms_max)),
            r.device
        )
        .context("writing to stdout")?;
    }
    writeln!(out, "(switch ms: median/max time from a new job to its first completed work)")
        .context("writing to stdout")?;
    Ok(())
}
