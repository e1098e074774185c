#!/usr/bin/env bash
# CNI 1.1 GC removes exactly the mappings of this network whose owner is not a valid attachment.
source "$(dirname "$0")/harness.sh"
topology
for c in keep stale; do ctr_add $c; done
# Debian's bridge speaks up to 1.0.0; GC itself is sent at 1.1.0 below.
conflist "$T_DIR/net.conflist" gc-net 1.0.0
runtime ADD keep "$(ctr_path keep)" "$T_DIR/net.conflist" '[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
check "setup: keep mapped" [ "$T_RC" = 0 ]
runtime ADD stale "$(ctr_path stale)" "$T_DIR/net.conflist" '[{"hostPort":8081,"containerPort":80,"protocol":"tcp"}]'
check "setup: stale mapped" [ "$T_RC" = 0 ]
# Another network on the same node, which this GC must not touch.
ctr_add othernet
OTHER_CONF=$T_DIR/other.json
mesos_config "$OTHER_CONF" other-net OTHER-PORT-MAPPER '[{"host_port":8082,"container_port":80}]' \
  "[\"$BRIDGE\"]" '{}' "pmo$$" 10.96.0.0/24 "$T_DIR/ipam2"
cni ADD other1 "$(ctr_path othernet)" "$OTHER_CONF"
check "setup: another network's container mapped" [ "$T_RC" = 0 ]
for c in keep stale; do serve_tcp "$(ctr_ns $c)" 80 "hello-$c"; done
before_other=$(owned_count "net=other-net id=other1 if=eth0")
before_stale=$(owned_count "net=gc-net id=stale if=eth0")
before_keep=$(owned_count "net=gc-net id=keep if=eth0")
check "before GC the stale one answers (control for the probe after GC)" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" = hello-stale ]
python3 - "$T_DIR/net.conflist" "$T_DIR/gc.json" <<'PY'
import json, sys
net = json.load(open(sys.argv[1]))
conf = dict(net["plugins"][1]); conf["name"] = net["name"]; conf["cniVersion"] = "1.1.0"
conf["cni.dev/valid-attachments"] = [{"containerID": "keep", "ifname": "eth0"}]
json.dump(conf, open(sys.argv[2], "w"))
PY
cni GC "" "" "$T_DIR/gc.json"
check "GC exits 0" [ "$T_RC" = 0 ]
check "before GC both were mapped, and the other network too (controls for the counts)" \
  [ "$before_keep/$before_stale/$((before_other > 0))" = 5/5/1 ]
check "the invalid attachment's elements are gone" [ "$(owned_count "net=gc-net id=stale if=eth0")" = 0 ]
check "the valid attachment's elements are all there" [ "$(owned_count "net=gc-net id=keep if=eth0")" = 5 ]
check "another network's elements are untouched" [ "$(owned_count "net=other-net id=other1 if=eth0")" = "$before_other" ]
check "the valid one still answers" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-keep ]
check_no_answer "the collected one no longer does" tcp "$REMOTE" "$NODE_IP" 8081
finish
