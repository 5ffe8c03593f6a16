// sha256d nonce search.
//
// CPU twin: engine/src/hash/lanes.rs (`sha256d_scan`), same steps in the same
// order; oracle: the `reference` backend (`Sha256::digest(Sha256::digest(h))`).
//
// Per job the host uploads the SHA-256 state after the first 64 header bytes
// (the midstate) and the three header words before the nonce. Each thread:
//   1. runs rounds 0..2 of the second block once (they do not depend on the nonce),
//   2. for each of its NONCES_PER_THREAD nonces: rounds 3..63 (first hash),
//      rounds 0..60 of the second hash, then the early reject: after round 60
//      the final H7 is already known (it is IV7 + e), and H7 byte-swapped is the
//      hash's most significant little-endian word. Only when that word is <= the
//      target's top word are rounds 61..63 run and the full 256-bit comparison
//      made, so the reject is exact for every target.
// Hits go to the hit buffer (pow_common.wgsl); the host re-checks every hit.
//
// Message words that are constant (padding, lengths) are literals, so the
// driver folds them; the schedule and state are straight-line code on
// constant indices and stay in registers.

const K = array<u32, 64>(
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u
);

const IV = array<u32, 8>(
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u
);

// State a..h as two vectors: abcd, efgh.
struct Sha {
    abcd: vec4<u32>,
    efgh: vec4<u32>,
}

fn rotr(x: u32, n: u32) -> u32 {
    return (x >> n) | (x << (32u - n));
}

fn ssig0(x: u32) -> u32 {
    return rotr(x, 7u) ^ rotr(x, 18u) ^ (x >> 3u);
}

fn ssig1(x: u32) -> u32 {
    return rotr(x, 17u) ^ rotr(x, 19u) ^ (x >> 10u);
}

// One round; kw = K[t] + W[t].
fn rnd(s: Sha, kw: u32) -> Sha {
    let a = s.abcd.x;
    let b = s.abcd.y;
    let c = s.abcd.z;
    let d = s.abcd.w;
    let e = s.efgh.x;
    let f = s.efgh.y;
    let g = s.efgh.z;
    let h = s.efgh.w;
    let t1 = h + (rotr(e, 6u) ^ rotr(e, 11u) ^ rotr(e, 25u)) + ((e & f) ^ (~e & g)) + kw;
    let t2 = (rotr(a, 2u) ^ rotr(a, 13u) ^ rotr(a, 22u)) + ((a & b) ^ (a & c) ^ (b & c));
    return Sha(vec4<u32>(t1 + t2, a, b, c), vec4<u32>(d + t1, e, f, g));
}

