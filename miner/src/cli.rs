//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Cinder's GPU and CPU proof-of-work miner.
#[derive(Debug, Parser)]
#[command(name = "cinder-miner", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More logging (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List GPU adapters and CPU features.
    Devices(DevicesArgs),
    /// Measure hashrates per backend and compare them.
    Bench(BenchArgs),
    /// Search a nonce range of one header and report every winning nonce.
    Search(SearchArgs),
    /// Tune the GPU kernels for this machine now and store the result.
    Tune(TuneArgs),
    /// Mine for a node through its work API (cinder_getWork/submitWork).
    Mine(MineArgs),
}

/// Hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum AlgoArg {
    Sha256d,
    Blake3,
}

impl From<AlgoArg> for cinder_engine::pow::Algo {
    fn from(a: AlgoArg) -> Self {
        match a {
            AlgoArg::Sha256d => cinder_engine::pow::Algo::Sha256d,
            AlgoArg::Blake3 => cinder_engine::pow::Algo::Blake3,
        }
    }
}

/// Backend for `search`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// Plain sha2/blake3, one thread: the oracle.
    Reference,
    /// SIMD kernels (SHA-NI, AVX-512, AVX2) on all cores.
    Cpu,
    /// WGSL on the GPU; any adapter, software ones (lavapipe) included.
    Gpu,
    /// A hardware GPU if present, else the CPU.
    Auto,
}

impl From<BackendArg> for cinder_engine::pow::BackendKind {
    fn from(b: BackendArg) -> Self {
        use cinder_engine::pow::BackendKind as K;
        match b {
            BackendArg::Reference => K::Reference,
            BackendArg::Cpu => K::Cpu,
            BackendArg::Gpu => K::Gpu,
            BackendArg::Auto => K::Auto,
        }
    }
}

/// Backends for `bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchBackendArg {
    Reference,
    Cpu,
    Gpu,
    /// Every backend this machine has.
    All,
}

#[derive(Debug, Args)]
pub(crate) struct DevicesArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// CPU options shared by the commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct CpuArgs {
    /// CPU threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,
    /// Force a CPU kernel: portable, avx2, avx512, sha-ni (default: detected;
    /// also CINDER_CPU_ISA).
    #[arg(long, value_name = "KERNEL")]
    pub cpu_isa: Option<String>,
}

/// GPU options shared by the commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct GpuArgs {
    /// GPU adapters: comma-separated indices from `cinder-miner devices`, or
    /// `all` (default: every hardware GPU, else the first adapter).
    #[arg(long, value_name = "LIST")]
    pub devices: Option<String>,
    /// Tune cache file (default: $CINDER_TUNE_CACHE, else
    /// ~/.cache/cinder/gpu-tune.json).
    #[arg(long, value_name = "PATH")]
    pub tune_cache: Option<PathBuf>,
    /// Ignore the tune cache and tune again.
    #[arg(long)]
    pub retune: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Algorithm (default: both).
    #[arg(long, value_enum)]
    pub algo: Option<AlgoArg>,
    /// Backend to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub backend: BenchBackendArg,
    /// Seconds of steady hashing per backend and algorithm (after tuning).
    #[arg(long, value_name = "N", default_value_t = 5.0, allow_negative_numbers = true)]
    pub seconds: f64,
    /// Job switches to time per CPU/GPU backend (0 to skip).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub switches: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cpu: CpuArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// Algorithm.
    #[arg(long, value_enum)]
    pub algo: AlgoArg,
    /// The 80-byte header as 160 hex digits, in serialization order.
    #[arg(long, value_name = "HEX")]
    pub header: String,
    /// First nonce.
    #[arg(long, value_name = "U32", allow_negative_numbers = true)]
    pub start: u32,
    /// Number of nonces (start + count must not pass 2^32).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub count: u64,
    /// Target as 64 hex digits, big-endian as Bitcoin displays it (default:
    /// from the header's bits).
    #[arg(long, value_name = "HEX")]
    pub target: Option<String>,
    /// Backend.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendArg,
    /// Print exactly one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cpu: CpuArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TuneArgs {
    /// Algorithm (default: both).
    #[arg(long, value_enum)]
    pub algo: Option<AlgoArg>,
    /// GPU adapters (as for search).
    #[arg(long, value_name = "LIST")]
    pub devices: Option<String>,
    /// Tune cache file.
    #[arg(long, value_name = "PATH")]
    pub tune_cache: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MineArgs {
    /// The node's RPC URL.
    #[arg(long, value_name = "URL", env = "CINDER_RPC")]
    pub rpc: String,
    /// Backend.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendArg,
    /// Ask the node for work this often (ms): a new head switches at once.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// Take a new template (new transactions) after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub refresh: f64,
    /// Print the hashrate and share counts this often (s).
    #[arg(long, value_name = "S", default_value_t = 5)]
    pub report_secs: u64,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    #[command(flatten)]
    pub cpu: CpuArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}
