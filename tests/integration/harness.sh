# shellcheck shell=bash
# The one integration test harness, sourced by every tests/integration/test_*.sh.
#
# Each test builds its own throwaway topology out of network namespaces (names "pm<pid>-...",
# removed on exit, with every process started in them) and drives the real plugin ($NFTPM_BIN)
# inside the "node" namespace, with the real bridge/host-local delegates and real TCP/UDP traffic:
#
#   REMOTE (10.99.N.2, fd99:N::2) --veth uplink-- NODE (10.99.N.1, fd99:N::1) -- bridge -- containers
#
# NODE plays the host: the plugin's table, the bridge and the delegate's masquerade live in it.
# Every veth is created inside the namespaces (never in the machine's own), so nothing outside
# them is touched: no sysctl, ruleset, route, link or file of the machine.
#
# Rules every test follows:
#  * a tool that cannot run (nft failing, socat missing, a namespace that does not exist) fails the
#    test: die() ends it even from inside $(...), so a probe never "passes" a negative check;
#  * every negative check has a control proving its probe can succeed in the same run
#    (check_no_answer does it by itself with the node's control servers).
set -euo pipefail

T_NAME=$(basename "$0" .sh)
T_MAIN_PID=$$
exec {T_STDERR}>&2   # die() reports here even from inside a check whose output is captured
# die MSG: ends the test with a failure, from the test's shell or from any subshell in it.
die() {
  echo "  FAIL $T_NAME: $*" >&"$T_STDERR"
  [ -n "${T_DIR:-}" ] && [ -d "$T_DIR" ] && echo "$*" >>"$T_DIR/died"
  if [ "$BASHPID" != "$T_MAIN_PID" ]; then kill -TERM "$T_MAIN_PID" 2>/dev/null; fi
  exit 1
}

: "${NFTPM_BIN:?NFTPM_BIN must name the nft-port-mapper binary under test}"
[ -x "$NFTPM_BIN" ] || die "NFTPM_BIN=$NFTPM_BIN is not an executable file"
[ "$(id -u)" = 0 ] || die "the integration tests need root (network namespaces, nftables)"
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] ||
  die "/usr/lib/cni/bridge or host-local missing (apt-get install containernetworking-plugins)"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
for _tool in ip nft socat jq python3 timeout ss; do
  command -v "$_tool" >/dev/null || die "required tool '$_tool' is not installed"
done
NFTPM_BIN=$(readlink -f "$NFTPM_BIN")
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS_DIR=$(cd "$HARNESS_DIR/../tools" && pwd)