// The 64-word message schedule of a 16-word block.
fn expand(m: array<u32, 16>) -> array<u32, 64> {
    var w: array<u32, 64>;
    w[0] = m[0]; w[1] = m[1]; w[2] = m[2]; w[3] = m[3];
    w[4] = m[4]; w[5] = m[5]; w[6] = m[6]; w[7] = m[7];
    w[8] = m[8]; w[9] = m[9]; w[10] = m[10]; w[11] = m[11];
    w[12] = m[12]; w[13] = m[13]; w[14] = m[14]; w[15] = m[15];
    w[16] = ssig1(w[14]) + w[9] + ssig0(w[1]) + w[0];
    w[17] = ssig1(w[15]) + w[10] + ssig0(w[2]) + w[1];
    w[18] = ssig1(w[16]) + w[11] + ssig0(w[3]) + w[2];
    w[19] = ssig1(w[17]) + w[12] + ssig0(w[4]) + w[3];
    w[20] = ssig1(w[18]) + w[13] + ssig0(w[5]) + w[4];
    w[21] = ssig1(w[19]) + w[14] + ssig0(w[6]) + w[5];
    w[22] = ssig1(w[20]) + w[15] + ssig0(w[7]) + w[6];
    w[23] = ssig1(w[21]) + w[16] + ssig0(w[8]) + w[7];
    w[24] = ssig1(w[22]) + w[17] + ssig0(w[9]) + w[8];
    w[25] = ssig1(w[23]) + w[18] + ssig0(w[10]) + w[9];
    w[26] = ssig1(w[24]) + w[19] + ssig0(w[11]) + w[10];
    w[27] = ssig1(w[25]) + w[20] + ssig0(w[12]) + w[11];
    w[28] = ssig1(w[26]) + w[21] + ssig0(w[13]) + w[12];
    w[29] = ssig1(w[27]) + w[22] + ssig0(w[14]) + w[13];
    w[30] = ssig1(w[28]) + w[23] + ssig0(w[15]) + w[14];
    w[31] = ssig1(w[29]) + w[24] + ssig0(w[16]) + w[15];
    w[32] = ssig1(w[30]) + w[25] + ssig0(w[17]) + w[16];
    w[33] = ssig1(w[31]) + w[26] + ssig0(w[18]) + w[17];
    w[34] = ssig1(w[32]) + w[27] + ssig0(w[19]) + w[18];
    w[35] = ssig1(w[33]) + w[28] + ssig0(w[20]) + w[19];
    w[36] = ssig1(w[34]) + w[29] + ssig0(w[21]) + w[20];
    w[37] = ssig1(w[35]) + w[30] + ssig0(w[22]) + w[21];
    w[38] = ssig1(w[36]) + w[31] + ssig0(w[23]) + w[22];
    w[39] = ssig1(w[37]) + w[32] + ssig0(w[24]) + w[23];
    w[40] = ssig1(w[38]) + w[33] + ssig0(w[25]) + w[24];
    w[41] = ssig1(w[39]) + w[34] + ssig0(w[26]) + w[25];
    w[42] = ssig1(w[40]) + w[35] + ssig0(w[27]) + w[26];
    w[43] = ssig1(w[41]) + w[36] + ssig0(w[28]) + w[27];
    w[44] = ssig1(w[42]) + w[37] + ssig0(w[29]) + w[28];
    w[45] = ssig1(w[43]) + w[38] + ssig0(w[30]) + w[29];
    w[46] = ssig1(w[44]) + w[39] + ssig0(w[31]) + w[30];
    w[47] = ssig1(w[45]) + w[40] + ssig0(w[32]) + w[31];
    w[48] = ssig1(w[46]) + w[41] + ssig0(w[33]) + w[32];
    w[49] = ssig1(w[47]) + w[42] + ssig0(w[34]) + w[33];
    w[50] = ssig1(w[48]) + w[43] + ssig0(w[35]) + w[34];
    w[51] = ssig1(w[49]) + w[44] + ssig0(w[36]) + w[35];
    w[52] = ssig1(w[50]) + w[45] + ssig0(w[37]) + w[36];
    w[53] = ssig1(w[51]) + w[46] + ssig0(w[38]) + w[37];
    w[54] = ssig1(w[52]) + w[47] + ssig0(w[39]) + w[38];
    w[55] = ssig1(w[53]) + w[48] + ssig0(w[40]) + w[39];
    w[56] = ssig1(w[54]) + w[49] + ssig0(w[41]) + w[40];
    w[57] = ssig1(w[55]) + w[50] + ssig0(w[42]) + w[41];
    w[58] = ssig1(w[56]) + w[51] + ssig0(w[43]) + w[42];
    w[59] = ssig1(w[57]) + w[52] + ssig0(w[44]) + w[43];
    w[60] = ssig1(w[58]) + w[53] + ssig0(w[45]) + w[44];
    w[61] = ssig1(w[59]) + w[54] + ssig0(w[46]) + w[45];
    w[62] = ssig1(w[60]) + w[55] + ssig0(w[47]) + w[46];
    w[63] = ssig1(w[61]) + w[56] + ssig0(w[48]) + w[47];
    return w;
}

fn bswap(x: u32) -> u32 {
    return (x << 24u) | ((x & 0xff00u) << 8u) | ((x >> 8u) & 0xff00u) | (x >> 24u);
}

