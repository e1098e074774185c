#!/usr/bin/env bash
# The Kubernetes path: Debian's containerd (CRI plugin, runc) runs inside the node namespace with
# its own root, state, socket and config; its CNI conf_dir holds a dual-stack conflist (bridge +
# host-local + nft-port-mapper with capabilities.portMappings) and bin_dir our plugin beside
# Debian's delegates. tests/tools/cri_client.py plays kubelet over the CRI v1 socket:
#   * a pod with hostPorts (TCP and UDP, one bound to a hostIP) runs a server container; a client
#     in a remote namespace reaches hostIP:hostPort over IPv4 and IPv6;
#   * a second pod asking for a taken hostPort fails, naming the owner, and leaks nothing (no
#     element, no IPAM address, no namespace, no record, no sandbox);
#   * containerd is restarted while two pods run: their mappings keep working, and StopPodSandbox
#     after the restart removes them; RemovePodSandbox leaves nothing at all.
# No registry is reachable: the sandbox ("pause") and server images are built here as OCI
# archives from busybox-static and socat (tests/tools/oci_image.py) and imported with ctr.
# containerd runs in a private mount namespace held by a "holder" process (its pod namespaces'
# and rootfs' mounts never reach the machine's), entered again for the restart. Never skipped:
# a missing package or a containerd that does not start fails the test.
source "$(dirname "$0")/harness.sh"
CRI_PY=/usr/bin/python3   # Debian's interpreter: python3-grpcio and python3-protobuf live there
for tool in containerd ctr runc protoc nsenter unshare; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (scripts/install-deps installs containerd, runc, protobuf-compiler)"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing (busybox-static)"
"$CRI_PY" -c 'import grpc, google.protobuf' 2>/dev/null || die "python3-grpcio / python3-protobuf are missing"
topology

# The example files of conf/containerd, as an operator installs them; only paths are the test's:
# host-local's dataDir and the plugin's stateDir, containerd's root, state, socket, CNI dirs.
EXAMPLE=$(cd "$HARNESS_DIR/../../conf/containerd" && pwd)
CD=$T_DIR/containerd            # nothing of the machine's containerd is used or touched
SOCK=$CD/containerd.sock
RECORDS=$T_DIR/records
mkdir -p "$CD/net.d" "$T_DIR/logs"
jq --arg ipam "$IPAM_DIR" --arg records "$RECORDS" '
    .plugins |= map(if .ipam then .ipam.dataDir = $ipam else . end
                    | if .type == "nft-port-mapper" then .stateDir = $records else . end)' \
  "$EXAMPLE/10-nft-port-mapper.conflist" >"$CD/net.d/10-nft-port-mapper.conflist"
NET=$(jq -r .name "$CD/net.d/10-nft-port-mapper.conflist")
POD_SUBNET4=$(jq -r '.plugins[0].ipam.ranges[0][0].subnet' "$CD/net.d/10-nft-port-mapper.conflist")
POD_SUBNET6=$(jq -r '.plugins[0].ipam.ranges[1][0].subnet' "$CD/net.d/10-nft-port-mapper.conflist")
PAUSE_IMAGE=localhost/nftpm/pause:1
SERVER_IMAGE=localhost/nftpm/server:1
# conf/containerd/config.toml with the test's paths and local pause image, and what a private
# containerd needs besides (top-level keys after "version", the CRI table's after its header).
cat >"$CD/top.toml" <<TOML
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
TOML
cat >"$CD/cri.toml" <<TOML
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
TOML
{
  sed -e "/^version = 2\$/r $CD/top.toml" -e "/^\[plugins.\"io.containerd.grpc.v1.cri\"\]\$/r $CD/cri.toml" \
    -e "s|^\( *sandbox_image = \).*|\1\"$PAUSE_IMAGE\"|" \
    -e "s|^\( *bin_dir = \).*|\1\"$CNI_BIN\"|" -e "s|^\( *conf_dir = \).*|\1\"$CD/net.d\"|" \
    "$EXAMPLE/config.toml"
  cat <<TOML
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "native"
  default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
TOML
} >"$CD/config.toml"
for want in "bin_dir = \"$CNI_BIN\"" "conf_dir = \"$CD/net.d\"" "sandbox_image = \"$PAUSE_IMAGE\"" "root = \"$CD/root\""; do
  grep -qF "$want" "$CD/config.toml" || die "the containerd config lacks '$want' (conf/containerd/config.toml changed?)"
