# The `cinder` node and the `cinder-miner` binaries in a small Debian image
# that runs as a non-root user with its data in a volume:
#
#   docker build -t cinder .
#   docker run -v cinder-data:/data -p 8545:8545 -p 30333:30333 cinder node --chain /data/spec.toml
#
# deploy/compose.yaml builds it and runs a 4-validator testnet with
# Prometheus and Grafana (docs/operations.md, "Containers").

# --- build: the same toolchain and packages as the README's commands -------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# scripts/deps.sh: libclang and g++ for RocksDB, Debian's rustc 1.63 with its
# wasm32 standard library for the built-in contracts, the Vulkan loader.
RUN ./scripts/deps.sh \
 && CARGO_TARGET_DIR=/target cargo build --locked --profile dist -p cinder -p cinder-miner \
 && install -m 0755 /target/dist/cinder /target/dist/cinder-miner /usr/local/bin/

# --- run ---------------------------------------------------------------------
FROM debian:bookworm-slim
# libvulkan1: the loader wgpu opens for GPU mining and verification (the GPU
# driver's ICD comes from the host's container runtime, e.g. NVIDIA's with
# NVIDIA_DRIVER_CAPABILITIES=compute,graphics); without one the CPU paths run.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin cinder \
 && mkdir -p /data /net \
 && chown cinder:cinder /data /net
COPY --from=build /usr/local/bin/cinder /usr/local/bin/cinder-miner /usr/local/bin/
COPY deploy/testnet/validator.sh /usr/local/bin/cinder-validator
USER cinder
WORKDIR /data
VOLUME ["/data"]
# The node listens for RPC and metrics on every interface of the container
# (publish only what you mean to expose), peers on 30333 TCP and UDP (QUIC).
ENV CINDER_DATADIR=/data \
    CINDER_RPC_ADDR=0.0.0.0 \
    CINDER_METRICS_ADDR=0.0.0.0:9615 \
    CINDER_P2P_ADDR=/ip4/0.0.0.0/tcp/30333,/ip4/0.0.0.0/udp/30333/quic-v1
EXPOSE 8545 9615 30333/tcp 30333/udp
HEALTHCHECK --interval=15s --timeout=8s --start-period=60s --retries=3 \
  CMD ["cinder", "health", "--rpc", "http://127.0.0.1:8545", "--timeout", "5"]
ENTRYPOINT ["cinder"]
CMD ["--help"]
