#!/usr/bin/env bash
# The Mesos Docker executor's way of calling the plugin (the open Mesos PR adding CNI to it), which
# differs from the agent's: the network config file unchanged (no "args", so no port mappings, and
# "cniVersion":"0.2.0" at the top), CNI_NETNS=/proc/<pid>/ns/net of the container's process (not a
# bind mount under /var/run/netns), CNI_IFNAME=eth1, a Docker 64-hex container id, and it reads
# ip4.ip from the answer. A real process in its own network namespace plays the container: ADD
# answers in the 0.2.0 form, eth1 holds the address, traffic flows both ways, no mapping is made;
# CHECK (a 0.4.0 verb) is refused cleanly; DEL releases the address (no record was kept), DEL again
# after the process exited (the /proc path dangling) succeeds, as does a first DEL after the
# container died. The agent's path on the same network keeps working beside it.
source "$(dirname "$0")/harness.sh"
topology
ctr_add agent
NET="it-dexec-$$"
CHAIN="DEXEC-IT-PORT-MAPPER"
STATE="$T_DIR/state"
NODE_NETNS=$(ip netns exec "$NODE" readlink /proc/self/ns/net) || die "cannot read the node's netns"

# ---------------------------------------------------------------------------------------------
# Containers as the Docker executor has them: a process whose network namespace has no name.
DX_PIDS=()   # every process this test started outside the harness's bookkeeping
dexec_cleanup() {
  set +e   # (a process already gone must not end the clean-up)
  local p
  for p in "${DX_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in "${DX_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  return 0
}
on_exit dexec_cleanup
# start_container: a sleep in a new network namespace made from inside NODE; sets CTR_PID to the
# pid of the process really in that namespace (unshare's forked child).
start_container() {
  local launcher child ns _
  ip netns exec "$NODE" unshare --net --fork --kill-child sleep 600 </dev/null >/dev/null 2>&1 &
  launcher=$!
  DX_PIDS+=("$launcher")
  for _ in $(seq 50); do
    child=$(pgrep -P "$launcher" -x sleep || true)
    if [ -n "$child" ]; then
      ns=$(readlink "/proc/$child/ns/net" 2>/dev/null || true)
      if [ -n "$ns" ] && [ "$ns" != "$NODE_NETNS" ]; then
        DX_PIDS+=("$child")
        CTR_PID=$child
        return 0
      fi
    fi
    sleep 0.1
  done
  die "the container process did not start in a network namespace of its own"
}
in_ctr() { local pid=$1; shift; nsenter --net="/proc/$pid/ns/net" "$@"; }   # in_ctr PID CMD...
# ctr_serve_tcp PID PORT TEXT: a TCP server in the process's namespace, waited for until it listens.
ctr_serve_tcp() {
  local _
  nsenter --net="/proc/$1/ns/net" socat "TCP4-LISTEN:$2,fork,reuseaddr" "SYSTEM:echo $3" </dev/null >/dev/null 2>&1 &
  DX_PIDS+=($!)
  for _ in $(seq 50); do
    in_ctr "$1" ss -Hltn -4 "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  die "the TCP server in process $1's namespace on port $2 did not start"
}
# ctr_tcp_get PID ADDR PORT: what a TCP client in the process's namespace gets (as probe_run does:
# no answer is empty, a probe that cannot run ends the test).
ctr_tcp_get() {
  local out rc errf="$T_DIR/ctrprobe.$BASHPID"
  [ -e "/proc/$1/ns/net" ] || die "no process $1"
  set +e
  out=$(in_ctr "$1" timeout 5 socat -t3 -T3 - "TCP:$2:$3,connect-timeout=2" </dev/null 2>"$errf")
  rc=$?
  set -e
  if [ "$rc" != 0 ] && [ "$rc" != 124 ] && ! grep -qE "$PROBE_NO_ANSWER" "$errf"; then
    die "probe $2:$3 from process $1 could not run (exit $rc): $(head -c 300 "$errf")"
  fi
  printf '%s' "$out"
}
docker_id() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
record_of() { find "$STATE" -path "*/$NET/$1:$2*" -type f 2>/dev/null || true; }   # record_of CID IFNAME

# ---------------------------------------------------------------------------------------------
# The configs: the executor's (conf/portmapper.conf's shape, no args, cniVersion 0.2.0) and the
# agent's (same network, args with one mapping, no cniVersion).
DX_CONF="$T_DIR/docker-executor.json"
mesos_config "$DX_CONF" "$NET" "$CHAIN" none "[\"$BRIDGE\"]" "{\"cniVersion\":\"0.2.0\",\"stateDir\":\"$STATE\"}"
AG_CONF="$T_DIR/agent.json"
mesos_config "$AG_CONF" "$NET" "$CHAIN" '[{"host_port":8080,"container_port":80,"protocol":"tcp"}]' \
  "[\"$BRIDGE\"]" "{\"stateDir\":\"$STATE\"}"
dx=$(cat "$DX_CONF")
check_eq "the executor's config has no 'args'" "$(jget 'has("args")' "$dx")" false
check_eq "the executor's config says cniVersion 0.2.0 at the top" "$(jget '.cniVersion' "$dx")" 0.2.0
check_eq "control: the agent's config has args with port mappings" "$(jget '.args["org.apache.mesos"].network_info.port_mappings | length' "$(cat "$AG_CONF")")" 1

log "the Mesos agent's container, with a mapping (beside the executor's)"
CID_AG=7e2b1c9a-3d4f-4a5b-8c6d-0e1f2a3b4c5d
TAG_AG=$(tag_of "$NET" "$CID_AG" eth0)
cni ADD "$CID_AG" "$(ctr_path agent)" "$AG_CONF"
require "the agent's ADD exits 0" [ "$T_RC" = 0 ]
IP_AG=$(jget '.ip4.ip // empty' "$T_OUT")
serve_tcp "$(ctr_ns agent)" 80 hello-agent
check_eq "remote -> $NODE_IP:8080 reaches the agent's container" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-agent

log "ADD as the Docker executor does: /proc/<pid>/ns/net, eth1, no args, cniVersion 0.2.0"
start_container
PID1=$CTR_PID
check "the container process ($PID1) is in a namespace other than the node's" \
  [ "$(readlink "/proc/$PID1/ns/net")" != "$NODE_NETNS" ]
CID1=$(docker_id)
check_match "the container id is Docker's 64 hex digits" '^[0-9a-f]{64}$' "$CID1"
TAG1=$(tag_of "$NET" "$CID1" eth1)
cni ADD "$CID1" "/proc/$PID1/ns/net" "$DX_CONF" eth1
require "ADD exits 0" [ "$T_RC" = 0 ]
require "stdout is a JSON object" is_json_object "$T_OUT"
IP1=$(jget '.ip4.ip // empty' "$T_OUT")
check_match "the answer has ip4.ip, a CIDR in $CTR_SUBNET" "^10\.77\.$T_NET\.[0-9]+/24$" "$IP1"
check_eq "the answer says cniVersion 0.2.0" "$(jget '.cniVersion // empty' "$T_OUT")" 0.2.0
check_eq "the answer has no 'ips' (the 0.2.0 form)" "$(jget 'has("ips")' "$T_OUT")" false
check_eq "the answer has no 'interfaces'" "$(jget 'has("interfaces")' "$T_OUT")" false
CIP1=${IP1%/*}
check_match "eth1 in the process's namespace holds $IP1" "inet ${IP1//./\\.} " "$(in_ctr "$PID1" ip -4 -o addr show dev eth1 2>&1)"
links1=$(in_ctr "$PID1" ip -o link show 2>&1)
check_match "control: ip looks into the process's namespace (eth1 listed)" ": eth1@" "$links1"
check_no_match "the delegate made no eth0 there (only eth1 was asked)" ": eth0[@:]" "$links1"
check "host-local recorded $CIP1 in its dataDir" test -f "$IPAM_DIR/$NET/$CIP1"
check "host-local's entry names the container" grep -q "$CID1" "$IPAM_DIR/$NET/$CIP1"
# Records exist to put mappings back after a flush: with no mapping there is nothing to record.
check_eq "control: the agent's attachment has its record under stateDir" "$(record_of "$CID_AG" eth0 | wc -l)" 1
check_eq "no record is kept for the executor's attachment (it has no mapping)" "$(record_of "$CID1" eth1)" ""

log "traffic both ways between the node and the container"
ctr_serve_tcp "$PID1" 80 hello-dexec
check_eq "control: the node reaches the agent's container by its address" "$(tcp_get "$NODE" "${IP_AG%/*}" 80)" hello-agent
check_eq "the node reaches the container at $CIP1:80" "$(tcp_get "$NODE" "$CIP1" 80)" hello-dexec
check_eq "the container reaches the node ($NODE_IP)" "$(ctr_tcp_get "$PID1" "$NODE_IP" "$CONTROL_PORT")" control
check_eq "the container reaches the node by the bridge's address" "$(ctr_tcp_get "$PID1" "10.77.$T_NET.1" "$CONTROL_PORT")" control
serve_tcp "$REMOTE" 7070 remote-here
check_eq "the container reaches the remote (default route via the bridge)" "$(ctr_tcp_get "$PID1" "$REMOTE_IP" 7070)" remote-here

log "no mapping was made for the executor's container (no args)"
check "control: the agent's container owns elements (the count works)" [ "$(owned_count "$TAG_AG")" -gt 0 ]
check_eq "no element is owned by the executor's container ($TAG1)" "$(owned_count "$TAG1")" 0
check_eq "nor under eth0 (a wrong ifname in the owner)" "$(owned_count "$(tag_of "$NET" "$CID1" eth0)")" 0
check_eq "the table's only owner is the agent's container" "$(owners)" "$TAG_AG"
check_no_answer "the container's port 80 is not published on the node" tcp "$REMOTE" "$NODE_IP" 80
check_eq "the agent's mapping still works beside it" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-agent

log "CHECK with cniVersion 0.2.0 (CHECK is a 0.4.0 verb)"
python3 - "$DX_CONF" "$T_DIR/check.json" "$T_OUT" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["prevResult"] = json.loads(sys.argv[3]); json.dump(c, open(sys.argv[2], "w"))
PY
cni CHECK "$CID1" "/proc/$PID1/ns/net" "$T_DIR/check.json" eth1
check_rc "CHECK is refused" nonzero
check_eq "... with code 1 (incompatible version)" "$(jget '.code // empty' "$T_OUT")" 1
check_match "eth1 still holds $IP1 after the refused CHECK" "inet ${IP1//./\\.} " "$(in_ctr "$PID1" ip -4 -o addr show dev eth1 2>&1)"
check_eq "the container still answers after the refused CHECK" "$(tcp_get "$NODE" "$CIP1" 80)" hello-dexec

log "DEL as the Docker executor does (same env), while the process lives"
cni DEL "$CID1" "/proc/$PID1/ns/net" "$DX_CONF" eth1
check_rc "DEL exits 0" 0
check "host-local released $CIP1" test ! -e "$IPAM_DIR/$NET/$CIP1"
check_eq "no record (nor .deleting) is left for it" "$(record_of "$CID1" eth1)" ""
check_eq "control: the agent's record is still there" "$(record_of "$CID_AG" eth0 | wc -l)" 1
check_match "control: ip can look into the process's namespace (lo)" "lo" "$(in_ctr "$PID1" ip -o link show 2>&1)"
check_no_match "eth1 is gone from the process's namespace" "eth1" "$(in_ctr "$PID1" ip -o link show 2>&1)"
check_no_answer "the node no longer reaches $CIP1:80" tcp "$NODE" "$CIP1" 80
check_eq "the agent's container is untouched" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-agent

log "DEL again after the process exited (CNI_NETNS dangling)"
kill -9 "$PID1"
for _ in $(seq 50); do [ -e "/proc/$PID1" ] || break; sleep 0.1; done
check "the process is gone and /proc/$PID1/ns/net dangles" [ ! -e "/proc/$PID1/ns/net" ]
cni DEL "$CID1" "/proc/$PID1/ns/net" "$DX_CONF" eth1
check_rc "the second DEL exits 0" 0

log "a container that dies before its first DEL"
start_container
PID2=$CTR_PID
CID2=$(docker_id)
cni ADD "$CID2" "/proc/$PID2/ns/net" "$DX_CONF" eth1
require "ADD of the second container exits 0" [ "$T_RC" = 0 ]
IP2=$(jget '.ip4.ip // empty' "$T_OUT")
check_match "it got an ip4.ip in $CTR_SUBNET" "^10\.77\.$T_NET\.[0-9]+/24$" "$IP2"
check "host-local recorded ${IP2%/*}" test -f "$IPAM_DIR/$NET/${IP2%/*}"
check_eq "... and the plugin kept no record for it (no mapping)" "$(record_of "$CID2" eth1)" ""
kill -9 "$PID2"
for _ in $(seq 50); do [ -e "/proc/$PID2" ] || break; sleep 0.1; done
check "the second process is gone" [ ! -e "/proc/$PID2/ns/net" ]
cni DEL "$CID2" "/proc/$PID2/ns/net" "$DX_CONF" eth1
check_rc "its DEL with a dangling CNI_NETNS exits 0" 0
check "host-local released ${IP2%/*}" test ! -e "$IPAM_DIR/$NET/${IP2%/*}"
check_eq "no record (nor .deleting) is left for it" "$(record_of "$CID2" eth1)" ""

log "the agent's container, then nothing left"
check_eq "the agent's mapping still works" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-agent
cni DEL "$CID_AG" "$(ctr_path agent)" "$AG_CONF"
check_rc "the agent's DEL exits 0" 0
check_eq "no element of this test is left in the table" "$(owned_total)" 0
check "no record is left" [ -z "$(find "$STATE" -type f ! -name .lock 2>/dev/null)" ]
finish