done

cri() { "$CRI_PY" "$TOOLS_DIR/cri_client.py" --socket "$SOCK" --timeout 60 "$@"; }
# The mount namespace containerd, its shims and the containers live in (in NODE's network).
nsenter --net="/var/run/netns/$NODE" unshare --mount --propagation private sleep 1000000 &
HOLDER=$!
CTRD_PID=""
containerd_start() {
  nsenter --target "$HOLDER" --mount --net containerd --config "$CD/config.toml" >>"$CD/containerd.log" 2>&1 &
  CTRD_PID=$!
  local i
  for i in $(seq 150); do
    [ -S "$SOCK" ] && cri version >/dev/null 2>&1 && return 0
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$CD/containerd.log" >&2
  die "containerd did not start (its log above)"
}
containerd_stop() {  # SIGTERM, as systemd stops it; pods and their shims go on running
  kill -TERM "$CTRD_PID" 2>/dev/null
  local i
  for i in $(seq 100); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$CTRD_PID" 2>/dev/null && die "containerd did not stop on SIGTERM"
  wait "$CTRD_PID" 2>/dev/null || true
  CTRD_PID=""
}
cri_cleanup() {
  set +e
  local pod p
  if [ -n "$CTRD_PID" ]; then
    for pod in $(cri list-pods 2>/dev/null | jq -r '.pods[].id' 2>/dev/null); do
      cri stop-pod "$pod" >/dev/null 2>&1
      cri remove-pod "$pod" >/dev/null 2>&1
    done
    kill -TERM "$CTRD_PID" 2>/dev/null
    wait "$CTRD_PID" 2>/dev/null
  fi
  # Whatever survived (a test that died half way): shims and container processes, by their paths.
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$CD"/* ]] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  kill -KILL "$HOLDER" 2>/dev/null
  wait "$HOLDER" 2>/dev/null
}
on_exit cri_cleanup

netns_files() { find "$CD/state" -path '*/netns/*' -type f 2>/dev/null | wc -l; }
# host-local's leases: one file per address (not its last_reserved_ip.N bookkeeping, not its lock).
ipam_ips() {
  find "$IPAM_DIR/$NET" -maxdepth 1 -type f ! -name 'last_reserved_ip*' ! -name lock -printf '%f\n' 2>/dev/null |
    sort | tr '\n' ' '
}
records() { find "$RECORDS" -type f -name "${1:-*}:eth0*" 2>/dev/null | wc -l; }  # records (+ .deleting)
in_subnet() { python3 -c 'import ipaddress as i, sys; sys.exit(i.ip_address(sys.argv[1]) not in i.ip_network(sys.argv[2]))' "$1" "$2"; }
first_ip() { jq -r --arg fam "$2" '.ips[] | select(($fam == "6") == contains(":"))' <<<"$1" | head -1; }
# wait_answer PROTO NS ADDR PORT WANT: the container's server starts after StartContainer returns.
wait_answer() {
  local got="" i
  for i in $(seq 40); do
    got=$("${1}_get" "$2" "$3" "$4")
    [ "$got" = "$5" ] && break
    sleep 0.2
  done
  printf '%s' "$got"
}

log "containerd $(containerd --version | awk '{print $3}') in $NODE, state under $CD"
containerd_start
version=$(cri version)
check_eq "the CRI answers Version over v1" "$(jq -r .runtime_api_version <<<"$version")" v1
require "the CRI reports RuntimeReady and NetworkReady (the conflist was loaded)" cri wait-ready --seconds 30

log "images built here (busybox-static, socat) and imported: no registry"
python3 "$TOOLS_DIR/oci_image.py" --out "$T_DIR/pause.tar" --name "$PAUSE_IMAGE" --busybox \
  --entrypoint /bin/sleep,2147483647 >/dev/null
python3 "$TOOLS_DIR/oci_image.py" --out "$T_DIR/server.tar" --name "$SERVER_IMAGE" --busybox \
  --binary /usr/bin/socat >/dev/null
