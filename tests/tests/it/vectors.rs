//! Known-answer vectors (tests/vectors/*.json) through every backend: the
//! reference, every CPU kernel this machine has, and the GPU.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use cinder_engine::gpu::{GpuBackend, GpuOptions, TuneMode, Tuning, skip_or_fail};
use cinder_engine::hash::blake3::{self as b3, CompressInput, Hasher};
use cinder_engine::pow::{Algo, Backend, CpuBackend, Header, Isa, NonceRange, PowJob, SearchControl, Target};
use cinder_tests::{VECTOR_FILES, load, unhex, vectors_dir};

fn gpu() -> Option<&'static GpuBackend> {
    static G: OnceLock<Result<GpuBackend, String>> = OnceLock::new();
    let r = G.get_or_init(|| {
        let opts = GpuOptions { tune: TuneMode::Fixed(Tuning::UNTUNED), hit_capacity: 16, ..GpuOptions::default() };
        GpuBackend::new(&opts, false).map_err(|e| e.to_string())
    });
    match r {
        Ok(g) => Some(g),
        Err(e) => {
            skip_or_fail(format!("no GPU adapter: {e}"));
            None
        }
    }
}

/// Every backend: reference, each CPU kernel, and the GPU when present.
fn backends(algo: Algo) -> Vec<(String, Backend)> {
    let mut v = vec![("reference".to_string(), Backend::Reference)];
    for isa in Isa::available(algo) {
        v.push((format!("cpu/{isa}"), Backend::Cpu(CpuBackend::new(Some(2), Some(isa)).unwrap())));
    }
    v
}

fn search_all(job: &PowJob, range: NonceRange) -> Vec<(String, Vec<(u32, String)>)> {
    let summarize = |r: cinder_engine::pow::SearchReport| -> Vec<(u32, String)> {
        assert!(r.completed);
        assert_eq!(r.hashes, range.count());
        r.hits.iter().map(|h| (h.nonce, h.hash.to_display_hex())).collect()
    };
    let mut out: Vec<(String, Vec<(u32, String)>)> = backends(job.algo)
        .into_iter()
        .map(|(name, b)| (name, summarize(b.search(job, range, &SearchControl::new()).unwrap())))
        .collect();
    if let Some(g) = gpu() {
        out.push(("gpu".into(), summarize(g.search(job, range, &SearchControl::new()).unwrap())));
    }
    out
}

#[test]
fn every_vector_file_is_listed_and_used() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = VECTOR_FILES.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(on_disk, listed, "tests/vectors/ and VECTOR_FILES disagree");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    for (file, test) in VECTOR_FILES {
        let (module, name) = test.split_once("::").unwrap();
        let src = std::fs::read_to_string(dir.join(format!("{module}.rs"))).unwrap();
        assert!(src.contains(&format!("fn {name}()")), "{file}: test {test} does not exist");
        assert!(src.contains(&format!("load(\"{file}\")")), "{file} is never loaded by {module}.rs");
    }
}

#[test]
fn bitcoin_headers_on_every_backend() {
    let v = load("bitcoin_headers.json");
    let rows = v["headers"].as_array().unwrap();
    assert!(rows.len() >= 5);
    for row in rows {
        let header = Header::from_hex(row["header"].as_str().unwrap()).unwrap();
        let nonce = u32::try_from(row["nonce"].as_u64().unwrap()).unwrap();
        let hash = row["hash"].as_str().unwrap();
        assert_eq!(header.nonce(), nonce);
        assert_eq!(format!("0x{:08x}", header.bits()), row["bits"].as_str().unwrap());
        assert_eq!(Algo::Sha256d.hash(&header).to_display_hex(), hash);
        let job = PowJob::from_header_bits(Algo::Sha256d, header).unwrap();
        let start = nonce.saturating_sub(30_000);
        let range = NonceRange::new(start, 60_000.min((1u64 << 32) - u64::from(start))).unwrap();
        for (name, hits) in search_all(&job, range) {
            assert_eq!(hits, vec![(nonce, hash.to_string())], "height {} on {name}", row["height"]);
        }
    }
}

