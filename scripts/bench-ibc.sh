#!/usr/bin/env bash
# End-to-end inter-blockchain benchmark: two proof-of-stake devnets on
# loopback, a channel opened by `cinder relay open`, then `cinder-bench ibc`
# sends N transfers on A and relays them until all are acknowledged.
#
#   scripts/bench-ibc.sh [packets] [extra cinder-bench ibc args...]
#
# Builds with the `ci` profile (as CI does); the devnets live in a temporary
# directory removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
packets="${1:-200}"
shift || true
cargo build --profile ci -p cinder -p cinder-bench-suite --bin cinder --bin cinder-bench >&2
bin="$CARGO_TARGET_DIR/ci"
dir="$(mktemp -d /tmp/cinder-bench-ibc.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
start() { # datadir chain-id
  CINDER_HIDE_GPU=1 "$bin/cinder" devnet --consensus pos --chain-id "$2" --rpc-port 0 --metrics-addr off \
    --datadir "$dir/$1" >"$dir/$1.log" 2>/dev/null &
  pids+=($!)
}
url() { # datadir
  for _ in $(seq 1 300); do
    if grep -q '^RPC: ' "$dir/$1.log" 2>/dev/null; then sed -n 's/^RPC: //p' "$dir/$1.log" | head -n1; return; fi
    sleep 0.2
  done
  echo "devnet $1 did not start" >&2; exit 1
}
start a 7001
start b 7002
ua="$(url a)"; ub="$(url b)"
echo "correct horse battery" >"$dir/pw"
relayer="$("$bin/cinder" wallet --keystore "$dir/ks" --password-file "$dir/pw" import --devnet 2 --scrypt-log-n 10 2>/dev/null)"
key="$dir/ks/$relayer.json"
open="$("$bin/cinder" relay open --a "$ua" --b "$ub" --key "$key" --password-file "$dir/pw" --json | tail -n1)"
channel="$(echo "$open" | sed -n 's/.*"channelA":\([0-9]*\).*/\1/p')"
echo "channel A $channel open" >&2
"$bin/cinder-bench" ibc --a "$ua" --b "$ub" --channel "$channel" --relayer "$bin/cinder" --key "$key" \
  --password-file "$dir/pw" --packets "$packets" "$@"
