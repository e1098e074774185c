#!/usr/bin/env bash
# Only local destinations are translated: a packet routed through the node to another host, on a
# port that is mapped here, reaches that host untouched (early nftables portmap hijacked it).
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
FAR="$T_ID-far"
ns_add "$FAR"
veth_pair "$NODE" tofar "$FAR" eth0
ip -n "$NODE" addr add 10.97.0.1/24 dev tofar
ip -n "$FAR" addr add 10.97.0.2/24 dev eth0
ip -n "$FAR" route add default via 10.97.0.1
conflist "$T_DIR/net.conflist" transit-net 1.0.0
runtime ADD a "$(ctr_path a)" "$T_DIR/net.conflist" '[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
check "ADD exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns a)" 80 container
serve_tcp "$FAR" 8080 far-host
check "to the node's own address: translated to the container" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = container ]
check "through the node to another host: untranslated" [ "$(tcp_get "$REMOTE" 10.97.0.2 8080)" = far-host ]
finish
