#!/usr/bin/env bash
# The main job: installs missing packages, builds cinder-miner, and runs its
# benchmark (every backend this machine has, both algorithms). Extra arguments
# go to `cinder-miner bench`, e.g. `./scripts/run.sh --seconds 10 --algo sha256d`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
source scripts/env.sh
cargo build --release --locked -p cinder-miner
exec "$CARGO_TARGET_DIR/release/cinder-miner" bench "$@"
