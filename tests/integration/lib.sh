# shellcheck shell=bash
# Harness for the delegate-mode (Mesos) integration tests, sourced by tests/integration/test_*.sh.
#
# Each test builds its own throwaway topology out of network namespaces, all named
# "pmt-<pid>-...", and removes every one of them (and kills every process started in them) on exit:
#
#   REMOTE (10.99.X.2) --veth-- [rem1] NODE [bridge 10.77.X.1/24] --veth-- container namespaces
#                                       ^ the node's "host IP" 10.99.X.1
#
# NODE plays the Mesos agent's host: the plugin runs inside it (so its nftables table, the bridge,
# the delegate's iptables masquerade and the ip_forward sysctl all live in NODE), driven exactly as
# the agent drives it: `env -i` with only the CNI_* variables and PATH, the config on stdin.
# Containers are separate namespaces named by CNI_NETNS; the real `bridge` + `host-local` plugins
# from /usr/lib/cni attach them. Nothing outside these namespaces is touched: no sysctl, ruleset,
# route, link or file of the machine (host-local keeps its state in a per-test dataDir).
#
# Usage:   source "$(dirname "$0")/lib.sh"; setup_topology X   (X = the test's own index, 1..250)
set -euo pipefail

lib_die() { echo "FAIL: $*" >&2; exit 1; }

: "${NFTPM_BIN:?NFTPM_BIN must name the nft-port-mapper binary under test}"
[[ -x $NFTPM_BIN ]] || lib_die "NFTPM_BIN=$NFTPM_BIN is not an executable file"
[[ $(id -u) == 0 ]] || lib_die "the integration tests need root (network namespaces, nftables)"
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] ||
  lib_die "/usr/lib/cni/bridge or host-local missing (apt-get install containernetworking-plugins)"
for _tool in ip nft socat jq python3 timeout ss; do
  command -v "$_tool" >/dev/null || lib_die "required tool '$_tool' is not installed"
done
NFTPM_BIN=$(readlink -f "$NFTPM_BIN")

TEST_NAME=$(basename "$0" .sh)
PFX="pmt-$$-"                          # every namespace of this test process starts with this
WORK=$(mktemp -d "/tmp/pmt-${TEST_NAME}.XXXXXX")
IPAM_DIR="$WORK/ipam"                  # host-local dataDir
SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
MESOS_CNI_PATH=/usr/lib/cni
TABLE="inet nft_port_mapper"
LIB_NAMESPACES=()
LIB_PIDS=()
FAILURES=0
CHECKS=0
CNI_OUT="" CNI_RC=0 CNI_ERR=""

