//! BLAKE3 compression, portable, and a small readable tree hasher on top of
//! any compression function.
//!
//! The compression is the oracle for the SIMD lanes kernels and the CPU twin
//! of `shaders/blake3.wgsl`. [`Hasher`] follows the BLAKE3 paper's reference
//! implementation and takes the compression function as a parameter, so the
//! official test vectors can check every implementation of the compression
//! (portable, SIMD, GPU): hash each vector with a recording compression, then
//! replay the recorded calls through the implementation under test.

/// BLAKE3's IV (SHA-256's).
pub const IV: [u32; 8] = crate::hash::sha256::IV;

/// Flag: first block of a chunk.
pub const CHUNK_START: u32 = 1 << 0;
/// Flag: last block of a chunk.
pub const CHUNK_END: u32 = 1 << 1;
/// Flag: parent node.
pub const PARENT: u32 = 1 << 2;
/// Flag: root output.
pub const ROOT: u32 = 1 << 3;
/// Flag: keyed hashing.
pub const KEYED_HASH: u32 = 1 << 4;
/// Flag: key derivation, context pass.
pub const DERIVE_KEY_CONTEXT: u32 = 1 << 5;
/// Flag: key derivation, material pass.
pub const DERIVE_KEY_MATERIAL: u32 = 1 << 6;

/// Block size in bytes.
pub const BLOCK_LEN: usize = 64;
/// Chunk size in bytes.
pub const CHUNK_LEN: usize = 1024;

/// The message word order of each of the seven rounds (the permutation
/// applied repeatedly).
pub const MSG_SCHEDULE: [[usize; 16]; 7] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8],
    [3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1],
    [10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6],
    [12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4],
    [9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7],
    [11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13],
];

/// The inputs of one compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressInput {
    /// Input chaining value (or key words).
    pub cv: [u32; 8],
    /// Message block as 16 little-endian words.
    pub block: [u32; 16],
    /// Chunk counter (or output block counter).
    pub counter: u64,
    /// Bytes of `block` in use (0..=64).
    pub block_len: u32,
    /// Domain flags.
    pub flags: u32,
}

#[inline(always)]
fn g(v: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, mx: u32, my: u32) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(mx);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(12);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(my);
    v[d] = (v[d] ^ v[a]).rotate_right(8);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(7);
}

