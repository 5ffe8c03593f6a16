//! One GPU: device, queue, pipelines and buffers, built once and reused for
//! every job (only parameters are written per dispatch).
//!
//! A search keeps two dispatches in flight (double buffering): while the GPU
//! runs one, the host reads the other's hits and submits the next, so the GPU
//! never waits for the host. Each slot owns its parameter, hit and readback
//! buffers. Cancellation is checked before every submit; dispatches are sized
//! by the tuner to a few milliseconds, so a new job reaches the GPU within
//! two dispatch times.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::shaders::{self, ShaderSource};
use crate::gpu::tune::Tuning;
use crate::hash::blake3::CompressInput;
use crate::pow::cpu::Prepared;
use crate::pow::{Algo, NonceRange, SearchControl};

/// The most nonces one dispatch may cover (keeps the shader's `u32` offsets
/// far from overflow, and dispatches short).
pub const MAX_DISPATCH_NONCES: u64 = 1 << 30;

/// How long one dispatch may take before the device is considered hung.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(120);

/// A job as the kernels see it, uploaded once per search; mirrors `Job` in
/// `shaders/pow_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct JobParams {
    state: [u32; 8],
    tail: [u32; 4],
    target: [u32; 8],
}

impl JobParams {
    pub(crate) fn new(prepared: &Prepared) -> Self {
        match prepared {
            Prepared::Sha256d(j) => {
                JobParams { state: j.mid, tail: [j.tail[0], j.tail[1], j.tail[2], 0], target: j.target }
            }
            Prepared::Blake3(j) => {
                JobParams { state: j.cv, tail: [j.tail[0], j.tail[1], j.tail[2], 0], target: j.target }
            }
        }
    }
}

/// One dispatch's nonces; mirrors `Dispatch` in `shaders/pow_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct DispatchParams {
    base_nonce: u32,
    count: u32,
    pad: [u32; 2],
}

/// What `cinder-miner devices` shows of an adapter.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AdapterSummary {
    /// Index for `--devices`.
    pub index: usize,
    /// Adapter name.
    pub name: String,
    /// Graphics API (vulkan, metal, dx12).
    pub backend: String,
    /// Driver name.
    pub driver: String,
    /// Driver version / details.
    pub driver_info: String,
    /// discrete, integrated, virtual, cpu (software) or other.
    pub device_type: String,
    /// False for software rasterizers such as lavapipe.
    pub hardware: bool,
    /// PCI vendor id.
    pub vendor: u32,
    /// PCI device id.
    pub device_id: u32,
}

impl AdapterSummary {
    pub(crate) fn from_info(index: usize, info: &wgpu::AdapterInfo) -> Self {
        let (device_type, hardware) = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => ("discrete", true),
            wgpu::DeviceType::IntegratedGpu => ("integrated", true),
            wgpu::DeviceType::VirtualGpu => ("virtual", true),
            wgpu::DeviceType::Cpu => ("cpu", false),
            wgpu::DeviceType::Other => ("other", false),
        };
        AdapterSummary {
            index,
            name: info.name.clone(),
            backend: info.backend.to_str().to_string(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            device_type: device_type.to_string(),
            hardware,
            vendor: info.vendor,
            device_id: info.device,
        }
    }
}