for img in pause server; do
  require "ctr imports the $img image into k8s.io" \
    ctr --address "$SOCK" -n k8s.io images import --snapshotter native "$T_DIR/$img.tar"
done

# The server container: TCP on 8080 and UDP on 5353, IPv4 and IPv6, each answers with its name.
SERVE='socat TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0 SYSTEM:"echo tcp-ok" &
exec socat UDP6-RECVFROM:5353,fork,ipv6only=0 SYSTEM:"echo udp-ok"'
server_cmd=$(jq -cn --arg s "$SERVE" '["/bin/sh", "-c", $s]')
run_pod() {  # run_pod NAME PORT...: kubelet's RunPodSandbox + CreateContainer + StartContainer
  local name=$1; shift
  local ports=()
  for p in "$@"; do ports+=(--port "$p"); done
  set +e
  T_OUT=$(cri run-pod --name "$name" --uid "uid-$name-$$" --log-dir "$T_DIR/logs" "${ports[@]}" \
    --image "$SERVER_IMAGE" --command "$server_cmd")
  T_RC=$?
  set -e
}

log "pod web: hostPorts tcp 18080->8080, udp 15353->5353, tcp 18081->8080 on hostIP $NODE_IP"
run_pod web tcp:18080:8080 udp:15353:5353 "tcp:18081:8080:$NODE_IP"
require "RunPodSandbox, CreateContainer, StartContainer succeed ($T_OUT)" [ "$T_RC" = 0 ]
WEB=$(jq -r .pod <<<"$T_OUT")
check_eq "the sandbox is ready" "$(jq -r .state <<<"$T_OUT")" SANDBOX_READY
check_eq "the container runs" "$(jq -r .container_state <<<"$T_OUT")" CONTAINER_RUNNING
WEB4=$(first_ip "$T_OUT" 4)
WEB6=$(first_ip "$T_OUT" 6)
check "the pod has an IPv4 address ($WEB4) of the conflist's $POD_SUBNET4" in_subnet "$WEB4" "$POD_SUBNET4"
check "and an IPv6 one ($WEB6) of $POD_SUBNET6: dual stack" in_subnet "$WEB6" "$POD_SUBNET6"
web_elements=$(owned_elements "$(tag_of "$NET" "$WEB")")
for want in "tcp . 18080 : $WEB4 . 8080" "udp . 15353 : $WEB4 . 5353" "tcp . 18080 : $WEB6 . 8080" \
  "udp . 15353 : $WEB6 . 5353" "$NODE_IP . tcp . 18081 : $WEB4 . 8080"; do
  check_match "the table maps $want, owned by the sandbox" " $(sed 's/[.]/[.]/g' <<<"$want")\$" "$web_elements"
done
check_eq "the plugin kept a record of the sandbox's attachment" "$(records "$WEB")" 1

probe_web() {  # probe_web WHEN: the remote reaches every mapping, over IPv4 and IPv6
  check_eq "$1: remote -> $NODE_IP:18080/tcp" "$(wait_answer tcp "$REMOTE" "$NODE_IP" 18080 tcp-ok)" tcp-ok
  check_eq "$1: remote -> [$NODE_IP6]:18080/tcp" "$(wait_answer tcp "$REMOTE" "$NODE_IP6" 18080 tcp-ok)" tcp-ok
  check_eq "$1: remote -> $NODE_IP:15353/udp" "$(wait_answer udp "$REMOTE" "$NODE_IP" 15353 udp-ok)" udp-ok
  check_eq "$1: remote -> [$NODE_IP6]:15353/udp" "$(wait_answer udp "$REMOTE" "$NODE_IP6" 15353 udp-ok)" udp-ok
  check_eq "$1: remote -> $NODE_IP:18081/tcp (the hostIP mapping)" \
    "$(wait_answer tcp "$REMOTE" "$NODE_IP" 18081 tcp-ok)" tcp-ok
}
probe_web "pod web"
check_no_answer "the hostIP mapping binds $NODE_IP only: [$NODE_IP6]:18081 does not answer" tcp "$REMOTE" "$NODE_IP6" 18081

