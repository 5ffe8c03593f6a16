//! Command-line tests of `cinder-miner`, run as a child process.

#![allow(clippy::cast_possible_truncation, reason = "test data is built with narrowing casts")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
const GENESIS_HASH: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";

/// A scratch directory per test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinder-miner-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the miner with a private tune cache and no inherited overrides.
fn miner(args: &[&str], cache: &Path, envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cinder-miner"));
    c.args(args)
        .env("CINDER_TUNE_CACHE", cache)
        .env_remove("CINDER_HIDE_GPU")
        .env_remove("CINDER_CPU_ISA")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr without the Mesa loader's XDG_RUNTIME_DIR notices.
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| !l.contains("XDG_RUNTIME_DIR")).collect::<Vec<_>>().join("\n")
}

/// Whether a GPU adapter exists; otherwise skip, or fail under CINDER_REQUIRE_GPU.
fn have_gpu(cache: &Path) -> bool {
    let o = miner(&["devices", "--json"], cache, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    if v["gpus"].as_array().unwrap().is_empty() {
        let required = std::env::var("CINDER_REQUIRE_GPU").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "CINDER_REQUIRE_GPU is set but cinder-miner devices lists no adapter");
        eprintln!("SKIPPED: no GPU adapter");
        return false;
    }
    true
}

