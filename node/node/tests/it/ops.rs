//! What operators are given: the dashboard and the alert rules in
//! `deploy/` refer only to metrics the node exports.

use cinder_node::RpcConfig;

use crate::common::TestNode;

/// The `cinder_*` names in `text`.
fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("cinder_") {
        let start = i + at;
        let before_ok = start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_lowercase() || b[end] == b'_' || b[end].is_ascii_digit()) {
            end += 1;
        }
        if before_ok {
            out.push(text[start..end].to_string());
        }
        i = end;
    }
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_alerts_use_metrics_the_node_exports() {
    let n = TestNode::start("ops", RpcConfig::default()).await;
    let rendered = cinder_node::metrics::render(&n.node);
    let mut exported: Vec<String> = rendered
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    // Proof-of-stake chains add these (this test node is proof of work).
    let source = include_str!("../../src/metrics.rs");
    for pos_only in ["cinder_finalized_height", "cinder_pos_finalized_total", "cinder_pos_evidence_total"] {
        assert!(source.contains(&format!("\"{pos_only}\"")), "{pos_only}");
        exported.push(pos_only.to_string());
    }
    let files = [
        ("deploy/grafana/cinder-dashboard.json", include_str!("../../../../deploy/grafana/cinder-dashboard.json")),
        ("deploy/prometheus/alerts.yml", include_str!("../../../../deploy/prometheus/alerts.yml")),
    ];
    for (file, text) in files {
        let used = names(text);
        assert!(!used.is_empty(), "{file} uses no metric");
        for name in used {
            assert!(exported.contains(&name), "{file} uses {name}, which the node does not export: {exported:?}");
        }
    }
    // The dashboard is JSON with a panel for each thing the issue names.
    let dash: serde_json::Value = serde_json::from_str(files[0].1).unwrap();
    let exprs: Vec<&str> =
        dash["panels"].as_array().unwrap().iter().map(|p| p["targets"][0]["expr"].as_str().unwrap()).collect();
    for m in [
        "cinder_chain_height",
        "cinder_finalized_height",
        "cinder_peers",
        "cinder_transactions_included_total",
        "cinder_mempool_transactions",
        "cinder_import_phase_seconds_total",
        "cinder_finality_latency_seconds_sum",
        "cinder_mining_hashrate",
        "cinder_db_size_bytes",
    ] {
        assert!(exprs.iter().any(|e| e.contains(m)), "no panel shows {m}");
    }
    // The database size is real, and the phases are labelled.
    let size: f64 = rendered.lines().find_map(|l| l.strip_prefix("cinder_db_size_bytes ")).unwrap().parse().unwrap();
    assert!(size > 0.0, "{rendered}");
    assert!(rendered.contains("cinder_import_phase_seconds_total{phase=\"execution\"}"), "{rendered}");
}