#[test]
fn blake3_pow_hashes_on_every_backend() {
    let v = load("blake3_pow_headers.json");
    for case in v["cases"].as_array().unwrap() {
        let header = Header::from_slice(&unhex("header", case["header"].as_str().unwrap())).unwrap();
        let hash = case["hash"].as_str().unwrap();
        let display = case["display"].as_str().unwrap();
        let got = Algo::Blake3.hash(&header);
        assert_eq!(got.to_hex(), hash);
        assert_eq!(got.to_display_hex(), display);
        // With the target equal to the hash, the header's own nonce hits (<=) and
        // every backend must report it with this hash.
        let mut le = [0u8; 32];
        le.copy_from_slice(&unhex("hash", hash));
        let job = PowJob::new(Algo::Blake3, header, Target::from_le_bytes(le));
        let range = NonceRange::new(header.nonce(), 1).unwrap();
        for (name, hits) in search_all(&job, range) {
            assert_eq!(hits, vec![(header.nonce(), display.to_string())], "{name}");
        }
    }
}

#[test]
fn easy_target_searches_on_every_backend() {
    let v = load("pow_search.json");
    for case in v["cases"].as_array().unwrap() {
        let algo: Algo = case["algo"].as_str().unwrap().parse().unwrap();
        let header = Header::from_slice(&unhex("header", case["header"].as_str().unwrap())).unwrap();
        let target = Target::from_be_hex(case["target"].as_str().unwrap()).unwrap();
        let start = u32::try_from(case["start"].as_u64().unwrap()).unwrap();
        let range = NonceRange::new(start, case["count"].as_u64().unwrap()).unwrap();
        let want: Vec<u32> =
            case["hits"].as_array().unwrap().iter().map(|n| u32::try_from(n.as_u64().unwrap()).unwrap()).collect();
        assert!(!want.is_empty());
        let job = PowJob::new(algo, header, target);
        for (name, hits) in search_all(&job, range) {
            assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), want, "{algo} on {name}");
        }
    }
}

/// BLAKE3 in `mode` (0 hash, 1 keyed, 2 derive key) over `compress`.
fn blake3_mode(
    mode: u8,
    compress: &mut dyn FnMut(&CompressInput) -> [u32; 16],
    key: &[u8; 32],
    context: &str,
    input: &[u8],
    out: &mut [u8],
) {
    let mut h = match mode {
        0 => Hasher::new(compress),
        1 => Hasher::new_keyed(compress, key),
        _ => Hasher::new_derive_key(compress, context),
    };
    h.update(input);
    h.finalize(out);
}

/// Hashes every official case with the engine's reference tree hasher over a
/// recording compression; checks the outputs (extended and 32-byte); returns
/// every compression made.
fn official_cases_recorded() -> Vec<(CompressInput, [u32; 16])> {
    let v = load("blake3_official.json");
    let key: [u8; 32] = v["key"].as_str().unwrap().as_bytes().try_into().unwrap();
    let context = v["context_string"].as_str().unwrap();
    let mut log = Vec::new();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 22);
    for case in cases {
        let len = usize::try_from(case["input_len"].as_u64().unwrap()).unwrap();
        let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        for (mode, field) in [(0u8, "hash"), (1, "keyed_hash"), (2, "derive_key")] {
            let want = unhex(field, case[field].as_str().unwrap());
            let mut out = vec![0u8; want.len()];
            let mut rec = |i: &CompressInput| {
                let o = b3::compress(i);
                log.push((*i, o));
                o
            };
            blake3_mode(mode, &mut rec, &key, context, &input, &mut out);
            assert_eq!(hex::encode(&out), hex::encode(&want), "{field} of {len} bytes");
            let mut short = [0u8; 32];
            blake3_mode(mode, &mut b3::compress, &key, context, &input, &mut short);
            assert_eq!(short.as_slice(), &want[..32], "{field} of {len} bytes, 32-byte output");
        }
    }
    log
}

#[test]
fn official_blake3_vectors_on_every_compression() {
    let log = official_cases_recorded();
    assert!(log.len() > 3000, "recorded {} compressions", log.len());
    let inputs: Vec<CompressInput> = log.iter().map(|(i, _)| *i).collect();
    let want: Vec<[u32; 16]> = log.iter().map(|(_, o)| *o).collect();
    for isa in Isa::available(Algo::Blake3) {
        let got = cinder_engine::pow::cpu::blake3_compress_many(isa, &inputs).unwrap();
        assert!(got == want, "the {isa} compression disagrees with the official vectors");
    }
    if let Some(g) = gpu() {
        for dev in g.devices() {
            let got = dev.blake3_compress_many(&inputs).unwrap();
            assert!(got == want, "the WGSL compression on {} disagrees with the official vectors", dev.summary().name);
        }
    }
}
