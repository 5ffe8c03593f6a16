//! Command-line tests of `cinder-bench`.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cinder-bench")).args(args).env_remove("RUST_LOG").output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| !l.contains("XDG_RUNTIME_DIR")).collect::<Vec<_>>().join("\n")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cinder-bench-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The speccheck cases as the bare array `--vectors` reads.
fn speccheck_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/ed25519_speccheck.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let out = dir.join("cases.json");
    std::fs::write(&out, v["cases"].to_string()).unwrap();
    out
}

#[test]
fn vectors_mode_reports_single_and_batch_per_item() {
    let dir = scratch("vectors");
    let file = speccheck_file(&dir);
    let o = bench(&["sig", "--vectors", file.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 15);
    for (i, it) in items.iter().enumerate() {
        assert_eq!(it["index"], i);
        assert_eq!(it["single"], it["batch"], "item {i}: batch must agree with single");
    }
    assert!(items.iter().any(|it| it["single"] == true) && items.iter().any(|it| it["single"] == false));
}

#[test]
fn wrong_lengths_are_invalid_items_not_crashes() {
    let dir = scratch("lengths");
    let file = dir.join("short.json");
    std::fs::write(
        &file,
        r#"[{"message":"00","pub_key":"abcd","signature":"00"},{"message":"","pub_key":"","signature":""}]"#,
    )
    .unwrap();
    let o = bench(&["sig", "--vectors", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"index": 0, "single": false, "batch": false},
            {"index": 1, "single": false, "batch": false},
        ])
    );
}