// First hash, second block, from the state after round 2 (`pre`) and the
// midstate `mid` (for the feed-forward). Returns H1.
fn first_hash(pre: Sha, mid: Sha, tail: vec3<u32>, nonce_be: u32) -> Sha {
    let w = expand(array<u32, 16>(tail.x, tail.y, tail.z, nonce_be, 0x80000000u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 640u));
    var s = pre;
    s = rnd(s, K[3] + w[3]);
    s = rnd(s, K[4] + w[4]);
    s = rnd(s, K[5] + w[5]);
    s = rnd(s, K[6] + w[6]);
    s = rnd(s, K[7] + w[7]);
    s = rnd(s, K[8] + w[8]);
    s = rnd(s, K[9] + w[9]);
    s = rnd(s, K[10] + w[10]);
    s = rnd(s, K[11] + w[11]);
    s = rnd(s, K[12] + w[12]);
    s = rnd(s, K[13] + w[13]);
    s = rnd(s, K[14] + w[14]);
    s = rnd(s, K[15] + w[15]);
    s = rnd(s, K[16] + w[16]);
    s = rnd(s, K[17] + w[17]);
    s = rnd(s, K[18] + w[18]);
    s = rnd(s, K[19] + w[19]);
    s = rnd(s, K[20] + w[20]);
    s = rnd(s, K[21] + w[21]);
    s = rnd(s, K[22] + w[22]);
    s = rnd(s, K[23] + w[23]);
    s = rnd(s, K[24] + w[24]);
    s = rnd(s, K[25] + w[25]);
    s = rnd(s, K[26] + w[26]);
    s = rnd(s, K[27] + w[27]);
    s = rnd(s, K[28] + w[28]);
    s = rnd(s, K[29] + w[29]);
    s = rnd(s, K[30] + w[30]);
    s = rnd(s, K[31] + w[31]);
    s = rnd(s, K[32] + w[32]);
    s = rnd(s, K[33] + w[33]);
    s = rnd(s, K[34] + w[34]);
    s = rnd(s, K[35] + w[35]);
    s = rnd(s, K[36] + w[36]);
    s = rnd(s, K[37] + w[37]);
    s = rnd(s, K[38] + w[38]);
    s = rnd(s, K[39] + w[39]);
    s = rnd(s, K[40] + w[40]);
    s = rnd(s, K[41] + w[41]);
    s = rnd(s, K[42] + w[42]);
    s = rnd(s, K[43] + w[43]);
    s = rnd(s, K[44] + w[44]);
    s = rnd(s, K[45] + w[45]);
    s = rnd(s, K[46] + w[46]);
    s = rnd(s, K[47] + w[47]);
    s = rnd(s, K[48] + w[48]);
    s = rnd(s, K[49] + w[49]);
    s = rnd(s, K[50] + w[50]);
    s = rnd(s, K[51] + w[51]);
    s = rnd(s, K[52] + w[52]);
    s = rnd(s, K[53] + w[53]);
    s = rnd(s, K[54] + w[54]);
    s = rnd(s, K[55] + w[55]);
    s = rnd(s, K[56] + w[56]);
    s = rnd(s, K[57] + w[57]);
    s = rnd(s, K[58] + w[58]);
    s = rnd(s, K[59] + w[59]);
    s = rnd(s, K[60] + w[60]);
    s = rnd(s, K[61] + w[61]);
    s = rnd(s, K[62] + w[62]);
    s = rnd(s, K[63] + w[63]);
    return Sha(s.abcd + mid.abcd, s.efgh + mid.efgh);
}

// Second hash up to and including round 60, with the schedule words the
// remaining rounds need.
struct Second {
    s: Sha,
    w61: u32,
    w62: u32,
    w63: u32,
}

