// BLAKE3 nonce search: BLAKE3 of the 80-byte header.
//
// The header is one chunk of two blocks. The host compresses the first 64
// bytes once per job (flags CHUNK_START) and uploads that chaining value;
// each nonce then costs one compression of the last block: header words
// 16..18, the nonce as word 19 (bytes 76..80, little-endian), zero padding,
// block_len 16, flags CHUNK_END | ROOT.
//
// Output word 7 (v7 ^ v15) is the hash's most significant little-endian
// word: it is checked first, and only when it is <= the target's top word is
// the full output compared (exact for every target).
//
// CPU twin: engine/src/hash/lanes.rs (`blake3_scan`).

@compute @workgroup_size(WORKGROUP_SIZE)
fn blake3_search(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let first = first_offset(wg, nwg, lid);
    if (first >= dispatch.count) {
        return;
    }
    let n = min(NONCES_PER_THREAD, dispatch.count - first);
    let cv0 = job.state[0];
    let cv1 = job.state[1];
    let row3 = vec4<u32>(0u, 0u, 16u, B3_CHUNK_END | B3_ROOT);
    let top = job.target_le[1].w;
    for (var i = 0u; i < n; i++) {
        let nonce = dispatch.base_nonce + first + i;
        let m = B3Msg(vec4<u32>(job.tail.xyz, nonce), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u));
        let s = b3_rounds(cv0, cv1, m, row3);
        if ((s.r1.w ^ s.r3.w) <= top) {
            let o = b3_compress(cv0, cv1, m, row3);
            let le = array<u32, 8>(o.r0.x, o.r0.y, o.r0.z, o.r0.w, o.r1.x, o.r1.y, o.r1.z, o.r1.w);
            if (meets_target(le)) {
                record_hit(nonce);
            }
        }
    }
}
