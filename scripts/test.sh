#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing packages, builds with
# the `ci` profile (optimised, debug assertions and overflow checks on), runs
# every test, builds the benchmarks without timing them, and prints how long
# each step took. With CI=true a missing GPU adapter fails the GPU tests
# instead of skipping them (lavapipe is the adapter there).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
source scripts/env.sh
[ "${CI:-}" = "true" ] && export CINDER_REQUIRE_GPU=1
# Tests never touch the user's GPU tune cache.
export CINDER_TUNE_CACHE="${CINDER_TUNE_CACHE:-$CARGO_TARGET_DIR/test-gpu-tune.json}"

log="$(mktemp /tmp/cinder-test.XXXXXX.log)"
t0=$SECONDS
# The contracts first, on their own: a missing wasm32 toolchain is one
# clear line here rather than a build-script panic (the cinder-contracts
# crate builds them again into its OUT_DIR, from the same sources).
echo "==> contracts (wasm32, Debian rustc)" >&2
./scripts/build-contracts.sh
echo "==> build (ci profile)" >&2
cargo build --profile ci --workspace --all-targets --locked
build_s=$((SECONDS - t0))

# One `cargo test --workspace`: per-package runs would resolve features
# differently and rebuild wgpu for each.
t1=$SECONDS
echo "==> tests" >&2
set +e
cargo test --profile ci --workspace --locked 2>&1 | tee "$log"
test_rc=${PIPESTATUS[0]}
set -e
test_s=$((SECONDS - t1))

t2=$SECONDS
echo "==> benches build (not timed)" >&2
cargo bench --profile ci --workspace --locked --no-run
bench_s=$((SECONDS - t2))

echo "==> timings"
printf '%-44s %6d s\n' "build (ci profile)" "$build_s"
# Each test binary's own time, from the harness's closing line.
awk '
  /^ *(Running|Doc-tests) / {
    name = $2
    if (match($0, /deps\/[A-Za-z0-9_]+-[0-9a-f]+\)/)) name = $2 " " substr($0, RSTART + 5, RLENGTH - 5 - 18)
    if ($1 == "Doc-tests") name = "doc-tests " $2
  }
  /^test result:/ { if (match($0, /finished in [0-9.]+s/)) printf "  %-42s %8s\n", name, substr($0, RSTART + 12, RLENGTH - 12) }
' "$log"
printf '%-44s %6d s\n' "tests (all suites, incl. linking)" "$test_s"
printf '%-44s %6d s\n' "benches build" "$bench_s"
rm -f "$log"
exit "$test_rc"
