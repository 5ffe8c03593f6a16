#!/usr/bin/env bash
# The main job: installs missing packages, builds the `cinder` binary and
# runs a local development chain (`cinder devnet`): funded accounts, mining
# on the engine, JSON-RPC on 127.0.0.1:8545. Ctrl-C stops it; running it
# again continues the chain. Extra arguments go to `cinder devnet`, e.g.
# `./scripts/run.sh --fresh --mine-threads 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
source scripts/env.sh
cargo build --release --locked -p cinder -p cinder-miner
exec "$CARGO_TARGET_DIR/release/cinder" devnet "$@"
