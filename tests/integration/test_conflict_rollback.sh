#!/usr/bin/env bash
# Host ports are a node-wide resource. Container A maps tcp 8080; container B asks for tcp 9090
# and tcp 8080: B's ADD fails with code 105 naming A, and is rolled back completely (the delegate's
# DEL ran: no veth, no address, host-local released the IP, its masquerade rule is gone; no element
# of B, not even for 9090). A keeps working and the ruleset is exactly as before. The same port on
# another network is refused too; the same port number with another protocol is not a conflict.
source "$(dirname "$0")/harness.sh"
topology
ctr_add a
ctr_add b
ctr_add c
ctr_add d
NET="it-confl-$$"
NET2="it-confl2-$$"
CHAIN="CONFLICT-IT-PORT-MAPPER"
A=aaaaaaaa-0000-4000-8000-000000000001
B=bbbbbbbb-0000-4000-8000-000000000002
C=cccccccc-0000-4000-8000-000000000003
D=dddddddd-0000-4000-8000-000000000004
mesos_config "$T_DIR/a.json" "$NET" "$CHAIN" \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"}]'
mesos_config "$T_DIR/b.json" "$NET" "$CHAIN" \
  '[{"host_port":9090,"container_port":90,"protocol":"tcp"},{"host_port":8080,"container_port":80,"protocol":"tcp"}]'
# A second network on the same node: its own bridge, subnet and chain.
BRIDGE2="pmt14c$$"; BRIDGE2=${BRIDGE2:0:15}
mesos_config "$T_DIR/c.json" "$NET2" "OTHER-IT-PORT-MAPPER" \
  '[{"host_port":8080,"container_port":80,"protocol":"tcp"}]' "[\"$BRIDGE2\"]" '{}' "$BRIDGE2" "10.76.$T_NET.0/24"
mesos_config "$T_DIR/d.json" "$NET" "$CHAIN" \
  '[{"host_port":8080,"container_port":53,"protocol":"udp"}]'

ip_files() { ls "$1" 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | sort || true; }
bridge_ports() { ip -n "$NODE" -o link show master "$1" 2>/dev/null | awk -F': ' '{print $2}' | sort; }

log "container A maps tcp 8080"
cni ADD "$A" "$(ctr_path a)" "$T_DIR/a.json"
require "A's ADD exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns a)" 80 hello-a
require "A reachable on :8080 before B's attempt" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-a ]

check "A owns elements (control for the counts of B and C)" [ "$(owned_count "$(tag_of "$NET" "$A" eth0)")" -gt 0 ]
table_before=$(nft_dump)
ruleset_before=$(ruleset)
elems_before=$(elements_except_excl)
ips_before=$(ip_files "$IPAM_DIR/$NET")
ports_before=$(bridge_ports "$BRIDGE")

log "container B asks for tcp 9090 and tcp 8080 (taken by A)"
cni ADD "$B" "$(ctr_path b)" "$T_DIR/b.json"
check_rc "B's ADD fails" nonzero
check "B's stdout is a JSON error object" is_json_object "$T_OUT"
check_eq "the error code is 105 (host port conflict)" "$(jget '.code' "$T_OUT")" 105
msg=$(jget '.msg // ""' "$T_OUT")
check_match "the message names A's container id" "$A" "$msg"
echo "    msg: $msg"
check_match "the message (msg or details) names the port 8080" "8080" "$msg $(jget '.details // ""' "$T_OUT")"

log "B was rolled back"
check "B's netns has no eth0 (the delegate's DEL ran)" link_absent "$(ctr_ns b)" eth0
addrs=$(ip -n "$(ctr_ns b)" -4 -o addr show) || die "ip addr show failed in $(ctr_ns b)"
check_match "B's netns lists its loopback address (control)" " lo " "$addrs"
check_eq "B's netns has no IPv4 address besides loopback" "$(grep -v ' lo ' <<<"$addrs" || true)" ""
check_eq "no veth of B on the bridge (only A's port remains)" "$(bridge_ports "$BRIDGE")" "$ports_before"
check_eq "host-local released B's IP (the dataDir holds only A's address)" "$(ip_files "$IPAM_DIR/$NET")" "$ips_before"
check_eq "no element of B remains" "$(owned_count "$(tag_of "$NET" "$B" eth0)")" 0
check_no_match "B's other port (9090) was not left behind" "9090" "$(nft_dump)"
check_eq "the set/map elements are unchanged" "$(elements_except_excl)" "$elems_before"
check_eq "the plugin's table is byte-identical to before" "$(nft_dump)" "$table_before"
check_eq "the whole ruleset of the node (incl. the delegate's masquerade rules) is byte-identical" \
  "$(ruleset)" "$ruleset_before"
check_eq "A is still reachable on :8080" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-a
check_no_answer "9090 is not mapped" tcp "$REMOTE" "$NODE_IP" 9090

log "the same host port from another network is a conflict too"
cni ADD "$C" "$(ctr_path c)" "$T_DIR/c.json"
check_rc "C's ADD (network $NET2, tcp 8080) fails" nonzero
check_eq "the error code is 105" "$(jget '.code' "$T_OUT")" 105
check_match "the message names A's container id" "$A" "$(jget '.msg // ""' "$T_OUT")"
check "C's netns has no eth0" link_absent "$(ctr_ns c)" eth0
check_eq "host-local of $NET2 holds no address" "$(ip_files "$IPAM_DIR/$NET2")" ""
check_eq "no element of C remains" "$(owned_count "$(tag_of "$NET2" "$C" eth0)")" 0
check_eq "A is still reachable on :8080" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-a

log "udp 8080 is a different host port than tcp 8080"
cni ADD "$D" "$(ctr_path d)" "$T_DIR/d.json"
check_rc "D's ADD (udp 8080) exits 0" 0
serve_udp "$(ctr_ns d)" 53 hello-d
check_eq "udp :8080 reaches D" "$(udp_get "$REMOTE" "$NODE_IP" 8080)" hello-d
check_eq "tcp :8080 still reaches A" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-a

log "after A leaves, B's request succeeds"
cni DEL "$A" "$(ctr_path a)" "$T_DIR/a.json"
check_rc "A's DEL exits 0" 0
cni ADD "$B" "$(ctr_path b)" "$T_DIR/b.json"
check_rc "B's ADD now exits 0" 0
serve_tcp "$(ctr_ns b)" 80 hello-b
check_eq "tcp :8080 now reaches B" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-b
for x in B D; do
  cid=${!x}
  cni DEL "$cid" "" "$T_DIR/${x,,}.json"
  check_rc "$x's DEL exits 0" 0
done
check_eq "no container element is left" "$(elements_except_excl)" ""
finish
