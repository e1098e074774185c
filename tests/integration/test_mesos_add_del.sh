#!/usr/bin/env bash
# The Mesos agent's whole cycle in delegate mode: ADD through the real bridge delegate, TCP and UDP
# from a remote client and from the node itself, the legacy result Mesos parses, the owner on
# every element, DEL (twice, and without CNI_NETNS), and the chain still working afterwards.
source "$(dirname "$0")/netns.sh"
topology
ctr_add a
ctr_add b
CID=6c4f8d4e-1f0b-4b7e-9a43-2f7c1b1f0a11
CID2=0a0a8d4e-1f0b-4b7e-9a43-2f7c1b1f0a22
mesos_config "$T_DIR/conf.json" mesos-net MESOS-TEST-PORT-MAPPER \
  '[{"host_port":8080,"container_port":80,"protocol":"TCP"},{"host_port":5353,"container_port":53,"protocol":"udp"},{"host_port":8081,"container_port":81}]'

log "ADD as the Mesos agent does"
cni ADD "$CID" "$(ctr_path a)" "$T_DIR/conf.json"
check "ADD exits 0" [ "$T_RC" = 0 ]
ip4=$(json_get 'j["ip4"]["ip"]' <<<"$T_OUT")
check "result is the legacy form with ip4.ip ($ip4)" [ -n "$ip4" ]
check "result has no ips/interfaces keys Mesos would not read" [ "$(json_get '"ips" in j' <<<"$T_OUT")" = False ]
check "result says a 0.1/0.2 cniVersion" grep -qE '"cniVersion":"0\.[12]\.0"' <<<"$T_OUT"

serve_tcp "$(ctr_ns a)" 80 hello-tcp
serve_tcp "$(ctr_ns a)" 81 hello-81
serve_udp "$(ctr_ns a)" 53 hello-udp
wait_listen "$(ctr_ns a)" 80
check "remote client reaches hostIP:8080 (tcp)" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-tcp ]
check "protocol missing means tcp (8081)" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" = hello-81 ]
check "remote client reaches hostIP:5353 (udp)" [ "$(udp_get "$REMOTE" "$NODE_IP" 5353)" = hello-udp ]
check "the node itself reaches hostIP:8080 (output path)" [ "$(tcp_get "$NODE" "$NODE_IP" 8080)" = hello-tcp ]
check "a port that is not mapped is not translated" [ -z "$(tcp_get "$REMOTE" "$NODE_IP" 8082)" ]

tag="net=mesos-net id=$CID if=eth0"
check "every element names its owner (7 = 3 port claims + 3 v4 + 1 hairpin)" [ "$(owned_count "$tag")" = 7 ]
check "the per-network chain is named by 'chain'" eval "nft_node list chain inet nft_port_mapper MESOS-TEST-PORT-MAPPER >/dev/null"

log "DEL"
cni DEL "$CID" "$(ctr_path a)" "$T_DIR/conf.json"
check "DEL exits 0" [ "$T_RC" = 0 ]
check "no element of the container remains" [ "$(owned_count "$tag")" = 0 ]
check "the delegate detached the container (no eth0 address)" [ -z "$(ip -n "$(ctr_ns a)" -4 addr show dev eth0 2>/dev/null)" ]
check "remote connection fails after DEL" [ -z "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" ]
cni DEL "$CID" "$(ctr_path a)" "$T_DIR/conf.json"
check "DEL twice succeeds" [ "$T_RC" = 0 ]
cni DEL "$CID" "" "$T_DIR/conf.json"
check "DEL without CNI_NETNS succeeds" [ "$T_RC" = 0 ]

log "the chain still works for the next ADD"
cni ADD "$CID2" "$(ctr_path b)" "$T_DIR/conf.json"
check "second container ADD on the same host ports exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns b)" 80 hello-b
wait_listen "$(ctr_ns b)" 80
check "remote client reaches the new container" [ "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" = hello-b ]
cni DEL "$CID2" "" "$T_DIR/conf.json"
check "its DEL (no netns) leaves no element" [ "$(owned_count "net=mesos-net id=$CID2 if=eth0")" = 0 ]
finish
