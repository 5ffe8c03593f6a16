// One level of a BLAKE3 Merkle tree (prepended by blake3.wgsl).
//
// Node i of the next level is BLAKE3_keyed(NODE_KEY, left || right): one
// compression with the node key as chaining value, the 64-byte pair as the
// block, flags CHUNK_START | CHUNK_END | ROOT | KEYED_HASH. An odd last node
// is carried up unchanged (never duplicated). Hashes are eight little-endian
// words, two vec4 per node.
//
// CPU twin: engine/src/merkle/mod.rs (`node_hash`, `parent_level`).

struct Level {
    // Nodes in the source level.
    count: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    // The node key as chaining value words.
    key0: vec4<u32>,
    key1: vec4<u32>,
}

@group(0) @binding(0) var<uniform> level: Level;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

// CHUNK_START | CHUNK_END | ROOT | KEYED_HASH (1 << 4)
const ONE_BLOCK_KEYED: u32 = 27u;

@compute @workgroup_size(64)
fn merkle_level(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 64u + gid.x;
    let parents = (level.count + 1u) / 2u;
    if (i >= parents) {
        return;
    }
    if (2u * i + 1u == level.count) {
        dst[2u * i] = src[4u * i];
        dst[2u * i + 1u] = src[4u * i + 1u];
        return;
    }
    let m = B3Msg(src[4u * i], src[4u * i + 1u], src[4u * i + 2u], src[4u * i + 3u]);
    let o = b3_compress(level.key0, level.key1, m, vec4<u32>(0u, 0u, 64u, ONE_BLOCK_KEYED));
    dst[2u * i] = o.r0;
    dst[2u * i + 1u] = o.r1;
}
