#!/usr/bin/env bash
# Stale conntrack entries are deleted over ctnetlink: a UDP flow (same 5-tuple, sent again and
# again) follows the mapping when the container behind a host port is replaced, and a flow that
# started before the port was mapped is picked up by the new mapping. Without the sweep both
# would keep following their old conntrack entry.
source "$(dirname "$0")/harness.sh"
topology
ctr_add old
ctr_add new
MAP='[{"hostPort":5353,"containerPort":53,"protocol":"udp"}]'
conflist "$T_DIR/net.conflist" udp-net 1.0.0

# Conntrack runs in a namespace only once something needs it; on a real node something always
# does. Another container's mapping makes this node like one.
ctr_add other
runtime ADD other "$(ctr_path other)" "$T_DIR/net.conflist" '[{"hostPort":7000,"containerPort":7000,"protocol":"udp"}]'
# A flow before the mapping: the node answers nothing, but conntrack remembers it un-translated.
udp_get "$REMOTE" "$NODE_IP" 5353 40000 >/dev/null
flows() {  # the node's conntrack entries for udp 5353 (a failing conntrack ends the test)
  ip netns exec "$NODE" conntrack -L -p udp --dport 5353 2>"$T_DIR/conntrack.err" ||
    die "conntrack -L failed: $(cat "$T_DIR/conntrack.err")"
}
check "conntrack remembers the flow, un-translated (reply from the node itself)" \
  grep -q "src=$NODE_IP dst=$REMOTE_IP sport=5353" <<<"$(flows)"
runtime ADD old "$(ctr_path old)" "$T_DIR/net.conflist" "$MAP"
serve_udp "$(ctr_ns old)" 53 from-old
check "ADD removed the un-translated entry" [ -z "$(grep "src=$NODE_IP dst=$REMOTE_IP sport=5353" <<<"$(flows)")" ]
check "the flow that predates the mapping now reaches the container" [ "$(udp_get "$REMOTE" "$NODE_IP" 5353 40000)" = from-old ]
check "the same flow again" [ "$(udp_get "$REMOTE" "$NODE_IP" 5353 40000)" = from-old ]

old_ip=$(ip -n "$(ctr_ns old)" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
check "conntrack has the flow translated to the old container" grep -q "src=$old_ip" <<<"$(flows)"
runtime DEL old "$(ctr_path old)" "$T_DIR/net.conflist" "$MAP"
check "DEL old exits 0" [ "$T_RC" = 0 ]
check "DEL removed the flow translated to the old container" [ -z "$(grep "src=$old_ip" <<<"$(flows)")" ]
runtime ADD new "$(ctr_path new)" "$T_DIR/net.conflist" "$MAP"
check "ADD new on the same host port exits 0" [ "$T_RC" = 0 ]
serve_udp "$(ctr_ns new)" 53 from-new
check "the same 5-tuple now reaches the new container" [ "$(udp_get "$REMOTE" "$NODE_IP" 5353 40000)" = from-new ]
finish
