//! The wasmtime engine in its deterministic configuration, upload-time
//! validation, and the compiled-module cache.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use cinder_primitives::{Hash, MAX_CODE_BYTES};
use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module, OperatorCost, OptLevel,
    PoolingAllocationConfig, WasmFeatures,
};

use crate::host::{self, Host};
use crate::limits::{self, ABI_MODULE, MAX_MEMORY_PAGES, MAX_TABLE_ELEMENTS, gas};

/// Compiled modules kept by code hash.
const CACHE_ENTRIES: usize = 256;
/// Transactions (or queries) running contract code at once. Each uses at
/// most [`limits::MAX_CALLS_PER_TX`] instances, so the pool's
/// [`POOL_INSTANCES`] are never exhausted by what a contract does.
pub const CONCURRENT_RUNS: usize = 15;
/// Instances, memories, tables and fiber stacks in the pooling allocator.
const POOL_INSTANCES: u32 = 1_000;
/// Bytes of a finished instance's memory reset in place (zeroed) rather
/// than returned to the kernel.
const KEEP_RESIDENT: usize = 1 << 20;

/// Why code is refused at deploy (or migration). The reasons are part of
/// consensus (they go in receipts), so they are ours, never wasmtime's
/// wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Larger than [`MAX_CODE_BYTES`].
    #[error("code is {0} bytes, at most {MAX_CODE_BYTES}")]
    TooLarge(usize),
    /// Not WebAssembly, or a feature this chain does not enable.
    #[error("not a valid WebAssembly module for this chain")]
    Invalid,
    /// An import outside the ABI.
    #[error("imports {0}, which is not a host function of {ABI_MODULE}")]
    UnknownImport(String),
    /// An ABI import with the wrong signature.
    #[error("imports {0} with the wrong signature")]
    BadImport(String),
    /// No memory exported as `memory`, or more than one memory.
    #[error("must define exactly one memory and export it as `memory`")]
    Memory,
    /// A memory larger than [`MAX_MEMORY_PAGES`] to start with, 64-bit or
    /// shared.
    #[error("memory must be 32-bit, not shared, and start at most {MAX_MEMORY_PAGES} pages")]
    MemoryLimits,
    /// More than one table, or a table too large.
    #[error("at most one table of at most {MAX_TABLE_ELEMENTS} elements")]
    Tables,
    /// `init` or `migrate` that is not a function of no arguments and no
    /// results.
    #[error("export `{0}` must be a function with no parameters and no results")]
    EntryType(String),
}

/// The memory and table rules, checked on the module's sections before
/// compiling (the pooling allocator would refuse an oversized module while
/// compiling, without saying why). Malformed bytes are left to the
/// compiler's validation.
fn limits_before_compiling(code: &[u8]) -> Result<(), CodeError> {
    use wasmparser::{Parser, Payload};
    let (mut memories, mut tables) = (0usize, 0usize);
    for payload in Parser::new(0).parse_all(code) {
        match payload {
            Ok(Payload::MemorySection(r)) => {
                for m in r {
                    let Ok(m) = m else { return Err(CodeError::Invalid) };
                    memories += 1;
                    if m.memory64 || m.shared || m.initial > MAX_MEMORY_PAGES {
                        return Err(CodeError::MemoryLimits);
                    }
                }
            }
            Ok(Payload::TableSection(r)) => {
                for t in r {
                    let Ok(t) = t else { return Err(CodeError::Invalid) };
                    tables += 1;
                    if t.ty.initial > MAX_TABLE_ELEMENTS {
                        return Err(CodeError::Tables);
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return Err(CodeError::Invalid),
        }
    }
    if memories > 1 {
        return Err(CodeError::Memory);
    }
    if tables > 1 {
        return Err(CodeError::Tables);
    }
    Ok(())
}

/// A module ready to instantiate.
pub(crate) struct Compiled {
    pub(crate) pre: InstancePre<Host>,
}

struct Cache {
    map: HashMap<Hash, (Arc<Compiled>, u64)>,
    tick: u64,
}

/// Counts runs of contract code, blocking past [`CONCURRENT_RUNS`].
struct Permits {
    used: Mutex<usize>,
    freed: Condvar,
}

/// A held permit; released on drop.
pub(crate) struct Permit<'a>(&'a Permits);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(PoisonError::into_inner);
        *used = used.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Host>,
    cache: Mutex<Cache>,
    permits: Permits,
}

/// The contract runtime: the engine, the host functions and the module
/// cache. One per process; cheap to clone (shared).
#[derive(Clone)]
pub struct Vm {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vm")
    }
}

