// Known-answer kernel: compresses arbitrary inputs, one per thread. The
// official BLAKE3 test vectors drive every compression they need through it
// (tests/it), so the compression the PoW kernel uses is checked on the GPU.

struct KatInput {
    cv: array<vec4<u32>, 2>,
    block: array<vec4<u32>, 4>,
    // counter_lo, counter_hi, block_len, flags
    params_row: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> kat_in: array<KatInput>;
@group(0) @binding(1) var<storage, read_write> kat_out: array<array<vec4<u32>, 4>>;

@compute @workgroup_size(64)
fn blake3_compress_many(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= arrayLength(&kat_in)) {
        return;
    }
    let x = kat_in[i];
    let o = b3_compress(x.cv[0], x.cv[1], B3Msg(x.block[0], x.block[1], x.block[2], x.block[3]), x.params_row);
    kat_out[i] = array<vec4<u32>, 4>(o.r0, o.r1, o.r2, o.r3);
}
