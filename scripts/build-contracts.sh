#!/usr/bin/env bash
# Builds the contract SDK (contracts/sdk) and every example contract
# (contracts/examples/*) from source to wasm32-unknown-unknown.
#
# The rustup toolchain has no wasm32 standard library and none can be
# downloaded here; Debian's rustc with libstd-rust-dev-wasm32 (rustc 1.63)
# has one, so the SDK and the contracts keep to what rustc 1.63 accepts.
# Set CINDER_WASM_RUSTC to use another rustc with a wasm32 standard library.
#
#   scripts/build-contracts.sh [--out DIR] [--no-install]
#
# Output: DIR/<name>.wasm (default $CARGO_TARGET_DIR/contracts). The build is
# reproducible: source paths are remapped, symbols stripped, so the same
# sources and compiler give the same code hash on any machine.
set -euo pipefail
cd "$(dirname "$0")/.."
install=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:?--out needs a directory}"; shift ;;
    --no-install) install=0 ;;
    *) echo "build-contracts: unknown argument $1 (use --out DIR, --no-install)" >&2; exit 2 ;;
  esac
  shift
done
source scripts/env.sh
out="${out:-$CARGO_TARGET_DIR/contracts}"
rustc="${CINDER_WASM_RUSTC:-/usr/bin/rustc}"

has_wasm_std() {
  [ -x "$rustc" ] || return 1
  local libdir
  libdir="$("$rustc" --print target-libdir --target wasm32-unknown-unknown 2>/dev/null)" || return 1
  ls "$libdir"/libstd-*.rlib >/dev/null 2>&1
}

if ! has_wasm_std; then
  if [ "$install" = 1 ] && [ -z "${CINDER_WASM_RUSTC:-}" ] && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    echo "build-contracts: installing rustc libstd-rust-dev-wasm32 lld-14 (Debian's wasm32 toolchain)" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends rustc libstd-rust-dev-wasm32 lld-14 >/dev/null
  fi
  if ! has_wasm_std; then
    echo "build-contracts: no rustc with a wasm32-unknown-unknown standard library at $rustc:" \
      "install Debian's rustc, libstd-rust-dev-wasm32 and lld-14 (scripts/deps.sh does), or set CINDER_WASM_RUSTC" >&2
    exit 1
  fi
fi

flags=(
  --edition 2021 --target wasm32-unknown-unknown
  -C opt-level=z -C panic=abort -C codegen-units=1 -C strip=symbols
  # A 32 KiB shadow stack instead of 1 MiB: stack, data and the first
  # allocations fit the first 64 KiB page of memory.
  -C link-arg=-zstack-size=32768
  --remap-path-prefix "$PWD=." --remap-path-prefix "$HOME=~"
  -D warnings
)
lib="$out/.lib"
mkdir -p "$lib"
"$rustc" "${flags[@]}" --crate-type rlib --crate-name cinder_sdk contracts/sdk/src/lib.rs -o "$lib/libcinder_sdk.rlib"
for dir in contracts/examples/*/; do
  name="$(basename "$dir")"
  "$rustc" "${flags[@]}" -C lto=fat --crate-type cdylib --crate-name "$name" "$dir/src/lib.rs" \
    --extern cinder_sdk="$lib/libcinder_sdk.rlib" -L "$lib" -o "$out/$name.wasm.tmp"
  mv "$out/$name.wasm.tmp" "$out/$name.wasm"
  echo "build-contracts: $out/$name.wasm ($(stat -c %s "$out/$name.wasm") bytes)" >&2
done
