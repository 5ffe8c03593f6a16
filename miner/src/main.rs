//! `cinder-miner`: Cinder's proof-of-work miner.
//!
//! - `devices`: GPU adapters and CPU features;
//! - `bench`: hashrate per backend (reference, cpu, gpu) with ratios and
//!   job-switch latency;
//! - `search`: every winning nonce of a header over a range;
//! - `tune`: tune the GPU kernels now and store the result;
//! - `mine --rpc URL`: mine for a node through its work API.
//!
//! Exit status: 0 success, 2 bad input (arguments, no GPU for
//! `--backend gpu`), 1 anything else. Errors are one line on stderr.

mod bench;
mod cli;
mod jobs;
mod mine;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use cinder_engine::gpu::{self, DeviceSelection, GpuOptions, TuneMode};
use cinder_engine::pow::{
    Algo, Backend, BackendOptions, CpuFeatures, Header, Isa, NonceRange, PowJob, SearchControl, Target,
};
use clap::Parser;

use crate::cli::{Cli, Command, CpuArgs, DevicesArgs, GpuArgs, SearchArgs, TuneArgs};

/// What went wrong, and whose fault it is.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad input: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast_ref::<cinder_engine::Error>() {
            Some(engine) if is_usage(engine) => Failure::Usage(engine.to_string()),
            _ => Failure::Runtime(e),
        }
    }
}

impl From<cinder_engine::Error> for Failure {
    fn from(e: cinder_engine::Error) -> Self {
        if is_usage(&e) { Failure::Usage(e.to_string()) } else { Failure::Runtime(e.into()) }
    }
}

fn is_usage(e: &cinder_engine::Error) -> bool {
    e.is_input_error() || matches!(e, cinder_engine::Error::NoGpu(_) | cinder_engine::Error::IsaUnavailable(_))
}

pub(crate) type CmdResult<T = ()> = Result<T, Failure>;

fn one_line(s: &str) -> String {
    s.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(": ")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // clap's message, first line only: "error: invalid value 'x' for '--algo <ALGO>' ..."
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("error: bad arguments");
            eprintln!("{}", first.trim());
            return ExitCode::from(2);
        }
    };
    init_logging(&cli);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {}", one_line(&msg));
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,cinder_engine=info,cinder_miner=info",
        (false, 1) => "info,cinder_engine=debug,cinder_miner=debug",
        _ => "debug,cinder_engine=trace,cinder_miner=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Devices(a) => devices(a),
        Command::Bench(a) => bench::run(a),
        Command::Search(a) => search(a),
        Command::Tune(a) => tune(a),
        Command::Mine(a) => mine::run(a),
    }
}

/// Parses the CPU options.
pub(crate) fn cpu_options(a: &CpuArgs, opts: &mut BackendOptions) -> CmdResult {
    opts.cpu_threads = a.threads.map(|t| t as usize);
    opts.cpu_isa = a.cpu_isa.as_deref().map(str::parse::<Isa>).transpose()?;
    if let Some(isa) = opts.cpu_isa.filter(|i| !i.is_supported()) {
        return Err(cinder_engine::Error::IsaUnavailable(isa).into());
    }
    Ok(())
}

/// Parses the GPU options.
pub(crate) fn gpu_options(a: &GpuArgs) -> CmdResult<GpuOptions> {
    let devices = a.devices.as_deref().map(str::parse::<DeviceSelection>).transpose()?.unwrap_or_default();
    let cache = a.tune_cache.clone().or_else(gpu::tune::default_cache_path);
    Ok(GpuOptions { devices, tune: TuneMode::Auto { cache, retune: a.retune }, ..Default::default() })
}

