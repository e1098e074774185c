#!/usr/bin/env bash
# Mesos nests container IDs (parent.child). DEL of the parent P must not touch P.C: the old
# plugin's unanchored regex deleted both. Owners are compared whole.
source "$(dirname "$0")/netns.sh"
topology
ctr_add p
ctr_add pc
P=5d1e0a3c-0000-4000-8000-000000000001
mesos_config "$T_DIR/p.json" nest-net NEST-PORT-MAPPER '[{"host_port":8080,"container_port":80}]'
mesos_config "$T_DIR/pc.json" nest-net NEST-PORT-MAPPER '[{"host_port":8081,"container_port":80}]'
cni ADD "$P" "$(ctr_path p)" "$T_DIR/p.json"
check "ADD P exits 0" [ "$T_RC" = 0 ]
cni ADD "$P.child1" "$(ctr_path pc)" "$T_DIR/pc.json"
check "ADD P.child1 exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns pc)" 80 hello-child
wait_listen "$(ctr_ns pc)" 80
cni DEL "$P" "$(ctr_path p)" "$T_DIR/p.json"
check "DEL P exits 0" [ "$T_RC" = 0 ]
check "P's elements are gone" [ "$(owned_count "net=nest-net id=$P if=eth0")" = 0 ]
check "P.child1's elements are all still there" [ "$(owned_count "net=nest-net id=$P.child1 if=eth0")" = 3 ]
check "P.child1 still reachable" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" = hello-child ]
# And the scan path (DEL with no mappings in args) is exact too.
ctr_add p2
mesos_config "$T_DIR/p2.json" nest-net NEST-PORT-MAPPER '[{"host_port":8082,"container_port":80}]'
cni ADD "$P" "$(ctr_path p2)" "$T_DIR/p2.json"
python3 - "$T_DIR/p2.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); del c["args"]; json.dump(c, open(sys.argv[1], "w"))
PY
cni DEL "$P" "$(ctr_path p2)" "$T_DIR/p2.json"
check "DEL P without args (scan) exits 0" [ "$T_RC" = 0 ]
check "scan removed P's elements" [ "$(owned_count "net=nest-net id=$P if=eth0")" = 0 ]
check "scan left P.child1's elements" [ "$(owned_count "net=nest-net id=$P.child1 if=eth0")" = 3 ]
finish
