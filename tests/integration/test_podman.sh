#!/usr/bin/env bash
# The real client: Podman from Debian (runc, CNI backend, a private containers.conf and network
# config dir naming nft-port-mapper where portmap would be, a local busybox rootfs) starts a
# container with -p HOST:CONTAINER; a client in another namespace gets the container's answer
# through the mapping; podman rm -f removes the mapping and nothing is left in our table.
# Podman runs inside the node namespace, entered with nsenter (ip netns exec would remount /sys
# and hide the cgroup mounts runc needs).
source "$(dirname "$0")/harness.sh"
command -v podman >/dev/null && command -v runc >/dev/null && [ -x /bin/busybox ] || {
  echo "FAIL: podman, runc and busybox-static are needed (scripts/install-deps installs them)"; exit 1; }
topology

# A minimal root file system: busybox and its applets.
ROOTFS=$T_DIR/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/www" "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in sh echo sleep nc httpd cat; do ln -s busybox "$ROOTFS/bin/$a"; done
echo "hello from podman" > "$ROOTFS/www/index.html"

NETDIR=$T_DIR/net.d
mkdir -p "$NETDIR" "$T_DIR/root" "$T_DIR/runroot" "$T_DIR/tmp"
NET=pmt$$
conflist "$NETDIR/$NET.conflist" "$NET" 1.0.0
cat > "$T_DIR/containers.conf" <<CONF
[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNI_BIN"]
network_config_dir = "$NETDIR"
default_network = "$NET"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
runtime = "runc"
CONF
CTR=pmtest-$$
pod() {
  CONTAINERS_CONF="$T_DIR/containers.conf" TMPDIR="$T_DIR/tmp" \
    nsenter --net="/var/run/netns/$NODE" \
    podman --root "$T_DIR/root" --runroot "$T_DIR/runroot" --storage-driver vfs \
      --runtime runc --cgroup-manager cgroupfs --events-backend none "$@"
}
podman_cleanup() { pod rm -f "$CTR" >/dev/null 2>&1 || true; }
on_exit podman_cleanup

set +e
pod run -d --name "$CTR" --network "$NET" -p 18080:80 \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  --rootfs "$ROOTFS" /bin/httpd -f -p 80 -h /www > "$T_DIR/run.out" 2>"$T_DIR/run.err"
rc=$?
set -e
check "podman run -p 18080:80 exits 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { cat "$T_DIR/run.err"; finish; }
ctr_ip=$(pod inspect -f '{{.NetworkSettings.Networks.'"$NET"'.IPAddress}}' "$CTR" 2>/dev/null || true)
log "container address: $ctr_ip"
check_match "the mapping is in our table, owned by the podman container" "comment \"net=$NET id=" "$(nft_dump)"
http_get() { probe_run "$REMOTE" "TCP:$NODE_IP:18080,connect-timeout=2" "$(printf 'GET /index.html HTTP/1.0\r\n\r')" | tail -1; }
answer=""
for _ in $(seq 30); do   # httpd starts in the container some time after podman run returns
  answer=$(http_get)
  [ "$answer" = "hello from podman" ] && break
  sleep 0.2
done
check "a remote client gets the container's answer through hostIP:18080" [ "$answer" = "hello from podman" ]
set +e
pod rm -f "$CTR" >/dev/null 2>&1
rc=$?
set -e
check "podman rm -f exits 0" [ "$rc" = 0 ]
check_no_match "nothing of the container is left in our table (it was there: the check above)" "net=$NET " "$(nft_dump)"
check_eq "control: the remote's probe to the node's control server answers" "$(tcp_get "$REMOTE" "$NODE_IP" "$CONTROL_PORT")" control
check_eq "the port is no longer mapped" "$(http_get)" ""
finish