T_ID="pm$$"                       # namespace prefix, unique per test process
T_DIR=$(mktemp -d "/tmp/nftpm-${T_NAME}.XXXXXX")
T_NS=()
T_PIDS=()
T_FAILS=0
T_CHECKS=0
T_OUT="" T_RC=0 T_ERR=""
IPAM_DIR="$T_DIR/ipam"            # host-local's dataDir
SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin
TABLE="inet nft_port_mapper"
CNI_BIN="$T_DIR/cni-bin"          # CNI_PATH: the real delegates, and our plugin under its names
mkdir -p "$CNI_BIN"
ln -s /usr/lib/cni/* "$CNI_BIN/"
ln -sf "$NFTPM_BIN" "$CNI_BIN/nft-port-mapper"
ln -sf "$NFTPM_BIN" "$CNI_BIN/mesos-cni-port-mapper"
CONTROL_PORT=9                    # the node's control servers (check_no_answer)

# on_exit CMD: a test's own cleanup (stop a daemon it started, ...), run by t_cleanup before the
# namespaces go, latest first. Never `trap ... EXIT` in a test: t_cleanup must see the exit status.
T_ON_EXIT=()
on_exit() { T_ON_EXIT+=("$1"); }
t_cleanup() {
  local rc=$?
  set +e
  local p ns i
  for ((i = ${#T_ON_EXIT[@]} - 1; i >= 0; i--)); do eval "${T_ON_EXIT[i]}"; done
  for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  # Containers first, the node last (its bridge and veths go with it).
  for ((i = ${#T_NS[@]} - 1; i >= 0; i--)); do
    ns=${T_NS[i]}
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns exec "$ns" python3 "$TOOLS_DIR/drop_default_records.py" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -s "$T_DIR/died" ] && [ "$rc" = 0 ] && rc=1
  rm -rf "$T_DIR"
  if ip netns list 2>/dev/null | grep -q "^$T_ID-"; then
    echo "WARNING: namespaces left behind: $(ip netns list | grep "^$T_ID-" | tr '\n' ' ')" >&2
  fi
  exit "$rc"
}
trap t_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------------------------------------
# Reporting
log() { printf '%s: %s\n' "$T_NAME" "$*"; }
ok() { T_CHECKS=$((T_CHECKS + 1)); printf '  ok   %s\n' "$*"; }
bad() { T_CHECKS=$((T_CHECKS + 1)); T_FAILS=$((T_FAILS + 1)); printf '  FAIL %s\n' "$*"; }
# check "what" command args...: passes when the command succeeds (its output shown on failure).
check() {
  local what=$1; shift
  if "$@" >"$T_DIR/check.out" 2>&1; then ok "$what"
  else bad "$what"; sed 's/^/    | /' "$T_DIR/check.out" | head -40; fi
}
# require "what" command...: like check, but a failure ends the test (later steps depend on it).
require() {
  local what=$1; shift
  if "$@" >"$T_DIR/check.out" 2>&1; then ok "$what"
  else bad "$what"; sed 's/^/    | /' "$T_DIR/check.out" | head -40; show_last_call; die "cannot go on after: $what"; fi
}
check_eq() {  # check_eq "what" GOT WANT
  if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}
check_match() {  # check_match "what" REGEX TEXT (extended regex)
  if grep -qE -- "$2" <<<"$3"; then ok "$1"; else bad "$1: '$(head -c 300 <<<"$3")' does not match /$2/"; fi
}
check_no_match() {
  if grep -qE -- "$2" <<<"$3"; then bad "$1: '$(grep -E -- "$2" <<<"$3" | head -3)' matches /$2/"; else ok "$1"; fi
}
# check_rc "what" WANT: the last plugin call's exit status is WANT ("nonzero": anything but 0).
check_rc() {
  local what=$1 want=$2
  if [[ $want == nonzero && $T_RC != 0 ]] || [[ $want == "$T_RC" ]]; then ok "$what"
  else bad "$what: exit status $T_RC, want $want"; show_last_call; fi
}
show_last_call() {
  echo "    last plugin call: exit $T_RC"
  echo "    stdout: $(head -c 800 <<<"$T_OUT")"
  echo "    stderr: $(tail -c 800 <<<"$T_ERR")"
}
finish() {
  [ ! -s "$T_DIR/died" ] || die "a helper failed: $(cat "$T_DIR/died")"
  if ((T_FAILS > 0)); then log "$T_FAILS of $T_CHECKS checks FAILED"; exit 1; fi
  log "all $T_CHECKS checks passed"
  exit 0
}

# JSON: jget FILTER JSON (jq -r; empty when JSON does not parse); json_get 'python on j' <<<JSON.
jget() { jq -r "$1" 2>/dev/null <<<"$2" || true; }
is_json_object() { [[ $(jq -r 'type' 2>/dev/null <<<"$1") == object ]]; }
json_get() {
  python3 -c "import json,sys; j=json.load(sys.stdin); v=$1; print(v if not isinstance(v,(dict,list)) else json.dumps(v))"
}

# ---------------------------------------------------------------------------------------------
# Namespaces and topology
ns_add() {  # ns_add NAME: a namespace with loopback up and IPv6 DAD off, removed on exit
  ip netns add "$1"
  T_NS+=("$1")
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}
veth_pair() {  # veth_pair NS_A IF_A NS_B IF_B: created inside the namespaces, both ends up
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

declare -a CLIENT_NS CLIENT_DEV CLIENT_HOSTIP CLIENT_IP
# topology: NODE and REMOTE (client 1, on NODE's "uplink"); CTR_SUBNET(6) for the containers.
topology() {
  T_NET=$((($$ % 250) + 1))
  NODE="$T_ID-node"
  REMOTE="$T_ID-remote"
  NODE_IP="10.99.$T_NET.1"
  REMOTE_IP="10.99.$T_NET.2"
  NODE_IP6="fd99:$T_NET::1"
  REMOTE_IP6="fd99:$T_NET::2"
  CTR_SUBNET="10.77.$T_NET.0/24"
  CTR_SUBNET6="fd77:$T_NET::/64"
  BRIDGE="pmbr$$"
  BRIDGE=${BRIDGE:0:15}
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
  CLIENT_NS[1]=$REMOTE CLIENT_DEV[1]=uplink CLIENT_HOSTIP[1]=$NODE_IP CLIENT_IP[1]=$REMOTE_IP
  # The control servers: a probe from any namespace to the node's own address answers "control".
  serve_tcp "$NODE" "$CONTROL_PORT" control
  serve_tcp6 "$NODE" "$CONTROL_PORT" control
  serve_udp "$NODE" "$CONTROL_PORT" control
}
# add_client NAME K (K >= 2): a client namespace $T_ID-NAME on its own link to NODE; NODE's side
# is "remK" with 10.(100-K).N.1/24, the client .2 with a default route via the node.
add_client() {
  local ns="$T_ID-$1" dev="rem$2" net="10.$((100 - $2)).$T_NET"
  ns_add "$ns"
  veth_pair "$NODE" "$dev" "$ns" eth0
  ip -n "$NODE" addr add "$net.1/24" dev "$dev"
  ip -n "$ns" addr add "$net.2/24" dev eth0
  ip -n "$ns" route add default via "$net.1"
  CLIENT_NS[$2]=$ns CLIENT_DEV[$2]=$dev CLIENT_HOSTIP[$2]="$net.1" CLIENT_IP[$2]="$net.2"
}
ctr_add() { ns_add "$T_ID-$1"; }  # ctr_add NAME: an empty container namespace
ctr_ns() { echo "$T_ID-$1"; }
ctr_path() { echo "/var/run/netns/$T_ID-$1"; }

# ---------------------------------------------------------------------------------------------
# Configs
# mesos_config FILE NET CHAIN MAPPINGS [EXCLUDES] [EXTRA] [BRIDGE] [SUBNET] [IPAM_DIR]: the shape of
# conf/portmapper.conf with the agent's `args` injected. CHAIN "" = no "chain" key; MAPPINGS
# "none" = no "args" (the Mesos Docker executor); EXTRA is a JSON object merged into the top level.
mesos_config() {
  local file=$1 net=$2 chain=$3 mappings=$4 excludes=${5:-"[\"$BRIDGE\"]"} extra=${6:-'{}'}
  local bridge=${7:-$BRIDGE} subnet=${8:-$CTR_SUBNET} ipam=${9:-$IPAM_DIR}
  # The mappings come on stdin: thousands of them are too long for one argument.
  { [[ $mappings == none ]] && echo null || printf '%s' "$mappings"; } |
  jq --arg net "$net" --arg chain "$chain" --argjson excl "$excludes" --arg br "$bridge" \
    --arg subnet "$subnet" --arg datadir "$ipam" --argjson extra "$extra" '
    . as $pm
    | {name: $net, type: "mesos-cni-port-mapper"}
    + (if $chain == "" then {} else {chain: $chain} end)
    + {excludeDevices: $excl,
       delegate: {type: "bridge", bridge: $br, isGateway: true, ipMasq: true,
                  ipam: {type: "host-local", subnet: $subnet, dataDir: $datadir,
                         routes: [{dst: "0.0.0.0/0"}]}}}
    + (if $pm == null then {} else
        {args: {"org.apache.mesos": {network_info: {name: $net,
           labels: {labels: [{key: "app", value: "test"}]}, port_mappings: $pm}}}} end)
    + $extra' >"$file"
}
# conflist FILE NET VERSION [PORTMAP_EXTRA]: bridge (dual stack) then our plugin.
conflist() {
  local file=$1 net=$2 version=$3 extra=${4:-}
  cat >"$file" <<JSON
{ "cniVersion": "$version", "name": "$net", "plugins": [
  { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": { "type": "host-local", "dataDir": "$IPAM_DIR",
              "ranges": [ [ { "subnet": "$CTR_SUBNET" } ], [ { "subnet": "$CTR_SUBNET6" } ] ],
              "routes": [ { "dst": "0.0.0.0/0" }, { "dst": "::/0" } ] } },
  { "type": "nft-port-mapper", "capabilities": { "portMappings": true } $extra } ] }
JSON
}

# ---------------------------------------------------------------------------------------------
# Running the plugin
# cni_exec CONFIG_FILE VAR=VALUE...: the binary in NODE with exactly these variables (env -i),
# stdin from CONFIG_FILE. Sets T_OUT (stdout), T_RC, T_ERR (stderr).
cni_exec() {
  local conf=$1; shift
  local errf="$T_DIR/stderr.$BASHPID"   # per process: calls may run concurrently in subshells
  set +e
  T_OUT=$(timeout 90 env -i "$@" ip netns exec "$NODE" "$NFTPM_BIN" <"$conf" 2>"$errf")
  T_RC=$?
  set -e
  T_ERR=$(cat "$errf")
}
# cni VERB CONTAINER_ID NETNS_PATH(or "") CONFIG_FILE [IFNAME]: as the Mesos agent calls a plugin.
cni() {
  local verb=$1 id=$2 netns=$3 conf=$4 ifname=${5:-eth0}
  local envs=("CNI_COMMAND=$verb" "CNI_CONTAINERID=$id" "CNI_IFNAME=$ifname" "CNI_PATH=$CNI_BIN" "PATH=$SYS_PATH")
  [ -n "$netns" ] && envs+=("CNI_NETNS=$netns")
  cni_exec "$conf" "${envs[@]}"
}
# runtime VERB ID NETNS_PATH CONFLIST MAPPINGS_JSON: a conflist through the libcni stand-in.
runtime() {
  set +e
  T_OUT=$(ip netns exec "$NODE" python3 "$TOOLS_DIR/cni_conflist.py" "$1" \
    --conflist "$4" --id "$2" --netns "$3" --cni-path "$CNI_BIN" --cache-dir "$T_DIR/cache" \
    --port-mappings "$5" 2>"$T_DIR/stderr")
  T_RC=$?
  set -e
  T_ERR=$(cat "$T_DIR/stderr")
}

# ---------------------------------------------------------------------------------------------
# Traffic. Servers answer each TCP connection / UDP datagram with TEXT; each waits until it listens.
ns_exists() { [ -e "/var/run/netns/$1" ] || die "no namespace '$1'"; }
wait_listen() {  # wait_listen NS PORT [tcp|tcp6|udp]
  local flags="-t -4" _
  [ "${3:-tcp}" = udp ] && flags=-u
  [ "${3:-tcp}" = tcp6 ] && flags="-t -6"
  ns_exists "$1"
  for _ in $(seq 50); do
    ip netns exec "$1" ss -Hln $flags "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  die "the ${3:-tcp} server on $1 port $2 did not start"
}
serve_tcp() {  # serve_tcp NS PORT TEXT [BIND_ADDR]
  ns_exists "$1"
  ip netns exec "$1" socat "TCP4-LISTEN:$2,${4:+bind=$4,}fork,reuseaddr" "SYSTEM:echo $3" </dev/null >/dev/null 2>&1 &
  T_PIDS+=($!)
  wait_listen "$1" "$2" tcp
}
serve_tcp6() {  # serve_tcp6 NS PORT TEXT [BIND_ADDR]
  ns_exists "$1"
  ip netns exec "$1" socat "TCP6-LISTEN:$2,${4:+bind=[$4],}fork,reuseaddr,ipv6only=1" "SYSTEM:echo $3" </dev/null >/dev/null 2>&1 &
  T_PIDS+=($!)
  wait_listen "$1" "$2" tcp6
}
serve_udp() {  # serve_udp NS PORT TEXT: IPv4 and IPv6 (socat's forking UDP server loses datagrams)
  ns_exists "$1"
  ip netns exec "$1" python3 "$TOOLS_DIR/udp_reply.py" "$2" "$3" </dev/null >/dev/null 2>&1 &
  T_PIDS+=($!)
  wait_listen "$1" "$2" udp
}
# What a failed probe may say: the network answered "no" (or nothing). Anything else means the
# probe itself could not run (no namespace, no socat, a bad address): that ends the test.
PROBE_NO_ANSWER='Connection refused|Connection timed out|timed out|No route to host|Network is unreachable|Connection reset|Host is unreachable|Operation not permitted'
# probe_run NS SOCAT_ADDRESS [INPUT]: prints the answer (nothing when there was none).
probe_run() {
  local ns=$1 addr=$2 input=${3:-} out rc errf="$T_DIR/probe.$BASHPID"
  ns_exists "$ns"
  set +e
  if [ -n "$input" ]; then
    out=$(echo "$input" | ip netns exec "$ns" timeout 5 socat -t2 -T2 - "$addr" 2>"$errf")
  else
    out=$(ip netns exec "$ns" timeout 5 socat -t3 -T3 - "$addr" </dev/null 2>"$errf")
  fi
  rc=$?
  set -e
  if [ "$rc" != 0 ] && [ "$rc" != 124 ] && ! grep -qE "$PROBE_NO_ANSWER" "$errf"; then
    die "probe '$addr' from $ns could not run (exit $rc): $(head -c 300 "$errf")"
  fi
  printf '%s' "$out"
}
_bracket() { if [[ $1 == *:* ]]; then echo "[$1]"; else echo "$1"; fi; }
# tcp_get NS ADDR PORT: what a TCP client in NS gets from ADDR:PORT (IPv4 or IPv6; empty if nothing).
tcp_get() { probe_run "$1" "TCP:$(_bracket "$2"):$3,connect-timeout=2"; }
# udp_get NS ADDR PORT [SOURCE_PORT]: the answer to one datagram (2 s to come), or to a second one
# when the first got none (UDP may drop a datagram on a loaded machine). Empty if none.
udp_get() {
  local r try
  for try in 1 2; do
    r=$(probe_run "$1" "UDP:$(_bracket "$2"):$3${4:+,sourceport=$4,reuseaddr}" ping)
    [ -n "$r" ] && break
    [ "${UDP_PROBE_TRIES:-2}" = 1 ] && break
  done
  printf '%s' "$r"
}
# check_no_answer "what" tcp|udp NS ADDR PORT [SOURCE_PORT]: nothing answers ADDR:PORT from NS,
# with a control in the same call: the same probe from NS to the node's control server (same
# protocol and family) must answer, or the check fails.
check_no_answer() {
  local what=$1 proto=$2 ns=$3 addr=$4 port=$5 ctl got
  ctl=$NODE_IP; [[ $addr == *:* ]] && ctl=$NODE_IP6
  got=$("${proto}_get" "$ns" "$ctl" "$CONTROL_PORT")
  if [ "$got" != control ]; then bad "$what: control $proto probe from $ns to $ctl:$CONTROL_PORT got '$got'"; return; fi
  got=$("${proto}_get" "$ns" "$addr" "$port" ${6:+"$6"})
  check_eq "$what" "$got" ""
}

# ---------------------------------------------------------------------------------------------
# nftables inspection (read-only, in NODE). A failing nft ends the test; an absent table is empty.
nft_node() { ip netns exec "$NODE" nft "$@"; }
table_exists() {
  local tables
  tables=$(ip netns exec "$NODE" nft list tables) || die "nft list tables failed in $NODE"
  grep -qx "table $TABLE" <<<"$tables"
}
nft_dump() {  # the plugin's table as text (empty when it does not exist)
  table_exists || return 0
  ip netns exec "$NODE" nft list table $TABLE || die "nft list table failed in $NODE"
}
nft_json() {  # the plugin's table as nft JSON ({"nftables":[]} when it does not exist)
  table_exists || { echo '{"nftables":[]}'; return 0; }
  ip netns exec "$NODE" nft -j list table $TABLE || die "nft -j list table failed in $NODE"
}
ruleset() {  # the node's whole ruleset (stderr: iptables-nft warnings)
  local out
  out=$(ip netns exec "$NODE" nft list ruleset 2>"$T_DIR/nft.err") || die "nft list ruleset failed: $(cat "$T_DIR/nft.err")"
  printf '%s\n' "$out"
}
# owned_elements TAG: one line per element whose comment is exactly TAG, sorted:
#   "<set> <key>" for a set element, "<map> <key> : <value>" for a map element.
owned_elements() {
  local j
  j=$(nft_json) || die "nft_json failed"
  jq -r --arg tag "$1" '
      def show: if type == "object" and has("concat") then .concat | map(tostring) | join(" . ")
                elif type == "object" then tojson else tostring end;
      .nftables[] | (.set // .map // empty) | .name as $n | (.elem // [])[]
      | if type == "array" then {e: .[0], v: .[1]} else {e: ., v: null} end
      | select((.e | type) == "object" and .e.elem.comment == $tag)
      | "\($n) \(.e.elem.val | show)" + (if .v == null then "" else " : \(.v | show)" end)' <<<"$j" |
    sort
}
# owned_count TAG: how many elements carry exactly the comment TAG (string equality: P.C is not PxC).
owned_count() {
  local j
  j=$(nft_json) || die "nft_json failed"
  jq --arg tag "$1" '[.nftables[] | (.set // .map // empty) | (.elem // [])[]
      | if type == "array" then .[0] else . end
      | select(type == "object" and .elem.comment == $tag)] | length' <<<"$j"
}
# owned_total: how many elements carry any owner comment.
owned_total() {
  local j
  j=$(nft_json) || die "nft_json failed"
  jq '[.nftables[] | (.set // .map // empty) | (.elem // [])[]
      | if type == "array" then .[0] else . end
      | select(type == "object" and (.elem.comment // "" | length) > 0)] | length' <<<"$j"
}
# elements_except_excl: every element of every set/map but the excludeDevices sets, i.e. all
# that belongs to containers ("<set> <json>").
elements_except_excl() {
  local j
  j=$(nft_json) || die "nft_json failed"
  jq -r '.nftables[] | (.set // .map // empty) | select(.name | endswith("-excl") | not)
         | .name as $n | (.elem // [])[] | "\($n) \(tojson)"' <<<"$j" | sort
}
tag_of() { echo "net=$1 id=$2 if=${3:-eth0}"; }   # tag_of NET CID [IFNAME]: the owner comment
no_table() { ! table_exists; }   # (a failing nft still ends the test)
owners() {  # owners: the distinct owner comments in the table, one a line, sorted
  local j
  j=$(nft_json) || die "nft_json failed"
  jq -r '.nftables[] | (.set // .map // empty) | (.elem // [])[] | if type == "array" then .[0] else . end
         | select(type == "object") | .elem.comment // empty' <<<"$j" | sort -u
}
# link_absent NS DEV: NS has no DEV ("does not exist"); a missing namespace or any other error of
# `ip` ends the test, so the check cannot pass by failing to look.
link_absent() {
  local err
  ns_exists "$1"
  ip -n "$1" link show lo >/dev/null || die "ip cannot look into $1"
  if err=$(ip -n "$1" -o link show dev "$2" 2>&1); then return 1; fi
  grep -q 'does not exist' <<<"$err" || die "ip -n $1 link show $2: $err"
}