fn devices(a: DevicesArgs) -> CmdResult {
    let gpus = gpu::list_adapters();
    let cpu = CpuFeatures::detect();
    let kernels: Vec<(Algo, Vec<Isa>)> = Algo::ALL.iter().map(|&a| (a, Isa::available(a))).collect();
    let out = std::io::stdout();
    let mut out = out.lock();
    if a.json {
        let v = serde_json::json!({
            "gpus": gpus,
            "cpu": {
                "sha_ni": cpu.sha_ni, "avx2": cpu.avx2, "avx512f": cpu.avx512f, "avx512bw": cpu.avx512bw, "cores": cpu.cores,
                "kernels": kernels.iter().map(|(a, k)| (a.name().to_string(), k.iter().map(|i| i.name()).collect::<Vec<_>>())).collect::<std::collections::BTreeMap<_, _>>(),
            },
        });
        writeln!(out, "{v}").context("writing to stdout")?;
        return Ok(());
    }
    writeln!(out, "GPU adapters:").context("writing to stdout")?;
    if gpus.is_empty() {
        let why = if gpu::gpus_hidden() { format!(" (hidden by {})", gpu::HIDE_GPU_ENV) } else { String::new() };
        writeln!(out, "  none{why}").context("writing to stdout")?;
    }
    for g in &gpus {
        writeln!(
            out,
            "  [{}] {}  backend={} type={}{} driver={} {}",
            g.index,
            g.name,
            g.backend,
            g.device_type,
            if g.hardware { "" } else { " (software)" },
            g.driver,
            g.driver_info
        )
        .context("writing to stdout")?;
    }
    writeln!(
        out,
        "CPU: {} cores, SHA-NI {}, AVX2 {}, AVX-512 {}",
        cpu.cores,
        yes(cpu.sha_ni),
        yes(cpu.avx2),
        yes(cpu.avx512f && cpu.avx512bw)
    )
    .context("writing to stdout")?;
    for (algo, k) in kernels {
        let names: Vec<&str> = k.iter().map(|i| i.name()).collect();
        writeln!(out, "  {algo} kernels: {} (default {})", names.join(", "), Isa::best(algo))
            .context("writing to stdout")?;
    }
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[derive(serde::Serialize)]
struct FoundJson {
    nonce: u32,
    hash: String,
}

#[derive(serde::Serialize)]
struct SearchJson {
    algo: &'static str,
    backend: &'static str,
    found: Vec<FoundJson>,
    hashes: u64,
    seconds: f64,
}

fn search(a: SearchArgs) -> CmdResult {
    let algo: Algo = a.algo.into();
    let header = Header::from_hex(&a.header)?;
    if a.count == 0 {
        return Err(Failure::Usage("--count must be at least 1".into()));
    }
    let range = NonceRange::new(a.start, a.count)?;
    let target = match &a.target {
        Some(t) => Target::from_be_hex(t)?,
        None => header.target()?,
    };
    let job = PowJob::new(algo, header, target);
    let mut opts = BackendOptions::new(a.backend.into());
    cpu_options(&a.cpu, &mut opts)?;
    opts.gpu = gpu_options(&a.gpu)?;
    let backend = Backend::from_options(&opts)?;
    if let Backend::Gpu(g) = &backend {
        g.prepare(algo)?;
    }
    tracing::info!("searching {} nonces from {} with {}", range.count(), range.start(), backend.describe(algo));
    let t = Instant::now();
    let report = backend.search(&job, range, &SearchControl::new())?;
    let seconds = t.elapsed().as_secs_f64();
    let out = std::io::stdout();
    let mut out = out.lock();
    if a.json {
        let j = SearchJson {
            algo: algo.name(),
            backend: backend.kind().name(),
            found: report.hits.iter().map(|h| FoundJson { nonce: h.nonce, hash: h.hash.to_display_hex() }).collect(),
            hashes: report.hashes,
            seconds,
        };
        writeln!(out, "{}", serde_json::to_string(&j).context("encoding JSON")?).context("writing to stdout")?;
    } else {
        writeln!(out, "{algo} on {}", backend.describe(algo)).context("writing to stdout")?;
        writeln!(
            out,
            "searched {} nonces from {} in {:.3} s ({:.2} MH/s), target {}",
            report.hashes,
            range.start(),
            seconds,
            report.hashes as f64 / seconds.max(1e-9) / 1e6,
            target
        )
        .context("writing to stdout")?;
        writeln!(out, "found {}", report.hits.len()).context("writing to stdout")?;
        for h in &report.hits {
            writeln!(out, "  nonce {:>10}  hash {}", h.nonce, h.hash.to_display_hex()).context("writing to stdout")?;
        }
    }
    Ok(())
}

fn tune(a: TuneArgs) -> CmdResult {
    let devices = a.devices.as_deref().map(str::parse::<DeviceSelection>).transpose()?.unwrap_or_default();
    let cache = a.tune_cache.clone().or_else(gpu::tune::default_cache_path);
    let opts =
        GpuOptions { devices, tune: TuneMode::Auto { cache: cache.clone(), retune: true }, ..Default::default() };
    let backend = gpu::GpuBackend::new(&opts, false)?;
    let algos: Vec<Algo> = match a.algo {
        Some(x) => vec![x.into()],
        None => Algo::ALL.to_vec(),
    };
    let mut rows = Vec::new();
    for algo in algos {
        for (i, dev) in backend.devices().iter().enumerate() {
            let t = backend.tuning(i, algo)?;
            rows.push(serde_json::json!({
                "device": dev.summary().index, "name": dev.summary().name, "algo": algo.name(),
                "workgroup_size": t.workgroup_size, "nonces_per_thread": t.nonces_per_thread, "dispatch_nonces": t.dispatch_nonces,
            }));
        }
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    if a.json {
        writeln!(out, "{}", serde_json::Value::Array(rows)).context("writing to stdout")?;
    } else {
        for r in &rows {
            writeln!(
                out,
                "[{}] {} {}: workgroup {} x {} nonces/thread, {} nonces/dispatch",
                r["device"],
                r["name"].as_str().unwrap_or(""),
                r["algo"].as_str().unwrap_or(""),
                r["workgroup_size"],
                r["nonces_per_thread"],
                r["dispatch_nonces"]
            )
            .context("writing to stdout")?;
        }
        match cache {
            Some(p) => writeln!(out, "stored in {}", p.display()).context("writing to stdout")?,
            None => writeln!(out, "no cache path (set {} or HOME)", gpu::tune::TUNE_CACHE_ENV)
                .context("writing to stdout")?,
        }
    }
    Ok(())
}
