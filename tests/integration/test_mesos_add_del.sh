#!/usr/bin/env bash
# The Mesos agent's whole cycle in delegate mode, with the real bridge/host-local delegate:
# ADD (legacy result with ip4.ip), TCP and UDP from a remote client and from the node itself
# (output path), every element tagged with its exact owner, DEL (mappings and attachment gone,
# traffic refused), DEL again, DEL without CNI_NETNS, and a new container on the same host ports.
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
ctr_add b
NET="it-add-$$"
CHAIN="MESOS-IT-PORT-MAPPER"
CID_A=6c4f8d4e-1f0b-4b7e-9a43-2f7c1b1f0a11
CID_B=0a0a8d4e-1f0b-4b7e-9a43-2f7c1b1f0a22
CONF="$T_DIR/portmapper.json"
mesos_config "$CONF" "$NET" "$CHAIN" \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"},
    {"host_port":5353,"container_port":53,"protocol":"udp"},
    {"host_port":8081,"container_port":81}]'
TAG_A=$(tag_of "$NET" "$CID_A" eth0)
TAG_B=$(tag_of "$NET" "$CID_B" eth0)

log "ADD container A as the Mesos agent does"
cni ADD "$CID_A" "$(ctr_path a)" "$CONF"
require "ADD exits 0" [ "$T_RC" = 0 ]
require "stdout is a JSON object" is_json_object "$T_OUT"
IP_A=$(jget '.ip4.ip // empty' "$T_OUT")
check_match "result is the legacy form with ip4.ip in $CTR_SUBNET" "^10\.77\.$T_NET\.[0-9]+/24$" "$IP_A"
check_eq "ip4.gateway is the bridge's address" "$(jget '.ip4.gateway // empty' "$T_OUT")" "10.77.$T_NET.1"
check_eq "result has no 'ips'/'interfaces' (Mesos reads only ip4)" "$(jget '[has("ips"), has("interfaces")] | any' "$T_OUT")" false
check_match "result's cniVersion is a legacy one (0.1.0/0.2.0)" '^0\.[12]\.0$' "$(jget '.cniVersion // "0.1.0"' "$T_OUT")"
CIP_A=${IP_A%/*}
check_match "the container's eth0 really holds $IP_A" "inet $IP_A " "$(ip -n "$(ctr_ns a)" -4 -o addr show dev eth0 2>&1)"
check "host-local recorded $CIP_A in its dataDir" test -f "$IPAM_DIR/$NET/$CIP_A"

serve_tcp "$(ctr_ns a)" 80 hello-a-80
serve_tcp "$(ctr_ns a)" 81 hello-a-81
serve_udp "$(ctr_ns a)" 53 hello-a-53
check_eq "remote client -> $NODE_IP:8080/tcp reaches the container's port 80" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-a-80
check_eq "remote client -> $NODE_IP:5353/udp reaches the container's port 53" "$(udp_get "$REMOTE" "$NODE_IP" 5353)" hello-a-53
check_eq "a mapping without 'protocol' means tcp (8081 -> 81)" "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" hello-a-81
check_eq "the node itself -> $NODE_IP:8080 (output path) reaches the container" "$(tcp_get "$NODE" "$NODE_IP" 8080)" hello-a-80
check_no_answer "an unmapped host port is not translated (8082)" tcp "$REMOTE" "$NODE_IP" 8082
check_no_answer "udp 8080 is not mapped (only tcp was asked)" udp "$REMOTE" "$NODE_IP" 8080

log "the nftables state names the owner"
dump=$(nft_dump)
elems=$(owned_elements "$TAG_A")
echo "$elems" | sed 's/^/    /'
check_match "the table lists elements with comment \"$TAG_A\"" "comment \"$TAG_A\"" "$dump"
check_match "map $CHAIN-v4 holds tcp . 8080 : $CIP_A . 80 owned by A" "^$CHAIN-v4 tcp \. 8080 : ${CIP_A//./\\.} \. 80$" "$elems"
check_match "map $CHAIN-v4 holds udp . 5353 : $CIP_A . 53 owned by A" "^$CHAIN-v4 udp \. 5353 : ${CIP_A//./\\.} \. 53$" "$elems"
check_match "map $CHAIN-v4 holds tcp . 8081 : $CIP_A . 81 owned by A" "^$CHAIN-v4 tcp \. 8081 : ${CIP_A//./\\.} \. 81$" "$elems"
for key in "tcp . 8080" "udp . 5353" "tcp . 8081"; do
  n=$(grep -vc "^$CHAIN-v4 " <<<"$(grep -F " $key" <<<"$elems")" || true)
  check "host port $key is claimed host-wide by an element owned by A (outside $CHAIN-v4)" [ "$n" -ge 1 ]
done
check "the per-network chain '$CHAIN' exists" ip netns exec "$NODE" nft list chain $TABLE "$CHAIN"
check_match "the excludeDevices set holds the bridge" "\"$BRIDGE\"" "$(ip netns exec "$NODE" nft list set $TABLE "$CHAIN-excl" 2>&1)"

log "DEL container A"
cni DEL "$CID_A" "$(ctr_path a)" "$CONF"
check_rc "DEL exits 0" 0
check_eq "no element with A's comment remains" "$(owned_count "$TAG_A")" 0
check_no_answer "the remote TCP connection to :8080 now fails" tcp "$REMOTE" "$NODE_IP" 8080
check_no_answer "the remote UDP datagram to :5353 gets no answer" udp "$REMOTE" "$NODE_IP" 5353
check_no_answer "the node's own connection to :8080 now fails" tcp "$NODE" "$NODE_IP" 8080
check "the delegate's DEL removed A's eth0" link_absent "$(ctr_ns a)" eth0
check "host-local released $CIP_A" test ! -e "$IPAM_DIR/$NET/$CIP_A"

cni DEL "$CID_A" "$(ctr_path a)" "$CONF"
check_rc "DEL a second time exits 0" 0
cni DEL "$CID_A" "" "$CONF"
check_rc "DEL without CNI_NETNS exits 0" 0

log "a new container on the same host ports (the chain keeps working)"
cni ADD "$CID_B" "$(ctr_path b)" "$CONF"
require "ADD of container B exits 0" [ "$T_RC" = 0 ]
IP_B=$(jget '.ip4.ip // empty' "$T_OUT")
check_match "B got an address in $CTR_SUBNET" "^10\.77\.$T_NET\.[0-9]+/24$" "$IP_B"
serve_tcp "$(ctr_ns b)" 80 hello-b-80
serve_udp "$(ctr_ns b)" 53 hello-b-53
check_eq "remote client -> :8080 reaches container B" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-b-80
check_eq "remote client -> :5353/udp reaches container B" "$(udp_get "$REMOTE" "$NODE_IP" 5353)" hello-b-53
check "B's elements carry B's comment" [ "$(owned_count "$TAG_B")" -ge 6 ]

log "DEL of B without CNI_NETNS (the agent lost the namespace)"
cni DEL "$CID_B" "" "$CONF"
check_rc "DEL without CNI_NETNS exits 0" 0
check_eq "no element with B's comment remains" "$(owned_count "$TAG_B")" 0
check_no_answer "remote client -> :8080 now fails" tcp "$REMOTE" "$NODE_IP" 8080
check "host-local released B's address ${IP_B%/*}" test ! -e "$IPAM_DIR/$NET/${IP_B%/*}"
check_eq "no element of this test is left in the table" "$(owned_total)" 0
finish
