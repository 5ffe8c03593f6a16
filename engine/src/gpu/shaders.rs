//! The WGSL sources, joined from the files in `shaders/` at compile time.

/// A compute pipeline's source and entry point.
#[derive(Clone, Copy, Debug)]
pub struct ShaderSource {
    /// Label (also the module's name in errors).
    pub name: &'static str,
    /// Full WGSL text.
    pub wgsl: &'static str,
    /// Compute entry point.
    pub entry: &'static str,
}

/// sha256d search: `pow_common.wgsl` + `sha256d.wgsl`.
pub const SHA256D: ShaderSource = ShaderSource {
    name: "sha256d",
    wgsl: concat!(include_str!("../../../shaders/pow_common.wgsl"), include_str!("../../../shaders/sha256d.wgsl")),
    entry: "sha256d_search",
};

/// BLAKE3 search: `pow_common.wgsl` + `blake3.wgsl` + `blake3_pow.wgsl`.
pub const BLAKE3: ShaderSource = ShaderSource {
    name: "blake3",
    wgsl: concat!(
        include_str!("../../../shaders/pow_common.wgsl"),
        include_str!("../../../shaders/blake3.wgsl"),
        include_str!("../../../shaders/blake3_pow.wgsl")
    ),
    entry: "blake3_search",
};

/// BLAKE3 known-answer kernel: `blake3.wgsl` + `blake3_kat.wgsl`.
pub const BLAKE3_KAT: ShaderSource = ShaderSource {
    name: "blake3_kat",
    wgsl: concat!(include_str!("../../../shaders/blake3.wgsl"), include_str!("../../../shaders/blake3_kat.wgsl")),
    entry: "blake3_compress_many",
};

/// One level of a BLAKE3 Merkle tree: `blake3.wgsl` + `merkle.wgsl`.
pub const MERKLE: ShaderSource = ShaderSource {
    name: "merkle",
    wgsl: concat!(include_str!("../../../shaders/blake3.wgsl"), include_str!("../../../shaders/merkle.wgsl")),
    entry: "merkle_level",
};

/// Every pipeline source (the naga validation test walks this).
pub const ALL: [ShaderSource; 4] = [SHA256D, BLAKE3, BLAKE3_KAT, MERKLE];

/// The search shader of an algorithm.
pub fn for_algo(algo: crate::pow::Algo) -> ShaderSource {
    match algo {
        crate::pow::Algo::Sha256d => SHA256D,
        crate::pow::Algo::Blake3 => BLAKE3,
    }
}

/// A short hash of a shader's text: part of the tune cache key, so a changed
/// shader is re-tuned.
pub fn fingerprint(src: &ShaderSource) -> String {
    blake3::hash(src.wgsl.as_bytes()).to_hex()[..16].to_string()
}
