//! The stable mutation runner CI runs (docs/testing.md): for each target,
//! its seeds and committed corpus (`fuzz/corpus/<target>/`), then random
//! mutations of them for `CINDER_FUZZ_MS` milliseconds (default 1,500)
//! from seed `CINDER_FUZZ_SEED` (default: fixed, so a failure repeats).
//! An input that panics or makes the process hold more than
//! [`ALLOC_LIMIT`] bytes at once fails the test; it is written to
//! `$CARGO_TARGET_DIR/fuzz-failures/<target>-<hash>` and printed in hex.
//!
//! `CINDER_FUZZ_WRITE_SEEDS=1` writes the seeds into the corpus folders
//! (how the committed corpus was made).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The most bytes one input may make the process hold at once (above what
/// it held before): inputs are at most 64 KiB, so anything near this is a
/// length prefix trusted before the bytes behind it were.
const ALLOC_LIMIT: usize = 64 << 20;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        if n == 0 { 0 } else { usize::try_from(self.next() % n64).unwrap_or(0) }
    }
    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// One random change (or a few): bit flips, bytes set, inserted,
/// removed or repeated, a little-endian length overwritten with a value at
/// an edge, a splice with another input, a cut.
fn mutate(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = v.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.byte();
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                v.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let part = v[i..i + n].to_vec();
                v.splice(i..i, part);
            }
            5 if len >= 4 => {
                let i = rng.below(len - 3);
                let edges = [
                    0u32,
                    1,
                    2,
                    0x7f,
                    0x80,
                    0xff,
                    0x100,
                    0xffff,
                    0x1_0000,
                    0x7fff_ffff,
                    u32::MAX,
                    u32::try_from(len).unwrap_or(u32::MAX),
                ];
                let x = edges[rng.below(edges.len())];
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            6 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            7 if len > 0 => {
                v.truncate(rng.below(len));
            }
            _ => {
                let i = rng.below(len + 1);
                v.insert(i, [0u8, 1, 0xff][rng.below(3)]);
            }
        }
    }
    v.truncate(64 << 10);
    v
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

fn failure_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("fuzz-failures")
}

/// Runs `f` on `input`: a panic or an allocation past the limit is an
/// error with the input saved.
fn check(name: &str, f: cinder_fuzz::Target, input: &[u8]) -> Result<(), String> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = std::panic::catch_unwind(|| f(input));
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let why = match r {
        Err(e) => Some(
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into()),
        ),
        Ok(()) if peak > ALLOC_LIMIT => Some(format!("held {peak} bytes at once (limit {ALLOC_LIMIT})")),
        Ok(()) => None,
    };
    match why {
        None => Ok(()),
        Some(why) => {
            let dir = failure_dir();
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{name}-{}", &blake3::hash(input).to_hex()[..16]));
            let _ = std::fs::write(&path, input);
            Err(format!(
                "{name}: {why}\n  input ({} bytes, saved to {}): {}",
                input.len(),
                path.display(),
                hex::encode(input)
            ))
        }
    }
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let budget =
        Duration::from_millis(std::env::var("CINDER_FUZZ_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_500));
    let seed = std::env::var("CINDER_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x00c1_d3e5);
    let write = std::env::var_os("CINDER_FUZZ_WRITE_SEEDS").is_some();
    // Quiet panics: each is caught and reported with its input.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for (name, f) in cinder_fuzz::TARGETS {
        let seeds = cinder_fuzz::seeds(name);
        assert!(!seeds.is_empty(), "{name} has no seeds");
        let dir = corpus_dir(name);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            for s in &seeds {
                std::fs::write(dir.join(&blake3::hash(s).to_hex()[..16]), s).unwrap();
            }
        }
        let mut pool = seeds;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for p in files {
                pool.push(std::fs::read(&p).unwrap());
            }
        }
        for input in &pool {
            if let Err(e) = check(name, *f, input) {
                failures.push(e);
            }
        }
        let mut rng = Rng(seed ^ blake3::hash(name.as_bytes()).as_bytes()[0] as u64);
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget && failures.len() < 10 {
            let base = &pool[rng.below(pool.len())];
            let input = mutate(&mut rng, base, &pool);
            if let Err(e) = check(name, *f, &input) {
                failures.push(e);
            }
            n += 1;
        }
        report.push(format!("{name}: {} corpus inputs, {n} mutations in {:?}", pool.len(), start.elapsed()));
    }
    let _ = std::panic::take_hook();
    for r in &report {
        eprintln!("{r}");
    }
    assert!(failures.is_empty(), "{} failing inputs:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_mutator_changes_inputs_and_the_checker_catches_panics() {
    let mut rng = Rng(1);
    let seed = vec![1u8, 2, 3, 4, 5, 6, 7, 8];
    let changed = (0..100).filter(|_| mutate(&mut rng, &seed, &[]) != seed).count();
    assert!(changed > 90, "{changed}");
    fn boom(d: &[u8]) {
        assert!(d.is_empty(), "not empty");
    }
    std::panic::set_hook(Box::new(|_| {}));
    let e = check("boom", boom, &[1]).unwrap_err();
    let _ = std::panic::take_hook();
    assert!(e.contains("not empty") && e.contains("01"), "{e}");
    fn hog(_: &[u8]) {
        let v = vec![0u8; 100 << 20];
        std::hint::black_box(&v);
    }
    let e = check("hog", hog, &[]).unwrap_err();
    assert!(e.contains("held"), "{e}");
}
