#!/usr/bin/env bash
# Every excludeDevices entry applies (the old plugin's loop overwrote its variable, so only the
# LAST entry was honoured). Three client namespaces reach the node on three links: the first two
# links are excluded, the third is not. A server on the node itself, on the same port, proves the
# excluded packets arrive and are simply not translated (they reach the node, not the container).
source "$(dirname "$0")/harness.sh"
topology
add_client remote2 2
add_client remote3 3
ctr_add a
NET="it-excl-$$"
CHAIN="EXCL-IT-PORT-MAPPER"
CID=11111111-2222-3333-4444-555555555555
CONF="$T_DIR/portmapper.json"
mesos_config "$CONF" "$NET" "$CHAIN" \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"},{"host_port":5353,"container_port":53,"protocol":"udp"}]' \
  "[\"${CLIENT_DEV[1]}\", \"${CLIENT_DEV[2]}\"]"

log "ADD with excludeDevices [${CLIENT_DEV[1]}, ${CLIENT_DEV[2]}]"
cni ADD "$CID" "$(ctr_path a)" "$CONF"
require "ADD exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns a)" 80 from-container
serve_udp "$(ctr_ns a)" 53 from-container-udp
serve_tcp "$NODE" 8080 from-node
NODE_TCP_PID=${T_PIDS[-1]}
serve_udp "$NODE" 5353 from-node-udp

for k in 1 2; do
  ns=${CLIENT_NS[k]} dev=${CLIENT_DEV[k]} hip=${CLIENT_HOSTIP[k]}
  check_eq "tcp arriving on excluded device #$k ($dev) is not mapped (answered by the node itself)" \
    "$(tcp_get "$ns" "$hip" 8080)" from-node
  check_eq "udp arriving on excluded device #$k ($dev) is not mapped (answered by the node itself)" \
    "$(udp_get "$ns" "$hip" 5353)" from-node-udp
done
ns=${CLIENT_NS[3]} dev=${CLIENT_DEV[3]} hip=${CLIENT_HOSTIP[3]}
check_eq "tcp arriving on the non-excluded device ($dev) is mapped to the container" \
  "$(tcp_get "$ns" "$hip" 8080)" from-container
check_eq "udp arriving on the non-excluded device ($dev) is mapped to the container" \
  "$(udp_get "$ns" "$hip" 5353)" from-container-udp
# The excluded clients are refused outright once nothing listens on the node's own port.
kill "$NODE_TCP_PID"
wait "$NODE_TCP_PID" 2>/dev/null || true   # (its status is that of a killed process)
for k in 1 2; do
  check_no_answer "with no server on the node, tcp from excluded device #$k gets nothing" \
    tcp "${CLIENT_NS[k]}" "${CLIENT_HOSTIP[k]}" 8080
done
check_eq "... while the non-excluded device still reaches the container" \
  "$(tcp_get "${CLIENT_NS[3]}" "${CLIENT_HOSTIP[3]}" 8080)" from-container

excl=$(nft_node list set $TABLE "$CHAIN-excl") || die "nft list set $CHAIN-excl failed"
check_match "the network's exclusion set holds the first device" "\"${CLIENT_DEV[1]}\"" "$excl"
check_match "the network's exclusion set holds the second device" "\"${CLIENT_DEV[2]}\"" "$excl"
check_no_match "the exclusion set does not hold the third device" "\"${CLIENT_DEV[3]}\"" "$excl"

check "before DEL the container owns elements (control for the count below)" \
  [ "$(owned_count "$(tag_of "$NET" "$CID" eth0)")" -gt 0 ]
cni DEL "$CID" "$(ctr_path a)" "$CONF"
check_rc "DEL exits 0" 0
check_eq "no element of the container remains" "$(owned_count "$(tag_of "$NET" "$CID" eth0)")" 0
check_no_answer "the non-excluded device no longer reaches the container" \
  tcp "${CLIENT_NS[3]}" "${CLIENT_HOSTIP[3]}" 8080
finish
