// Shared by the PoW search kernels (prepended to sha256d.wgsl and blake3_pow.wgsl).
//
// Tuning knobs are pipeline-overridable constants, chosen per device by the
// auto-tuner (engine/src/gpu/tune.rs) — never WGSL built from strings.
override WORKGROUP_SIZE: u32 = 64u;
override NONCES_PER_THREAD: u32 = 16u;

// The job, uploaded once per search. Layout mirrors `JobParams` in engine/src/gpu/device.rs.
struct Job {
    // sha256d: midstate a..h after header bytes 0..64. blake3: chaining value.
    state: array<vec4<u32>, 2>,
    // Header words at bytes 64, 68, 72 (big-endian for sha256d, little-endian for blake3).
    tail: vec4<u32>,
    // Target as little-endian words; target_le[1].w is the most significant.
    target_le: array<vec4<u32>, 2>,
}

// One dispatch: its first nonce and how many nonces it covers. Mirrors `DispatchParams`.
struct Dispatch {
    base_nonce: u32,
    count: u32,
    _pad0: u32,
    _pad1: u32,
}

// Winning nonces. `count` may exceed the array's length: then `overflow` is
// set, the host splits the range and searches it again, so no hit is lost.
struct Hits {
    count: atomic<u32>,
    overflow: atomic<u32>,
    nonces: array<u32>,
}

@group(0) @binding(0) var<uniform> job: Job;
@group(0) @binding(1) var<uniform> dispatch: Dispatch;
@group(0) @binding(2) var<storage, read_write> hits: Hits;

// Offset (from dispatch.base_nonce) of this thread's first nonce. Dispatches are 2-D
// when one dimension cannot hold all workgroups.
fn first_offset(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    let thread = (wg.y * nwg.x + wg.x) * WORKGROUP_SIZE + lid;
    return thread * NONCES_PER_THREAD;
}

fn record_hit(nonce: u32) {
    let i = atomicAdd(&hits.count, 1u);
    if (i < arrayLength(&hits.nonces)) {
        hits.nonces[i] = nonce;
    } else {
        atomicStore(&hits.overflow, 1u);
    }
}

// Full 256-bit comparison: hash (little-endian words, [7] most significant) <= target.
fn meets_target(h: array<u32, 8>) -> bool {
    let t = array<u32, 8>(job.target_le[0].x, job.target_le[0].y, job.target_le[0].z, job.target_le[0].w,
                          job.target_le[1].x, job.target_le[1].y, job.target_le[1].z, job.target_le[1].w);
    for (var i = 7i; i >= 0i; i--) {
        if (h[i] != t[i]) {
            return h[i] < t[i];
        }
    }
    return true;
}
