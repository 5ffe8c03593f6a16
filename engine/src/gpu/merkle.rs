//! Merkle roots on the GPU: every level of a (sub)tree in one submission.
//!
//! The leaves go up once; each level is one dispatch of `shaders/merkle.wgsl`
//! reading one buffer and writing the other (ping-pong), its node count in a
//! uniform slot selected by dynamic offset. Trees larger than the device's
//! storage-buffer limit are cut into aligned power-of-two chunks, whose roots
//! are the nodes of the whole tree at that height (see `crate::merkle`), and
//! finished on the CPU.

use std::sync::Mutex;

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::gpu::device::{GpuDevice, lock};
use crate::gpu::shaders;
use crate::merkle::{self, Hash};

/// Mirrors `Level` in `shaders/merkle.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct LevelParams {
    count: u32,
    pad: [u32; 3],
    key: [u32; 8],
}

/// Uniform slots are this far apart (the largest alignment devices ask).
const SLOT: usize = 256;
/// Most levels a tree can have (2^40 leaves).
const MAX_LEVELS: usize = 40;

/// The cached pipeline and its layout.
pub(crate) struct MerklePipeline {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

/// Per-device cache slot, held by `GpuDevice`.
pub(crate) type MerkleCache = Mutex<Option<MerklePipeline>>;

fn pipeline(dev: &GpuDevice) -> Result<(wgpu::BindGroupLayout, wgpu::ComputePipeline)> {
    let mut guard = lock(dev.merkle_cache());
    if let Some(p) = &*guard {
        return Ok((p.layout.clone(), p.pipeline.clone()));
    }
    let d = dev.wgpu_device();
    let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: wgpu::BufferSize::new(32),
        },
        count: None,
    };
    let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("merkle"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(size_of::<LevelParams>() as u64),
                },
                count: None,
            },
            storage(1, true),
            storage(2, false),
        ],
    });
    let pl = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("merkle"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = dev.build_pipeline(&shaders::MERKLE, Some(&pl), &[])?;
    *guard = Some(MerklePipeline { layout: layout.clone(), pipeline: pipeline.clone() });
    Ok((layout, pipeline))
}

/// The largest power-of-two number of leaves one submission takes here.
fn max_chunk(dev: &GpuDevice) -> usize {
    let limits = dev.wgpu_device().limits();
    let bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).min(1 << 31);
    let leaves = (bytes / 32).max(2);
    1usize << (63 - leaves.leading_zeros())
}

impl GpuDevice {
    /// The Merkle root of `leaves` (leaf hashes), computed on this GPU; equal
    /// to [`merkle::root`].
    pub fn merkle_root(&self, leaves: &[Hash]) -> Result<Hash> {
        match leaves.len() {
            0 => return Ok(merkle::empty_root()),
            1 => return Ok(leaves[0]),
            _ => {}
        }
        self.merkle_root_in_chunks(leaves, max_chunk(self))
    }

    /// [`GpuDevice::merkle_root`] with at most `chunk` leaves per submission
    /// (rounded down to a power of two; the device limit applies too), to
    /// bound GPU memory.
    pub fn merkle_root_in_chunks(&self, leaves: &[Hash], chunk: usize) -> Result<Hash> {
        if leaves.len() <= 1 {
            return Ok(leaves.first().copied().unwrap_or_else(merkle::empty_root));
        }
        let chunk = chunk.clamp(2, max_chunk(self));
        let chunk = 1usize << (usize::BITS - 1 - chunk.leading_zeros());
        if leaves.len() <= chunk {
            return self.merkle_subtree(leaves);
        }
        // Aligned power-of-two chunks are subtrees; their roots are a level
        // of the whole tree (the last, partial one carried as the tree does).
        let tops = leaves.chunks(chunk).map(|c| self.merkle_subtree(c)).collect::<Result<Vec<_>>>()?;
        Ok(merkle::root(&tops))
    }

    /// One submission: all levels of the tree of `leaves`.
    fn merkle_subtree(&self, leaves: &[Hash]) -> Result<Hash> {
        if leaves.len() <= 1 {
            // A trailing chunk of one leaf: nothing to hash.
            return Ok(leaves.first().copied().unwrap_or_else(merkle::empty_root));
        }
        let (layout, pipeline) = pipeline(self)?;
        let d = self.wgpu_device();
        let q = self.wgpu_queue();
        let n = leaves.len() as u64;
        let size_a = n * 32;
        let size_b = n.div_ceil(2) * 32;
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        let a = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("merkle-a"),
            size: size_a,
            usage,
            mapped_at_creation: false,
        });
        let b = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("merkle-b"),
            size: size_b,
            usage,
            mapped_at_creation: false,
        });
        q.write_buffer(&a, 0, bytemuck::cast_slice(leaves));
        // Level counts, one uniform slot each.
        let key = crate::hash::blake3::key_words(&merkle::node_key());
        let mut counts = Vec::new();
        let mut c = n;
        while c > 1 {
            counts.push(c);
            c = c.div_ceil(2);
        }
        if counts.len() > MAX_LEVELS {
            return Err(self.err(format!("{n} leaves make more than {MAX_LEVELS} levels")));
        }
        let mut slots = vec![0u8; counts.len() * SLOT];
        for (i, &c) in counts.iter().enumerate() {
            let p = LevelParams { count: u32::try_from(c).map_err(|_| self.err("level too large"))?, pad: [0; 3], key };
            let at = i * SLOT;
            slots[at..at + size_of::<LevelParams>()].copy_from_slice(bytemuck::bytes_of(&p));
        }
        let uniforms = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("merkle-levels"),
            size: slots.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        q.write_buffer(&uniforms, 0, &slots);
        let uniform = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &uniforms,
            offset: 0,
            size: wgpu::BufferSize::new(size_of::<LevelParams>() as u64),
        });
        let bind = |src: &wgpu::Buffer, dst: &wgpu::Buffer, label| {
            d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: uniform.clone() },
                    wgpu::BindGroupEntry { binding: 1, resource: src.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: dst.as_entire_binding() },
                ],
            })
        };
        let a_to_b = bind(&a, &b, "merkle-a-to-b");
        let b_to_a = bind(&b, &a, "merkle-b-to-a");
        let readback = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("merkle-root"),
            size: 32,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("merkle") });
        {
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("merkle"), timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            let max = u64::from(d.limits().max_compute_workgroups_per_dimension.max(1));
            for (i, &c) in counts.iter().enumerate() {
                let groups = c.div_ceil(2).div_ceil(64);
                let x = groups.min(max);
                let y = groups.div_ceil(x);
                let offset = u32::try_from(i * SLOT).map_err(|_| self.err("uniform offset"))?;
                pass.set_bind_group(0, if i % 2 == 0 { &a_to_b } else { &b_to_a }, &[offset]);
                pass.dispatch_workgroups(
                    u32::try_from(x).map_err(|_| self.err("too many workgroups"))?,
                    u32::try_from(y).map_err(|_| self.err("too many workgroups"))?,
                    1,
                );
            }
        }
        let top = if counts.len() % 2 == 1 { &b } else { &a };
        enc.copy_buffer_to_buffer(top, 0, &readback, 0, 32);
        let sub = q.submit([enc.finish()]);
        let bytes = self.read_mapped(&readback, sub)?;
        let mut root = [0u8; 32];
        root.copy_from_slice(&bytes[..32]);
        Ok(root)
    }
}
