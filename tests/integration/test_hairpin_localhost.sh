#!/usr/bin/env bash
# Hairpin (a container reaching its own and a neighbour's host port), localhost:hostPort from the
# node, and the CVE-2020-8558 guard: with route_localnet on the bridge, a neighbour on that bridge
# sending to 127.0.0.1 must reach neither a mapped port nor a node service bound to localhost.
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
ctr_add b
conflist "$T_DIR/net.conflist" hairpin-net 1.0.0
runtime ADD a "$(ctr_path a)" "$T_DIR/net.conflist" '[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
check "ADD a exits 0" [ "$T_RC" = 0 ]
runtime ADD b "$(ctr_path b)" "$T_DIR/net.conflist" '[]'
check "ADD b (no ports) exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns a)" 80 hello-a
check "a reaches its own host port (hairpin)" [ "$(tcp_get "$(ctr_ns a)" "$NODE_IP" 8080)" = hello-a ]
check "b reaches a's host port (hairpin through the node)" [ "$(tcp_get "$(ctr_ns b)" "$NODE_IP" 8080)" = hello-a ]
check "the node reaches 127.0.0.1:8080 (localhost)" [ "$(tcp_get "$NODE" 127.0.0.1 8080)" = hello-a ]
# [::1] cannot be mapped (IPv6 drops a loopback destination arriving from the bridge), so it is
# left alone: a client is refused at once instead of hanging on a SYN that can get no answer
# (Python's create_connection("localhost", ...) tries ::1 first), and the node's own ::1
# services keep working on a mapped port number.
out=$(ip netns exec "$NODE" socat -T3 - "TCP:[::1]:8080,connect-timeout=3" </dev/null 2>&1 || true)
check "[::1]:8080 from the node is refused at once, not translated into a SYN that hangs" grep -q "Connection refused" <<<"$out"
serve_tcp6 "$NODE" 8080 node-own-v6 ::1
check "the node's own service on [::1]:8080 answers the node" [ "$(tcp_get "$NODE" ::1 8080)" = node-own-v6 ]
check "route_localnet was turned on for the bridge only" \
  [ "$(ip netns exec "$NODE" sysctl -n "net.ipv4.conf.$BRIDGE.route_localnet")" = 1 ] 
check "... not for the uplink" [ "$(ip netns exec "$NODE" sysctl -n net.ipv4.conf.uplink.route_localnet)" = 0 ]

# b, on the same bridge, attacks: it sends to 127.0.0.1 through its gateway (a route that beats
# its own local table) and accepts answers from 127.0.0.1 (route_localnet on its own eth0; an
# attacker controls its own kernel). Without the guard the node answers: see the last checks.
ip netns exec "$(ctr_ns b)" sysctl -qw net.ipv4.conf.eth0.route_localnet=1
gw=$(ip -n "$(ctr_ns b)" -4 route show default | awk '{print $3}')
ip -n "$(ctr_ns b)" rule add pref 10 to 127.0.0.1 lookup 100
ip -n "$(ctr_ns b)" rule del pref 0 lookup local
ip -n "$(ctr_ns b)" rule add pref 20 lookup local
ip -n "$(ctr_ns b)" route add 127.0.0.1/32 via "$gw" dev eth0 table 100 onlink
serve_tcp "$NODE" 9999 node-secret 127.0.0.1
check "the node's localhost-only service answers the node" [ "$(tcp_get "$NODE" 127.0.0.1 9999)" = node-secret ]
check_no_answer "a neighbour cannot reach the node's localhost service" tcp "$(ctr_ns b)" 127.0.0.1 9999
check_no_answer "a neighbour cannot reach a mapped port through 127.0.0.1" tcp "$(ctr_ns b)" 127.0.0.1 8080
# Proof that the checks above test something: without the guard rule the attack works.
nft_node flush chain inet nft_port_mapper localnet-guard
check "control: without the guard the neighbour reaches the localhost service" \
  [ "$(tcp_get "$(ctr_ns b)" 127.0.0.1 9999)" = node-secret ]
nft_node add rule inet nft_port_mapper localnet-guard 'iifname != "lo" ip daddr 127.0.0.0/8 drop'

# snat: false turns hairpin masquerade off: a's own host port no longer answers a.
ctr_add c
conflist "$T_DIR/nosnat.conflist" nosnat-net 1.0.0 ', "snat": false'
runtime ADD c "$(ctr_path c)" "$T_DIR/nosnat.conflist" '[{"hostPort":8090,"containerPort":80,"protocol":"tcp"}]'
check "ADD with snat=false exits 0" [ "$T_RC" = 0 ]
check "snat=false puts nothing in hairpin4" [ "$(owned_count "net=nosnat-net id=c if=eth0")" = 3 ]

# deferClose: false (for a runtime that is a subreaper and reaps nothing it did not start): the
# calls work the same and leave no child behind, not even for a moment.
conflist "$T_DIR/nodefer.conflist" nosnat-net 1.0.0 ', "snat": false, "deferClose": false'
runtime DEL c "$(ctr_path c)" "$T_DIR/nodefer.conflist" '[{"hostPort":8090,"containerPort":80,"protocol":"tcp"}]'
check "DEL with deferClose=false exits 0 and removes the mapping" \
  [ "$T_RC/$(owned_count "net=nosnat-net id=c if=eth0")" = 0/0 ]
# The plugin's own document, as the conflist runner would hand it to the last plugin.
python3 -c 'import json,sys; n=json.load(open(sys.argv[1])); p=n["plugins"][-1]; p.update(name=n["name"], cniVersion=n["cniVersion"]); print(json.dumps(p))' \
  "$T_DIR/nodefer.conflist" > "$T_DIR/nodefer.json"
orphans() {  # orphans CONFIG [NS]: what a DEL under a subreaper, in NS (default NODE), leaves it
  ip netns exec "${2:-$NODE}" env -i CNI_COMMAND=DEL CNI_CONTAINERID=c CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
    python3 "$(dirname "$0")/../tools/subreaper_orphans.py" "$NFTPM_BIN" < "$1"
}
check "... and a subreaper running it gets no orphan" [ "$(orphans "$T_DIR/nodefer.json")" = 0 ]
# Control, and what deferClose on does: the first call in a namespace starts its socket keeper
# (include/nftpm/socket_keeper.h), which outlives the call: the subreaper gets it.
sed 's/"deferClose": false/"deferClose": true/' "$T_DIR/nodefer.json" > "$T_DIR/defer.json"
ns_add "$T_ID-fresh"
check_eq "control: with deferClose on, a subreaper in a namespace with no keeper yet gets the keeper" \
  "$(orphans "$T_DIR/defer.json" "$T_ID-fresh")" 1
finish