/// The engine configuration, each setting for determinism or safety
/// (docs/design/contracts.md explains each).
fn config() -> anyhow::Result<Config> {
    let mut c = Config::new();
    // The same machine code on every x86-64 node: no CPU features inferred
    // from the host (they could change instruction selection, and with it
    // stack use and so where a deep recursion traps).
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    c.target("x86_64-unknown-linux-gnu").map_err(|e| anyhow::anyhow!("wasmtime target: {e}"))?;
    c.consume_fuel(true);
    let mut cost = OperatorCost::new();
    cost.variable.memory_grow_per_page = gas::MEMORY_GROW_PAGE;
    c.operator_cost(cost);
    c.cranelift_nan_canonicalization(true);
    c.cranelift_opt_level(OptLevel::Speed);
    // Proposals a contract may not use (some have no method without their
    // cargo feature; the feature flags say the same).
    for off in [
        WasmFeatures::THREADS,
        WasmFeatures::SHARED_EVERYTHING_THREADS,
        WasmFeatures::FUNCTION_REFERENCES,
        WasmFeatures::EXCEPTIONS,
        WasmFeatures::LEGACY_EXCEPTIONS,
        WasmFeatures::COMPONENT_MODEL,
    ] {
        c.wasm_features(off, false);
    }
    c.wasm_features(WasmFeatures::REFERENCE_TYPES, true);
    c.shared_memory(false);
    c.wasm_simd(false);
    c.wasm_relaxed_simd(false);
    c.wasm_multi_memory(false);
    c.wasm_memory64(false);
    c.wasm_gc(false);
    c.wasm_tail_call(false);
    c.wasm_stack_switching(false);
    c.wasm_wide_arithmetic(false);
    c.wasm_custom_page_sizes(false);
    c.wasm_bulk_memory(true);
    c.wasm_multi_value(true);
    // No backtraces: traps are cheaper and their errors carry nothing else.
    c.wasm_backtrace_max_frames(None);
    c.epoch_interruption(false);
    c.max_wasm_stack(limits::MAX_WASM_STACK);
    c.async_stack_size(limits::FIBER_STACK);
    // Data segments are copied at instantiation instead of mapping a
    // copy-on-write image per instance (a mapping is a syscall and, when
    // undone, a TLB shootdown; contracts have a few KiB of data).
    c.memory_init_cow(false);
    // Explicit bounds checks instead of guard pages and signal handlers:
    // then a pool slot's pages stay read/write from one instance to the
    // next (wasmtime changes protections on every reuse otherwise, an
    // mprotect and a TLB shootdown per call: a third of the time of a token
    // transfer on two threads, measured), and each slot reserves 16 MiB of
    // address space instead of 4 GiB. Traps are the same traps.
    c.signals_based_traps(false);
    c.memory_guard_size(0);
    c.guard_before_linear_memory(false);
    c.memory_reservation(MAX_MEMORY_PAGES * 65_536);
    c.memory_may_move(false);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(POOL_INSTANCES)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES)
        .total_stacks(POOL_INSTANCES)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .max_memory_size(usize::try_from(MAX_MEMORY_PAGES * 65_536)?)
        .table_elements(usize::try_from(MAX_TABLE_ELEMENTS)?)
        // A finished instance's memory, table and fiber stack are reset by
        // writing zeros over what stays resident instead of handing pages
        // back to the kernel: every call would otherwise pay page faults,
        // unmaps and cross-core TLB shootdowns (half the time of a token
        // transfer, measured; docs/design/contracts.md).
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 * 1024)
        .async_stack_keep_resident(64 * 1024)
        .max_unused_warm_slots(POOL_INSTANCES);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(c)
}

impl Vm {
    /// The runtime (compiles nothing yet).
    pub fn new() -> anyhow::Result<Vm> {
        let engine = Engine::new(&config()?).map_err(|e| anyhow::anyhow!("creating the wasmtime engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        host::register(&mut linker).map_err(|e| anyhow::anyhow!("registering the host functions: {e}"))?;
        Ok(Vm {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache: Mutex::new(Cache { map: HashMap::new(), tick: 0 }),
                permits: Permits { used: Mutex::new(0), freed: Condvar::new() },
            }),
        })
    }

