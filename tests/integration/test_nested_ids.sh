#!/usr/bin/env bash
# Mesos nests container IDs: a nested container of P is "P.C". The old plugin deleted with an
# unanchored regex on "container_id: P", so DEL of P also removed P.C's rules (and a "." in an id
# matched any character). Owners must be compared whole: DEL of P leaves P.C alone, DEL of P.C
# leaves "PxC" alone, with the mappings named in args and with the scan DEL (no args).
source "$(dirname "$0")/harness.sh"
topology
ctr_add p
ctr_add pc
ctr_add q
ctr_add p2
NET="it-nest-$$"
CHAIN="NEST-IT-PORT-MAPPER"
P=5d1e0a3c-0000-4000-8000-000000000001
PC="$P.c1"
Q="${P}xc1"         # same length as P.C, the dot replaced: a regex "P.C" would match it
conf() {  # conf FILE HOSTPORT
  mesos_config "$1" "$NET" "$CHAIN" \
    "[{\"host_port\":$2,\"container_port\":80,\"protocol\":\"tcp\"}]"
}
conf "$T_DIR/p.json" 8080
conf "$T_DIR/pc.json" 8081
conf "$T_DIR/q.json" 8083
conf "$T_DIR/p2.json" 8082
TAG_P=$(tag_of "$NET" "$P" eth0)
TAG_PC=$(tag_of "$NET" "$PC" eth0)
TAG_Q=$(tag_of "$NET" "$Q" eth0)

cni ADD "$P" "$(ctr_path p)" "$T_DIR/p.json";    require "ADD P exits 0" [ "$T_RC" = 0 ]
cni ADD "$PC" "$(ctr_path pc)" "$T_DIR/pc.json"; require "ADD P.C (CNI_CONTAINERID=$PC) exits 0" [ "$T_RC" = 0 ]
cni ADD "$Q" "$(ctr_path q)" "$T_DIR/q.json";    require "ADD PxC exits 0" [ "$T_RC" = 0 ]
serve_tcp "$(ctr_ns p)" 80 hello-parent
serve_tcp "$(ctr_ns pc)" 80 hello-child
serve_tcp "$(ctr_ns q)" 80 hello-q
check_eq "P reachable on 8080" "$(tcp_get "$REMOTE" "$NODE_IP" 8080)" hello-parent
check_eq "P.C reachable on 8081" "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" hello-child
pc_elems=$(owned_elements "$TAG_PC")
q_elems=$(owned_elements "$TAG_Q")
check_match "P.C's own map element is tagged with the full nested id" "^$CHAIN-v4 tcp \. 8081 : " "$pc_elems"
check_match "P's own map element is tagged with P's id (control for the counts below)" "^$CHAIN-v4 tcp \. 8080 : " "$(owned_elements "$TAG_P")"
check_eq "P's elements do not include P.C's port" "$(owned_elements "$TAG_P" | grep -c 8081 || true)" 0

log "DEL P (mappings named in args)"
cni DEL "$P" "$(ctr_path p)" "$T_DIR/p.json"
check_rc "DEL P exits 0" 0
check_eq "P's elements are gone" "$(owned_count "$TAG_P")" 0
check_no_answer "P no longer reachable on 8080" tcp "$REMOTE" "$NODE_IP" 8080
check_eq "P.C's elements are all still there, unchanged" "$(owned_elements "$TAG_PC")" "$pc_elems"
check_match "P.C's mapping is still in the table" "comment \"$TAG_PC\"" "$(nft_dump)"
check_eq "P.C still reachable on 8081" "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" hello-child

log "DEL P again, by scan (config without args, as the Docker executor sends it)"
cni ADD "$P" "$(ctr_path p2)" "$T_DIR/p2.json"
require "ADD P again (port 8082) exits 0" [ "$T_RC" = 0 ]
check "P owns elements again (control for the scan's count)" [ "$(owned_count "$TAG_P")" -gt 0 ]
mesos_config "$T_DIR/p-noargs.json" "$NET" "$CHAIN" none
cni DEL "$P" "$(ctr_path p2)" "$T_DIR/p-noargs.json"
check_rc "DEL P without args exits 0" 0
check_eq "the scan removed P's elements" "$(owned_count "$TAG_P")" 0
check_eq "the scan left P.C's elements unchanged" "$(owned_elements "$TAG_PC")" "$pc_elems"
check_eq "P.C still reachable on 8081" "$(tcp_get "$REMOTE" "$NODE_IP" 8081)" hello-child

log "DEL P.C leaves PxC (a '.' in an id is not a wildcard)"
mesos_config "$T_DIR/pc-noargs.json" "$NET" "$CHAIN" none
cni DEL "$PC" "$(ctr_path pc)" "$T_DIR/pc-noargs.json"
check_rc "DEL P.C (scan) exits 0" 0
check_eq "P.C's elements are gone" "$(owned_count "$TAG_PC")" 0
check_eq "PxC's elements are unchanged" "$(owned_elements "$TAG_Q")" "$q_elems"
check_eq "PxC still reachable on 8083" "$(tcp_get "$REMOTE" "$NODE_IP" 8083)" hello-q
cni DEL "$Q" "$(ctr_path q)" "$T_DIR/q.json"
check_rc "DEL PxC exits 0" 0
check_eq "no container element is left" "$(elements_except_excl)" ""
finish