log "pod taken: asks for tcp 18080, which pod web holds"
ips_before=$(ipam_ips)
netns_before=$(netns_files)
elements_before=$(elements_except_excl)
check_eq "control: web's namespace is counted under containerd's state" "$netns_before" 1
check "control: web's addresses are counted in host-local's directory" [ -n "$ips_before" ]
run_pod taken tcp:18080:8080 udp:15354:5353
check_rc "RunPodSandbox of the taken port fails" nonzero
check_match "containerd reports the plugin's error, which names the owner" "$WEB" "$(jq -r .error <<<"$T_OUT")"
check_match "... and the port" "18080" "$(jq -r .error <<<"$T_OUT")"
log "containerd says: $(jq -r .error <<<"$T_OUT")"
check_eq "no sandbox of it is left" "$(cri list-pods | jq -r '[.pods[] | select(.name == "taken")] | length')" 0
check_eq "no element of it is left (the table is as before)" "$(elements_except_excl)" "$elements_before"
check_eq "no IPAM address of it is left" "$(ipam_ips)" "$ips_before"
check_eq "no namespace of it is left" "$(netns_files)" "$netns_before"
check_eq "no record of it is left (web's only)" "$(records)" 1
probe_web "after the refused pod"

log "pod api: tcp 18090->8080; then containerd is restarted while both pods run"
run_pod api tcp:18090:8080
require "pod api starts ($T_OUT)" [ "$T_RC" = 0 ]
API=$(jq -r .pod <<<"$T_OUT")
check_eq "api answers through hostPort 18090" "$(wait_answer tcp "$REMOTE" "$NODE_IP" 18090 tcp-ok)" tcp-ok
containerd_stop
set +e
cri --timeout 5 version >/dev/null 2>&1
rc=$?
set -e
check "containerd stopped: the CRI socket no longer answers (exit $rc)" [ "$rc" != 0 ]
probe_web "containerd down"
check_eq "containerd down: api still answers" "$(tcp_get "$REMOTE" "$NODE_IP" 18090)" tcp-ok
containerd_start
require "after the restart the CRI is ready again" cri wait-ready --seconds 30
check_eq "after the restart web is still ready" "$(cri pod-status "$WEB" | jq -r .state)" SANDBOX_READY
probe_web "after the restart"

log "StopPodSandbox after the restart"
check "control: web owns elements before its stop" [ "$(owned_count "$(tag_of "$NET" "$WEB")")" -gt 0 ]
require "StopPodSandbox web succeeds" cri stop-pod "$WEB"
check_eq "StopPodSandbox removed every mapping of web" "$(owned_count "$(tag_of "$NET" "$WEB")")" 0
check_eq "and its record" "$(records "$WEB")" 0
check_no_answer "web's hostPort 18080 no longer answers (IPv4)" tcp "$REMOTE" "$NODE_IP" 18080
check_no_answer "web's hostPort 18080 no longer answers (IPv6)" tcp "$REMOTE" "$NODE_IP6" 18080
check_no_answer "web's hostPort 15353 no longer answers" udp "$REMOTE" "$NODE_IP" 15353
check_eq "api, untouched, still answers" "$(tcp_get "$REMOTE" "$NODE_IP" 18090)" tcp-ok
check "a second StopPodSandbox is harmless (kubelet repeats it)" cri stop-pod "$WEB"
require "StopPodSandbox api succeeds" cri stop-pod "$API"
check_no_answer "api's hostPort no longer answers" tcp "$REMOTE" "$NODE_IP" 18090

log "RemovePodSandbox: nothing is left"
check "control: the stopped sandboxes are still listed" [ "$(cri list-pods | jq '.pods | length')" = 2 ]
require "RemovePodSandbox web" cri remove-pod "$WEB"
require "RemovePodSandbox api" cri remove-pod "$API"
check_eq "no sandbox is listed" "$(cri list-pods | jq '.pods | length')" 0
check_eq "no element of any pod is left" "$(elements_except_excl)" ""
check_eq "no owner is left in the table" "$(owners)" ""
check_eq "no IPAM address is left" "$(ipam_ips)" ""
check_eq "no pod namespace is left" "$(netns_files)" 0
check_eq "no record is left" "$(records)" 0
grep -q 'level=error.*nft-port-mapper' "$CD/containerd.log" &&
  log "containerd logged plugin errors: $(grep 'level=error.*nft-port-mapper' "$CD/containerd.log" | head -3)"
finish