    /// The process's runtime, created on first use. One engine and one
    /// instance pool serve every chain, block and query of a process (the
    /// pool reserves its address space up front, so it is made once).
    pub fn shared() -> anyhow::Result<&'static Vm> {
        static SHARED: OnceLock<Result<Vm, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Vm::new().map_err(|e| format!("{e:#}"))) {
            Ok(vm) => Ok(vm),
            Err(e) => Err(anyhow::anyhow!("the contract runtime cannot start: {e}")),
        }
    }

    /// Checks `code` as a deploy would, compiling it (and caching the
    /// result under its hash).
    pub fn validate(&self, code: &[u8]) -> Result<Hash, CodeError> {
        let hash = Hash::of(code);
        self.inner.compile(hash, code).map(|_| hash)
    }

    /// Modules in the cache.
    pub fn cached_modules(&self) -> usize {
        self.inner.cache.lock().unwrap_or_else(PoisonError::into_inner).map.len()
    }
}

impl Inner {
    /// Waits for a run permit.
    pub(crate) fn permit(&self) -> Permit<'_> {
        let mut used = self.permits.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used >= CONCURRENT_RUNS {
            used = self.permits.freed.wait(used).unwrap_or_else(PoisonError::into_inner);
        }
        *used += 1;
        Permit(&self.permits)
    }

    /// The compiled module of code `hash`, if the cache has it.
    pub(crate) fn cached(&self, hash: &Hash) -> Option<Arc<Compiled>> {
        let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        c.tick += 1;
        let tick = c.tick;
        c.map.get_mut(hash).map(|(m, used)| {
            *used = tick;
            m.clone()
        })
    }

    /// The compiled module of `code` (whose hash is `hash`), from the cache
    /// or validated and compiled now.
    pub(crate) fn compile(&self, hash: Hash, code: &[u8]) -> Result<Arc<Compiled>, CodeError> {
        if let Some(m) = self.cached(&hash) {
            return Ok(m);
        }
        let compiled = Arc::new(self.check(code)?);
        let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if c.map.len() >= CACHE_ENTRIES
            && let Some(oldest) = c.map.iter().min_by_key(|(_, (_, t))| *t).map(|(h, _)| *h)
        {
            c.map.remove(&oldest);
        }
        let tick = c.tick;
        c.map.insert(hash, (compiled.clone(), tick));
        Ok(compiled)
    }

    /// Upload-time validation: size, WebAssembly validity under this
    /// engine's features, imports only from the ABI with their exact
    /// signatures, one memory exported as `memory` within the limits, at
    /// most one table, and entry points of the right type.
    fn check(&self, code: &[u8]) -> Result<Compiled, CodeError> {
        if code.len() > MAX_CODE_BYTES {
            return Err(CodeError::TooLarge(code.len()));
        }
        if !code.starts_with(b"\0asm") {
            return Err(CodeError::Invalid);
        }
        limits_before_compiling(code)?;
        let module = Module::new(&self.engine, code).map_err(|e| {
            tracing::debug!("refused code: {e:#}");
            CodeError::Invalid
        })?;
        for import in module.imports() {
            let name = format!("{}.{}", import.module(), import.name());
            if import.module() != ABI_MODULE || !host::NAMES.contains(&import.name()) {
                return Err(CodeError::UnknownImport(name));
            }
            if !matches!(import.ty(), ExternType::Func(_)) {
                return Err(CodeError::UnknownImport(name));
            }
        }
        let resources = module.resources_required();
        let memory = module.exports().find(|e| e.name() == "memory").and_then(|e| e.ty().memory().cloned());
        let Some(memory) = memory else { return Err(CodeError::Memory) };
        if resources.num_memories != 1 {
            return Err(CodeError::Memory);
        }
        if memory.is_64() || memory.is_shared() || memory.minimum() > MAX_MEMORY_PAGES {
            return Err(CodeError::MemoryLimits);
        }
        if resources.num_tables > 1 || resources.max_initial_table_size.is_some_and(|n| n > MAX_TABLE_ELEMENTS) {
            return Err(CodeError::Tables);
        }
        for entry in ["init", "migrate"] {
            if let Some(e) = module.exports().find(|e| e.name() == entry) {
                let ok = matches!(e.ty(), ExternType::Func(f) if f.params().len() == 0 && f.results().len() == 0);
                if !ok {
                    return Err(CodeError::EntryType(entry.to_string()));
                }
            }
        }
        // Every import is an ABI name; instantiate_pre checks each
        // signature against the host function's.
        let pre = self.linker.instantiate_pre(&module).map_err(|_| {
            let bad = module
                .imports()
                .find(|i| !host::signature_matches(i.name(), &i.ty()))
                .map(|i| format!("{}.{}", i.module(), i.name()))
                .unwrap_or_else(|| ABI_MODULE.to_string());
            CodeError::BadImport(bad)
        })?;
        Ok(Compiled { pre })
    }
}
