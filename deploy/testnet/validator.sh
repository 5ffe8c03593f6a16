#!/bin/sh
# Runs validator $CINDER_INDEX of a proof-of-stake testnet that
# `cinder testnet --consensus pos --nodes N --datadir $CINDER_NET --init`
# prepared (spec, admin token, node-i/{node.key,validator.key,peer-id}).
# The compose testnet's validators run it (deploy/compose.yaml), and so does
# cli_it's `the_compose_validator_script_runs_a_finalizing_testnet` on
# loopback. Node i > 0 joins through node 0 at $CINDER_BOOTNODE (its address
# without /p2p, e.g. /ip4/172.30.0.10/tcp/30333). Everything else is the
# node's own environment: CINDER_RPC_ADDR, CINDER_RPC_PORT, CINDER_P2P_ADDR,
# CINDER_EXTERNAL_ADDR, CINDER_METRICS_ADDR, ... (`cinder node --help`).
set -eu
net="${CINDER_NET:-/net}"
i="${CINDER_INDEX:?CINDER_INDEX: which node of the testnet (0, 1, ...)}"
home="$net/node-$i"
for f in "$net/devnet.toml" "$net/admin.token" "$home/node.key" "$home/validator.key"; do
  [ -f "$f" ] || { echo "validator.sh: no $f: run cinder testnet --consensus pos --init --datadir $net first" >&2; exit 1; }
done
set -- node --chain "$net/devnet.toml" --datadir "$home" --node-key "$home/node.key" \
  --validator-key "$home/validator.key" --admin-token-file "$net/admin.token" --kad-server
if [ "$i" != 0 ]; then
  boot="${CINDER_BOOTNODE:?CINDER_BOOTNODE: node 0 address, e.g. /ip4/172.30.0.10/tcp/30333}"
  set -- "$@" --bootnodes "$boot/p2p/$(cat "$net/node-0/peer-id")"
fi
exec "${CINDER_BIN:-cinder}" "$@"