fn second_hash_to_60(h1: Sha) -> Second {
    let w = expand(array<u32, 16>(h1.abcd.x, h1.abcd.y, h1.abcd.z, h1.abcd.w, h1.efgh.x, h1.efgh.y, h1.efgh.z, h1.efgh.w,
                                  0x80000000u, 0u, 0u, 0u, 0u, 0u, 0u, 256u));
    var s = Sha(vec4<u32>(IV[0], IV[1], IV[2], IV[3]), vec4<u32>(IV[4], IV[5], IV[6], IV[7]));
    s = rnd(s, K[0] + w[0]);
    s = rnd(s, K[1] + w[1]);
    s = rnd(s, K[2] + w[2]);
    s = rnd(s, K[3] + w[3]);
    s = rnd(s, K[4] + w[4]);
    s = rnd(s, K[5] + w[5]);
    s = rnd(s, K[6] + w[6]);
    s = rnd(s, K[7] + w[7]);
    s = rnd(s, K[8] + w[8]);
    s = rnd(s, K[9] + w[9]);
    s = rnd(s, K[10] + w[10]);
    s = rnd(s, K[11] + w[11]);
    s = rnd(s, K[12] + w[12]);
    s = rnd(s, K[13] + w[13]);
    s = rnd(s, K[14] + w[14]);
    s = rnd(s, K[15] + w[15]);
    s = rnd(s, K[16] + w[16]);
    s = rnd(s, K[17] + w[17]);
    s = rnd(s, K[18] + w[18]);
    s = rnd(s, K[19] + w[19]);
    s = rnd(s, K[20] + w[20]);
    s = rnd(s, K[21] + w[21]);
    s = rnd(s, K[22] + w[22]);
    s = rnd(s, K[23] + w[23]);
    s = rnd(s, K[24] + w[24]);
    s = rnd(s, K[25] + w[25]);
    s = rnd(s, K[26] + w[26]);
    s = rnd(s, K[27] + w[27]);
    s = rnd(s, K[28] + w[28]);
    s = rnd(s, K[29] + w[29]);
    s = rnd(s, K[30] + w[30]);
    s = rnd(s, K[31] + w[31]);
    s = rnd(s, K[32] + w[32]);
    s = rnd(s, K[33] + w[33]);
    s = rnd(s, K[34] + w[34]);
    s = rnd(s, K[35] + w[35]);
    s = rnd(s, K[36] + w[36]);
    s = rnd(s, K[37] + w[37]);
    s = rnd(s, K[38] + w[38]);
    s = rnd(s, K[39] + w[39]);
    s = rnd(s, K[40] + w[40]);
    s = rnd(s, K[41] + w[41]);
    s = rnd(s, K[42] + w[42]);
    s = rnd(s, K[43] + w[43]);
    s = rnd(s, K[44] + w[44]);
    s = rnd(s, K[45] + w[45]);
    s = rnd(s, K[46] + w[46]);
    s = rnd(s, K[47] + w[47]);
    s = rnd(s, K[48] + w[48]);
    s = rnd(s, K[49] + w[49]);
    s = rnd(s, K[50] + w[50]);
    s = rnd(s, K[51] + w[51]);
    s = rnd(s, K[52] + w[52]);
    s = rnd(s, K[53] + w[53]);
    s = rnd(s, K[54] + w[54]);
    s = rnd(s, K[55] + w[55]);
    s = rnd(s, K[56] + w[56]);
    s = rnd(s, K[57] + w[57]);
    s = rnd(s, K[58] + w[58]);
    s = rnd(s, K[59] + w[59]);
    s = rnd(s, K[60] + w[60]);
    return Second(s, w[61], w[62], w[63]);
}

// Rounds 61..63 and the feed-forward: the final hash state.
fn second_hash_finish(p: Second) -> Sha {
    var s = p.s;
    s = rnd(s, K[61] + p.w61);
    s = rnd(s, K[62] + p.w62);
    s = rnd(s, K[63] + p.w63);
    return Sha(s.abcd + vec4<u32>(IV[0], IV[1], IV[2], IV[3]), s.efgh + vec4<u32>(IV[4], IV[5], IV[6], IV[7]));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn sha256d_search(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let first = first_offset(wg, nwg, lid);
    if (first >= dispatch.count) {
        return;
    }
    let n = min(NONCES_PER_THREAD, dispatch.count - first);
    let mid = Sha(job.state[0], job.state[1]);
    let tail = job.tail.xyz;
    var pre = mid;
    pre = rnd(pre, K[0] + tail.x);
    pre = rnd(pre, K[1] + tail.y);
    pre = rnd(pre, K[2] + tail.z);
    let top = job.target_le[1].w;
    for (var i = 0u; i < n; i++) {
        let nonce = dispatch.base_nonce + first + i;
        let p = second_hash_to_60(first_hash(pre, mid, tail, bswap(nonce)));
        // Final H7 = IV7 + e after round 60.
        if (bswap(IV[7] + p.s.efgh.x) <= top) {
            let h = second_hash_finish(p);
            let le = array<u32, 8>(bswap(h.abcd.x), bswap(h.abcd.y), bswap(h.abcd.z), bswap(h.abcd.w),
                                   bswap(h.efgh.x), bswap(h.efgh.y), bswap(h.efgh.z), bswap(h.efgh.w));
            if (meets_target(le)) {
                record_hit(nonce);
            }
        }
    }
}
