#!/usr/bin/env bash
# hostIP bindings: only traffic to that host address is mapped; the same port unbound maps the
# node's other addresses; a hostIP of one family maps that family only.
source "$(dirname "$0")/harness.sh"
topology
SECOND_IP="10.99.$T_NET.3"
ip -n "$NODE" addr add "$SECOND_IP/24" dev uplink
ctr_add bound
ctr_add unbound
ctr_add v6only
conflist "$T_DIR/net.conflist" hostip-net 1.0.0
runtime ADD bound "$(ctr_path bound)" "$T_DIR/net.conflist" "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"$NODE_IP\"}]"
check "ADD bound to $NODE_IP exits 0" [ "$T_RC" = 0 ]
runtime ADD unbound "$(ctr_path unbound)" "$T_DIR/net.conflist" '[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
check "ADD of the same port unbound exits 0 (a binding is a different key)" [ "$T_RC" = 0 ]
runtime ADD v6only "$(ctr_path v6only)" "$T_DIR/net.conflist" "[{\"hostPort\":9090,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"$NODE_IP6\"}]"
check "ADD bound to an IPv6 host address exits 0" [ "$T_RC" = 0 ]
for c in bound unbound v6only; do serve_tcp "$(ctr_ns $c)" 80 "hello-$c"; serve_tcp6 "$(ctr_ns $c)" 80 "hello6-$c"; done
check "traffic to the bound address goes to the bound container" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-bound ]
check "traffic to the other address goes to the unbound one" [ "$(tcp_get "$REMOTE" "$SECOND_IP" 8080)" = hello-unbound ]
check "the IPv6-bound mapping answers on that address" [ "$(tcp_get "$REMOTE" "$NODE_IP6" 9090)" = hello6-v6only ]
check_no_answer "the IPv6-bound mapping does not map IPv4" tcp "$REMOTE" "$NODE_IP" 9090
ctr_add other
runtime ADD other "$(ctr_path other)" "$T_DIR/net.conflist" "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"$NODE_IP\"}]"
check "a second binding of the same address and port is a conflict" [ "$(json_get 'j["code"]' <<<"$T_OUT")" = 105 ]
runtime DEL bound "$(ctr_path bound)" "$T_DIR/net.conflist" "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"$NODE_IP\"}]"
check "after the bound container's DEL, its address falls back to the unbound mapping" \
  [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-unbound ]

# Across networks: an unbound 7070 in this network, then a binding of 7070 on $NODE_IP in a second
# network made later. Every network's bindings are tried before any network's unbound mappings.
ctr_add n2
BRIDGE2="pmb2$$"; BRIDGE2=${BRIDGE2:0:15}
conflist "$T_DIR/net2.conflist" hostip-net2 1.0.0
sed -i "s/\"bridge\": \"$BRIDGE\"/\"bridge\": \"$BRIDGE2\"/; s#$CTR_SUBNET#10.95.0.0/24#; s#$CTR_SUBNET6#fd95::/64#; s#$T_DIR/ipam#$T_DIR/ipam2#" "$T_DIR/net2.conflist"
ctr_add u7
runtime ADD u7 "$(ctr_path u7)" "$T_DIR/net.conflist" '[{"hostPort":7070,"containerPort":80,"protocol":"tcp"}]'
check "an unbound 7070 in the first network" [ "$T_RC" = 0 ]
runtime ADD n2 "$(ctr_path n2)" "$T_DIR/net2.conflist" "[{\"hostPort\":7070,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"$NODE_IP\"}]"
check "a binding of 7070 on $NODE_IP in a second network" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns u7)" 80 hello-u7
serve_tcp "$(ctr_ns n2)" 80 hello-n2
check "the later network's binding wins for its address" [ "$(tcp_get "$REMOTE" "$NODE_IP" 7070)" = hello-n2 ]
check "the first network's unbound mapping serves the other address" [ "$(tcp_get "$REMOTE" "$SECOND_IP" 7070)" = hello-u7 ]

# The unspecified addresses keep their family, as the reference plugin reads them: 0.0.0.0 maps
# every IPv4 address and no IPv6 one, :: the other way round; both together map both.
ctr_add any4
ctr_add any6
ctr_add anyboth
runtime ADD any4 "$(ctr_path any4)" "$T_DIR/net.conflist" '[{"hostPort":6060,"containerPort":80,"protocol":"tcp","hostIP":"0.0.0.0"}]'
check "ADD with hostIP 0.0.0.0 exits 0" [ "$T_RC" = 0 ]
runtime ADD any6 "$(ctr_path any6)" "$T_DIR/net.conflist" '[{"hostPort":6061,"containerPort":80,"protocol":"tcp","hostIP":"::"}]'
check "ADD with hostIP :: exits 0" [ "$T_RC" = 0 ]
BOTH='[{"hostPort":6062,"containerPort":80,"protocol":"tcp","hostIP":"0.0.0.0"},{"hostPort":6062,"containerPort":80,"protocol":"tcp","hostIP":"::"}]'
runtime ADD anyboth "$(ctr_path anyboth)" "$T_DIR/net.conflist" "$BOTH"
check "ADD with 0.0.0.0:6062 and [::]:6062 together exits 0" [ "$T_RC" = 0 ]
for c in any4 any6 anyboth; do serve_tcp "$(ctr_ns $c)" 80 "hello-$c"; serve_tcp6 "$(ctr_ns $c)" 80 "hello6-$c"; done
check "0.0.0.0 maps IPv4 (both node addresses)" \
  [ "$(tcp_get "$REMOTE" "$NODE_IP" 6060)/$(tcp_get "$REMOTE" "$SECOND_IP" 6060)" = hello-any4/hello-any4 ]
check_no_answer "0.0.0.0 does not map IPv6" tcp "$REMOTE" "$NODE_IP6" 6060
check ":: maps IPv6" [ "$(tcp_get "$REMOTE" "$NODE_IP6" 6061)" = hello6-any6 ]
check_no_answer ":: does not map IPv4" tcp "$REMOTE" "$NODE_IP" 6061
check "0.0.0.0 with :: maps both families" \
  [ "$(tcp_get "$REMOTE" "$NODE_IP" 6062)/$(tcp_get "$REMOTE" "$NODE_IP6" 6062)" = hello-anyboth/hello6-anyboth ]
runtime CHECK anyboth "$(ctr_path anyboth)" "$T_DIR/net.conflist" "$BOTH"
check "CHECK of the pair exits 0" [ "$T_RC" = 0 ]
check "the pair owns elements before DEL (control)" [ "$(owned_count "net=hostip-net id=anyboth if=eth0")" -gt 0 ]
runtime DEL anyboth "$(ctr_path anyboth)" "$T_DIR/net.conflist" "$BOTH"
check "DEL of the pair leaves nothing of it" [ "$(owned_count "net=hostip-net id=anyboth if=eth0")" = 0 ]

# hostIP 127.0.0.1 (a port for the node's own processes only): reached on localhost, not through
# the node's address, from the node or from outside.
ctr_add lo1
runtime ADD lo1 "$(ctr_path lo1)" "$T_DIR/net.conflist" '[{"hostPort":8088,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}]'
check "ADD bound to 127.0.0.1 exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns lo1)" 80 hello-lo1
check "the node reaches 127.0.0.1:8088" [ "$(tcp_get "$NODE" 127.0.0.1 8088)" = hello-lo1 ]
check_no_answer "the node does not reach $NODE_IP:8088" tcp "$NODE" "$NODE_IP" 8088
check_no_answer "the remote does not reach $NODE_IP:8088" tcp "$REMOTE" "$NODE_IP" 8088
finish