lib_cleanup() {
  local rc=$?
  set +e
  local p ns i
  for p in "${LIB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  # Containers first, the node last (its bridge and veths go with it).
  for ((i = ${#LIB_NAMESPACES[@]} - 1; i >= 0; i--)); do
    ns=${LIB_NAMESPACES[i]}
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns exec "$ns" python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/drop_default_records.py" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  for p in "${LIB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
  if ip netns list 2>/dev/null | grep -q "^$PFX"; then
    echo "WARNING: namespaces left behind: $(ip netns list | grep "^$PFX" | tr '\n' ' ')" >&2
  fi
  exit "$rc"
}
trap lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------------------------------------
# Reporting
log() { printf '%s: %s\n' "$TEST_NAME" "$*"; }
ok() { CHECKS=$((CHECKS + 1)); printf '  ok   %s\n' "$*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); printf '  FAIL %s\n' "$*"; }
# check "what" command args...: the check passes when the command succeeds.
check() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
# check_eq "what" GOT WANT
check_eq() {
  if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}
# check_match "what" REGEX TEXT (extended regex, grep semantics)
check_match() {
  if grep -qE -- "$2" <<<"$3"; then ok "$1"; else bad "$1: '$(head -c 300 <<<"$3")' does not match /$2/"; fi
}
check_no_match() {
  if grep -qE -- "$2" <<<"$3"; then bad "$1: '$(grep -E -- "$2" <<<"$3" | head -3)' matches /$2/"; else ok "$1"; fi
}
# require "what" command...: like check, but a failure ends the test (later steps depend on it).
require() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; show_last_call; lib_die "$TEST_NAME: cannot go on after: $what"; fi
}
# check_rc "what" WANT: the last plugin call's exit status is WANT ("nonzero" = anything but 0);
# on failure the call's stdout/stderr are shown.
check_rc() {
  local what=$1 want=$2
  if [[ $want == nonzero && $CNI_RC != 0 ]] || [[ $want == "$CNI_RC" ]]; then ok "$what"
  else bad "$what: exit status $CNI_RC, want $want"; show_last_call; fi
}
show_last_call() {
  echo "    last plugin call: exit $CNI_RC"
  echo "    stdout: $(head -c 800 <<<"$CNI_OUT")"
  echo "    stderr: $(tail -c 800 <<<"$CNI_ERR")"
}
finish() {
  if ((FAILURES > 0)); then
    log "$FAILURES of $CHECKS checks FAILED"
    exit 1
  fi
  log "all $CHECKS checks passed"
  exit 0
}

# jget FILTER JSON: jq -r FILTER on JSON; empty output when JSON does not parse.
jget() { jq -r "$1" 2>/dev/null <<<"$2" || true; }
is_json_object() { [[ $(jq -r 'type' 2>/dev/null <<<"$1") == object ]]; }

# ---------------------------------------------------------------------------------------------
# Namespaces and topology
new_ns() {  # new_ns NAME: a namespace with loopback up, recorded for cleanup
  ip netns add "$1"
  LIB_NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

# setup_topology X: NODE + REMOTE (client 1); container subnet 10.77.X.0/24, bridge BRIDGE.
setup_topology() {
  NET_IDX=$1
  ((NET_IDX >= 1 && NET_IDX <= 250)) || lib_die "setup_topology: index 1..250"
  NODE="${PFX}node"
  SUBNET="10.77.$NET_IDX.0/24"
  BRIDGE="pmt${NET_IDX}b$$"
  BRIDGE=${BRIDGE:0:15}
  new_ns "$NODE"
  ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
  add_client remote 1
  REMOTE=${CLIENT_NS[1]}
  HOST_IP=${CLIENT_HOSTIP[1]}          # the node's address as seen by REMOTE
  REMOTE_IP=${CLIENT_IP[1]}
  NODE_DEV=${CLIENT_DEV[1]}            # NODE's side of the REMOTE link
}

declare -a CLIENT_NS CLIENT_DEV CLIENT_HOSTIP CLIENT_IP
# add_client NAME K: client namespace ${PFX}NAME on its own link to NODE; NODE's side is "remK"
# with 10.(100-K).X.1/24, the client is .2 with a default route via the node.
add_client() {
  local name=$1 k=$2
  local ns="${PFX}$name" dev="rem$k" net="10.$((100 - k)).$NET_IDX"
  new_ns "$ns"
  # Created directly inside the namespaces: no interface ever appears in the machine's namespace.
  ip -n "$NODE" link add "$dev" type veth peer name eth0 netns "$ns"
  ip -n "$NODE" addr add "$net.1/24" dev "$dev"
  ip -n "$NODE" link set "$dev" up
  ip -n "$ns" addr add "$net.2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$net.1"
  CLIENT_NS[k]=$ns CLIENT_DEV[k]=$dev CLIENT_HOSTIP[k]="$net.1" CLIENT_IP[k]="$net.2"
}

# add_container NAME: an empty container namespace ${PFX}NAME (the delegate gives it eth0).
add_container() { new_ns "${PFX}$1"; }
ctr() { echo "${PFX}$1"; }

# ---------------------------------------------------------------------------------------------
# Configs
# make_config FILE NETNAME CHAIN EXCLUDES_JSON BRIDGE SUBNET MAPPINGS_JSON [EXTRA_JSON]
#   CHAIN "" = no "chain" key; MAPPINGS_JSON "none" = no "args" at all (Mesos Docker executor);
#   EXTRA_JSON is merged into the top level (e.g. '{"cniVersion":"1.0.0"}').
# The shape is conf/portmapper.conf with the agent's `args` injected.
make_config() {
  local file=$1 net=$2 chain=$3 excludes=$4 bridge=$5 subnet=$6 mappings=$7 extra=${8:-'{}'}
  jq -n --arg net "$net" --arg chain "$chain" --argjson excl "$excludes" --arg br "$bridge" \
    --arg subnet "$subnet" --arg datadir "$IPAM_DIR" --argjson pm "$( [[ $mappings == none ]] && echo null || echo "$mappings")" \
    --argjson extra "$extra" '
    {name: $net, type: "mesos-cni-port-mapper"}
    + (if $chain == "" then {} else {chain: $chain} end)
    + {excludeDevices: $excl,
       delegate: {type: "bridge", bridge: $br, isGateway: true, ipMasq: true,
                  ipam: {type: "host-local", subnet: $subnet, dataDir: $datadir,
                         routes: [{dst: "0.0.0.0/0"}]}}}
    + (if $pm == null then {} else
        {args: {"org.apache.mesos": {network_info: {name: $net,
           labels: {labels: [{key: "app", value: "it"}]}, port_mappings: $pm}}}} end)
    + $extra' >"$file"
}

# ---------------------------------------------------------------------------------------------
# Running the plugin
# cni_exec CONFIG_FILE VAR=VALUE...: runs the binary in NODE with exactly these variables
# (env -i), stdin from CONFIG_FILE. Sets CNI_OUT (stdout), CNI_RC, CNI_ERR (stderr).
cni_exec() {
  local conf=$1; shift
  local errf="$WORK/stderr.$BASHPID"    # per process: calls may run concurrently in subshells
  set +e
  CNI_OUT=$(timeout 90 env -i "$@" ip netns exec "$NODE" "$NFTPM_BIN" <"$conf" 2>"$errf")
  CNI_RC=$?
  set -e
  CNI_ERR=$(cat "$errf")
}
# cni_call VERB CONTAINER_ID NETNS_NAME IFNAME CONFIG_FILE: as the Mesos agent calls a plugin.
# NETNS_NAME "" = no CNI_NETNS (DEL after the namespace is gone). Sets CNI_OUT, CNI_RC, CNI_ERR.
cni_call() {
  local verb=$1 cid=$2 netns=$3 ifname=$4 conf=$5
  local envs=("CNI_COMMAND=$verb" "CNI_CONTAINERID=$cid" "CNI_IFNAME=$ifname" "CNI_PATH=$MESOS_CNI_PATH" "PATH=$SYS_PATH")
  [[ -n $netns ]] && envs+=("CNI_NETNS=/var/run/netns/$netns")
  cni_exec "$conf" "${envs[@]}"
}

# ---------------------------------------------------------------------------------------------
# Traffic. Servers answer each TCP connection / UDP datagram with REPLY ([A-Za-z0-9_.-]).
wait_listen() {  # wait_listen NS PORT tcp|udp
  local flag=-t; [[ $3 == udp ]] && flag=-u
  local _
  for _ in $(seq 50); do
    ip netns exec "$1" ss -Hln $flag "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  lib_die "the $3 server on $1 port $2 did not start"
}
start_tcp_server() {  # start_tcp_server NS PORT REPLY
  ip netns exec "$1" socat "TCP4-LISTEN:$2,fork,reuseaddr" "SYSTEM:echo $3" </dev/null >/dev/null 2>&1 &
  LIB_PIDS+=($!)
  wait_listen "$1" "$2" tcp
}
start_udp_server() {  # start_udp_server NS PORT REPLY
  # Not socat's UDP-RECVFROM,fork: it loses datagrams on a loaded machine (tests/tools/udp_reply.py).
  ip netns exec "$1" python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/udp_reply.py" "$2" "$3" </dev/null >/dev/null 2>&1 &
  LIB_PIDS+=($!)
  wait_listen "$1" "$2" udp
}
# tcp_probe NS IP PORT: prints what the server said (nothing when the connection fails). Never fails.
tcp_probe() {
  ip netns exec "$1" timeout 5 socat -t3 -T3 - "TCP4:$2:$3,connect-timeout=2" </dev/null 2>/dev/null || true
}
# udp_probe NS IP PORT: sends a datagram and prints the answer; nothing if none came in 2 s, after
# a second try from a new source port (UDP may lose a datagram on a loaded machine: a retry
# that answers is reported on stderr). Never fails.
udp_probe() {
  local r try
  for try in 1 2; do
    r=$(echo ping | ip netns exec "$1" timeout 5 socat -t2 -T2 - "UDP4:$2:$3" 2>/dev/null || true)
    if [[ -n $r ]]; then
      [[ $try == 1 ]] || echo "    (note: udp $2:$3 from $1 answered only on the second datagram)" >&2
      echo "$r"; return 0
    fi
    [[ ${UDP_PROBE_TRIES:-2} == 1 ]] && break
  done
  return 0
}

# ---------------------------------------------------------------------------------------------
# nftables inspection (read-only, inside NODE)
nft_dump() {  # nft_dump NODE: the plugin's table (empty when it does not exist)
  ip netns exec "$1" nft list table $TABLE 2>/dev/null || true
}
nft_ruleset() { ip netns exec "$1" nft list ruleset 2>/dev/null; }   # (stderr: iptables-nft warnings)
# owned_count TAG: how many elements in NODE's table carry exactly the comment TAG.
owned_count() {
  nft_dump "$NODE" | grep -oF "comment \"$1\"" | wc -l
}
# owned_elements TAG: one line per element carrying exactly the comment TAG, sorted:
#   "<set> <key>" for a set element, "<map> <key> : <value>" for a map element,
#   keys/values written like nft does ("tcp . 8080 : 10.77.1.2 . 80").
owned_elements() {
  { ip netns exec "$NODE" nft -j list table $TABLE 2>/dev/null || echo '{"nftables":[]}'; } |
    jq -r --arg tag "$1" '
      def show: if type == "object" and has("concat") then .concat | map(tostring) | join(" . ")
                elif type == "object" then tojson else tostring end;
      .nftables[] | (.set // .map // empty) | .name as $n | (.elem // [])[]
      | if type == "array" then {e: .[0], v: .[1]} else {e: ., v: null} end
      | select((.e | type) == "object" and .e.elem.comment == $tag)
      | "\($n) \(.e.elem.val | show)" + (if .v == null then "" else " : \(.v | show)" end)' |
    sort
}
# elements_except_excl: every element of every set/map of the table except the per-network
# excludeDevices sets ("<set> <key>[ : <value>]"), i.e. everything that belongs to containers.
elements_except_excl() {
  { ip netns exec "$NODE" nft -j list table $TABLE 2>/dev/null || echo '{"nftables":[]}'; } |
    jq -r '.nftables[] | (.set // .map // empty) | select(.name | endswith("-excl") | not)
           | .name as $n | (.elem // [])[] | "\($n) \(tojson)"' | sort
}
tag_of() { echo "net=$1 id=$2 if=$3"; }   # tag_of NET CID IFNAME: the owner comment
