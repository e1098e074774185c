#!/usr/bin/env bash
# Every example config in conf/ works: Mesos configs through the delegate with injected args,
# conflists through the libcni stand-in; each maps a port that a remote client then reaches.
# Only host-local's dataDir and logFile are pointed into the test's own directory.
source "$(dirname "$0")/harness.sh"
topology
CONF_DIR="$(dirname "$0")/../../conf"
n=0
# The examples reuse bridge names and subnets (as separate nodes would): each starts from a node
# with no bridge left by the one before.
no_bridges() {
  for b in $(ip -n "$NODE" -o link show type bridge | awk -F': ' '{print $2}'); do ip -n "$NODE" link del "$b"; done
}
adapt() {  # adapt SRC DST: dataDir and logFile into $T_DIR, Mesos args injected when it is a Mesos config
  python3 - "$1" "$2" "$T_DIR/ipam-$n" "$T_DIR/log-$n" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
def ipam_of(p): return p.get("ipam") if isinstance(p, dict) else None
for p in ([c.get("delegate")] if "delegate" in c else c.get("plugins", [])):
    if p and ipam_of(p) is not None:
        p["ipam"]["dataDir"] = sys.argv[3]
if "logFile" in c:
    c["logFile"] = sys.argv[4]
if "delegate" in c:
    c["args"] = {"org.apache.mesos": {"network_info": {"name": c["name"],
                 "port_mappings": [{"host_port": 8080, "container_port": 80, "protocol": "tcp"}]}}}
json.dump(c, open(sys.argv[2], "w"))
PY
}
for f in "$CONF_DIR"/portmapper.conf "$CONF_DIR"/mesos-mini-bridge.conf "$CONF_DIR"/godocker/godocker-net.conf; do
  n=$((n + 1)); name=$(basename "$f")
  ctr_add "m$n"
  adapt "$f" "$T_DIR/m$n.json"
  check "$name parses as the plugin parses it" eval "ip netns exec $NODE $NFTPM_BIN check --config $T_DIR/m$n.json --cni-path /usr/lib/cni >/dev/null"
  cni ADD "mesos-$n" "$(ctr_path m$n)" "$T_DIR/m$n.json"
  check "$name: ADD exits 0" [ "$T_RC" = 0 ]
  check "$name: its mapping is in the table, owned" [ "$(owned_total)" -gt 0 ]
  serve_tcp "$(ctr_ns m$n)" 80 "hello-$n"
  check "$name: a remote client reaches the container" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = "hello-$n" ]
  cni DEL "mesos-$n" "$(ctr_path m$n)" "$T_DIR/m$n.json"
  check "$name: DEL exits 0" [ "$T_RC" = 0 ]
  ip netns pids "$(ctr_ns m$n)" | xargs -r kill
  no_bridges
done
check "godocker-net.conf logged its calls to its logFile" grep -q "ADD net=godocker-net id=mesos-3" "$T_DIR/log-3"
check "go-d.ini names the network godocker-net.conf defines" \
  grep -q "port_mapper_network_name: 'godocker-net'" "$CONF_DIR/godocker/go-d.ini"
for f in "$CONF_DIR"/containerd/*.conflist "$CONF_DIR"/crio/*.conflist "$CONF_DIR"/podman/*.conflist; do
  n=$((n + 1)); name=$(basename "$f")
  ctr_add "c$n"
  adapt "$f" "$T_DIR/c$n.conflist"
  runtime ADD "chained-$n" "$(ctr_path c$n)" "$T_DIR/c$n.conflist" '[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
  check "$name: ADD through the chain exits 0" [ "$T_RC" = 0 ]
  check "$name: its mapping is in the table, owned" [ "$(owned_total)" -gt 0 ]
  serve_tcp "$(ctr_ns c$n)" 80 "hello-$n"
  check "$name: a remote client reaches the container" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = "hello-$n" ]
  runtime DEL "chained-$n" "$(ctr_path c$n)" "$T_DIR/c$n.conflist" '[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
  check "$name: DEL exits 0" [ "$T_RC" = 0 ]
  ip netns pids "$(ctr_ns c$n)" | xargs -r kill
  no_bridges
done
check_eq "nothing is left in the table (each example owned elements after its ADD: the controls above)" "$(owned_total)" 0
finish
