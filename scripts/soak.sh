#!/usr/bin/env bash
# Soak test (not in CI; docs/operations.md, docs/testing.md): a four-node
# proof-of-stake testnet on loopback under `cinder-bench load` for MINUTES
# (default 10) while nodes 1-3 are SIGKILLed and restarted at random and
# one is partitioned from its peers (the admin peer filter) and healed.
# At the end every node must hold the same finalized chain and state root,
# no node's finalized height may ever have gone down, and every transfer
# the load generator saw accepted must be included.
#
#   scripts/soak.sh [minutes] [seed]
#
# Bounded: everything runs on 127.0.0.1 and stops by itself; the testnet
# lives in a temporary directory removed at the end (kept on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
minutes="${1:-10}"
seed="${2:-$RANDOM}"
RANDOM="$seed"
cargo build --profile ci -p cinder -p cinder-bench-suite --bin cinder --bin cinder-bench >&2
bin="$CARGO_TARGET_DIR/ci"
dir="$(mktemp -d /tmp/cinder-soak.XXXXXX)"
rpc0=18545
p2p0=31333
ok=0
pids=()
cleanup() {
  kill "${load_pid:-0}" 2>/dev/null || true
  kill "${net_pid:-0}" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$ok" = 1 ]; then rm -rf "$dir"; else echo "soak: FAILED; the testnet is kept in $dir" >&2; fi
}
trap cleanup EXIT
say() { echo "[soak $(date +%H:%M:%S)] $*"; }
rpc() { # port method params-json
  curl -s -m 3 -X POST -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":${3:-[]}}" "http://127.0.0.1:$1" || true
}
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^,\"}]*\\).*/\\1/p"; }

say "seed $seed, $minutes minutes, testnet in $dir"
"$bin/cinder" testnet --consensus pos --nodes 4 --datadir "$dir" --fresh --rpc-port "$rpc0" --p2p-port "$p2p0" \
  --metrics-port 0 >"$dir/testnet.log" 2>&1 &
net_pid=$!
for _ in $(seq 1 150); do
  [ "$(grep -c '^node [0-9]: pid' "$dir/testnet.log" 2>/dev/null || true)" = 4 ] && break
  sleep 0.2
done
declare -A pid
for i in 0 1 2 3; do pid[$i]="$(sed -n "s/^node $i: pid \([0-9]*\).*/\1/p" "$dir/testnet.log")"; done
token="$(cat "$dir/admin.token")"
# Until node 0 finalizes.
for _ in $(seq 1 120); do
  f="$(rpc $rpc0 cinder_finalizedBlockNumber | field result)"
  [ -n "$f" ] && [ "$f" -gt 2 ] 2>/dev/null && break
  sleep 1
done
say "finalizing (node 0 at $f); load for $((minutes * 60 - 90)) s"

"$bin/cinder-bench" load --rpc "http://127.0.0.1:$rpc0" --tps 200 --duration $((minutes * 60 - 90)) \
  --accounts 500 --drain 90 --json >"$dir/load.json" 2>"$dir/load.err" &
load_pid=$!

declare -A best   # the highest finalized height seen per node
check_finality() {
  for i in 0 1 2 3; do
    local f
    f="$(rpc $((rpc0 + i)) cinder_finalizedBlockNumber | field result)"
    [ -z "$f" ] && continue
    if [ -n "${best[$i]:-}" ] && [ "$f" -lt "${best[$i]}" ]; then
      say "node $i: finalized height went down from ${best[$i]} to $f"; exit 1
    fi
    best[$i]="$f"
  done
}

end=$((SECONDS + minutes * 60 - 120))
partitioned=0
kills=0
while [ $SECONDS -lt $end ]; do
  sleep $((20 + RANDOM % 25))
  check_finality
  if [ "$partitioned" = 0 ] && [ $SECONDS -gt $((end / 2)) ]; then
    victim=2
    say "partition: node $victim drops its peers"
    rpc $((rpc0 + victim)) cinder_adminSetPeerFilter "[\"$token\",[]]" >/dev/null
    sleep 30
    rpc $((rpc0 + victim)) cinder_adminSetPeerFilter "[\"$token\",null]" >/dev/null
    say "healed"
    partitioned=1
    continue
  fi
  victim=$((1 + RANDOM % 3))
  say "SIGKILL node $victim (pid ${pid[$victim]})"
  kill -9 "${pid[$victim]}" 2>/dev/null || true
  kills=$((kills + 1))
  sleep $((3 + RANDOM % 10))
  mapfile -t cmd <"$dir/node-$victim/command"
  "${cmd[@]}" >>"$dir/node-$victim/node.log" 2>&1 &
  pid[$victim]=$!
  pids+=("${pid[$victim]}")
  say "restarted node $victim (pid ${pid[$victim]})"
done

say "chaos over ($kills kills, 1 partition); waiting for the load to drain"
wait "$load_pid" || { say "the load generator failed: $(tail -3 "$dir/load.err")"; exit 1; }
load_pid=
sleep 20
check_finality
low="${best[0]}"
for i in 1 2 3; do [ "${best[$i]}" -lt "$low" ] && low="${best[$i]}"; done
say "finalized heights: ${best[0]} ${best[1]} ${best[2]} ${best[3]}; comparing at $low"
ref=""
for h in $(seq 1 $((low / 20 + 1)) "$low") "$low"; do
  for i in 0 1 2 3; do
    b="$(rpc $((rpc0 + i)) cinder_getBlockByNumber "[$h,false]")"
    got="$(echo "$b" | field hash) $(echo "$b" | field stateRoot)"
    if [ "$i" = 0 ]; then ref="$got"; elif [ "$got" != "$ref" ]; then
      say "node $i differs from node 0 at height $h: $got vs $ref"; exit 1
    fi
  done
done
accepted="$(field accepted <"$dir/load.json")"
included="$(field included <"$dir/load.json")"
not_included="$(field not_included <"$dir/load.json")"
refused="$(field refused <"$dir/load.json")"
say "load: accepted $accepted, refused $refused, included $included, not included $not_included"
if [ "$not_included" != 0 ]; then say "accepted transfers were lost"; exit 1; fi
say "PASS: 4 nodes agree on the finalized chain up to $low (hash and state root), $kills kills and a partition, $included transfers included"
ok=1