/// The BLAKE3 compression function; returns all 16 output words (the first 8
/// are the next chaining value; all 16 are extended output).
pub fn compress(input: &CompressInput) -> [u32; 16] {
    let cv = &input.cv;
    let m = &input.block;
    let (counter_lo, counter_hi) = super::split_u64(input.counter);
    let mut v = [
        cv[0],
        cv[1],
        cv[2],
        cv[3],
        cv[4],
        cv[5],
        cv[6],
        cv[7],
        IV[0],
        IV[1],
        IV[2],
        IV[3],
        counter_lo,
        counter_hi,
        input.block_len,
        input.flags,
    ];
    for s in &MSG_SCHEDULE {
        g(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
        g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        g(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
        g(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
        g(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
        g(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    let mut out = [0u32; 16];
    for i in 0..8 {
        out[i] = v[i] ^ v[i + 8];
        out[i + 8] = v[i + 8] ^ cv[i];
    }
    out
}

/// Reads up to 64 bytes as 16 little-endian words, zero padded.
pub fn block_words(bytes: &[u8]) -> [u32; 16] {
    let mut padded = [0u8; BLOCK_LEN];
    padded[..bytes.len()].copy_from_slice(bytes);
    let mut w = [0u32; 16];
    for (w, c) in w.iter_mut().zip(padded.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    w
}

/// Reads 32 bytes as 8 little-endian words.
pub fn key_words(key: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (w, c) in w.iter_mut().zip(key.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    w
}

fn first8(words: &[u32; 16]) -> [u32; 8] {
    let mut out = [0u32; 8];
    out.copy_from_slice(&words[..8]);
    out
}

/// Something that can be squeezed for output: the last compression's inputs.
#[derive(Clone, Copy)]
struct Output {
    cv: [u32; 8],
    block: [u32; 16],
    counter: u64,
    block_len: u32,
    flags: u32,
}

impl Output {
    fn chaining_value<C: FnMut(&CompressInput) -> [u32; 16]>(&self, compress: &mut C) -> [u32; 8] {
        first8(&compress(&CompressInput {
            cv: self.cv,
            block: self.block,
            counter: self.counter,
            block_len: self.block_len,
            flags: self.flags,
        }))
    }

    fn root_bytes<C: FnMut(&CompressInput) -> [u32; 16]>(&self, compress: &mut C, out: &mut [u8]) {
        for (block_counter, out_block) in out.chunks_mut(2 * 32).enumerate() {
            let words = compress(&CompressInput {
                cv: self.cv,
                block: self.block,
                counter: block_counter as u64,
                block_len: self.block_len,
                flags: self.flags | ROOT,
            });
            for (word, dst) in words.iter().zip(out_block.chunks_mut(4)) {
                dst.copy_from_slice(&word.to_le_bytes()[..dst.len()]);
            }
        }
    }
}

struct ChunkState {
    cv: [u32; 8],
    chunk_counter: u64,
    block: [u8; BLOCK_LEN],
    block_len: usize,
    blocks_compressed: usize,
    flags: u32,
}

impl ChunkState {
    fn new(key: [u32; 8], chunk_counter: u64, flags: u32) -> Self {
        ChunkState { cv: key, chunk_counter, block: [0; BLOCK_LEN], block_len: 0, blocks_compressed: 0, flags }
    }

    fn len(&self) -> usize {
        BLOCK_LEN * self.blocks_compressed + self.block_len
    }

    fn start_flag(&self) -> u32 {
        if self.blocks_compressed == 0 { CHUNK_START } else { 0 }
    }

    fn update<C: FnMut(&CompressInput) -> [u32; 16]>(&mut self, compress: &mut C, mut input: &[u8]) {
        while !input.is_empty() {
            if self.block_len == BLOCK_LEN {
                self.cv = first8(&compress(&CompressInput {
                    cv: self.cv,
                    block: block_words(&self.block),
                    counter: self.chunk_counter,
                    block_len: super::block_len_u32(BLOCK_LEN),
                    flags: self.flags | self.start_flag(),
                }));
                self.blocks_compressed += 1;
                self.block = [0; BLOCK_LEN];
                self.block_len = 0;
            }
            let take = (BLOCK_LEN - self.block_len).min(input.len());
            self.block[self.block_len..self.block_len + take].copy_from_slice(&input[..take]);
            self.block_len += take;
            input = &input[take..];
        }
    }

    fn output(&self) -> Output {
        Output {
            cv: self.cv,
            block: block_words(&self.block[..self.block_len]),
            counter: self.chunk_counter,
            block_len: super::block_len_u32(self.block_len),
            flags: self.flags | self.start_flag() | CHUNK_END,
        }
    }
}

fn parent_output(left: [u32; 8], right: [u32; 8], key: [u32; 8], flags: u32) -> Output {
    let mut block = [0u32; 16];
    block[..8].copy_from_slice(&left);
    block[8..].copy_from_slice(&right);
    Output { cv: key, block, counter: 0, block_len: super::block_len_u32(BLOCK_LEN), flags: PARENT | flags }
}

/// BLAKE3 over a caller-supplied compression function (the reference
/// algorithm: chunk states and a stack of subtree chaining values).
pub struct Hasher<C> {
    compress: C,
    chunk: ChunkState,
    key: [u32; 8],
    cv_stack: Vec<[u32; 8]>,
    flags: u32,
}

impl<C: FnMut(&CompressInput) -> [u32; 16]> Hasher<C> {
    fn with_key_flags(compress: C, key: [u32; 8], flags: u32) -> Self {
        Hasher { compress, chunk: ChunkState::new(key, 0, flags), key, cv_stack: Vec::new(), flags }
    }

    /// Default hashing mode.
    pub fn new(compress: C) -> Self {
        Self::with_key_flags(compress, IV, 0)
    }

    /// Keyed hashing mode.
    pub fn new_keyed(compress: C, key: &[u8; 32]) -> Self {
        Self::with_key_flags(compress, key_words(key), KEYED_HASH)
    }

    /// Key derivation mode: hashes `context` first, then hashes key material
    /// keyed by that.
    pub fn new_derive_key(mut compress: C, context: &str) -> Self {
        let mut ctx = Hasher::with_key_flags(&mut compress, IV, DERIVE_KEY_CONTEXT);
        ctx.update(context.as_bytes());
        let mut key = [0u8; 32];
        ctx.finalize(&mut key);
        Self::with_key_flags(compress, key_words(&key), DERIVE_KEY_MATERIAL)
    }

    fn add_chunk_cv(&mut self, mut new_cv: [u32; 8], mut total_chunks: u64) {
        while total_chunks & 1 == 0 {
            let Some(left) = self.cv_stack.pop() else { break };
            new_cv = parent_output(left, new_cv, self.key, self.flags).chaining_value(&mut self.compress);
            total_chunks >>= 1;
        }
        self.cv_stack.push(new_cv);
    }

    /// Absorbs input.
    pub fn update(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            if self.chunk.len() == CHUNK_LEN {
                let cv = self.chunk.output().chaining_value(&mut self.compress);
                let total = self.chunk.chunk_counter + 1;
                self.add_chunk_cv(cv, total);
                self.chunk = ChunkState::new(self.key, total, self.flags);
            }
            let take = (CHUNK_LEN - self.chunk.len()).min(input.len());
            let compress = &mut self.compress;
            self.chunk.update(compress, &input[..take]);
            input = &input[take..];
        }
    }

    /// Writes `out.len()` bytes of (extended) output.
    pub fn finalize(&mut self, out: &mut [u8]) {
        let mut output = self.chunk.output();
        for left in self.cv_stack.iter().rev() {
            let right = output.chaining_value(&mut self.compress);
            output = parent_output(*left, right, self.key, self.flags);
        }
        output.root_bytes(&mut self.compress, out);
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, reason = "test inputs")]
mod tests {
    use super::*;

    #[test]
    fn tree_hasher_matches_blake3_crate_around_chunk_boundaries() {
        for len in [0usize, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3 * 1024 + 7, 8 * 1024 + 1] {
            let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut ours = [0u8; 100];
            let mut h = Hasher::new(compress_ref);
            h.update(&input);
            h.finalize(&mut ours);
            let mut theirs = [0u8; 100];
            blake3::Hasher::new().update(&input).finalize_xof().fill(&mut theirs);
            assert_eq!(ours, theirs, "len {len}");
        }
    }

    fn compress_ref(i: &CompressInput) -> [u32; 16] {
        compress(i)
    }
}