#[test]
fn malformed_input_exits_2_with_one_line() {
    let dir = scratch("malformed");
    let cases = [
        ("notjson.json", "{not json", "expected a JSON array"),
        ("object.json", r#"{"message":"00"}"#, "expected a JSON array"),
        ("badhex.json", r#"[{"message":"zz","pub_key":"00","signature":"00"}]"#, "not hex"),
        ("missing.json", r#"[{"message":"00"}]"#, "pub_key"),
    ];
    for (name, body, needle) in cases {
        let file = dir.join(name);
        std::fs::write(&file, body).unwrap();
        let o = bench(&["sig", "--vectors", file.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
    }
    let o = bench(&["sig", "--vectors", dir.join("absent.json").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let o = bench(&["merkle", "--leaves", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1);
}

#[test]
fn sig_and_merkle_tables_in_json() {
    let o = bench(&["sig", "--count", "128", "--batch", "32", "--threads", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| r["sigs_per_s"].as_f64().unwrap() > 0.0));
    let keys: Vec<&str> = rows.iter().filter(|r| r["mode"] == "batch").map(|r| r["keys"].as_str().unwrap()).collect();
    assert_eq!(keys, ["bytes", "decoded", "cached", "bytes"], "a row through the warm key cache");
    assert!(v["control_scaling"].as_f64().unwrap() > 0.0);

    let o = bench(&["merkle", "--leaves", "5000", "--threads", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["roots_equal"], true);
    assert_eq!(v["rows"].as_array().unwrap().len(), 3);
}

#[test]
fn merkle_on_the_gpu_agrees() {
    let o = bench(&["merkle", "--leaves", "3000", "--backend", "gpu", "--json"]);
    if o.status.code() == Some(2) && stderr(&o).contains("no GPU adapter") {
        let required = std::env::var("CINDER_REQUIRE_GPU").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "CINDER_REQUIRE_GPU is set but there is no adapter: {}", stderr(&o));
        eprintln!("SKIPPED: no GPU adapter");
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["roots_equal"], true);
    assert_eq!(v["rows"].as_array().unwrap().len(), 4);
}

#[test]
fn exec_reports_speedup_and_conflicts_in_json() {
    for contention in ["none", "zipf", "hotspot"] {
        let o = bench(&[
            "exec",
            "--txs",
            "300",
            "--accounts",
            "1000",
            "--contention",
            contention,
            "--work-us",
            "0",
            "--threads",
            "2",
            "--seed",
            "5",
            "--json",
        ]);
        assert!(o.status.success(), "{contention}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for field in
            ["threads", "txs", "contention", "sequential_s", "parallel_s", "speedup", "reexecutions", "outputs_equal"]
        {
            assert!(!v[field].is_null(), "{contention}: no {field} in {v}");
        }
        assert_eq!(v["threads"], 2);
        assert_eq!(v["txs"], 300);
        assert_eq!(v["contention"], contention);
        assert_eq!(v["outputs_equal"], true);
        assert_eq!(v["failed_txs"], 0);
        assert!(v["speedup"].as_f64().unwrap() > 0.0);
        // Every transfer goes to one account: the hints show one chain.
        assert_eq!(v["hinted_chain"], contention == "hotspot", "{v}");
    }
}

#[test]
fn exec_rejects_bad_options_with_one_line() {
    for (args, needle) in [
        (&["exec", "--txs", "600", "--accounts", "1000", "--contention", "none"][..], "accounts >= 2 x txs"),
        (&["exec", "--contention", "most"][..], "unknown contention"),
        (&["exec", "--threads", "0"][..], "--threads"),
        (&["exec", "--accounts", "1"][..], "--accounts"),
        (&["exec", "--txs", "0"][..], "--txs"),
    ] {
        let o = bench(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn import_reports_phases_and_continues_a_datadir() {
    let dir = scratch("import").join("db");
    let run = |accounts: &str| -> Output {
        bench(&[
            "import",
            "--blocks",
            "3",
            "--txs-per-block",
            "50",
            "--accounts",
            accounts,
            "--datadir",
            dir.to_str().unwrap(),
            "--threads",
            "2",
            "--json",
        ])
    };
    for (start, head) in [(0, 3), (3, 6)] {
        let o = run("500");
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((v["blocks"].as_u64(), v["txs"].as_u64()), (Some(3), Some(150)), "{v}");
        assert_eq!((v["start_height"].as_u64(), v["head_height"].as_u64()), (Some(start), Some(head)), "{v}");
        assert!(v["seconds"].as_f64().unwrap() > 0.0 && v["tx_per_s"].as_f64().unwrap() > 0.0, "{v}");
        for phase in ["checks", "signatures", "state_read", "execution", "state_root", "commit"] {
            assert!(v["phases"][phase]["seconds"].as_f64().is_some(), "no phase {phase} in {v}");
        }
        let shares: f64 = v["phases"].as_object().unwrap().values().map(|p| p["share"].as_f64().unwrap()).sum();
        assert!((shares - 1.0).abs() < 1e-6, "shares sum to {shares}");
    }
    // Another account set is another chain: refused, one line, nothing changed.
    let o = run("501");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("holds a chain with genesis"), "{err}");
}

#[test]
fn import_rejects_bad_options_with_one_line() {
    let file = scratch("import-bad").join("a-file");
    std::fs::write(&file, b"not a database").unwrap();
    for (args, code, needle) in [
        (&["import", "--blocks", "0"][..], 2, "--blocks"),
        (&["import", "--txs-per-block", "0"][..], 2, "--txs-per-block"),
        (&["import", "--accounts", "1"][..], 2, "--accounts"),
        (&["import", "--threads", "0"][..], 2, "--threads"),
        (
            &["import", "--accounts", "10", "--blocks", "1", "--json", "--datadir", file.to_str().unwrap()][..],
            1,
            "database",
        ),
    ] {
        let o = bench(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn pos_reports_finality_and_throughput_in_json() {
    let o = bench(&["pos", "--txs", "600", "--idle-blocks", "5", "--block-interval-ms", "100", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["validators"].as_u64(), Some(4), "{v}");
    assert_eq!(v["quorum_rank"].as_u64(), Some(3), "{v}");
    assert_eq!(v["finalized"]["txs"].as_u64(), Some(600), "{v}");
    assert!(v["idle_finality_ms"]["blocks"].as_u64().unwrap() >= 5, "{v}");
    assert!(v["idle_finality_ms"]["p50"].as_f64().unwrap() >= 0.0, "{v}");
    assert!(v["finalized"]["tx_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["single_node_import"]["txs"].as_u64(), Some(600), "{v}");
    assert!(v["finalized_vs_import"].as_f64().unwrap() > 0.0, "{v}");
    let o = bench(&["pos", "--validators", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--validators"), "{}", stderr(&o));
}

#[test]
fn contracts_reports_overhead_speedup_and_import_in_json() {
    let o = bench(&[
        "contracts",
        "--holders",
        "2000",
        "--senders",
        "100",
        "--txs",
        "300",
        "--calls",
        "200",
        "--blocks",
        "2",
        "--txs-per-block",
        "50",
        "--threads",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["empty_call_us"].as_f64().unwrap() > 0.0);
    for part in ["exec_low", "exec_hot"] {
        assert_eq!(v[part]["outputs_equal"], true, "{part}");
        assert_eq!(v[part]["txs"], 300);
        assert!(v[part]["speedup"].as_f64().unwrap() > 0.0);
    }
    assert!(v["exec_hot"]["reexecutions"].as_u64().unwrap() > 0, "one hot holder must conflict");
    assert_eq!(v["import"]["txs"], 100);
    assert!(v["import"]["tx_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["import"]["phases"]["execution"]["seconds"].as_f64().unwrap() > 0.0);
    let o = bench(&["contracts", "--only", "everything"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn usecases_reports_gas_and_time_of_each_operation_in_json() {
    let o = bench(&["usecases", "--n", "4", "--proofs", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for part in ["swap", "dao_vote", "credential", "handover", "receive"] {
        assert!(v[part]["gas"].as_u64().unwrap() > 21_000, "{part}: {v}");
        assert!(v[part]["us"].as_f64().unwrap() > 0.0, "{part}: {v}");
    }
    assert!(v["credential"]["gas"].as_u64().unwrap() > 6_000_000, "{v}");
    assert!(v["groth16_host_us"].as_f64().unwrap() > 0.0);
    let o = bench(&["usecases", "--n", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn ibc_reports_verify_costs_in_json() {
    let o = bench(&["ibc", "--n", "3", "--validators", "4", "--records", "1000", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["header_update"][0]["validators"], 4);
    assert!(v["header_update"][0]["us"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["header_update"][0]["gas"].as_u64().unwrap() > 50_000, "{v}");
    assert!(v["packet_proof"]["bytes"].as_u64().unwrap() > 32, "{v}");
    assert!(v["end_to_end"].is_null());
    let o = bench(&["ibc", "--validators", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = bench(&["ibc", "--a", "http://127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2), "--a needs the other end-to-end options");
}
