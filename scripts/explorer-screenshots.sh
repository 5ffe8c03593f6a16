#!/usr/bin/env bash
# Regenerates the explorer's screenshots in docs/explorer/ (home, transaction,
# account, block, validators) from a real proof-of-stake devnet in headless
# Chromium: cli_it's explorer test with CINDER_SCREENSHOTS set.
#
#   scripts/explorer-screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
. scripts/env.sh
CI=true CINDER_SCREENSHOTS="$PWD/docs/explorer" \
  cargo test --profile ci -p cinder --test cli_it --locked the_explorer_in_headless_chromium -- --nocapture
ls -l docs/explorer/*.png
