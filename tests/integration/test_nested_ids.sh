#!/usr/bin/env bash
# Mesos nests container IDs: a nested container of P is "P.C". The old plugin deleted with an
# unanchored regex on "container_id: P", so DEL of P also removed P.C's rules (and a "." in an id
# matched any character). Owners must be compared whole: DEL of P leaves P.C alone, DEL of P.C
# leaves "PxC" alone, with the mappings named in args and with the scan DEL (no args).
source "$(dirname "$0")/lib.sh"
setup_topology 15
add_container p
add_container pc
add_container q
add_container p2
NET="it-nest-$$"
CHAIN="NEST-IT-PORT-MAPPER"
P=5d1e0a3c-0000-4000-8000-000000000001
PC="$P.c1"
Q="${P}xc1"         # same length as P.C, the dot replaced: a regex "P.C" would match it
conf() {  # conf FILE HOSTPORT
  make_config "$1" "$NET" "$CHAIN" "[\"$BRIDGE\"]" "$BRIDGE" "$SUBNET" \
    "[{\"host_port\":$2,\"container_port\":80,\"protocol\":\"tcp\"}]"
}
conf "$WORK/p.json" 8080
conf "$WORK/pc.json" 8081
conf "$WORK/q.json" 8083
conf "$WORK/p2.json" 8082
TAG_P=$(tag_of "$NET" "$P" eth0)
TAG_PC=$(tag_of "$NET" "$PC" eth0)
TAG_Q=$(tag_of "$NET" "$Q" eth0)

cni_call ADD "$P" "$(ctr p)" eth0 "$WORK/p.json";    require "ADD P exits 0" [ "$CNI_RC" = 0 ]
cni_call ADD "$PC" "$(ctr pc)" eth0 "$WORK/pc.json"; require "ADD P.C (CNI_CONTAINERID=$PC) exits 0" [ "$CNI_RC" = 0 ]
cni_call ADD "$Q" "$(ctr q)" eth0 "$WORK/q.json";    require "ADD PxC exits 0" [ "$CNI_RC" = 0 ]
start_tcp_server "$(ctr p)" 80 hello-parent
start_tcp_server "$(ctr pc)" 80 hello-child
start_tcp_server "$(ctr q)" 80 hello-q
check_eq "P reachable on 8080" "$(tcp_probe "$REMOTE" "$HOST_IP" 8080)" hello-parent
check_eq "P.C reachable on 8081" "$(tcp_probe "$REMOTE" "$HOST_IP" 8081)" hello-child
pc_elems=$(owned_elements "$TAG_PC")
q_elems=$(owned_elements "$TAG_Q")
check_match "P.C's own map element is tagged with the full nested id" "^$CHAIN-v4 tcp \. 8081 : " "$pc_elems"
check_eq "P's elements do not include P.C's port" "$(owned_elements "$TAG_P" | grep -c 8081 || true)" 0

log "DEL P (mappings named in args)"
cni_call DEL "$P" "$(ctr p)" eth0 "$WORK/p.json"
check_rc "DEL P exits 0" 0
check_eq "P's elements are gone" "$(owned_count "$TAG_P")" 0
check_eq "P no longer reachable on 8080" "$(tcp_probe "$REMOTE" "$HOST_IP" 8080)" ""
check_eq "P.C's elements are all still there, unchanged" "$(owned_elements "$TAG_PC")" "$pc_elems"
check_match "P.C's mapping is still in the table" "comment \"$TAG_PC\"" "$(nft_dump "$NODE")"
check_eq "P.C still reachable on 8081" "$(tcp_probe "$REMOTE" "$HOST_IP" 8081)" hello-child

log "DEL P again, by scan (config without args, as the Docker executor sends it)"
cni_call ADD "$P" "$(ctr p2)" eth0 "$WORK/p2.json"
require "ADD P again (port 8082) exits 0" [ "$CNI_RC" = 0 ]
make_config "$WORK/p-noargs.json" "$NET" "$CHAIN" "[\"$BRIDGE\"]" "$BRIDGE" "$SUBNET" none
cni_call DEL "$P" "$(ctr p2)" eth0 "$WORK/p-noargs.json"
check_rc "DEL P without args exits 0" 0
check_eq "the scan removed P's elements" "$(owned_count "$TAG_P")" 0
check_eq "the scan left P.C's elements unchanged" "$(owned_elements "$TAG_PC")" "$pc_elems"
check_eq "P.C still reachable on 8081" "$(tcp_probe "$REMOTE" "$HOST_IP" 8081)" hello-child

log "DEL P.C leaves PxC (a '.' in an id is not a wildcard)"
make_config "$WORK/pc-noargs.json" "$NET" "$CHAIN" "[\"$BRIDGE\"]" "$BRIDGE" "$SUBNET" none
cni_call DEL "$PC" "$(ctr pc)" eth0 "$WORK/pc-noargs.json"
check_rc "DEL P.C (scan) exits 0" 0
check_eq "P.C's elements are gone" "$(owned_count "$TAG_PC")" 0
check_eq "PxC's elements are unchanged" "$(owned_elements "$TAG_Q")" "$q_elems"
check_eq "PxC still reachable on 8083" "$(tcp_probe "$REMOTE" "$HOST_IP" 8083)" hello-q
cni_call DEL "$Q" "$(ctr q)" eth0 "$WORK/q.json"
check_rc "DEL PxC exits 0" 0
check_eq "no container element is left" "$(elements_except_excl)" ""
finish
