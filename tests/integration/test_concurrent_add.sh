#!/usr/bin/env bash
# Three containers ADDed at the same time, twice: first on a node with no table yet (the
# processes race to create table, sets, chains and hooks), then on a node where everything
# exists. Each time all three map their distinct host ports and are reachable, the three
# concurrent DELs leave no container element behind, and the base chains are hooked only once.
source "$(dirname "$0")/lib.sh"
setup_topology 13
NET="it-conc-$$"
CHAIN="CONC-IT-PORT-MAPPER"
for i in 1 2 3; do
  make_config "$WORK/conf$i.json" "$NET" "$CHAIN" "[\"$BRIDGE\"]" "$BRIDGE" "$SUBNET" \
    "[{\"host_port\":808$i,\"container_port\":80,\"protocol\":\"tcp\"},{\"host_port\":535$i,\"container_port\":53,\"protocol\":\"udp\"}]"
done
cid() { echo "cafe000$2-0000-4000-8000-00000000000$1"; }   # cid ROUND I

# run_parallel VERB ROUND: the three calls started together; exit codes in $WORK/<verb><round>.<i>
run_parallel() {
  local verb=$1 round=$2 i pids=()
  for i in 1 2 3; do
    (
      cni_call "$verb" "$(cid "$round" "$i")" "$(ctr "c$round$i")" eth0 "$WORK/conf$i.json"
      echo "$CNI_RC" >"$WORK/$verb$round.rc$i"
      printf '%s\n%s\n' "$CNI_OUT" "$CNI_ERR" >"$WORK/$verb$round.out$i"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
}

for round in 1 2; do
  if [ "$round" = 1 ]; then
    log "round 1: concurrent ADD on a node without the table"
    check_eq "the table does not exist yet" "$(nft_dump "$NODE")" ""
  else
    log "round 2: concurrent ADD on a node where the table and chains exist"
  fi
  for i in 1 2 3; do add_container "c$round$i"; done
  run_parallel ADD "$round"
  for i in 1 2 3; do
    rc=$(cat "$WORK/ADD$round.rc$i")
    check_eq "ADD of container $i exits 0" "$rc" 0
    [ "$rc" = 0 ] || sed 's/^/    /' "$WORK/ADD$round.out$i"
  done
  ips=()
  for i in 1 2 3; do
    ips+=("$(jget '.ip4.ip // empty' "$(head -1 "$WORK/ADD$round.out$i")")")
    start_tcp_server "$(ctr "c$round$i")" 80 "hello-$round$i"
    start_udp_server "$(ctr "c$round$i")" 53 "udp-$round$i"
  done
  check_eq "the three containers got three distinct addresses (${ips[*]})" \
    "$(printf '%s\n' "${ips[@]}" | grep -c . | tr -d ' ')/$(printf '%s\n' "${ips[@]}" | sort -u | grep -c .)" "3/3"
  for i in 1 2 3; do
    check_eq "container $i reachable from the remote client on tcp 808$i" "$(tcp_probe "$REMOTE" "$HOST_IP" "808$i")" "hello-$round$i"
    check_eq "container $i reachable from the remote client on udp 535$i" "$(udp_probe "$REMOTE" "$HOST_IP" "535$i")" "udp-$round$i"
    check_eq "container $i owns exactly its 2 map elements in $CHAIN-v4" \
      "$(owned_elements "$(tag_of "$NET" "$(cid "$round" "$i")" eth0)" | grep -c "^$CHAIN-v4 " || true)" 2
  done
  pre=$(ip netns exec "$NODE" nft list chain $TABLE prerouting 2>&1 || true)
  check_eq "the prerouting hook chain jumps to the network's chain once, not once per racer" \
    "$(grep -cE "(jump|goto) $CHAIN\$" <<<"$pre" || true)" 1
  check_eq "exactly one 'type nat hook prerouting' base chain in the table" \
    "$(nft_dump "$NODE" | grep -c 'type nat hook prerouting' || true)" 1

  log "round $round: concurrent DEL"
  run_parallel DEL "$round"
  for i in 1 2 3; do
    rc=$(cat "$WORK/DEL$round.rc$i")
    check_eq "DEL of container $i exits 0" "$rc" 0
    [ "$rc" = 0 ] || sed 's/^/    /' "$WORK/DEL$round.out$i"
  done
  left=$(elements_except_excl)
  check_eq "no container element is left in any set or map" "$left" ""
  check_eq "no element with an owner comment is left" "$(nft_dump "$NODE" | grep -c 'comment "' || true)" 0
  for i in 1 2 3; do
    check_eq "tcp 808$i is no longer mapped" "$(tcp_probe "$REMOTE" "$HOST_IP" "808$i")" ""
  done
  check_eq "host-local holds no address any more" "$(ls "$IPAM_DIR/$NET" | grep -c '^10\.' || true)" 0
done
finish
