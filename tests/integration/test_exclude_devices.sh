#!/usr/bin/env bash
# Every excludeDevices entry applies (the old plugin's loop overwrote its variable, so only the
# LAST entry was honoured). Three client namespaces reach the node on three links: the first two
# links are excluded, the third is not. A server on the node itself, on the same port, proves the
# excluded packets arrive and are simply not translated (they reach the node, not the container).
source "$(dirname "$0")/lib.sh"
setup_topology 12
add_client remote2 2
add_client remote3 3
add_container a
NET="it-excl-$$"
CHAIN="EXCL-IT-PORT-MAPPER"
CID=11111111-2222-3333-4444-555555555555
CONF="$WORK/portmapper.json"
make_config "$CONF" "$NET" "$CHAIN" "[\"${CLIENT_DEV[1]}\", \"${CLIENT_DEV[2]}\"]" "$BRIDGE" "$SUBNET" \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"},{"host_port":5353,"container_port":53,"protocol":"udp"}]'

log "ADD with excludeDevices [${CLIENT_DEV[1]}, ${CLIENT_DEV[2]}]"
cni_call ADD "$CID" "$(ctr a)" eth0 "$CONF"
require "ADD exits 0" [ "$CNI_RC" = 0 ]
start_tcp_server "$(ctr a)" 80 from-container
start_udp_server "$(ctr a)" 53 from-container-udp
start_tcp_server "$NODE" 8080 from-node
start_udp_server "$NODE" 5353 from-node-udp

for k in 1 2; do
  ns=${CLIENT_NS[k]} dev=${CLIENT_DEV[k]} hip=${CLIENT_HOSTIP[k]}
  check_eq "tcp arriving on excluded device #$k ($dev) is not mapped (answered by the node itself)" \
    "$(tcp_probe "$ns" "$hip" 8080)" from-node
  check_eq "udp arriving on excluded device #$k ($dev) is not mapped (answered by the node itself)" \
    "$(udp_probe "$ns" "$hip" 5353)" from-node-udp
done
ns=${CLIENT_NS[3]} dev=${CLIENT_DEV[3]} hip=${CLIENT_HOSTIP[3]}
check_eq "tcp arriving on the non-excluded device ($dev) is mapped to the container" \
  "$(tcp_probe "$ns" "$hip" 8080)" from-container
check_eq "udp arriving on the non-excluded device ($dev) is mapped to the container" \
  "$(udp_probe "$ns" "$hip" 5353)" from-container-udp
# The excluded clients are refused outright once nothing listens on the node's own port.
kill "${LIB_PIDS[-2]}" 2>/dev/null || true
wait "${LIB_PIDS[-2]}" 2>/dev/null || true
for k in 1 2; do
  check_eq "with no server on the node, tcp from excluded device #$k gets nothing" \
    "$(tcp_probe "${CLIENT_NS[k]}" "${CLIENT_HOSTIP[k]}" 8080)" ""
done
check_eq "... while the non-excluded device still reaches the container" \
  "$(tcp_probe "${CLIENT_NS[3]}" "${CLIENT_HOSTIP[3]}" 8080)" from-container

excl=$(ip netns exec "$NODE" nft list set $TABLE "$CHAIN-excl" 2>&1 || true)
check_match "the network's exclusion set holds the first device" "\"${CLIENT_DEV[1]}\"" "$excl"
check_match "the network's exclusion set holds the second device" "\"${CLIENT_DEV[2]}\"" "$excl"
check_no_match "the exclusion set does not hold the third device" "\"${CLIENT_DEV[3]}\"" "$excl"

cni_call DEL "$CID" "$(ctr a)" eth0 "$CONF"
check_rc "DEL exits 0" 0
check_eq "no element of the container remains" "$(owned_count "$(tag_of "$NET" "$CID" eth0)")" 0
check_eq "the non-excluded device no longer reaches the container" \
  "$(tcp_probe "${CLIENT_NS[3]}" "${CLIENT_HOSTIP[3]}" 8080)" ""
finish
