#!/usr/bin/env bash
# Installs the system packages Cinder needs, if they are missing (Debian/Ubuntu).
#   mesa-vulkan-drivers: lavapipe, a software Vulkan adapter, so the WGSL
#                        kernels run (and are tested) on machines without a GPU
#   libvulkan1:          the Vulkan loader wgpu opens
#   libclang-dev, g++:   bindgen and the C++ compiler that build RocksDB
#                        (librocksdb-sys) for the node's storage
#   iproute2, iptables:  the NAT traversal test builds its own network
#                        namespaces and NAT routers (scripts/netns-nat.sh)
#   chromium, chromium-driver:
#                        a headless browser and its WebDriver server: cli_it's
#                        explorer test drives the node's block explorer in it
#                        (under CI=true a missing browser fails that test)
#   rustc, libstd-rust-dev-wasm32, lld-14:
#                        Debian's rustc 1.63 with a wasm32 standard library and
#                        its linker: the contract SDK and the example contracts
#                        build with it (scripts/build-contracts.sh); rustup's
#                        toolchain stays the one on PATH
set -euo pipefail
need=()
for pkg in mesa-vulkan-drivers libvulkan1 libclang-dev g++ iproute2 iptables rustc libstd-rust-dev-wasm32 lld-14 chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: missing ${need[*]} and no apt-get here; install them by hand (without a Vulkan driver GPU tests skip; without libclang and g++ RocksDB does not build; without a wasm32 rustc the contracts do not build: set CINDER_WASM_RUSTC)" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
echo "deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
