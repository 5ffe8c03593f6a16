#!/usr/bin/env bash
# The shipped monitoring checked live (not in default CI; docs/operations.md):
# Debian's Prometheus runs deploy/prometheus/prometheus.yml unchanged (with
# alerts.yml) against a four-node `cinder testnet` on its default metrics
# ports, under `cinder-bench load`, first proof of stake then proof of work.
# Then every query of deploy/grafana/cinder-dashboard.json must return
# series from all four nodes (the PoW-only panel on PoW, the PoS-only ones
# on PoS), every scrape target must be up, and every alert rule must
# evaluate without error. Prints what each panel showed. Also checks the
# compose testnet's Prometheus config and, with docker-compose installed,
# deploy/compose.yaml.
#
#   scripts/check-monitoring.sh [seconds per consensus, default 75]
#
# Installs `prometheus` with apt if it is missing. Uses 127.0.0.1 ports
# 9615-9618 (metrics), 19090 (Prometheus), 18645-18648 (RPC), 32333-32336.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
secs="${1:-75}"
if ! command -v prometheus >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus >&2
fi
cargo build --profile ci -p cinder -p cinder-bench-suite --bin cinder --bin cinder-bench >&2
bin="$CARGO_TARGET_DIR/ci"
dir="$(mktemp -d /tmp/cinder-monitoring.XXXXXX)"
prom=127.0.0.1:19090
ok=0
cleanup() {
  kill "${load_pid:-0}" "${net_pid:-0}" "${prom_pid:-0}" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$ok" = 1 ]; then rm -rf "$dir"; else echo "check-monitoring: FAILED; logs kept in $dir" >&2; fi
}
trap cleanup EXIT
say() { echo "[monitoring $(date +%H:%M:%S)] $*"; }

say "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}')"
promtool check config deploy/prometheus/prometheus.yml
promtool check config deploy/prometheus/compose.yml
promtool check rules deploy/prometheus/alerts.yml
# The compose file's schema, where Debian's docker-compose is installed (it
# needs no engine for this).
if command -v docker-compose >/dev/null; then
  docker-compose -p cinder -f deploy/compose.yaml config -q && say "deploy/compose.yaml: valid"
fi

for consensus in pos pow; do
  net="$dir/$consensus"
  say "$consensus: a 4-node testnet in $net, Prometheus on $prom, $secs s"
  "$bin/cinder" testnet --consensus "$consensus" --nodes 4 --datadir "$net" --rpc-port 18645 --p2p-port 32333 \
    --metrics-port 9615 >"$dir/testnet-$consensus.log" 2>&1 &
  net_pid=$!
  for _ in $(seq 1 300); do
    [ "$(grep -c '^node [0-9]: pid' "$dir/testnet-$consensus.log" 2>/dev/null || true)" = 4 ] && break
    sleep 0.2
  done
  [ "$(grep -c '^node [0-9]: pid' "$dir/testnet-$consensus.log")" = 4 ] || { say "the testnet did not start"; exit 1; }
  rm -rf "$dir/tsdb"
  prometheus --config.file=deploy/prometheus/prometheus.yml --storage.tsdb.path="$dir/tsdb" \
    --web.listen-address="$prom" >"$dir/prometheus-$consensus.log" 2>&1 &
  prom_pid=$!
  sleep 5
  "$bin/cinder-bench" load --rpc http://127.0.0.1:18645 --tps 100 --duration $((secs - 15)) --accounts 200 \
    --drain 10 --json >"$dir/load-$consensus.json" 2>"$dir/load-$consensus.err" &
  load_pid=$!
  sleep "$secs"
  python3 - "$prom" "$consensus" <<'EOF'
import json, sys, urllib.parse, urllib.request
prom, consensus = sys.argv[1], sys.argv[2]
def get(path, **q):
    url = f"http://{prom}/api/v1/{path}" + ("?" + urllib.parse.urlencode(q) if q else "")
    body = json.load(urllib.request.urlopen(url, timeout=10))
    assert body["status"] == "success", body
    return body["data"]
failed = []
targets = get("targets")["activeTargets"]
down = [t["scrapeUrl"] for t in targets if t["health"] != "up"]
if len(targets) != 4 or down:
    failed.append(f"targets: {len(targets)} scraped, down: {down}")
for g in get("rules")["groups"]:
    for r in g["rules"]:
        if r.get("health") != "ok":
            failed.append(f"rule {r['name']}: {r.get('health')} {r.get('lastError', '')}")
# Panels that only mean something under one consensus.
only = {"Hashrate (PoW)": "pow", "Finalized height (PoS)": "pos", "Finality latency (PoS, mean)": "pos"}
dash = json.load(open("deploy/grafana/cinder-dashboard.json"))
for p in dash["panels"]:
    for t in p.get("targets", []):
        if only.get(p["title"], consensus) != consensus:
            continue
        res = get("query", query=t["expr"])["result"]
        nodes = {r["metric"].get("instance") for r in res}
        vals = [float(r["value"][1]) for r in res]
        shown = ", ".join(f"{v:.4g}" for v in sorted(vals)[:8])
        print(f"  {p['title']:<40} {len(res):>2} series from {len(nodes)} nodes: {shown}")
        if len(nodes) != 4 or any(v != v for v in vals):
            failed.append(f"panel {p['title']!r}: {len(res)} series from {len(nodes)} nodes, values {vals}")
        # Live values, not just series: the chain moves and the load is included.
        if p["title"] in ("Head height", "Peers", "Transactions per second (included)", "RocksDB size") and min(vals, default=0) <= 0:
            failed.append(f"panel {p['title']!r}: a node shows {min(vals, default=0)}")
        if p["title"] in ("Hashrate (PoW)", "Finalized height (PoS)") and max(vals, default=0) <= 0:
            failed.append(f"panel {p['title']!r}: no node shows a value above 0")
if failed:
    print("\n".join("FAILED: " + f for f in failed))
    sys.exit(1)
EOF
  kill "$load_pid" "$prom_pid" 2>/dev/null || true
  kill -TERM "$net_pid"
  wait "$net_pid" "$load_pid" "$prom_pid" 2>/dev/null || true
  say "$consensus: every panel and rule checked; load: $(tr -d '\n' <"$dir/load-$consensus.json" | head -c 300)"
done
ok=1
say "passed"
