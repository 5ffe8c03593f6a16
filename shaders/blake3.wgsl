// The BLAKE3 compression function. Shared by the PoW kernel (blake3_pow.wgsl)
// and the known-answer kernel (blake3_kat.wgsl) that the official BLAKE3 test
// vectors drive.
//
// CPU twin: engine/src/hash/blake3.rs (`compress`) and the lanes version in
// engine/src/hash/lanes.rs (`b3_compress`).
//
// The 16-word state is kept as four rows (v0..3, v4..7, v8..11, v12..15), so
// the four column G functions of a round are one vector G, and the diagonal
// step is the same after rotating rows 1..3. GPUs are scalar: the vectors are
// only notation, the compiler sees the same 8 G functions per round.

const B3_IV = vec4<u32>(0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au);
const B3_IV_HI = vec4<u32>(0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u);

const B3_CHUNK_START = 1u;
const B3_CHUNK_END = 2u;
const B3_ROOT = 8u;

struct B3State {
    r0: vec4<u32>,
    r1: vec4<u32>,
    r2: vec4<u32>,
    r3: vec4<u32>,
}

// The 16 message words as four vectors (m0..3, m4..7, m8..11, m12..15).
struct B3Msg {
    q0: vec4<u32>,
    q1: vec4<u32>,
    q2: vec4<u32>,
    q3: vec4<u32>,
}

fn rotr4(v: vec4<u32>, n: u32) -> vec4<u32> {
    return (v >> vec4<u32>(n)) | (v << vec4<u32>(32u - n));
}

// Four G functions at once, one per lane.
fn g4(s: B3State, mx: vec4<u32>, my: vec4<u32>) -> B3State {
    var a = s.r0 + s.r1 + mx;
    var d = rotr4(s.r3 ^ a, 16u);
    var c = s.r2 + d;
    var b = rotr4(s.r1 ^ c, 12u);
    a = a + b + my;
    d = rotr4(d ^ a, 8u);
    c = c + d;
    b = rotr4(b ^ c, 7u);
    return B3State(a, b, c, d);
}

fn b3_round(s: B3State, m: B3Msg) -> B3State {
    // Columns: G(0,4,8,12) G(1,5,9,13) G(2,6,10,14) G(3,7,11,15) with m0..m7.
    var t = g4(s, vec4<u32>(m.q0.x, m.q0.z, m.q1.x, m.q1.z), vec4<u32>(m.q0.y, m.q0.w, m.q1.y, m.q1.w));
    // Diagonals: G(0,5,10,15) G(1,6,11,12) G(2,7,8,13) G(3,4,9,14) with m8..m15.
    t = B3State(t.r0, t.r1.yzwx, t.r2.zwxy, t.r3.wxyz);
    t = g4(t, vec4<u32>(m.q2.x, m.q2.z, m.q3.x, m.q3.z), vec4<u32>(m.q2.y, m.q2.w, m.q3.y, m.q3.w));
    return B3State(t.r0, t.r1.wxyz, t.r2.zwxy, t.r3.yzwx);
}

// BLAKE3's message permutation [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8].
fn b3_permute(m: B3Msg) -> B3Msg {
    return B3Msg(
        vec4<u32>(m.q0.z, m.q1.z, m.q0.w, m.q2.z),
        vec4<u32>(m.q1.w, m.q0.x, m.q1.x, m.q3.y),
        vec4<u32>(m.q0.y, m.q2.w, m.q3.x, m.q1.y),
        vec4<u32>(m.q2.y, m.q3.z, m.q3.w, m.q2.x),
    );
}

// The state after the seven rounds (before the output feed-forward).
// `params_row` is (counter_lo, counter_hi, block_len, flags).
fn b3_rounds(cv0: vec4<u32>, cv1: vec4<u32>, m0: B3Msg, params_row: vec4<u32>) -> B3State {
    var s = B3State(cv0, cv1, B3_IV, params_row);
    var m = m0;
    s = b3_round(s, m);
    m = b3_permute(m);
    s = b3_round(s, m);
    m = b3_permute(m);
    s = b3_round(s, m);
    m = b3_permute(m);
    s = b3_round(s, m);
    m = b3_permute(m);
    s = b3_round(s, m);
    m = b3_permute(m);
    s = b3_round(s, m);
    m = b3_permute(m);
    s = b3_round(s, m);
    return s;
}

// All 16 output words: [0..8] the chaining value / hash, [8..16] extended output.
fn b3_compress(cv0: vec4<u32>, cv1: vec4<u32>, m: B3Msg, params_row: vec4<u32>) -> B3State {
    let s = b3_rounds(cv0, cv1, m, params_row);
    return B3State(s.r0 ^ s.r2, s.r1 ^ s.r3, s.r2 ^ cv0, s.r3 ^ cv1);
}