struct Slot {
    dispatch: wgpu::Buffer,
    hits: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

struct InFlight {
    slot: usize,
    range: NonceRange,
    submission: wgpu::SubmissionIndex,
}

/// Hits read back from one dispatch.
struct Readback {
    overflow: bool,
    nonces: Vec<u32>,
}

/// One GPU with everything a search needs.
pub struct GpuDevice {
    summary: AdapterSummary,
    device: wgpu::Device,
    queue: wgpu::Queue,
    search_pipeline_layout: wgpu::PipelineLayout,
    pipelines: Mutex<HashMap<(Algo, u32, u32), wgpu::ComputePipeline>>,
    kat_pipeline: Mutex<Option<wgpu::ComputePipeline>>,
    merkle: crate::gpu::merkle::MerkleCache,
    /// The job uniform and the slots; locked for the length of a search.
    buffers: Mutex<Buffers>,
    hit_capacity: u32,
    errors: Arc<Mutex<Vec<String>>>,
    max_workgroups_per_dim: u32,
    max_workgroup_size: u32,
}

struct Buffers {
    job: wgpu::Buffer,
    slots: Vec<Slot>,
}

impl std::fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuDevice").field("adapter", &self.summary).finish()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves no broken invariant
    // (they guard caches and buffers, rebuilt or rewritten per use).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GpuDevice {
    /// Opens `adapter` as device number `index`; `hit_capacity` is the number
    /// of hits one dispatch can return before it overflows and is split.
    pub(crate) fn open(index: usize, adapter: &wgpu::Adapter, hit_capacity: u32) -> Result<Self> {
        let info = adapter.get_info();
        let summary = AdapterSummary::from_info(index, &info);
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("cinder-engine"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::gpu(&summary.name, format!("requesting a device: {e}")))?;

        // Errors outside error scopes and device loss are recorded and turned
        // into `Error::Gpu` at the next readback, never a panic.
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| lock(&sink).push(e.to_string())));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            lock(&sink).push(format!("device lost ({reason:?}): {msg}"));
        });

        let hit_capacity = hit_capacity.max(1);
        let search_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("pow-search"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(size_of::<JobParams>() as u64),
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(size_of::<DispatchParams>() as u64),
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(12),
                    },
                    count: None,
                },
            ],
        });
        let search_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("pow-search"),
            bind_group_layouts: &[Some(&search_layout)],
            immediate_size: 0,
        });
        let hits_size = 8 + 4 * u64::from(hit_capacity);
        let job = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pow-job"),
            size: size_of::<JobParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let slots = (0..2)
            .map(|i| {
                let dispatch = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("pow-dispatch-{i}")),
                    size: size_of::<DispatchParams>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let hits = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("pow-hits-{i}")),
                    size: hits_size,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let readback = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("pow-readback-{i}")),
                    size: hits_size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&format!("pow-bind-{i}")),
                    layout: &search_layout,
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: job.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 1, resource: dispatch.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 2, resource: hits.as_entire_binding() },
                    ],
                });
                Slot { dispatch, hits, readback, bind_group }
            })
            .collect();
        let dev = GpuDevice {
            summary,
            device,
            queue,
            search_pipeline_layout,
            pipelines: Mutex::new(HashMap::new()),
            kat_pipeline: Mutex::new(None),
            merkle: Mutex::new(None),
            buffers: Mutex::new(Buffers { job, slots }),
            hit_capacity,
            errors,
            max_workgroups_per_dim: limits.max_compute_workgroups_per_dimension,
            max_workgroup_size: limits.max_compute_workgroup_size_x.min(limits.max_compute_invocations_per_workgroup),
        };
        dev.check_errors()?;
        Ok(dev)
    }

    /// The adapter this device runs on.
    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    pub(crate) fn wgpu_device(&self) -> &wgpu::Device {
        &self.device
    }

    pub(crate) fn wgpu_queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    pub(crate) fn merkle_cache(&self) -> &crate::gpu::merkle::MerkleCache {
        &self.merkle
    }

    /// Largest workgroup size this device allows.
    pub fn max_workgroup_size(&self) -> u32 {
        self.max_workgroup_size
    }

    pub(crate) fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::gpu(&self.summary.name, message)
    }

    fn check_errors(&self) -> Result<()> {
        let errs = std::mem::take(&mut *lock(&self.errors));
        if errs.is_empty() { Ok(()) } else { Err(self.err(errs.join("; "))) }
    }

    pub(crate) fn build_pipeline(
        &self,
        src: &ShaderSource,
        layout: Option<&wgpu::PipelineLayout>,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(src.name),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(src.wgsl)),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(src.name),
            layout,
            module: &module,
            entry_point: Some(src.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(self.err(format!("building the {} pipeline: {e}", src.name)));
        }
        self.check_errors()?;
        Ok(pipeline)
    }

    /// The search pipeline for `algo` with `tuning`'s constants (cached).
    pub(crate) fn search_pipeline(&self, algo: Algo, tuning: &Tuning) -> Result<wgpu::ComputePipeline> {
        let key = (algo, tuning.workgroup_size, tuning.nonces_per_thread);
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(p.clone());
        }
        if tuning.workgroup_size == 0 || tuning.workgroup_size > self.max_workgroup_size {
            return Err(self
                .err(format!("workgroup size {} is outside 1..={}", tuning.workgroup_size, self.max_workgroup_size)));
        }
        let started = Instant::now();
        let pipeline = self.build_pipeline(
            &shaders::for_algo(algo),
            Some(&self.search_pipeline_layout),
            &[
                ("WORKGROUP_SIZE", f64::from(tuning.workgroup_size)),
                ("NONCES_PER_THREAD", f64::from(tuning.nonces_per_thread.max(1))),
            ],
        )?;
        tracing::debug!(device = %self.summary.name, %algo, ?tuning, ms = started.elapsed().as_millis(), "pipeline built");
        lock(&self.pipelines).insert(key, pipeline.clone());
        Ok(pipeline)
    }

    fn submit(
        &self,
        slot: &Slot,
        pipeline: &wgpu::ComputePipeline,
        tuning: &Tuning,
        range: NonceRange,
    ) -> Result<wgpu::SubmissionIndex> {
        let too_big = || self.err(format!("dispatch of {} nonces exceeds {MAX_DISPATCH_NONCES}", range.count()));
        if range.count() > MAX_DISPATCH_NONCES {
            return Err(too_big());
        }
        let count = u32::try_from(range.count()).map_err(|_| too_big())?;
        let params = DispatchParams { base_nonce: range.start(), count, pad: [0; 2] };
        self.queue.write_buffer(&slot.dispatch, 0, bytemuck::bytes_of(&params));
        let groups = range.count().div_ceil(tuning.nonces_per_group()).max(1);
        let max = u64::from(self.max_workgroups_per_dim.max(1));
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        let mut enc =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pow-dispatch") });
        enc.clear_buffer(&slot.hits, 0, Some(8));
        {
            let mut pass = enc
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("pow-search"), timestamp_writes: None });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &slot.bind_group, &[]);
            // x <= max_workgroups_per_dim and x * y groups cover at most 2^30 nonces.
            let (x, y) = (u32::try_from(x).map_err(|_| too_big())?, u32::try_from(y).map_err(|_| too_big())?);
            pass.dispatch_workgroups(x, y, 1);
        }
        enc.copy_buffer_to_buffer(&slot.hits, 0, &slot.readback, 0, slot.hits.size());
        Ok(self.queue.submit([enc.finish()]))
    }

    /// Waits for `submission` and maps `buf`; returns its bytes.
    pub(crate) fn read_mapped(&self, buf: &wgpu::Buffer, submission: wgpu::SubmissionIndex) -> Result<Vec<u8>> {
        let (tx, rx) = mpsc::channel();
        buf.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let deadline = Instant::now() + DISPATCH_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(
                    self.err(format!("a dispatch did not finish in {} s (device hung?)", DISPATCH_TIMEOUT.as_secs()))
                );
            }
            self.device
                .poll(wgpu::PollType::Wait { submission_index: Some(submission.clone()), timeout: Some(left) })
                .map_err(|e| self.err(format!("waiting for a dispatch: {e}")))?;
            self.check_errors()?;
            match rx.try_recv() {
                Ok(Ok(())) => break,
                Ok(Err(e)) => return Err(self.err(format!("mapping results: {e}"))),
                Err(TryRecvError::Empty) => continue,
                Err(TryRecvError::Disconnected) => return Err(self.err("the map callback was dropped")),
            }
        }
        let bytes = {
            let view = buf.slice(..).get_mapped_range().map_err(|e| self.err(format!("reading results: {e}")))?;
            view.to_vec()
        };
        buf.unmap();
        Ok(bytes)
    }

    fn collect(&self, slot: &Slot, submission: wgpu::SubmissionIndex) -> Result<Readback> {
        let bytes = self.read_mapped(&slot.readback, submission)?;
        let words: Vec<u32> = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let (count, flag) = (words[0], words[1]);
        let overflow = flag != 0 || count > self.hit_capacity;
        let stored = count.min(self.hit_capacity) as usize;
        Ok(Readback { overflow, nonces: words[2..2 + stored].to_vec() })
    }

    /// Runs the search over the ranges `next` hands out (each at most
    /// `tuning.dispatch_nonces`), two dispatches in flight. Appends hit nonces
    /// (unsorted, unverified) to `out` and returns the nonces searched.
    /// Stops handing out new work once `ctl` is cancelled.
    pub(crate) fn run(
        &self,
        algo: Algo,
        job: &JobParams,
        tuning: &Tuning,
        next: &mut dyn FnMut() -> Option<NonceRange>,
        ctl: &SearchControl,
        out: &mut Vec<u32>,
    ) -> Result<u64> {
        let pipeline = self.search_pipeline(algo, tuning)?;
        let buffers = lock(&self.buffers);
        // The job goes up once; queue order puts it before this search's dispatches.
        self.queue.write_buffer(&buffers.job, 0, bytemuck::bytes_of(job));
        let slots = &buffers.slots;
        let mut free: Vec<usize> = (0..slots.len()).rev().collect();
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        // Ranges whose hits overflowed the buffer, split in halves, searched first.
        let mut redo: Vec<NonceRange> = Vec::new();
        let mut searched = 0u64;
        loop {
            while !ctl.is_cancelled() {
                let Some(&slot) = free.last() else { break };
                let Some(range) = redo.pop().or_else(&mut *next) else { break };
                if range.is_empty() {
                    continue;
                }
                let submission = match self.submit(&slots[slot], &pipeline, tuning, range) {
                    Ok(s) => s,
                    Err(e) => {
                        for g in inflight.drain(..) {
                            let _ = self.collect(&slots[g.slot], g.submission);
                        }
                        return Err(e);
                    }
                };
                free.pop();
                inflight.push_back(InFlight { slot, range, submission });
            }
            let Some(f) = inflight.pop_front() else { break };
            let result = self.collect(&slots[f.slot], f.submission);
            free.push(f.slot);
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    // Drain what is still running before reporting.
                    for g in inflight.drain(..) {
                        let _ = self.collect(&slots[g.slot], g.submission);
                    }
                    return Err(e);
                }
            };
            if result.overflow {
                tracing::debug!(range = ?f.range, "hit buffer overflowed; splitting the range");
                let half = f.range.count() / 2;
                redo.push(f.range.sub(half, f.range.count() - half));
                redo.push(f.range.sub(0, half));
            } else {
                out.extend_from_slice(&result.nonces);
                searched += f.range.count();
                ctl.add_hashes(f.range.count());
            }
        }
        Ok(searched)
    }

    /// BLAKE3 compressions of arbitrary inputs on this GPU (the known-answer
    /// kernel that shares `shaders/blake3.wgsl` with the PoW kernel).
    pub fn blake3_compress_many(&self, inputs: &[CompressInput]) -> Result<Vec<[u32; 16]>> {
        const GROUP: usize = 64;
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = {
            let mut guard = lock(&self.kat_pipeline);
            match &*guard {
                Some(p) => p.clone(),
                None => {
                    let p = self.build_pipeline(&shaders::BLAKE3_KAT, None, &[])?;
                    *guard = Some(p.clone());
                    p
                }
            }
        };
        let mut out = Vec::with_capacity(inputs.len());
        let max_per_call = GROUP * self.max_workgroups_per_dim as usize;
        for chunk in inputs.chunks(max_per_call.max(GROUP)) {
            let mut words: Vec<u32> = Vec::with_capacity(chunk.len() * 28);
            for i in chunk {
                words.extend_from_slice(&i.cv);
                words.extend_from_slice(&i.block);
                let (lo, hi) = crate::hash::split_u64(i.counter);
                words.extend_from_slice(&[lo, hi, i.block_len, i.flags]);
            }
            let input = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kat-in"),
                size: (words.len() * 4) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.queue.write_buffer(&input, 0, bytemuck::cast_slice(&words));
            let out_size = (chunk.len() * 64) as u64;
            let output = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kat-out"),
                size: out_size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kat-readback"),
                size: out_size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("kat"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: input.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: output.as_entire_binding() },
                ],
            });
            let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("kat") });
            {
                let mut pass =
                    enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("kat"), timestamp_writes: None });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind, &[]);
                // chunk.len() <= GROUP * max_workgroups_per_dim, so this fits u32.
                let groups = u32::try_from(chunk.len().div_ceil(GROUP))
                    .map_err(|_| self.err("too many inputs for one dispatch"))?;
                pass.dispatch_workgroups(groups, 1, 1);
            }
            enc.copy_buffer_to_buffer(&output, 0, &readback, 0, out_size);
            let sub = self.queue.submit([enc.finish()]);
            let bytes = self.read_mapped(&readback, sub)?;
            for c in bytes.chunks_exact(64) {
                let mut o = [0u32; 16];
                for (w, b) in o.iter_mut().zip(c.chunks_exact(4)) {
                    *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
                out.push(o);
            }
        }
        Ok(out)
    }
}