fn search_genesis(backend: &str, cache: &Path) -> serde_json::Value {
    let o = miner(
        &[
            "search",
            "--algo",
            "sha256d",
            "--header",
            GENESIS,
            "--start",
            "2083200000",
            "--count",
            "100000",
            "--backend",
            backend,
            "--json",
        ],
        cache,
        &[],
    );
    assert!(o.status.success(), "backend {backend}: {}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "exactly one JSON line: {out}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn search_finds_the_genesis_nonce_on_every_backend() {
    let dir = scratch("genesis");
    let cache = dir.join("tune.json");
    let mut backends = vec!["reference", "cpu", "auto"];
    if have_gpu(&cache) {
        backends.push("gpu");
    }
    for b in backends {
        let v = search_genesis(b, &cache);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["algo", "backend", "found", "hashes", "seconds"], "{b}");
        assert_eq!(v["algo"], "sha256d");
        if b != "auto" {
            assert_eq!(v["backend"], b);
        }
        assert_eq!(v["hashes"], 100_000);
        assert!(v["seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(v["found"], serde_json::json!([{"nonce": 2_083_236_893u32, "hash": GENESIS_HASH}]), "{b}");
    }
}

#[test]
fn explicit_target_and_blake3_report_every_hit_sorted() {
    let dir = scratch("target");
    let cache = dir.join("tune.json");
    let easy = "0fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    let args = |backend: &'static str, json: bool| {
        let mut a = vec!["search", "--algo", "blake3", "--header", GENESIS, "--start", "0", "--count", "4096"];
        a.extend(["--target", easy, "--backend", backend]);
        if json {
            a.push("--json");
        }
        a
    };
    let o = miner(&args("cpu", true), &cache, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let found = v["found"].as_array().unwrap();
    assert!(found.len() > 150 && found.len() < 400, "about 1/16 of 4096 hit: {}", found.len());
    let nonces: Vec<u64> = found.iter().map(|f| f["nonce"].as_u64().unwrap()).collect();
    assert!(nonces.windows(2).all(|w| w[0] < w[1]), "sorted by nonce");
    for f in found {
        let h = f["hash"].as_str().unwrap();
        assert_eq!(h.len(), 64);
        assert!(h <= easy, "display hash {h} is <= target");
    }
    // The human-readable form lists the same hits.
    let o = miner(&args("reference", false), &cache, &[]);
    assert!(o.status.success());
    assert!(stdout(&o).contains(&format!("found {}", found.len())), "{}", stdout(&o));
}

/// Exit status 2 and exactly one line on stderr that names the problem.
fn assert_usage_error(args: &[&str], envs: &[(&str, &str)], needle: &str) {
    let dir = scratch("usage");
    let o = miner(args, &dir.join("tune.json"), envs);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: status {:?}, stderr {err}", o.status);
    assert_eq!(err.lines().count(), 1, "{args:?}: one line expected, got:\n{err}");
    assert!(err.to_lowercase().contains(&needle.to_lowercase()), "{args:?}: {err:?} should mention {needle:?}");
    assert!(stdout(&o).is_empty(), "{args:?}: nothing on stdout");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let base = |header: &str, start: &str, count: &str| -> Vec<String> {
        ["search", "--algo", "sha256d", "--header", header, "--start", start, "--count", count, "--backend", "cpu"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>, envs: &[(&str, &str)], needle: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_usage_error(&a, envs, needle);
    };
    run(base(&GENESIS[..158], "0", "10"), &[], "160 hex digits");
    run(base(&format!("{}zz", &GENESIS[..158]), "0", "10"), &[], "not hex");
    run(base(GENESIS, "0", "0"), &[], "count");
    run(base(GENESIS, "4294967295", "2"), &[], "2^32");
    run(base(GENESIS, "4294967296", "1"), &[], "--start");
    run(base(GENESIS, "-1", "1"), &[], "--start");
    let mut a = base(GENESIS, "0", "10");
    a[2] = "sha512".into();
    run(a, &[], "sha512");
    let mut a = base(GENESIS, "0", "10");
    a[10] = "fpga".into();
    run(a, &[], "fpga");
    let mut a = base(GENESIS, "0", "10");
    a.extend(["--target".to_string(), "1234".to_string()]);
    run(a, &[], "64 hex digits");
    let mut a = base(GENESIS, "0", "10");
    a[10] = "gpu".into();
    run(a, &[("CINDER_HIDE_GPU", "1")], "no GPU adapter");
    let mut a = base(GENESIS, "0", "10");
    a.extend(["--cpu-isa".to_string(), "mmx".to_string()]);
    run(a, &[], "mmx");
    assert_usage_error(&["bench", "--seconds", "-3"], &[], "--seconds");
    assert_usage_error(&["bench", "--backend", "gpu", "--seconds", "1"], &[("CINDER_HIDE_GPU", "1")], "no GPU adapter");
    assert_usage_error(&["frobnicate"], &[], "frobnicate");
}

#[test]
fn hidden_gpus_leave_auto_on_the_cpu() {
    let dir = scratch("hidden");
    let cache = dir.join("tune.json");
    let o = miner(&["devices"], &cache, &[("CINDER_HIDE_GPU", "1")]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("none (hidden by CINDER_HIDE_GPU)"), "{}", stdout(&o));
    let o = miner(
        &["search", "--algo", "sha256d", "--header", GENESIS, "--start", "2083236890", "--count", "10", "--json"],
        &cache,
        &[("CINDER_HIDE_GPU", "1")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["backend"], "cpu");
    assert_eq!(v["found"][0]["nonce"], 2_083_236_893u32);
}

fn gpu_search(cache: &Path) -> Output {
    miner(
        &[
            "search",
            "--algo",
            "sha256d",
            "--header",
            GENESIS,
            "--start",
            "2083236000",
            "--count",
            "2000",
            "--backend",
            "gpu",
            "--json",
        ],
        cache,
        &[],
    )
}

#[test]
fn tune_cache_is_written_once_reused_and_invalidated() {
    let dir = scratch("tune");
    let cache = dir.join("nested").join("gpu-tune.json");
    if !have_gpu(&cache) {
        return;
    }
    // 1. First GPU use tunes and writes the cache.
    let o = gpu_search(&cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("GPU tuned"), "{}", stderr(&o));
    let first = std::fs::read_to_string(&cache).expect("the cache was written");
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    // 2. Second use reads it and leaves it untouched.
    let o = gpu_search(&cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("using cached GPU tuning"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("GPU tuned"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), first, "reused, not rewritten");
    // 3. A different driver version invalidates the entry: re-tuned and rewritten.
    let stale = first.replacen("\"driver_info\": \"", "\"driver_info\": \"old ", 1);
    std::fs::write(&cache, &stale).unwrap();
    let o = gpu_search(&cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("re-tuning: driver changed"), "{}", stderr(&o));
    let rewritten = std::fs::read_to_string(&cache).unwrap();
    assert!(!rewritten.contains("\"old "), "the stale entry was replaced");
    // 4. So does a changed shader.
    let v: serde_json::Value = serde_json::from_str(&rewritten).unwrap();
    let shader = v["entries"][0]["shader"].as_str().unwrap().to_string();
    std::fs::write(&cache, rewritten.replace(&shader, "0000000000000000")).unwrap();
    let o = gpu_search(&cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("re-tuning: shader changed"), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&cache).unwrap().contains(&shader));
    // 5. A corrupt cache is rewritten, not fatal.
    std::fs::write(&cache, "{{{ not json").unwrap();
    let o = gpu_search(&cache);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
}

#[test]
fn devices_json_describes_the_cpu() {
    let dir = scratch("devices");
    let o = miner(&["devices", "--json"], &dir.join("tune.json"), &[]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert!(v["cpu"]["kernels"]["sha256d"].as_array().unwrap().iter().any(|k| k == "portable"));
    for g in v["gpus"].as_array().unwrap() {
        for key in ["index", "name", "backend", "driver", "device_type"] {
            assert!(g.get(key).is_some(), "adapter lacks {key}: {g}");
        }
    }
}

#[test]
fn bench_reports_rates_and_ratios() {
    let dir = scratch("bench");
    let cache = dir.join("tune.json");
    let backend = if have_gpu(&cache) { "all" } else { "cpu" };
    let o = miner(
        &["bench", "--algo", "blake3", "--backend", backend, "--seconds", "0.5", "--switches", "2", "--json"],
        &cache,
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert!(r["mhs"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["hashes"].as_u64().unwrap() > 0, "{r}");
        if r["backend"] == "cpu" {
            assert!((r["vs_cpu"].as_f64().unwrap() - 1.0).abs() < 1e-9);
            assert!(r["switch_ms_median"].as_f64().unwrap() > 0.0);
        }
    }
}

mod mine;
