// BLAKE3 (hash and derive-key modes, 32-byte output), written from the
// specification (https://github.com/BLAKE3-team/BLAKE3-specs), for checking
// state proofs in the browser. Checked against the Rust `blake3` crate by
// cli_it's explorer test (lengths across chunk and tree boundaries).

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
const CHUNK_START = 1, CHUNK_END = 2, PARENT = 4, ROOT = 8, DERIVE_KEY_CONTEXT = 32, DERIVE_KEY_MATERIAL = 64;
const CHUNK_LEN = 1024, BLOCK_LEN = 64;

const rotr = (x, n) => (x >>> n) | (x << (32 - n));

function g(s, a, b, c, d, x, y) {
  s[a] = (s[a] + s[b] + x) | 0; s[d] = rotr(s[d] ^ s[a], 16);
  s[c] = (s[c] + s[d]) | 0; s[b] = rotr(s[b] ^ s[c], 12);
  s[a] = (s[a] + s[b] + y) | 0; s[d] = rotr(s[d] ^ s[a], 8);
  s[c] = (s[c] + s[d]) | 0; s[b] = rotr(s[b] ^ s[c], 7);
}

// The compression function: 16 words of output.
function compress(cv, m, counter, len, flags) {
  const s = new Uint32Array(16);
  s.set(cv, 0); s.set(IV.subarray(0, 4), 8);
  s[12] = counter % 0x100000000; s[13] = Math.floor(counter / 0x100000000); s[14] = len; s[15] = flags;
  let w = Uint32Array.from(m);
  for (let r = 0; r < 7; r++) {
    g(s, 0, 4, 8, 12, w[0], w[1]); g(s, 1, 5, 9, 13, w[2], w[3]);
    g(s, 2, 6, 10, 14, w[4], w[5]); g(s, 3, 7, 11, 15, w[6], w[7]);
    g(s, 0, 5, 10, 15, w[8], w[9]); g(s, 1, 6, 11, 12, w[10], w[11]);
    g(s, 2, 7, 8, 13, w[12], w[13]); g(s, 3, 4, 9, 14, w[14], w[15]);
    w = Uint32Array.from(PERM, (p) => w[p]);
  }
  for (let i = 0; i < 8; i++) { s[i] ^= s[i + 8]; s[i + 8] ^= cv[i]; }
  return s;
}

function words(bytes) {
  const m = new Uint32Array(16);
  for (let i = 0; i < bytes.length; i++) m[i >> 2] |= bytes[i] << (8 * (i & 3));
  return m;
}

// A compression not yet run: as a chaining value, or with ROOT as output.
class Output {
  constructor(cv, m, counter, len, flags) { Object.assign(this, { cv, m, counter, len, flags }); }
  chainingValue() { return compress(this.cv, this.m, this.counter, this.len, this.flags).subarray(0, 8); }
  root() {
    const s = compress(this.cv, this.m, 0, this.len, this.flags | ROOT);
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = (s[i >> 2] >>> (8 * (i & 3))) & 0xff;
    return out;
  }
}

function chunkOutput(key, chunk, index, flags) {
  let cv = key;
  const blocks = Math.max(1, Math.ceil(chunk.length / BLOCK_LEN));
  for (let b = 0; b < blocks; b++) {
    const block = chunk.subarray(b * BLOCK_LEN, (b + 1) * BLOCK_LEN);
    const f = flags | (b === 0 ? CHUNK_START : 0) | (b === blocks - 1 ? CHUNK_END : 0);
    if (b === blocks - 1) return new Output(cv, words(block), index, block.length, f);
    cv = compress(cv, words(block), index, BLOCK_LEN, f).subarray(0, 8);
  }
}

// The subtree over chunks [lo, hi): the left side takes the largest power
// of two of chunks that leaves at least one for the right.
function subtree(key, input, lo, hi, flags) {
  if (hi - lo === 1) return chunkOutput(key, input.subarray(lo * CHUNK_LEN, hi * CHUNK_LEN), lo, flags);
  let left = 1;
  while (left * 2 < hi - lo) left *= 2;
  const m = new Uint32Array(16);
  m.set(subtree(key, input, lo, lo + left, flags).chainingValue(), 0);
  m.set(subtree(key, input, lo + left, hi, flags).chainingValue(), 8);
  return new Output(key, m, 0, BLOCK_LEN, flags | PARENT);
}

function hashWith(key, input, flags) {
  const chunks = Math.max(1, Math.ceil(input.length / CHUNK_LEN));
  return subtree(key, input, 0, chunks, flags).root();
}

/** BLAKE3 of `input` (a Uint8Array): 32 bytes. */
export function blake3(input) {
  return hashWith(IV, input, 0);
}

/** BLAKE3 in derive-key mode: `context` a string, `material` bytes. */
export function deriveKey(context, material) {
  const ctxKey = hashWith(IV, new TextEncoder().encode(context), DERIVE_KEY_CONTEXT);
  return hashWith(words(ctxKey).subarray(0, 8), material, DERIVE_KEY_MATERIAL);
}
