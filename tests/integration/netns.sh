# Integration test harness, sourced by tests/integration/test_*.sh.
#
# Every test builds its own throwaway topology in network namespaces (unique names, removed on
# exit by a trap) and drives the real plugin binary ($NFTPM_BIN) inside the "node" namespace with
# the real bridge/host-local delegates and real TCP/UDP traffic:
#
#   REMOTE (10.99.N.2, fd99:N::2) --veth-- NODE (10.99.N.1, fd99:N::1)  -- bridge -- containers
#
# Nothing outside these namespaces is touched: no host sysctl, no host ruleset, no host route.
set -euo pipefail

: "${NFTPM_BIN:?NFTPM_BIN must name the built nft-port-mapper binary}"
[ "$(id -u)" = 0 ] || { echo "FAIL: integration tests need root (network namespaces)"; exit 1; }
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || {
  echo "FAIL: /usr/lib/cni/bridge and host-local are missing (apt-get install containernetworking-plugins)"; exit 1; }

T_NAME=$(basename "$0" .sh)
T_ID="pm$$"                       # namespace prefix, unique per test process
T_DIR=$(mktemp -d "/tmp/nftpm-${T_NAME}.XXXXXX")
T_NS=()
T_PIDS=()
T_FAILS=0
T_OUT=""
T_RC=0
# A per-test-process /24 index (1..250) for addresses, so tests can run side by side.
T_NET=$(( ($$ % 250) + 1 ))
NODE="$T_ID-node"
REMOTE="$T_ID-remote"
NODE_IP="10.99.$T_NET.1"
REMOTE_IP="10.99.$T_NET.2"
NODE_IP6="fd99:$T_NET::1"
REMOTE_IP6="fd99:$T_NET::2"
CTR_SUBNET="10.$((100 + T_NET % 100)).$((T_NET / 100 + 1)).0/24"
CTR_SUBNET6="fd77:$T_NET::/64"
BRIDGE="pmbr$$"
BRIDGE=${BRIDGE:0:15}
CNI_BIN="$T_DIR/cni-bin"          # CNI_PATH: the real delegates and our plugin under its names
mkdir -p "$CNI_BIN"
ln -s /usr/lib/cni/* "$CNI_BIN/"
ln -sf "$NFTPM_BIN" "$CNI_BIN/nft-port-mapper"
ln -sf "$NFTPM_BIN" "$CNI_BIN/mesos-cni-port-mapper"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

t_cleanup() {
  local rc=$?
  for p in "${T_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for ns in "${T_NS[@]:-}"; do
    [ -n "$ns" ] || continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns exec "$ns" python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/drop_default_records.py" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$T_DIR"
  exit "$rc"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s: %s\n' "$T_NAME" "$*"; }
pass() { printf '  ok   %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; T_FAILS=$((T_FAILS + 1)); }
check() {  # check "description" command...
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  if [ "$T_FAILS" -gt 0 ]; then log "$T_FAILS check(s) failed"; exit 1; fi
  log "all checks passed"
}

ns_add() {  # ns_add NAME: a namespace with loopback up, IPv6 DAD off
  ip netns add "$1"
  T_NS+=("$1")
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

veth_pair() {  # veth_pair NS_A IF_A NS_B IF_B
  ip link add "tmp$$a" type veth peer name "tmp$$b"
  ip link set "tmp$$a" netns "$1"
  ip link set "tmp$$b" netns "$3"
  ip -n "$1" link set "tmp$$a" name "$2"
  ip -n "$3" link set "tmp$$b" name "$4"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

# The node and one remote client, linked by a veth pair.
topology() {
  ns_add "$NODE"
  ns_add "$REMOTE"
  veth_pair "$NODE" uplink "$REMOTE" eth0
  ip -n "$NODE" addr add "$NODE_IP/24" dev uplink
  ip -n "$NODE" addr add "$NODE_IP6/64" dev uplink nodad
  ip -n "$REMOTE" addr add "$REMOTE_IP/24" dev eth0
  ip -n "$REMOTE" addr add "$REMOTE_IP6/64" dev eth0 nodad
  ip -n "$REMOTE" route add default via "$NODE_IP"
  ip -n "$REMOTE" -6 route add default via "$NODE_IP6"
  ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# A second client namespace on its own link (for excludeDevices tests): remote_add NAME IFNAME IDX
remote_add() {
  local ns="$T_ID-$1" dev=$2 idx=$3
  ns_add "$ns"
  veth_pair "$NODE" "$dev" "$ns" eth0
  ip -n "$NODE" addr add "10.98.$idx.1/24" dev "$dev"
  ip -n "$ns" addr add "10.98.$idx.2/24" dev eth0
  ip -n "$ns" route add default via "10.98.$idx.1"
}

ctr_add() {  # ctr_add NAME: an empty container namespace; prints its path
  ns_add "$T_ID-$1"
}
ctr_ns() { echo "$T_ID-$1"; }
ctr_path() { echo "/var/run/netns/$T_ID-$1"; }

# The Mesos config (bridge delegate), args injected. mesos_config FILE NET CHAIN MAPPINGS_JSON [EXCLUDES_JSON] [EXTRA]
mesos_config() {
  local file=$1 net=$2 chain=$3 mappings=$4 excludes=${5:-[\"$BRIDGE\"]} extra=${6:-}
  cat > "$file" <<JSON
{ "name": "$net", "type": "mesos-cni-port-mapper", "chain": "$chain", "excludeDevices": $excludes, $extra
  "delegate": { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true,
                "ipam": { "type": "host-local", "subnet": "$CTR_SUBNET", "dataDir": "$T_DIR/ipam",
                          "routes": [ { "dst": "0.0.0.0/0" } ] } },
  "args": { "org.apache.mesos": { "network_info": { "name": "$net", "labels": { "labels": [ { "key": "app", "value": "test" } ] },
            "port_mappings": $mappings } } } }
JSON
}

# A .conflist: bridge (dual stack) then our plugin. conflist FILE NET VERSION [PORTMAP_EXTRA]
conflist() {
  local file=$1 net=$2 version=$3 extra=${4:-}
  cat > "$file" <<JSON
{ "cniVersion": "$version", "name": "$net", "plugins": [
  { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": { "type": "host-local", "dataDir": "$T_DIR/ipam",
              "ranges": [ [ { "subnet": "$CTR_SUBNET" } ], [ { "subnet": "$CTR_SUBNET6" } ] ],
              "routes": [ { "dst": "0.0.0.0/0" }, { "dst": "::/0" } ] } },
  { "type": "nft-port-mapper", "capabilities": { "portMappings": true } $extra } ] }
JSON
}

# Runs the plugin in the node exactly as the Mesos agent does: only the CNI variables and PATH.
# cni VERB CONTAINER_ID NETNS_PATH(or "") CONFIG_FILE [IFNAME]; sets T_OUT and T_RC.
cni() {
  local verb=$1 id=$2 netns=$3 conf=$4 ifname=${5:-eth0}
  local envs=(CNI_COMMAND="$verb" CNI_CONTAINERID="$id" CNI_IFNAME="$ifname" CNI_PATH="$CNI_BIN"
              PATH=/usr/sbin:/usr/bin:/sbin:/bin)
  [ -n "$netns" ] && envs+=(CNI_NETNS="$netns")
  set +e
  T_OUT=$(env -i "${envs[@]}" ip netns exec "$NODE" "$NFTPM_BIN" < "$conf" 2>"$T_DIR/stderr")
  T_RC=$?
  set -e
}

# Runs a conflist through the libcni stand-in in the node. runtime VERB ID NETNS_PATH CONFLIST MAPPINGS_JSON
runtime() {
  set +e
  T_OUT=$(ip netns exec "$NODE" python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/cni_conflist.py" "$1" \
    --conflist "$4" --id "$2" --netns "$3" --cni-path "$CNI_BIN" --cache-dir "$T_DIR/cache" \
    --port-mappings "$5" 2>"$T_DIR/stderr")
  T_RC=$?
  set -e
}

json_get() {  # json_get 'expression on j' <<< "$json"
  python3 -c "import json,sys; j=json.load(sys.stdin); v=$1; print(v if not isinstance(v,(dict,list)) else json.dumps(v))"
}

# A server answering every TCP connection / UDP datagram with a fixed line. serve_tcp NS PORT TEXT [ADDR]
serve_tcp() {
  ip netns exec "$1" socat "TCP-LISTEN:$2,${4:+bind=$4,}fork,reuseaddr" "SYSTEM:echo $3" >/dev/null 2>&1 &
  T_PIDS+=($!)
}
serve_tcp6() {
  ip netns exec "$1" socat "TCP6-LISTEN:$2,fork,reuseaddr,ipv6only=1" "SYSTEM:echo $3" >/dev/null 2>&1 &
  T_PIDS+=($!)
}
serve_udp() {  # serve_udp NS PORT TEXT: IPv4 and IPv6 (tests/tools/udp_reply.py; socat's forking UDP server loses datagrams)
  ip netns exec "$1" python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/udp_reply.py" "$2" "$3" >/dev/null 2>&1 &
  T_PIDS+=($!)
}
wait_listen() {  # wait_listen NS PORT [tcp|tcp6|udp]
  local flag=-t; [ "${3:-tcp}" = udp ] && flag=-u; [ "${3:-tcp}" = tcp6 ] && flag="-t -6"
  for _ in $(seq 50); do
    ip netns exec "$1" ss -Hln $flag "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  echo "server on $1:$2 did not start"; return 1
}

# What a client in NS gets from ADDR:PORT (empty on failure). tcp_get NS ADDR PORT
tcp_get() {
  local addr=$2; [[ $addr == *:* ]] && addr="[$addr]"
  ip netns exec "$1" timeout 5 socat -T2 - "TCP:$addr:$3,connect-timeout=2" </dev/null 2>/dev/null || true
}
# udp_get NS ADDR PORT [SOURCE_PORT]: the answer to one datagram (2 s to come), or to a second
# one when the first got none (UDP may drop a datagram on a loaded machine). Empty on failure.
udp_get() {
  local addr=$2 r try; [[ $addr == *:* ]] && addr="[$addr]"
  for try in 1 2; do
    r=$(echo ping | ip netns exec "$1" timeout 5 socat -t2 -T2 - "UDP:$addr:$3${4:+,sourceport=$4,reuseaddr}" 2>/dev/null || true)
    [[ -n $r ]] && break
  done
  echo "$r"
}

nft_node() { ip netns exec "$NODE" nft "$@"; }
# Elements carrying this exact owner comment (0 if the table is gone).
owned_count() {
  { nft_node list table inet nft_port_mapper 2>/dev/null || true; } | grep -o "comment \"$1\"" | wc -l
}
ruleset() { nft_node list ruleset; }
