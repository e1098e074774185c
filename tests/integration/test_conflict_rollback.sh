#!/usr/bin/env bash
# A second container asking for a host port that is taken gets a conflict error naming the owner,
# its delegate attachment is rolled back, and the first container's mapping is untouched.
source "$(dirname "$0")/netns.sh"
topology
ctr_add a
ctr_add b
A=aaaaaaaa-0000-0000-0000-000000000001
B=bbbbbbbb-0000-0000-0000-000000000002
mesos_config "$T_DIR/conf.json" conflict-net CONFLICT-PORT-MAPPER '[{"host_port":8080,"container_port":80}]'
mesos_config "$T_DIR/conf-b.json" conflict-net CONFLICT-PORT-MAPPER \
  '[{"host_port":9090,"container_port":90},{"host_port":8080,"container_port":80}]'
cni ADD "$A" "$(ctr_path a)" "$T_DIR/conf.json"
check "A's ADD exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns a)" 80 hello-a
wait_listen "$(ctr_ns a)" 80
before=$(ruleset)
ips_before=$(ls "$T_DIR/ipam/conflict-net" | sort)

cni ADD "$B" "$(ctr_path b)" "$T_DIR/conf-b.json"
check "B's ADD fails" [ "$T_RC" != 0 ]
check "the error is JSON with code 105" [ "$(json_get 'j["code"]' <<<"$T_OUT")" = 105 ]
check "the message names A's container ID" grep -q "$A" <<<"$(json_get 'j["msg"]' <<<"$T_OUT")"
check "the ruleset is exactly as before" [ "$(ruleset)" = "$before" ]
check "B's delegate attachment was undone (no eth0 in B)" [ -z "$(ip -n "$(ctr_ns b)" link show eth0 2>/dev/null)" ]
check "host-local released B's address" [ "$(ls "$T_DIR/ipam/conflict-net" | sort)" = "$ips_before" ]
check "no veth of B is left on the bridge (one port: A's)" [ "$(ip -n "$NODE" -o link show master "$BRIDGE" | wc -l)" = 1 ]
check "A still reachable" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-a ]
check "B's other port (9090) was not left behind" [ -z "$(nft_node list table inet nft_port_mapper | grep 9090)" ]
finish
