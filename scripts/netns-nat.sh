#!/usr/bin/env bash
# A NAT lab in network namespaces (root, iproute2, iptables): the NAT
# traversal test (node/cli/tests/it/nat.rs) builds it under its own prefix,
# and it serves for trying AutoNAT, relays and hole punching by hand:
#
#   $P-relay 10.77.3.2 --- $P-wan --- 10.77.1.2 $P-nata (MASQUERADE) 192.168.71.1 --- $P-a 192.168.71.2
#                                \--- 10.77.2.2 $P-natb (MASQUERADE) 192.168.72.1 --- $P-b 192.168.72.2
#
# The NAT routers forward and accept from the wan only what belongs to a
# connection from inside (no RST for unsolicited packets, like home routers).
# Usage: scripts/netns-nat.sh up|down [prefix]; then e.g.
#   ip netns exec cz-relay cinder node ... --p2p-addr /ip4/10.77.3.2/tcp/4001 --external-addr /ip4/10.77.3.2/tcp/4001 --relay-server --kad-server
#   ip netns exec cz-a cinder node ... --bootnodes <relay> --relays <relay> --kad-server
set -euo pipefail
P=${2:-cz}
names=(wan relay nata natb a b)
if [ "${1:-}" = down ]; then
  for n in "${names[@]}"; do ip netns del "$P-$n" 2>/dev/null || true; done
  exit 0
fi
[ "${1:-}" = up ] || { echo "usage: $0 up|down [prefix]" >&2; exit 2; }
for n in "${names[@]}"; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
link() { # ns1 if1 ns2 if2
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}
link "$P-wan" w-r "$P-relay" r-w
link "$P-wan" w-na "$P-nata" na-w
link "$P-wan" w-nb "$P-natb" nb-w
link "$P-nata" na-l "$P-a" a-l
link "$P-natb" nb-l "$P-b" b-l
# ns device address [default gateway]
addr() { ip -n "$1" addr add "$3" dev "$2"; [ -z "${4:-}" ] || ip -n "$1" route add default via "$4"; }
addr "$P-wan" w-r 10.77.3.1/24;   addr "$P-relay" r-w 10.77.3.2/24 10.77.3.1
addr "$P-wan" w-na 10.77.1.1/24;  addr "$P-nata" na-w 10.77.1.2/24 10.77.1.1
addr "$P-wan" w-nb 10.77.2.1/24;  addr "$P-natb" nb-w 10.77.2.2/24 10.77.2.1
addr "$P-nata" na-l 192.168.71.1/24; addr "$P-a" a-l 192.168.71.2/24 192.168.71.1
addr "$P-natb" nb-l 192.168.72.1/24; addr "$P-b" b-l 192.168.72.2/24 192.168.72.1
for n in wan nata natb; do ip netns exec "$P-$n" sh -c "echo 1 > /proc/sys/net/ipv4/ip_forward"; done
for x in a b; do
  ns="$P-nat$x" wan="n$x-w" lan="n$x-l"
  ip netns exec "$ns" iptables -t nat -A POSTROUTING -o "$wan" -j MASQUERADE
  ip netns exec "$ns" iptables -A FORWARD -i "$wan" -o "$lan" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  ip netns exec "$ns" iptables -A FORWARD -i "$wan" -o "$lan" -j DROP
  ip netns exec "$ns" iptables -A INPUT -i "$wan" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  ip netns exec "$ns" iptables -A INPUT -i "$wan" -j DROP
done
